// Test helpers for the trainer tests: a tiny random Qwen2 model with a byte-level BPE tokenizer
// trained on synthetic arithmetic problems, and those problems as JSONL.
//   DIR/base: config.json + model.safetensors + tokenizer.json + tokenizer_config.json (chat template)
//   DIR/data.jsonl: rows {"id", "problem", "answer", "messages"} (tasks/synthetic/arithmetic.h)
// Plus the weights of a saved model directory and quiet CPU run options.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/tokenizer/bpe_trainer.h"
#include "backends/torch/model.h"
#include "tasks/synthetic/arithmetic.h"
#include "tests/support/temp_files.h"
#include "train/sft_trainer.h"

namespace crucible::test {

inline const char* tiny_chat_template() {
  return "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
}

struct TinyModelOptions {
  int64_t hidden = 32;
  int64_t intermediate = 64;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int num_merges = 60;
  uint64_t model_seed = 3;
};

inline std::string make_tiny_workspace(const std::string& tag, size_t rows, const TinyModelOptions& mo = {}) {
  std::string dir = make_temp_dir(tag);
  auto problems = synthetic::generate_arithmetic(5, rows);
  std::vector<std::string> corpus;
  std::ofstream data(dir + "/data.jsonl");
  for (const auto& p : problems) {
    corpus.push_back(p.problem + "\n" + p.trace());
    data << p.to_json().dump() << "\n";
  }
  BpeTrainOptions bo;
  bo.num_merges = mo.num_merges;
  bo.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  auto tj = train_byte_level_bpe(corpus, bo);
  std::filesystem::create_directories(dir + "/base");
  write_text(dir + "/base/tokenizer.json", tj.dump());
  write_text(dir + "/base/tokenizer_config.json",
             nlohmann::json({{"chat_template", tiny_chat_template()}, {"eos_token", "<|im_end|>"},
                             {"pad_token", "<|endoftext|>"}})
                 .dump());
  int64_t vocab = 256 + static_cast<int64_t>(tj["model"]["merges"].size()) + 3;
  nlohmann::json cj = {{"model_type", "qwen2"}, {"vocab_size", vocab}, {"hidden_size", mo.hidden},
                       {"intermediate_size", mo.intermediate}, {"num_hidden_layers", mo.layers},
                       {"num_attention_heads", mo.heads}, {"num_key_value_heads", mo.kv_heads},
                       {"max_position_embeddings", 512}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
                       {"tie_word_embeddings", true}, {"eos_token_id", vocab - 1}};
  auto cfg = lm::ModelConfig::from_json(cj, "test");
  EXPECT_TRUE(cfg.is_ok()) << cfg.status().message();
  auto model = lm::make_random_causal_lm(*cfg, mo.model_seed);
  EXPECT_TRUE(lm::save_causal_lm(model, dir + "/base").is_ok());
  return dir;
}

// name -> fp32 CPU copy of every parameter of the model directory `dir` (empty after a failed
// expectation when it cannot be loaded).
inline std::map<std::string, torch::Tensor> model_weights(const std::string& dir) {
  auto m = lm::load_causal_lm(dir, torch::kCPU, torch::kFloat32);
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  std::map<std::string, torch::Tensor> out;
  if (!m.is_ok()) return out;
  for (auto& p : (*m)->named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

// A trainer run on the CPU that prints nothing.
inline train::TrainRunOptions quiet_cpu() {
  train::TrainRunOptions o;
  o.device = "cpu";
  o.quiet = true;
  return o;
}

}  // namespace crucible::test
