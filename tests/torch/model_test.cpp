// ModelConfig parsing, checkpoint save/load, and the CausalLM forward pass: KV cache, padding,
// packing, activation checkpointing, and an fp64 re-implementation of the architecture written here
// from the formulas (loops over plain arrays) that the LibTorch kernel must match.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "backends/safetensors/safetensors.h"
#include "backends/torch/model.h"
#include "core/jsonl.h"
#include "tests/support/temp_files.h"
#include "tests/torch/tiny_model.h"

namespace crucible::lm {
namespace {

using json = nlohmann::json;
using test::tiny_config;
using test::tiny_model;

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

torch::Tensor ids_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kLong).unsqueeze(0);
}

// ------------------------------------------------------------------------------------- config

TEST(ModelConfig, ParsesQwen2Defaults) {
  json j = {{"model_type", "qwen2"},      {"vocab_size", 100}, {"hidden_size", 64}, {"intermediate_size", 128},
            {"num_hidden_layers", 3},     {"num_attention_heads", 8}, {"num_key_value_heads", 2},
            {"eos_token_id", 7},          {"bos_token_id", nullptr},  {"torch_dtype", "bfloat16"},
            {"use_sliding_window", false}, {"rope_scaling", nullptr}, {"some_unknown_key", 3}};
  auto c = ModelConfig::from_json(j, "x/config.json");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{7});
  EXPECT_EQ(c->bos_token_id, -1);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
  EXPECT_EQ(c->num_key_value_groups(), 4);
  EXPECT_TRUE(c->rope_scaling.type.empty());
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c->initializer_range, 0.02);
  json out = c->to_json();
  EXPECT_EQ(out["some_unknown_key"], 3);
  EXPECT_EQ(out["architectures"][0], "Qwen2ForCausalLM");
  auto back = ModelConfig::from_json(out, "round trip");
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back->to_json(), out);
}

TEST(ModelConfig, ParsesLlamaWithHeadDimRopeScalingAndEosList) {
  json j = {{"model_type", "llama"},
            {"vocab_size", 100},
            {"hidden_size", 64},
            {"intermediate_size", 128},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"head_dim", 32},
            {"rope_theta", 500000.0},
            {"rope_scaling",
             {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
              {"original_max_position_embeddings", 8192}}},
            {"eos_token_id", {128001, 128008, 128009}},
            {"bos_token_id", 128000},
            {"tie_word_embeddings", true}};
  auto c = ModelConfig::from_json(j, "llama/config.json");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c->bos_token_id, 128000);
  auto back = ModelConfig::from_json(c->to_json(), "round trip");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->rope_scaling.factor, 8.0);
  EXPECT_EQ(back->eos_token_ids, c->eos_token_ids);
}

TEST(ModelConfig, ErrorsNameTheFileAndTheKey) {
  json good = tiny_config().raw;
  auto err = [&](json j) {
    auto c = ModelConfig::from_json(j, "m/config.json");
    EXPECT_FALSE(c.is_ok());
    return c.is_ok() ? std::string() : c.status().message();
  };
  auto has = [](const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; };

  json j = good;
  j.erase("hidden_size");
  std::string m = err(j);
  EXPECT_TRUE(has(m, "m/config.json") && has(m, "'hidden_size'") && has(m, "missing")) << m;

  j = good;
  j["model_type"] = "mistral";
  m = err(j);
  EXPECT_TRUE(has(m, "'model_type'") && has(m, "mistral") && has(m, "qwen2, llama")) << m;

  j = good;
  j["num_key_value_heads"] = 3;
  m = err(j);
  EXPECT_TRUE(has(m, "'num_key_value_heads'")) << m;

  j = good;
  j["vocab_size"] = "many";
  m = err(j);
  EXPECT_TRUE(has(m, "'vocab_size'") && has(m, "integer")) << m;

  j = good;
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  m = err(j);
  EXPECT_TRUE(has(m, "'rope_scaling'") && has(m, "yarn") && has(m, "llama3")) << m;

  j = good;
  j["rope_scaling"] = {{"rope_type", "llama3"}};
  m = err(j);
  EXPECT_TRUE(has(m, "'factor'")) << m;

  j = good;
  j["eos_token_id"] = "</s>";
  m = err(j);
  EXPECT_TRUE(has(m, "'eos_token_id'")) << m;

  j = good;
  j["use_sliding_window"] = true;
  m = err(j);
  EXPECT_TRUE(has(m, "'use_sliding_window'")) << m;

  j = good;
  j["hidden_act"] = "gelu";
  m = err(j);
  EXPECT_TRUE(has(m, "'hidden_act'")) << m;

  std::string dir = test::make_temp_dir("cfg");
  auto missing = ModelConfig::load(dir);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_TRUE(has(missing.status().message(), dir + "/config.json")) << missing.status().message();
  test::write_text(dir + "/config.json", "{not json");
  auto broken = ModelConfig::load(dir);
  ASSERT_FALSE(broken.is_ok());
  EXPECT_TRUE(has(broken.status().message(), "config.json")) << broken.status().message();
  std::filesystem::remove_all(dir);
}

TEST(ModelConfig, ParseDtypeNames) {
  EXPECT_EQ(dtype_from_name("fp32"), torch::kFloat32);
  EXPECT_EQ(dtype_from_name("float32"), torch::kFloat32);
  EXPECT_EQ(dtype_from_name("bf16"), torch::kBFloat16);
  EXPECT_EQ(dtype_from_name("bfloat16"), torch::kBFloat16);
  EXPECT_EQ(dtype_from_name("fp16"), torch::kFloat16);
  EXPECT_EQ(dtype_from_name("float16"), torch::kFloat16);
  auto bad = parse_dtype("fp8");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("bf16"), std::string::npos);
  EXPECT_THROW(dtype_from_name("int8"), std::invalid_argument);
}

// ------------------------------------------------------------------------------------- checkpoints

void expect_same_parameters(CausalLM& a, CausalLM& b) {
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (auto& p : pa) {
    const torch::Tensor* q = pb.find(p.key());
    ASSERT_NE(q, nullptr) << p.key();
    EXPECT_EQ(p.value().scalar_type(), q->scalar_type()) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), *q)) << p.key();
  }
}

TEST(Checkpoint, ParameterNamesAreHuggingFaces) {
  auto m = tiny_model(tiny_config("qwen2", false), 1);
  auto names = m->named_parameters().keys();
  std::vector<std::string> expected = {"model.embed_tokens.weight",
                                       "model.layers.0.input_layernorm.weight",
                                       "model.layers.0.self_attn.q_proj.weight",
                                       "model.layers.0.self_attn.q_proj.bias",
                                       "model.layers.0.self_attn.k_proj.weight",
                                       "model.layers.0.self_attn.k_proj.bias",
                                       "model.layers.0.self_attn.v_proj.weight",
                                       "model.layers.0.self_attn.v_proj.bias",
                                       "model.layers.0.self_attn.o_proj.weight",
                                       "model.layers.0.post_attention_layernorm.weight",
                                       "model.layers.0.mlp.gate_proj.weight",
                                       "model.layers.0.mlp.up_proj.weight",
                                       "model.layers.0.mlp.down_proj.weight"};
  for (const auto& e : expected) EXPECT_NE(std::find(names.begin(), names.end(), e), names.end()) << e;
  EXPECT_NE(std::find(names.begin(), names.end(), "model.norm.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "lm_head.weight"), names.end());
  EXPECT_EQ(names.size(), 2u + 2 * 12 + 1);
  auto tied = tiny_model(tiny_config("llama", true), 1);
  auto tnames = tied->named_parameters().keys();
  EXPECT_EQ(std::find(tnames.begin(), tnames.end(), "lm_head.weight"), tnames.end());
  EXPECT_EQ(std::find(tnames.begin(), tnames.end(), "model.layers.0.self_attn.q_proj.bias"), tnames.end());
  EXPECT_EQ(tnames.size(), 1u + 2 * 9 + 1);
}

TEST(Checkpoint, SaveLoadRoundTripIsBitForBit) {
  for (std::string type : {"qwen2", "llama"}) {
    for (bool tied : {false, true}) {
      SCOPED_TRACE(type + (tied ? " tied" : " untied"));
      std::string dir = test::make_temp_dir("ckpt");
      auto m = tiny_model(tiny_config(type, tied), 7);
      ASSERT_TRUE(save_causal_lm(m, dir));
      auto file = safetensors::File::open(dir + "/model.safetensors");
      ASSERT_TRUE(file) << file.status().message();
      EXPECT_EQ(file->find("lm_head.weight") != nullptr, !tied);
      EXPECT_EQ(file->find("model.embed_tokens.weight")->dtype, safetensors::DType::kF32);
      auto cfg = ModelConfig::load(dir);
      ASSERT_TRUE(cfg);
      EXPECT_EQ(cfg->torch_dtype, "float32");
      EXPECT_EQ(cfg->tie_word_embeddings, tied);

      auto loaded = load_causal_lm(dir, torch::kCPU, torch::kFloat32);
      ASSERT_TRUE(loaded) << loaded.status().message();
      expect_same_parameters(m, *loaded);
      torch::NoGradGuard g;
      auto ids = ids_tensor({3, 9, 27, 5, 60});
      EXPECT_TRUE(torch::equal(m->forward({ids}), (*loaded)->forward({ids})));
      std::filesystem::remove_all(dir);
    }
  }
}

TEST(Checkpoint, Bf16RoundTrip) {
  std::string dir = test::make_temp_dir("bf16");
  auto m = tiny_model(tiny_config("qwen2", true), 3);
  m->to(torch::kBFloat16);
  ASSERT_TRUE(save_causal_lm(m, dir));
  auto file = safetensors::File::open(dir + "/model.safetensors");
  ASSERT_TRUE(file);
  for (const auto& t : file->tensors()) EXPECT_EQ(t.dtype, safetensors::DType::kBF16) << t.name;
  EXPECT_EQ(ModelConfig::load(dir)->torch_dtype, "bfloat16");

  auto as_bf16 = load_causal_lm(dir, torch::kCPU, torch::kBFloat16);
  ASSERT_TRUE(as_bf16) << as_bf16.status().message();
  expect_same_parameters(m, *as_bf16);
  auto as_f32 = load_causal_lm(dir, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(as_f32);
  for (auto& p : (*as_f32)->named_parameters()) {
    EXPECT_EQ(p.value().scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(p.value(), m->named_parameters()[p.key()].to(torch::kFloat32))) << p.key();
  }
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, LoadsShardedDirectories) {
  std::string dir = test::make_temp_dir("shard");
  auto m = tiny_model(tiny_config("llama", false), 5);
  ASSERT_TRUE(save_causal_lm(m, dir));
  // Re-write the tensors as two shards plus an index, as transformers' save_pretrained does.
  std::vector<torch::Tensor> keep;
  std::vector<safetensors::TensorData> shard[2];
  json weight_map = json::object();
  size_t i = 0;
  for (auto& p : m->named_parameters()) {
    keep.push_back(p.value().contiguous());
    safetensors::TensorData d{p.key(), safetensors::DType::kF32, keep.back().sizes().vec(),
                              std::string_view(static_cast<const char*>(keep.back().data_ptr()), keep.back().nbytes())};
    std::string file = i % 2 ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
    weight_map[p.key()] = file;
    shard[i++ % 2].push_back(d);
  }
  ASSERT_TRUE(safetensors::write(dir + "/model-00001-of-00002.safetensors", shard[0]));
  ASSERT_TRUE(safetensors::write(dir + "/model-00002-of-00002.safetensors", shard[1]));
  std::filesystem::remove(dir + "/model.safetensors");
  test::write_text(dir + "/model.safetensors.index.json", json{{"metadata", json::object()}, {"weight_map", weight_map}}.dump());
  auto loaded = load_causal_lm(dir, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(loaded) << loaded.status().message();
  expect_same_parameters(m, *loaded);

  // Saving again writes one file and removes the now-stale index.
  ASSERT_TRUE(save_causal_lm(*loaded, dir));
  EXPECT_FALSE(std::filesystem::exists(dir + "/model.safetensors.index.json"));
  EXPECT_TRUE(load_causal_lm(dir, torch::kCPU, torch::kFloat32).is_ok());
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, MissingOrMisshapedTensorsAreErrorsNamingThem) {
  std::string dir = test::make_temp_dir("badckpt");
  auto m = tiny_model(tiny_config("qwen2", false), 2);
  ASSERT_TRUE(save_causal_lm(m, dir));
  auto rewrite = [&](const std::string& drop, const std::string& reshape) {
    std::vector<torch::Tensor> keep;
    std::vector<safetensors::TensorData> ts;
    for (auto& p : m->named_parameters()) {
      if (p.key() == drop) continue;
      keep.push_back(p.key() == reshape ? p.value().flatten().narrow(0, 0, 6).contiguous() : p.value().contiguous());
      ts.push_back({p.key(), safetensors::DType::kF32, keep.back().sizes().vec(),
                    std::string_view(static_cast<const char*>(keep.back().data_ptr()), keep.back().nbytes())});
    }
    ASSERT_TRUE(safetensors::write(dir + "/model.safetensors", ts));
  };
  rewrite("model.layers.1.mlp.up_proj.weight", "");
  auto missing = load_causal_lm(dir, torch::kCPU, torch::kFloat32);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("'model.layers.1.mlp.up_proj.weight' is missing"), std::string::npos)
      << missing.status().message();
  EXPECT_NE(missing.status().message().find("model.safetensors"), std::string::npos);

  rewrite("", "model.layers.0.self_attn.k_proj.bias");
  auto shaped = load_causal_lm(dir, torch::kCPU, torch::kFloat32);
  ASSERT_FALSE(shaped.is_ok());
  EXPECT_NE(shaped.status().message().find("'model.layers.0.self_attn.k_proj.bias' has shape [6], expected [16]"),
            std::string::npos)
      << shaped.status().message();

  // A tied model ignores an lm_head.weight present in the file.
  auto tied = tiny_model(tiny_config("qwen2", true), 2);
  ASSERT_TRUE(save_causal_lm(tied, dir));
  rewrite("", "");  // m's tensors: includes lm_head.weight
  json cfg = tiny_config("qwen2", true).to_json();
  ASSERT_TRUE(write_file_atomic(dir + "/config.json", cfg.dump()));
  EXPECT_TRUE(load_causal_lm(dir, torch::kCPU, torch::kFloat32).is_ok());

  auto nodir = load_causal_lm(dir + "/nope", torch::kCPU, torch::kFloat32);
  ASSERT_FALSE(nodir.is_ok());
  EXPECT_NE(nodir.status().message().find("config.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// ------------------------------------------------------------------------------------- forward

TEST(Forward, HiddenStatesThenLogitsEqualsForward) {
  auto m = tiny_model(tiny_config("qwen2", false), 11);
  torch::NoGradGuard g;
  ForwardInput in;
  in.input_ids = ids_tensor({1, 2, 3, 4});
  torch::Tensor h = m->hidden_states(in);
  EXPECT_EQ(h.sizes(), (std::vector<int64_t>{1, 4, 32}));
  torch::Tensor logits = m->forward(in);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{1, 4, 64}));
  EXPECT_TRUE(torch::equal(m->logits_from_hidden(h), logits));
}

TEST(Forward, KVCacheIncrementalDecodingEqualsFullForward) {
  for (bool tied : {false, true}) {
    auto m = tiny_model(tiny_config(tied ? "llama" : "qwen2", tied), 12);
    torch::NoGradGuard g;
    std::vector<int64_t> seq = {5, 17, 2, 40, 33, 8, 61, 19, 23, 4, 11};
    torch::Tensor ids = torch::tensor(seq, torch::kLong).view({1, -1}).repeat({2, 1});
    ids[1] = ids[1].flip(0);
    torch::Tensor full = m->forward({ids});
    KVCache cache;
    std::vector<torch::Tensor> parts;
    int64_t t = 0;
    for (int64_t chunk : {4, 1, 3, 1, 1, 1}) {  // a prefill, single steps, and a multi-token step
      ForwardInput in;
      in.input_ids = ids.narrow(1, t, chunk);
      in.cache = &cache;
      parts.push_back(m->forward(in));
      t += chunk;
      EXPECT_EQ(cache.length(), t);
    }
    EXPECT_LT(max_abs_diff(torch::cat(parts, 1), full), 1e-4);
  }
}

// Left-pads `prompts` into one batch with positions counted from each prompt's first token.
ForwardInput left_padded(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id) {
  int64_t len = 0;
  for (auto& p : prompts) len = std::max<int64_t>(len, p.size());
  int64_t b = prompts.size();
  torch::Tensor ids = torch::full({b, len}, pad_id, torch::kLong), pos = torch::zeros({b, len}, torch::kLong),
                mask = torch::zeros({b, len}, torch::kLong);
  for (int64_t i = 0; i < b; ++i) {
    int64_t pad = len - prompts[i].size();
    for (size_t j = 0; j < prompts[i].size(); ++j) {
      ids[i][pad + j] = prompts[i][j];
      pos[i][pad + j] = static_cast<int64_t>(j);
      mask[i][pad + j] = 1;
    }
  }
  ForwardInput in;
  in.input_ids = ids;
  in.position_ids = pos;
  in.attention_mask = mask;
  return in;
}

TEST(Forward, LeftPaddedBatchEqualsOneAtATime) {
  auto m = tiny_model(tiny_config("qwen2", false), 13);
  torch::NoGradGuard g;
  std::vector<std::vector<int64_t>> prompts = {{3, 8, 1}, {9, 2, 44, 7, 30, 6, 12}, {50, 51, 52, 53, 54}};
  torch::Tensor batch0 = m->forward(left_padded(prompts, 0));
  torch::Tensor batch1 = m->forward(left_padded(prompts, 63));  // other padding ids: nothing may change
  EXPECT_FALSE(torch::isnan(batch0).any().item<bool>());
  const int64_t len = batch0.size(1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    int64_t n = prompts[i].size();
    torch::Tensor alone = m->forward({ids_tensor(prompts[i])})[0];
    torch::Tensor real0 = batch0[i].narrow(0, len - n, n), real1 = batch1[i].narrow(0, len - n, n);
    EXPECT_LT(max_abs_diff(real0, alone), 1e-4) << "prompt " << i;
    EXPECT_TRUE(torch::equal(real0, real1)) << "prompt " << i;
    EXPECT_TRUE(torch::equal(real0.argmax(-1), alone.argmax(-1)));
  }

  // The same through the KV cache: prefill the padded batch, then a decode step with a grown mask.
  KVCache cache;
  ForwardInput in = left_padded(prompts, 0);
  in.cache = &cache;
  m->forward(in);
  ForwardInput step;
  step.input_ids = torch::tensor({20, 21, 22}, torch::kLong).unsqueeze(1);
  step.position_ids = torch::tensor({3, 7, 5}, torch::kLong).unsqueeze(1);
  step.attention_mask = torch::cat({in.attention_mask, torch::ones({3, 1}, torch::kLong)}, 1);
  step.cache = &cache;
  torch::Tensor next = m->forward(step);
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto p = prompts[i];
    p.push_back(20 + i);
    torch::Tensor alone = m->forward({ids_tensor(p)})[0][-1];
    EXPECT_LT(max_abs_diff(next[i][0], alone), 1e-4) << "prompt " << i;
  }
}

TEST(Forward, DocumentPackingEqualsSeparateForwards) {
  auto m = tiny_model(tiny_config("llama", false), 14);
  torch::NoGradGuard g;
  std::vector<std::vector<int64_t>> docs = {{4, 5, 6}, {7, 8, 9, 10}, {11, 12, 13, 14, 15}};
  std::vector<int64_t> ids, pos, doc;
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t j = 0; j < docs[d].size(); ++j) {
      ids.push_back(docs[d][j]);
      pos.push_back(j);
      doc.push_back(d);
    }
  // Row 0 packs the three documents; row 1 holds them in another order to show rows are independent.
  std::vector<int64_t> ids1, pos1, doc1;
  for (int d : {2, 0, 1})
    for (size_t j = 0; j < docs[d].size(); ++j) {
      ids1.push_back(docs[d][j]);
      pos1.push_back(j);
      doc1.push_back(d + 10);
    }
  ForwardInput in;
  in.input_ids = torch::stack({torch::tensor(ids), torch::tensor(ids1)});
  in.position_ids = torch::stack({torch::tensor(pos), torch::tensor(pos1)});
  in.document_ids = torch::stack({torch::tensor(doc), torch::tensor(doc1)});
  torch::Tensor packed = m->forward(in);
  int64_t off = 0;
  for (size_t d = 0; d < docs.size(); ++d) {
    torch::Tensor alone = m->forward({ids_tensor(docs[d])})[0];
    int64_t n = docs[d].size();
    EXPECT_LT(max_abs_diff(packed[0].narrow(0, off, n), alone), 1e-4) << "doc " << d;
    off += n;
  }
  EXPECT_LT(max_abs_diff(packed[1].narrow(0, 0, 5), m->forward({ids_tensor(docs[2])})[0]), 1e-4);
}

TEST(Forward, CheckpointedActivationsGiveTheSameGradients) {
  auto m = tiny_model(tiny_config("qwen2", false), 15);
  ForwardInput in = left_padded({{3, 4, 5, 6}, {7, 8}}, 0);
  auto grads = [&](bool checkpoint) {
    m->zero_grad();
    in.checkpoint_activations = checkpoint;
    torch::Tensor logits = m->forward(in);
    torch::Tensor loss = (logits * in.attention_mask.unsqueeze(-1)).pow(2).sum();
    loss.backward();
    std::map<std::string, torch::Tensor> out;
    for (auto& p : m->named_parameters()) {
      EXPECT_TRUE(p.value().grad().defined()) << p.key();
      if (p.value().grad().defined()) out[p.key()] = p.value().grad().clone();
    }
    return std::make_pair(loss.item<double>(), out);
  };
  auto plain = grads(false), ckpt = grads(true);
  EXPECT_DOUBLE_EQ(plain.first, ckpt.first);
  for (auto& [name, g] : plain.second) {
    ASSERT_TRUE(ckpt.second.count(name)) << name;
    EXPECT_LT(max_abs_diff(g, ckpt.second[name]), 1e-5 * (1 + g.abs().max().item<double>())) << name;
  }
}

// ------------------------------------------------------------------------------------- fp64 reference

// The architecture re-derived from its formulas, in double precision over plain arrays.
class Fp64Reference {
 public:
  explicit Fp64Reference(CausalLM& m) : c_(m->config()) {
    for (auto& p : m->named_parameters()) {
      torch::Tensor t = p.value().detach().to(torch::kFloat64).contiguous();
      w_[p.key()] = std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    }
    if (c_.tie_word_embeddings) w_["lm_head.weight"] = w_["model.embed_tokens.weight"];
  }

  // logits [T][vocab] for one sequence at positions 0..T-1.
  std::vector<std::vector<double>> logits(const std::vector<int64_t>& ids) const {
    const int64_t T = ids.size(), H = c_.hidden_size, D = c_.head_dim, nq = c_.num_attention_heads,
                  nkv = c_.num_key_value_heads, I = c_.intermediate_size;
    Seq h(T, Vec(H));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < H; ++j) h[t][j] = w("model.embed_tokens.weight")[ids[t] * H + j];
    for (int64_t l = 0; l < c_.num_hidden_layers; ++l) {
      std::string p = "model.layers." + std::to_string(l) + ".";
      Seq x = rms(h, p + "input_layernorm.weight");
      Seq q = dense(x, p + "self_attn.q_proj", nq * D), k = dense(x, p + "self_attn.k_proj", nkv * D),
          v = dense(x, p + "self_attn.v_proj", nkv * D);
      rotate(q, nq);
      rotate(k, nkv);
      Seq att(T, Vec(nq * D, 0.0));
      for (int64_t hq = 0; hq < nq; ++hq) {
        int64_t hk = hq / (nq / nkv);
        for (int64_t t = 0; t < T; ++t) {
          Vec s(t + 1);
          double mx = -1e300, z = 0;
          for (int64_t u = 0; u <= t; ++u) {
            double dot = 0;
            for (int64_t d = 0; d < D; ++d) dot += q[t][hq * D + d] * k[u][hk * D + d];
            s[u] = dot / std::sqrt(double(D));
            mx = std::max(mx, s[u]);
          }
          for (auto& e : s) z += (e = std::exp(e - mx));
          for (int64_t u = 0; u <= t; ++u)
            for (int64_t d = 0; d < D; ++d) att[t][hq * D + d] += s[u] / z * v[u][hk * D + d];
        }
      }
      add(h, dense(att, p + "self_attn.o_proj", H));
      Seq y = rms(h, p + "post_attention_layernorm.weight");
      Seq g = dense(y, p + "mlp.gate_proj", I), up = dense(y, p + "mlp.up_proj", I);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < I; ++i) g[t][i] = g[t][i] / (1 + std::exp(-g[t][i])) * up[t][i];
      add(h, dense(g, p + "mlp.down_proj", H));
    }
    return dense(rms(h, "model.norm.weight"), "lm_head", c_.vocab_size);
  }

 private:
  using Vec = std::vector<double>;
  using Seq = std::vector<Vec>;

  const Vec& w(const std::string& name) const { return w_.at(name); }

  Seq rms(const Seq& x, const std::string& name) const {
    Seq out = x;
    for (auto& row : out) {
      double ms = 0;
      for (double e : row) ms += e * e;
      double r = 1 / std::sqrt(ms / row.size() + c_.rms_norm_eps);
      for (size_t j = 0; j < row.size(); ++j) row[j] *= r * w(name)[j];
    }
    return out;
  }

  Seq dense(const Seq& x, const std::string& prefix, int64_t out_dim) const {
    const Vec& W = w(prefix + ".weight");
    auto b = w_.find(prefix + ".bias");
    int64_t in_dim = x[0].size();
    Seq out(x.size(), Vec(out_dim, 0.0));
    for (size_t t = 0; t < x.size(); ++t)
      for (int64_t o = 0; o < out_dim; ++o) {
        double s = b == w_.end() ? 0.0 : b->second[o];
        for (int64_t i = 0; i < in_dim; ++i) s += W[o * in_dim + i] * x[t][i];
        out[t][o] = s;
      }
    return out;
  }

  static void add(Seq& h, const Seq& d) {
    for (size_t t = 0; t < h.size(); ++t)
      for (size_t j = 0; j < h[t].size(); ++j) h[t][j] += d[t][j];
  }

  // Frequency of pair i (dimensions i and i + D/2), with Llama-3.1 scaling when configured.
  double frequency(int64_t i) const {
    double f = std::pow(c_.rope_theta, -2.0 * i / c_.head_dim);
    if (c_.rope_scaling.type != "llama3") return f;
    const auto& s = c_.rope_scaling;
    double wavelen = 2 * std::acos(-1.0) / f, old = s.original_max_position_embeddings;
    if (wavelen < old / s.high_freq_factor) return f;
    if (wavelen > old / s.low_freq_factor) return f / s.factor;
    double a = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    return (1 - a) * f / s.factor + a * f;
  }

  // Rotates each pair (x_i, x_{i+D/2}) of every head by angle position * frequency(i).
  void rotate(Seq& x, int64_t heads) const {
    const int64_t D = c_.head_dim, half = D / 2;
    for (size_t t = 0; t < x.size(); ++t)
      for (int64_t hh = 0; hh < heads; ++hh)
        for (int64_t i = 0; i < half; ++i) {
          double a = double(t) * frequency(i), c = std::cos(a), s = std::sin(a);
          double& x1 = x[t][hh * D + i];
          double& x2 = x[t][hh * D + i + half];
          double r1 = x1 * c - x2 * s, r2 = x2 * c + x1 * s;
          x1 = r1;
          x2 = r2;
        }
  }

  ModelConfig c_;
  std::map<std::string, Vec> w_;
};

void expect_matches_reference(const ModelConfig& c, uint64_t seed) {
  auto m = tiny_model(c, seed);
  torch::NoGradGuard g;
  std::vector<int64_t> ids = {1, 30, 7, 7, 62, 15, 40, 2};
  torch::Tensor ours = m->forward({ids_tensor(ids)})[0].to(torch::kFloat64);
  auto ref = Fp64Reference(m).logits(ids);
  double worst = 0, scale = 0;
  for (size_t t = 0; t < ids.size(); ++t)
    for (int64_t v = 0; v < c.vocab_size; ++v) {
      worst = std::max(worst, std::abs(ours[t][v].item<double>() - ref[t][v]));
      scale = std::max(scale, std::abs(ref[t][v]));
    }
  EXPECT_GT(scale, 0.5);  // the logits are not trivially small
  EXPECT_LT(worst, 1e-4 * std::max(1.0, scale)) << "max |logit| " << scale;
}

TEST(Forward, MatchesFp64ReferenceQwen2) { expect_matches_reference(tiny_config("qwen2", false), 21); }

TEST(Forward, MatchesFp64ReferenceLlama31RopeScalingAndHeadDim) {
  json j = tiny_config("llama", true).raw;
  j["head_dim"] = 12;            // != hidden_size / heads
  j["attention_bias"] = true;
  // Wavelengths 6.3 (kept: < 16/2), 29 (interpolated: between 8 and 32) and >= 135 (divided by 8).
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 0.5}, {"high_freq_factor", 2.0},
                       {"original_max_position_embeddings", 16}};
  auto c = ModelConfig::from_json(j, "llama31");
  ASSERT_TRUE(c) << c.status().message();
  expect_matches_reference(*c, 22);
}

}  // namespace
}  // namespace crucible::lm
