// ModelConfig: the architecture hyper-parameters of a Qwen2 / Llama decoder, read from (and written
// back to) a Hugging Face `config.json`. No LibTorch here, so anything may include it.
//
//   auto cfg = crucible::lm::ModelConfig::load("/models/Qwen2.5-0.5B-Instruct");  // DIR/config.json
//   if (!cfg) { /* cfg.status().message() names the file and the key */ }
//
// Supported: model_type "qwen2" and "llama"; hidden_act "silu"; rope_scaling none or Llama-3.1's
// {"rope_type": "llama3", ...}. Anything else (another model_type, sliding-window attention,
// mlp_bias, another rope type) is an error naming the key, never a silently wrong model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace crucible::lm {

// Llama-3.1 frequency-dependent RoPE scaling ("rope_type": "llama3"). type empty = no scaling.
struct RopeScaling {
  std::string type;                          // "" | "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type;                    // "qwen2" | "llama"
  int64_t vocab_size = 0;                    // rows of embed_tokens / lm_head (may exceed the tokenizer's)
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;             // SwiGLU inner width
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;           // divides num_attention_heads (GQA)
  int64_t head_dim = 0;                      // config "head_dim", else hidden_size / num_attention_heads
  int64_t max_position_embeddings = 32768;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;          // lm_head.weight is model.embed_tokens.weight
  bool attention_bias = false;               // q/k/v biases (always on for qwen2)
  int64_t bos_token_id = -1;                 // -1: none
  std::vector<int64_t> eos_token_ids;        // config "eos_token_id": an int or a list
  std::string torch_dtype = "float32";       // as written in config.json ("bfloat16", ...)
  double initializer_range = 0.02;           // std of the normal init of weights
  nlohmann::json raw;                        // the parsed file as read (unknown keys kept for to_json)

  // Validates and fills defaults. `origin` (e.g. the file path) prefixes every error message.
  static Result<ModelConfig> from_json(const nlohmann::json& j, const std::string& origin);
  // Reads MODEL_DIR/config.json.
  static Result<ModelConfig> load(const std::string& model_dir);
  // A config.json that from_json (and transformers) reads back to this config: `raw` with every
  // field above written over it, plus "architectures".
  nlohmann::json to_json() const;

  int64_t num_key_value_groups() const { return num_attention_heads / num_key_value_heads; }
};

}  // namespace crucible::lm
