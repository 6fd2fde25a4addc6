// Test helpers for tests/torch: tiny model configs, random weights with non-zero biases, and a
// byte-level tokenizer.json written by hand (256 byte tokens + special tokens), all CPU/fp32.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/torch/model.h"
#include "tests/support/temp_files.h"

namespace crucible::test {

// qwen2 (q/k/v biases) or llama; 4 query heads sharing 2 kv heads (GQA), 2 layers.
inline lm::ModelConfig tiny_config(const std::string& type = "qwen2", bool tied = false, int64_t vocab = 64) {
  nlohmann::json j = {{"model_type", type},
                      {"vocab_size", vocab},
                      {"hidden_size", 32},
                      {"intermediate_size", 48},
                      {"num_hidden_layers", 2},
                      {"num_attention_heads", 4},
                      {"num_key_value_heads", 2},
                      {"max_position_embeddings", 256},
                      {"rms_norm_eps", 1e-6},
                      {"rope_theta", 10000.0},
                      {"tie_word_embeddings", tied},
                      {"initializer_range", 0.2},
                      {"eos_token_id", 1}};
  return lm::ModelConfig::from_json(j, "tiny_config").value();
}

// make_random_causal_lm plus random biases (HF init zeroes them, which would hide bias bugs).
inline lm::CausalLM tiny_model(const lm::ModelConfig& c, uint64_t seed) {
  lm::CausalLM m = lm::make_random_causal_lm(c, seed);
  torch::NoGradGuard g;
  torch::manual_seed(seed + 1000);
  for (auto& p : m->named_parameters())
    if (p.key().size() > 5 && p.key().compare(p.key().size() - 5, 5, ".bias") == 0) p.value().normal_(0, 0.2);
  return m;
}

// GPT-2's byte -> printable character mapping, as UTF-8.
inline std::string byte_level_char(int b) {
  auto printable = [](int x) { return (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174; };
  int cp = b;
  if (!printable(b)) {
    cp = 256;
    for (int k = 0; k < b; ++k) cp += printable(k) ? 0 : 1;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// tokenizer.json: ids 0..255 are the bytes, then `specials` (ids 256, 257, ...), all special.
inline std::string byte_tokenizer_json(const std::vector<std::string>& specials = {"<|endoftext|>", "<|im_start|>",
                                                                                   "<|im_end|>"}) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(b)] = b;
  nlohmann::json added = nlohmann::json::array();
  for (size_t i = 0; i < specials.size(); ++i)
    added.push_back({{"id", 256 + i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  nlohmann::json j = {{"version", "1.0"},
                      {"added_tokens", added},
                      {"normalizer", nullptr},
                      {"pre_tokenizer", byte_level},
                      {"post_processor", nullptr},
                      {"decoder", byte_level},
                      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  return j.dump();
}

// A project-written ChatML-style template (the shape of Qwen's, not its text).
inline const char* kTinyChatTemplate =
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

inline void write_chat_tokenizer_config(const std::string& dir, const std::string& eos = "<|im_end|>") {
  nlohmann::json j = {{"chat_template", kTinyChatTemplate}, {"eos_token", eos}};
  write_text(dir + "/tokenizer_config.json", j.dump());
}

}  // namespace crucible::test
