#include "backends/torch/model_config.h"

#include <filesystem>

#include "core/jsonl.h"

namespace crucible::lm {
namespace {

using json = nlohmann::json;

const char* kSupportedTypes = "qwen2, llama";

// Small typed readers: each error names the origin and the key.
struct Reader {
  const json& j;
  const std::string& origin;

  Status error(const std::string& key, const std::string& what) const {
    return Status::parse(origin + ": key '" + key + "' " + what);
  }
  bool has(const char* key) const { return j.contains(key) && !j[key].is_null(); }

  Status integer(const char* key, int64_t* out, bool required, int64_t min_value) const {
    if (!has(key)) return required ? error(key, "is missing") : Status::ok();
    const json& v = j[key];
    if (!v.is_number_integer()) return error(key, "must be an integer, got " + v.dump());
    int64_t x = v.get<int64_t>();
    if (x < min_value) return error(key, "must be at least " + std::to_string(min_value) + ", got " + v.dump());
    *out = x;
    return Status::ok();
  }
  Status number(const char* key, double* out, bool positive) const {
    if (!has(key)) return Status::ok();
    const json& v = j[key];
    if (!v.is_number()) return error(key, "must be a number, got " + v.dump());
    double x = v.get<double>();
    if (positive && !(x > 0)) return error(key, "must be positive, got " + v.dump());
    *out = x;
    return Status::ok();
  }
  Status boolean(const char* key, bool* out) const {
    if (!has(key)) return Status::ok();
    if (!j[key].is_boolean()) return error(key, "must be true or false, got " + j[key].dump());
    *out = j[key].get<bool>();
    return Status::ok();
  }
};

#define CRUCIBLE_TRY(expr)            \
  do {                                \
    Status s_ = (expr);               \
    if (!s_.is_ok()) return s_;       \
  } while (0)

Status parse_rope_scaling(const json& v, const std::string& origin, RopeScaling* out) {
  if (v.is_null()) return Status::ok();
  if (!v.is_object()) return Status::parse(origin + ": key 'rope_scaling' must be an object or null");
  std::string type;
  for (const char* k : {"rope_type", "type"})
    if (v.contains(k) && v[k].is_string()) {
      type = v[k].get<std::string>();
      break;
    }
  if (type.empty() || type == "default") return Status::ok();
  if (type != "llama3")
    return Status::parse(origin + ": key 'rope_scaling' has rope_type '" + type +
                         "', which is not supported (supported: none/default, llama3)");
  out->type = type;
  const std::string where = origin + " (rope_scaling)";
  Reader r{v, where};
  if (!r.has("factor")) return r.error("factor", "is missing");
  CRUCIBLE_TRY(r.number("factor", &out->factor, true));
  CRUCIBLE_TRY(r.number("low_freq_factor", &out->low_freq_factor, true));
  CRUCIBLE_TRY(r.number("high_freq_factor", &out->high_freq_factor, true));
  CRUCIBLE_TRY(r.integer("original_max_position_embeddings", &out->original_max_position_embeddings, false, 1));
  if (!(out->high_freq_factor > out->low_freq_factor))
    return r.error("high_freq_factor", "must be greater than low_freq_factor");
  return Status::ok();
}

}  // namespace

Result<ModelConfig> ModelConfig::from_json(const json& j, const std::string& origin) {
  if (!j.is_object()) return Status::parse(origin + ": expected a JSON object");
  ModelConfig c;
  c.raw = j;
  Reader r{j, origin};
  if (!r.has("model_type") || !j["model_type"].is_string())
    return r.error("model_type", std::string("is missing (supported: ") + kSupportedTypes + ")");
  c.model_type = j["model_type"].get<std::string>();
  if (c.model_type != "qwen2" && c.model_type != "llama")
    return r.error("model_type", "is '" + c.model_type + "', which is not supported (supported: " + kSupportedTypes + ")");

  CRUCIBLE_TRY(r.integer("vocab_size", &c.vocab_size, true, 1));
  CRUCIBLE_TRY(r.integer("hidden_size", &c.hidden_size, true, 1));
  CRUCIBLE_TRY(r.integer("intermediate_size", &c.intermediate_size, true, 1));
  CRUCIBLE_TRY(r.integer("num_hidden_layers", &c.num_hidden_layers, true, 1));
  CRUCIBLE_TRY(r.integer("num_attention_heads", &c.num_attention_heads, true, 1));
  c.num_key_value_heads = c.num_attention_heads;
  CRUCIBLE_TRY(r.integer("num_key_value_heads", &c.num_key_value_heads, false, 1));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return r.error("num_key_value_heads", "(" + std::to_string(c.num_key_value_heads) +
                                              ") must divide num_attention_heads (" +
                                              std::to_string(c.num_attention_heads) + ")");
  if (r.has("head_dim")) {
    CRUCIBLE_TRY(r.integer("head_dim", &c.head_dim, true, 2));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      return r.error("hidden_size", "must be a multiple of num_attention_heads when head_dim is not given");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) return r.error("head_dim", "must be even (RoPE rotates pairs), got " + std::to_string(c.head_dim));
  CRUCIBLE_TRY(r.integer("max_position_embeddings", &c.max_position_embeddings, false, 1));
  CRUCIBLE_TRY(r.number("rms_norm_eps", &c.rms_norm_eps, true));
  CRUCIBLE_TRY(r.number("rope_theta", &c.rope_theta, true));
  if (j.contains("rope_scaling")) CRUCIBLE_TRY(parse_rope_scaling(j["rope_scaling"], origin, &c.rope_scaling));
  // transformers >= 5 groups the RoPE settings as "rope_parameters": {"rope_theta", "rope_type", ...}.
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const json& rp = j["rope_parameters"];
    const std::string where = origin + " (rope_parameters)";
    CRUCIBLE_TRY((Reader{rp, where}.number("rope_theta", &c.rope_theta, true)));
    CRUCIBLE_TRY(parse_rope_scaling(rp, origin, &c.rope_scaling));
  }
  CRUCIBLE_TRY(r.boolean("tie_word_embeddings", &c.tie_word_embeddings));
  if (c.model_type == "qwen2") {
    c.attention_bias = true;  // Qwen2 always has q/k/v biases
    bool sliding = false;
    CRUCIBLE_TRY(r.boolean("use_sliding_window", &sliding));
    if (sliding) return r.error("use_sliding_window", "is true: sliding-window attention is not supported");
  } else {
    CRUCIBLE_TRY(r.boolean("attention_bias", &c.attention_bias));
    bool mlp_bias = false;
    CRUCIBLE_TRY(r.boolean("mlp_bias", &mlp_bias));
    if (mlp_bias) return r.error("mlp_bias", "is true: MLP biases are not supported");
  }
  if (r.has("hidden_act")) {
    if (!j["hidden_act"].is_string() || j["hidden_act"].get<std::string>() != "silu")
      return r.error("hidden_act", "is " + j["hidden_act"].dump() + ": only \"silu\" is supported");
  }
  if (r.has("bos_token_id")) CRUCIBLE_TRY(r.integer("bos_token_id", &c.bos_token_id, true, 0));
  if (r.has("eos_token_id")) {
    const json& e = j["eos_token_id"];
    if (e.is_number_integer() && e.get<int64_t>() >= 0) {
      c.eos_token_ids.push_back(e.get<int64_t>());
    } else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer() || x.get<int64_t>() < 0)
          return r.error("eos_token_id", "must be a token id or a list of them, got " + e.dump());
        c.eos_token_ids.push_back(x.get<int64_t>());
      }
    } else {
      return r.error("eos_token_id", "must be a token id or a list of them, got " + e.dump());
    }
  }
  // transformers >= 4.56 writes "dtype"; older versions "torch_dtype".
  for (const char* k : {"torch_dtype", "dtype"}) {
    if (!r.has(k)) continue;
    if (!j[k].is_string()) return r.error(k, "must be a string such as \"bfloat16\", got " + j[k].dump());
    c.torch_dtype = j[k].get<std::string>();
    break;
  }
  CRUCIBLE_TRY(r.number("initializer_range", &c.initializer_range, true));
  return c;
}

Result<ModelConfig> ModelConfig::load(const std::string& model_dir) {
  std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  auto text = read_file(path);
  if (!text) return text.status();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::parse(path + ": not valid JSON");
  return from_json(j, path);
}

json ModelConfig::to_json() const {
  json j = raw.is_object() ? raw : json::object();
  j["architectures"] = {model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  if (rope_scaling.type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    j["rope_scaling"] = {{"rope_type", rope_scaling.type},
                         {"factor", rope_scaling.factor},
                         {"low_freq_factor", rope_scaling.low_freq_factor},
                         {"high_freq_factor", rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type == "llama") j["attention_bias"] = attention_bias;
  j["hidden_act"] = "silu";
  j["bos_token_id"] = bos_token_id >= 0 ? json(bos_token_id) : json(nullptr);
  if (eos_token_ids.empty())
    j["eos_token_id"] = nullptr;
  else if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else
    j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = torch_dtype;
  j.erase("dtype");
  j["initializer_range"] = initializer_range;
  return j;
}

}  // namespace crucible::lm
