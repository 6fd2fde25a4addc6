// Recipe parsing: a table of key bindings per recipe kind (see recipe.h for the contract).
#include "train/recipe.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "tasks/code/code_grader.h"
#include "tasks/task_registry.h"
#include "train/rewards/reward_registry.h"

namespace crucible::train {

using json = nlohmann::json;

const char* recipe_kind_name(RecipeKind k) { return k == RecipeKind::kSft ? "SFT" : "GRPO"; }

namespace {

struct NamedScheduler {
  LrSchedulerType type;
  const char* name;
};
constexpr NamedScheduler kSchedulers[] = {
    {LrSchedulerType::kLinear, "linear"},
    {LrSchedulerType::kCosine, "cosine"},
    {LrSchedulerType::kCosineWithMinLr, "cosine_with_min_lr"},
    {LrSchedulerType::kConstant, "constant"},
    {LrSchedulerType::kConstantWithWarmup, "constant_with_warmup"},
};

}  // namespace

const char* lr_scheduler_name(LrSchedulerType t) {
  for (const auto& s : kSchedulers)
    if (s.type == t) return s.name;
  return "?";
}

bool lr_scheduler_from_name(const std::string& s, LrSchedulerType* out) {
  for (const auto& n : kSchedulers)
    if (s == n.name) {
      *out = n.type;
      return true;
    }
  return false;
}

const char* grpo_loss_name(GrpoLossKind k) {
  switch (k) {
    case GrpoLossKind::kGrpo: return "grpo";
    case GrpoLossKind::kBnpo: return "bnpo";
    case GrpoLossKind::kDrGrpo: return "dr_grpo";
    case GrpoLossKind::kDapo: return "dapo";
  }
  return "?";
}

const char* scale_rewards_name(ScaleRewardsKind k) {
  switch (k) {
    case ScaleRewardsKind::kGroup: return "group";
    case ScaleRewardsKind::kBatch: return "batch";
    case ScaleRewardsKind::kNone: return "none";
  }
  return "?";
}

std::string train_data_path(const DataArgs& d) {
  struct stat st{};
  if (::stat(d.dataset_name.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return d.dataset_name + "/" + d.dataset_train_split + ".jsonl";
  return d.dataset_name;
}

// ------------------------------------------------------------------------------------------------
// Accepted-but-ignored keys.

const std::vector<IgnoredRecipeKey>& ignored_recipe_keys() {
  static const char* const kHub = "no Hugging Face Hub here: checkpoints stay in output_dir";
  static const char* const kLog = "no experiment trackers: metrics go to stdout and output_dir";
  static const char* const kVllm = "generation uses Crucible's own backends (backends/torch or a served model)";
  static const char* const kPerf = "a performance option of the Python stack with no Crucible counterpart";
  static const char* const kEval = "evaluation runs through `crucible eval`, not inside training";
  static const char* const kSandbox = "code rewards always run in Crucible's sandbox";
  static const char* const kData = "datasets are local JSONL files";
  static const std::vector<IgnoredRecipeKey> keys = {
      {"hub_model_id", kHub}, {"hub_model_revision", kHub}, {"hub_strategy", kHub},
      {"hub_private_repo", kHub}, {"hub_token", kHub}, {"push_to_hub", kHub},
      {"push_to_hub_revision", kHub}, {"overwrite_hub_revision", kHub},
      {"report_to", kLog}, {"run_name", kLog}, {"wandb_entity", kLog}, {"wandb_project", kLog},
      {"wandb_run_group", kLog}, {"wandb_log_unique_prompts", kLog}, {"log_level", kLog},
      {"logging_dir", kLog}, {"logging_strategy", kLog}, {"logging_first_step", kLog},
      {"log_completions", kLog}, {"num_completions_to_print", kLog}, {"log_unique_prompts", kLog},
      {"log_completions_hub_repo", kLog},
      {"use_vllm", kVllm}, {"vllm_mode", kVllm}, {"vllm_device", kVllm},
      {"vllm_gpu_memory_utilization", kVllm}, {"vllm_dtype", kVllm}, {"vllm_max_model_length", kVllm},
      {"vllm_enable_prefix_caching", kVllm}, {"vllm_server_base_url", kVllm},
      {"vllm_server_host", kVllm}, {"vllm_server_port", kVllm}, {"vllm_server_timeout", kVllm},
      {"vllm_group_port", kVllm}, {"vllm_tensor_parallel_size", kVllm},
      {"vllm_enable_sleep_mode", kVllm}, {"vllm_model_impl", kVllm},
      {"vllm_structured_outputs_regex", kVllm}, {"vllm_guided_decoding_regex", kVllm},
      {"vllm_importance_sampling_correction", kVllm}, {"vllm_importance_sampling_mode", kVllm},
      {"vllm_importance_sampling_cap", kVllm}, {"generation_kwargs", kVllm},
      {"use_transformers_paged", kVllm}, {"cache_implementation", kVllm},
      {"ds3_gather_for_generation", kVllm},
      {"attn_implementation", kPerf}, {"use_liger", kPerf}, {"use_liger_kernel", kPerf},
      {"gradient_checkpointing_kwargs", kPerf}, {"torch_compile", kPerf}, {"ddp_timeout", kPerf},
      {"dataloader_num_workers", kPerf}, {"dataset_num_proc", kPerf},
      {"torch_empty_cache_steps", kPerf}, {"num_processes", kPerf}, {"activation_offloading", kPerf},
      {"disable_dropout", kPerf}, {"cast_lm_head_to_fp32", kPerf}, {"trust_remote_code", kPerf},
      {"model_init_kwargs", kPerf},
      {"do_eval", kEval}, {"eval_strategy", kEval}, {"evaluation_strategy", kEval},
      {"eval_steps", kEval}, {"per_device_eval_batch_size", kEval}, {"eval_on_start", kEval},
      {"eval_packing", kEval}, {"num_generations_eval", kEval}, {"dataset_test_split", kEval},
      {"benchmarks", kEval}, {"callbacks", kEval},
      {"code_provider", kSandbox}, {"ioi_provider", kSandbox}, {"e2b_router_url", kSandbox},
      {"morph_router_url", kSandbox},
      {"dataset_config", kData}, {"dataset_configs", kData}, {"dataset_kwargs", kData},
      {"remove_unused_columns", kData},
      {"overwrite_output_dir", "Crucible never deletes output_dir; checkpoints are added to it"},
  };
  return keys;
}

namespace {

// ------------------------------------------------------------------------------------------------
// Scalar conversion (YAML 1.1 spellings, as PyYAML reads them).

bool parse_bool(const std::string& s, bool* out) {
  static const char* const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char* const f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  for (auto* x : t)
    if (s == x) return *out = true, true;
  for (auto* x : f)
    if (s == x) return *out = false, true;
  return false;
}

bool parse_int(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9') return false;
  errno = 0;
  long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno == ERANGE) return false;
  *out = v;
  return true;
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  for (char c : s)  // no hex floats, no inf/nan spellings
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

std::string describe(const YAML::Node& n) {
  if (n.IsNull()) return "null";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "'" + n.Scalar() + "'";
}

std::string line_of(const std::string& origin, const YAML::Mark& m) {
  if (m.line >= 0) return origin + ":" + std::to_string(m.line + 1);
  return origin;
}

// YAML -> JSON with scalar typing (bool, integer, float, else string).
json to_json(const YAML::Node& n) {
  if (n.IsNull()) return nullptr;
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& e : n) a.push_back(to_json(e));
    return a;
  }
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.Scalar()] = to_json(kv.second);
    return o;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: a string
  bool b;
  int64_t i;
  double d;
  if (parse_bool(s, &b)) return b;
  if (parse_int(s, &i)) return i;
  if (parse_double(s, &d)) return d;
  return s;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// ------------------------------------------------------------------------------------------------
// The binder: key -> handler(value) that converts, checks and stores.

struct Value {
  const YAML::Node& node;
  const std::string& key;
  const std::string& at;  // "FILE:LINE"
};
using Handler = std::function<Status(const Value&)>;
using Check = std::function<std::string(double)>;  // "" = fine, else "must be ..."

Status type_error(const Value& v, const std::string& expected) {
  return Status::invalid(v.at + ": key '" + v.key + "' expects " + expected + ", got " + describe(v.node));
}
Status range_error(const Value& v, const std::string& what) {
  return Status::invalid(v.at + ": key '" + v.key + "' " + what + ", got " + describe(v.node));
}

Check positive() { return [](double x) { return x > 0 ? "" : "must be > 0"; }; }
Check non_negative() { return [](double x) { return x >= 0 ? "" : "must be >= 0"; }; }
Check at_least(double lo) {
  return [lo](double x) {
    std::ostringstream m;
    m << "must be >= " << lo;
    return x >= lo ? std::string() : m.str();
  };
}
Check unit_interval() { return [](double x) { return x >= 0 && x <= 1 ? "" : "must be in [0, 1]"; }; }

class Binder {
 public:
  void on(const std::string& key, Handler h) { handlers_[key] = std::move(h); }
  void alias(const std::string& alias, const std::string& key) { aliases_[alias] = key; }
  const Handler* find(const std::string& key) const {
    auto a = aliases_.find(key);
    auto it = handlers_.find(a == aliases_.end() ? key : a->second);
    return it == handlers_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (const auto& [name, h] : handlers_) k.push_back(name);
    for (const auto& [name, target] : aliases_) k.push_back(name);
    std::sort(k.begin(), k.end());
    return k;
  }

  void dbl(const std::string& key, double* out, Check check = nullptr) {
    on(key, [out, check](const Value& v) -> Status {
      double d;
      if (!v.node.IsScalar() || !parse_double(v.node.Scalar(), &d)) return type_error(v, "a number");
      if (check) {
        std::string m = check(d);
        if (!m.empty()) return range_error(v, m);
      }
      *out = d;
      return Status::ok();
    });
  }
  void opt_dbl(const std::string& key, std::optional<double>* out, Check check = nullptr) {
    on(key, [out, check](const Value& v) -> Status {
      if (v.node.IsNull()) return out->reset(), Status::ok();
      double d;
      if (!v.node.IsScalar() || !parse_double(v.node.Scalar(), &d)) return type_error(v, "a number or null");
      if (check) {
        std::string m = check(d);
        if (!m.empty()) return range_error(v, m);
      }
      *out = d;
      return Status::ok();
    });
  }
  void integer(const std::string& key, int64_t* out, Check check = nullptr) {
    on(key, [out, check](const Value& v) -> Status {
      int64_t i;
      if (!v.node.IsScalar() || !parse_int(v.node.Scalar(), &i)) return type_error(v, "an integer");
      if (check) {
        std::string m = check(static_cast<double>(i));
        if (!m.empty()) return range_error(v, m);
      }
      *out = i;
      return Status::ok();
    });
  }
  void opt_integer(const std::string& key, std::optional<int64_t>* out, Check check = nullptr) {
    on(key, [out, check](const Value& v) -> Status {
      if (v.node.IsNull()) return out->reset(), Status::ok();
      int64_t i;
      if (!v.node.IsScalar() || !parse_int(v.node.Scalar(), &i)) return type_error(v, "an integer or null");
      if (check) {
        std::string m = check(static_cast<double>(i));
        if (!m.empty()) return range_error(v, m);
      }
      *out = i;
      return Status::ok();
    });
  }
  void boolean(const std::string& key, bool* out) {
    on(key, [out](const Value& v) -> Status {
      if (!v.node.IsScalar() || !parse_bool(v.node.Scalar(), out)) return type_error(v, "a boolean (true/false)");
      return Status::ok();
    });
  }
  void opt_boolean(const std::string& key, std::optional<bool>* out) {
    on(key, [out](const Value& v) -> Status {
      if (v.node.IsNull()) return out->reset(), Status::ok();
      bool b;
      if (!v.node.IsScalar() || !parse_bool(v.node.Scalar(), &b)) return type_error(v, "a boolean or null");
      *out = b;
      return Status::ok();
    });
  }
  // A boolean that only one value is supported for.
  void fixed_boolean(const std::string& key, bool supported, const std::string& why) {
    on(key, [supported, why](const Value& v) -> Status {
      bool b;
      if (!v.node.IsScalar() || !parse_bool(v.node.Scalar(), &b)) return type_error(v, "a boolean (true/false)");
      if (b != supported)
        return range_error(v, std::string("is only supported as ") + (supported ? "true" : "false") + " (" + why + ")");
      return Status::ok();
    });
  }
  void str(const std::string& key, std::string* out, std::vector<std::string> allowed = {}) {
    on(key, [out, allowed](const Value& v) -> Status {
      if (!v.node.IsScalar()) return type_error(v, "a string");
      const std::string& s = v.node.Scalar();
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end())
        return range_error(v, "must be one of: " + join(allowed));
      *out = s;
      return Status::ok();
    });
  }
  void opt_str(const std::string& key, std::optional<std::string>* out) {
    on(key, [out](const Value& v) -> Status {
      if (v.node.IsNull()) return out->reset(), Status::ok();
      if (!v.node.IsScalar()) return type_error(v, "a string or null");
      *out = v.node.Scalar();
      return Status::ok();
    });
  }
  void str_list(const std::string& key, std::vector<std::string>* out) {
    on(key, [out](const Value& v) -> Status {
      std::vector<std::string> r;
      if (v.node.IsScalar()) {
        r.push_back(v.node.Scalar());
      } else if (v.node.IsSequence()) {
        for (const auto& e : v.node) {
          if (!e.IsScalar()) return type_error(v, "a list of strings");
          r.push_back(e.Scalar());
        }
      } else {
        return type_error(v, "a list of strings");
      }
      *out = std::move(r);
      return Status::ok();
    });
  }
  void dbl_list(const std::string& key, std::vector<double>* out) {
    on(key, [out](const Value& v) -> Status {
      std::vector<double> r;
      if (v.node.IsNull()) return out->clear(), Status::ok();
      if (!v.node.IsSequence()) return type_error(v, "a list of numbers");
      for (const auto& e : v.node) {
        double d;
        if (!e.IsScalar() || !parse_double(e.Scalar(), &d)) return type_error(v, "a list of numbers");
        r.push_back(d);
      }
      *out = std::move(r);
      return Status::ok();
    });
  }
  // A key that is recognised but whose only supported value is `supported` (a string).
  void fixed_str(const std::string& key, std::string supported, std::string why) {
    on(key, [supported, why](const Value& v) -> Status {
      if (!v.node.IsScalar()) return type_error(v, "a string");
      if (v.node.Scalar() != supported)
        return range_error(v, "is only supported as '" + supported + "' (" + why + ")");
      return Status::ok();
    });
  }

 private:
  std::map<std::string, Handler> handlers_;
  std::map<std::string, std::string> aliases_;
};

// Parses a YAML mapping or a JSON/YAML-in-a-string (transformers accepts both for *_kwargs).
Result<YAML::Node> mapping_value(const Value& v) {
  if (v.node.IsMap()) return YAML::Node(v.node);
  if (v.node.IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (v.node.IsScalar()) {
    try {
      YAML::Node inner = YAML::Load(v.node.Scalar());  // JSON is YAML
      if (inner.IsMap()) return inner;
    } catch (const YAML::Exception&) {
    }
  }
  return type_error(v, "a mapping (or a JSON object string)");
}

// ------------------------------------------------------------------------------------------------
// Key tables.

void bind_common(Binder& b, ModelArgs& m, DataArgs& d, TrainingArgs& t) {
  b.str("model_name_or_path", &m.model_name_or_path);
  b.fixed_str("model_revision", "main", "models are local directories");
  b.str("torch_dtype", &m.torch_dtype, {"auto", "bfloat16", "float16", "float32"});
  b.alias("dtype", "torch_dtype");
  b.fixed_boolean("use_peft", false, "full fine-tuning only");

  b.str("dataset_name", &d.dataset_name);
  b.str("dataset_train_split", &d.dataset_train_split);
  b.on("dataset_mixture", [](const Value& v) -> Status {
    if (v.node.IsNull()) return Status::ok();
    return range_error(v, "is not supported (export the mixture to one JSONL file and name it in dataset_name)");
  });

  b.dbl("learning_rate", &t.learning_rate, non_negative());
  b.dbl("num_train_epochs", &t.num_train_epochs, non_negative());
  b.integer("max_steps", &t.max_steps);
  b.integer("per_device_train_batch_size", &t.per_device_train_batch_size, at_least(1));
  b.integer("gradient_accumulation_steps", &t.gradient_accumulation_steps, at_least(1));
  b.on("lr_scheduler_type", [&t](const Value& v) -> Status {
    if (!v.node.IsScalar()) return type_error(v, "a string");
    if (!lr_scheduler_from_name(v.node.Scalar(), &t.lr_scheduler_type)) {
      std::vector<std::string> names;
      for (const auto& s : kSchedulers) names.push_back(s.name);
      return range_error(v, "must be one of: " + join(names));
    }
    return Status::ok();
  });
  b.on("lr_scheduler_kwargs", [&t](const Value& v) -> Status {
    auto m = mapping_value(v);
    if (!m.is_ok()) return m.status();
    LrSchedulerKwargs k;
    for (const auto& kv : *m) {
      const std::string name = kv.first.Scalar();
      double x;
      if (!kv.second.IsScalar() || !parse_double(kv.second.Scalar(), &x))
        return Status::invalid(v.at + ": key 'lr_scheduler_kwargs." + name + "' expects a number, got " +
                               describe(kv.second));
      if (name == "min_lr_rate") {
        if (x < 0 || x > 1) return Status::invalid(v.at + ": key 'lr_scheduler_kwargs.min_lr_rate' must be in [0, 1]");
        k.min_lr_rate = x;
      } else if (name == "min_lr") {
        if (x < 0) return Status::invalid(v.at + ": key 'lr_scheduler_kwargs.min_lr' must be >= 0");
        k.min_lr = x;
      } else if (name == "num_cycles") {
        k.num_cycles = x;
      } else {
        return Status::invalid(v.at + ": unknown key 'lr_scheduler_kwargs." + name +
                               "' (Crucible's schedules read min_lr_rate, min_lr, num_cycles)");
      }
    }
    t.lr_scheduler_kwargs = k;
    return Status::ok();
  });
  b.dbl("warmup_ratio", &t.warmup_ratio, unit_interval());
  b.dbl("warmup_steps", &t.warmup_steps, non_negative());
  b.dbl("weight_decay", &t.weight_decay, non_negative());
  b.dbl("adam_beta1", &t.adam_beta1, [](double x) { return x >= 0 && x < 1 ? "" : "must be in [0, 1)"; });
  b.dbl("adam_beta2", &t.adam_beta2, [](double x) { return x >= 0 && x < 1 ? "" : "must be in [0, 1)"; });
  b.dbl("adam_epsilon", &t.adam_epsilon, positive());
  b.dbl("max_grad_norm", &t.max_grad_norm);
  b.str("optim", &t.optim, {"adamw_torch", "adamw_torch_fused"});
  b.boolean("bf16", &t.bf16);
  b.fixed_boolean("fp16", false, "use bf16 or fp32");
  b.boolean("gradient_checkpointing", &t.gradient_checkpointing);
  b.integer("seed", &t.seed);
  b.str("output_dir", &t.output_dir);
  b.str("save_strategy", &t.save_strategy, {"no", "steps", "epoch"});
  b.dbl("save_steps", &t.save_steps, positive());
  b.opt_integer("save_total_limit", &t.save_total_limit, at_least(1));
  b.dbl("logging_steps", &t.logging_steps, positive());
  b.opt_str("resume_from_checkpoint", &t.resume_from_checkpoint);
  b.boolean("shuffle_dataset", &t.shuffle_dataset);
  b.opt_str("chat_template", &t.chat_template);
  b.opt_str("system_prompt", &t.system_prompt);
  b.on("chat_template_kwargs", [&t](const Value& v) -> Status {
    auto m = mapping_value(v);
    if (!m.is_ok()) return m.status();
    t.chat_template_kwargs = to_json(*m);
    if (t.chat_template_kwargs.is_null()) t.chat_template_kwargs = json::object();
    return Status::ok();
  });
}

void bind_sft(Binder& b, DataArgs& d, SftArgs& s) {
  b.opt_integer("max_length", &s.max_length, at_least(1));
  b.alias("max_seq_length", "max_length");
  b.boolean("packing", &s.packing);
  b.on("packing_strategy", [&s](const Value& v) -> Status {
    if (!v.node.IsScalar()) return type_error(v, "a string");
    const std::string& x = v.node.Scalar();
    if (x == "bfd") s.packing_strategy = PackingStrategy::kBfd;
    else if (x == "bfd_split") s.packing_strategy = PackingStrategy::kBfdSplit;
    else return range_error(v, "must be one of: bfd, bfd_split ('wrapped' is not supported)");
    return Status::ok();
  });
  b.boolean("padding_free", &s.padding_free);
  b.opt_boolean("completion_only_loss", &s.completion_only_loss);
  b.opt_boolean("assistant_only_loss", &s.assistant_only_loss);
  b.opt_str("eos_token", &s.eos_token);
  b.opt_integer("pad_to_multiple_of", &s.pad_to_multiple_of, at_least(1));
  b.str("dataset_text_field", &d.dataset_text_field);
  b.on("loss_type", [](const Value& v) -> Status {
    if (!v.node.IsNull() && (!v.node.IsScalar() || (v.node.Scalar() != "nll" && v.node.Scalar() != "chunked_nll")))
      return range_error(v, "must be one of: nll, chunked_nll (both: token-mean cross-entropy)");
    return Status::ok();
  });
  b.fixed_str("truncation_mode", "keep_start", "rows keep their beginning");
}

void bind_grpo(Binder& b, DataArgs& d, GrpoArgs& g, RewardArgs& r) {
  b.str("dataset_prompt_column", &d.dataset_prompt_column);
  b.integer("num_generations", &g.num_generations, at_least(2));
  b.integer("max_prompt_length", &g.max_prompt_length, at_least(1));
  b.integer("max_completion_length", &g.max_completion_length, at_least(1));
  b.opt_integer("generation_batch_size", &g.generation_batch_size, at_least(1));
  b.opt_integer("steps_per_generation", &g.steps_per_generation, at_least(1));
  b.dbl("temperature", &g.temperature, positive());
  b.dbl("top_p", &g.top_p, [](double x) { return x > 0 && x <= 1 ? "" : "must be in (0, 1]"; });
  b.integer("top_k", &g.top_k, non_negative());
  b.opt_dbl("min_p", &g.min_p, unit_interval());
  b.dbl("repetition_penalty", &g.repetition_penalty, positive());
  b.dbl("beta", &g.beta, non_negative());
  b.dbl("epsilon", &g.epsilon, non_negative());
  b.opt_dbl("epsilon_high", &g.epsilon_high, non_negative());
  b.opt_dbl("delta", &g.delta, positive());
  b.on("loss_type", [&g](const Value& v) -> Status {
    if (!v.node.IsScalar()) return type_error(v, "a string");
    const std::string& x = v.node.Scalar();
    if (x == "grpo") g.loss_type = GrpoLossKind::kGrpo;
    else if (x == "bnpo") g.loss_type = GrpoLossKind::kBnpo;
    else if (x == "dr_grpo") g.loss_type = GrpoLossKind::kDrGrpo;
    else if (x == "dapo") g.loss_type = GrpoLossKind::kDapo;
    else return range_error(v, "must be one of: grpo, bnpo, dr_grpo, dapo");
    return Status::ok();
  });
  b.on("scale_rewards", [&g](const Value& v) -> Status {
    if (!v.node.IsScalar()) return type_error(v, "group, batch, none or a boolean");
    const std::string& x = v.node.Scalar();
    bool flag;
    if (x == "group") g.scale_rewards = ScaleRewardsKind::kGroup;
    else if (x == "batch") g.scale_rewards = ScaleRewardsKind::kBatch;
    else if (x == "none") g.scale_rewards = ScaleRewardsKind::kNone;
    else if (parse_bool(x, &flag)) g.scale_rewards = flag ? ScaleRewardsKind::kGroup : ScaleRewardsKind::kNone;
    else return range_error(v, "must be one of: group, batch, none, true (= group), false (= none)");
    return Status::ok();
  });
  b.integer("num_iterations", &g.num_iterations, at_least(1));
  b.boolean("mask_truncated_completions", &g.mask_truncated_completions);
  b.str("task", &g.task);
  b.fixed_str("importance_sampling_level", "token", "per-token ratios");
  b.on("top_entropy_quantile", [](const Value& v) -> Status {
    double x;
    if (!v.node.IsScalar() || !parse_double(v.node.Scalar(), &x)) return type_error(v, "a number");
    if (x != 1.0) return range_error(v, "is only supported as 1.0 (every token in the loss)");
    return Status::ok();
  });
  b.fixed_str("multi_objective_aggregation", "sum_then_normalize", "weighted sum, then advantages");
  b.fixed_boolean("sync_ref_model", false, "the reference model stays the initial policy");
  b.on("ref_model_mixup_alpha", [](const Value& v) -> Status {
    double x;
    return v.node.IsScalar() && parse_double(v.node.Scalar(), &x) ? Status::ok() : type_error(v, "a number");
  });
  b.on("ref_model_sync_steps", [](const Value& v) -> Status {
    int64_t x;
    return v.node.IsScalar() && parse_int(v.node.Scalar(), &x) ? Status::ok() : type_error(v, "an integer");
  });

  b.str_list("reward_funcs", &r.reward_funcs);
  b.dbl_list("reward_weights", &r.reward_weights);
  b.dbl("cosine_min_value_wrong", &r.cosine_min_value_wrong);
  b.dbl("cosine_max_value_wrong", &r.cosine_max_value_wrong);
  b.dbl("cosine_min_value_correct", &r.cosine_min_value_correct);
  b.dbl("cosine_max_value_correct", &r.cosine_max_value_correct);
  b.integer("cosine_max_len", &r.cosine_max_len, at_least(1));
  b.integer("repetition_n_grams", &r.repetition_n_grams, at_least(1));
  b.dbl("repetition_max_penalty", &r.repetition_max_penalty,
        [](double x) { return x <= 0 ? "" : "must be <= 0 (a penalty)"; });
  b.integer("max_completion_len", &r.max_completion_len, non_negative());
  b.integer("soft_punish_cache", &r.soft_punish_cache, non_negative());
  b.str("code_language", &r.code_language, {"python", "cpp", "c"});
  b.integer("code_eval_test_batch_size", &r.code_eval_test_batch_size);
  b.str("code_eval_scoring_mode", &r.code_eval_scoring_mode, {"pass_fail", "partial", "weighted_sum"});
  b.integer("parallel_code_exec_per_proc", &r.parallel_code_exec_per_proc, at_least(1));
  b.boolean("enforce_same_language", &r.enforce_same_language);
}

const IgnoredRecipeKey* find_ignored(const std::string& key) {
  for (const auto& k : ignored_recipe_keys())
    if (key == k.key) return &k;
  return nullptr;
}

void warn_once(const std::string& key, const char* reason) {
  static std::mutex mu;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mu);
  if (!warned.insert(key).second) return;
  std::cerr << "crucible: recipe key '" << key << "' is accepted but ignored: " << reason << "\n";
}

// The binder of the other kind, for "this is a GRPO key" errors and suggestions.
Binder binder_for(RecipeKind kind, ModelArgs& m, DataArgs& d, TrainingArgs& t, SftArgs& s, GrpoArgs& g,
                  RewardArgs& r) {
  Binder b;
  bind_common(b, m, d, t);
  if (kind == RecipeKind::kSft) bind_sft(b, d, s);
  else bind_grpo(b, d, g, r);
  return b;
}

std::vector<std::string> keys_of(RecipeKind kind) {
  ModelArgs m;
  DataArgs d;
  TrainingArgs t;
  SftArgs s;
  GrpoArgs g;
  RewardArgs r;
  return binder_for(kind, m, d, t, s, g, r).keys();
}

Status unknown_key(RecipeKind kind, const std::string& key, const std::string& at) {
  RecipeKind other = kind == RecipeKind::kSft ? RecipeKind::kGrpo : RecipeKind::kSft;
  std::vector<std::string> mine = keys_of(kind), theirs = keys_of(other);
  std::string msg = at + ": unknown " + recipe_kind_name(kind) + " recipe key '" + key + "'";
  if (std::find(theirs.begin(), theirs.end(), key) != theirs.end())
    return Status::invalid(msg + " (it is a " + recipe_kind_name(other) + " key)");
  std::vector<std::string> candidates = mine;
  for (const auto& k : ignored_recipe_keys()) candidates.push_back(k.key);
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t dist = edit_distance(key, c);
    if (dist < best_d) best_d = dist, best = c;
  }
  if (!best.empty() && best_d <= std::max<size_t>(2, key.size() / 3))
    return Status::invalid(msg + " (did you mean '" + best + "'?)");
  return Status::invalid(msg + "; see docs/training.md for the keys Crucible reads");
}

struct Parsed {
  std::map<std::string, YAML::Mark> marks;   // key -> where it was
  std::map<std::string, std::string> values;  // key -> its value, dumped (duplicate detection)
};

// Applies every top-level key of `root` through `b`.
Status apply(RecipeKind kind, const YAML::Node& root, const std::string& origin, Binder& b, RecipeInfo& info,
             Parsed& parsed, const RecipeOptions& options) {
  if (!root.IsMap()) {
    if (root.IsNull()) return Status::invalid(origin + ": the recipe is empty");
    return Status::invalid(line_of(origin, root.Mark()) + ": a recipe must be a mapping of key: value");
  }
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const std::string at = line_of(origin, kv.first.Mark());
    std::string dumped = YAML::Dump(kv.second);
    auto seen = parsed.marks.find(key);
    if (seen != parsed.marks.end()) {
      // PyYAML keeps the last of duplicate keys; the same value twice is harmless, two
      // different values are almost certainly a mistake.
      if (parsed.values[key] == dumped) continue;
      return Status::invalid(at + ": key '" + key + "' appears twice with different values (first at line " +
                             std::to_string(seen->second.line + 1) + ")");
    }
    parsed.marks[key] = kv.first.Mark();
    parsed.values[key] = dumped;
    if (const Handler* h = b.find(key)) {
      Status s = (*h)(Value{kv.second, key, at});
      if (!s.is_ok()) return s;
      continue;
    }
    if (const IgnoredRecipeKey* ig = find_ignored(key)) {
      info.ignored_keys.push_back(key);
      if (options.print_warnings) warn_once(key, ig->reason);
      continue;
    }
    return unknown_key(kind, key, at);
  }
  return Status::ok();
}

std::string at_key(const std::string& origin, const Parsed& p, const std::string& key) {
  auto it = p.marks.find(key);
  return it == p.marks.end() ? origin : line_of(origin, it->second);
}

Status validate_common(const std::string& origin, const Parsed& p, const ModelArgs& m, const DataArgs& d,
                       const TrainingArgs& t) {
  if (m.model_name_or_path.empty())
    return Status::invalid(origin + ": required key 'model_name_or_path' is missing (a local model directory)");
  if (d.dataset_name.empty())
    return Status::invalid(origin + ": required key 'dataset_name' is missing (a local JSONL file)");
  const auto& k = t.lr_scheduler_kwargs;
  std::string at = at_key(origin, p, "lr_scheduler_kwargs");
  if (t.lr_scheduler_type == LrSchedulerType::kCosineWithMinLr) {
    if (k.min_lr && k.min_lr_rate)
      return Status::invalid(at + ": lr_scheduler_kwargs: only one of min_lr and min_lr_rate may be set");
    if (!k.min_lr && !k.min_lr_rate)
      return Status::invalid(at + ": lr_scheduler_type cosine_with_min_lr needs lr_scheduler_kwargs.min_lr_rate "
                                  "or lr_scheduler_kwargs.min_lr");
    if (k.min_lr && t.learning_rate <= 0)
      return Status::invalid(at + ": lr_scheduler_kwargs.min_lr needs learning_rate > 0");
  } else {
    if (k.min_lr || k.min_lr_rate)
      return Status::invalid(at + ": lr_scheduler_kwargs min_lr / min_lr_rate only apply to cosine_with_min_lr, not " +
                             lr_scheduler_name(t.lr_scheduler_type));
    if (k.num_cycles != 0.5 && t.lr_scheduler_type != LrSchedulerType::kCosine)
      return Status::invalid(at + ": lr_scheduler_kwargs.num_cycles only applies to cosine schedules");
  }
  if (t.save_steps > 1 && std::floor(t.save_steps) != t.save_steps)
    return Status::invalid(at_key(origin, p, "save_steps") + ": key 'save_steps' must be an integer >= 1 or a fraction in (0, 1)");
  if (t.logging_steps > 1 && std::floor(t.logging_steps) != t.logging_steps)
    return Status::invalid(at_key(origin, p, "logging_steps") +
                           ": key 'logging_steps' must be an integer >= 1 or a fraction in (0, 1)");
  if (t.warmup_steps > 1 && std::floor(t.warmup_steps) != t.warmup_steps)
    return Status::invalid(at_key(origin, p, "warmup_steps") +
                           ": key 'warmup_steps' must be an integer >= 1 or a fraction in (0, 1)");
  return Status::ok();
}

Result<YAML::Node> load_yaml(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::parse(line_of(origin, e.mark) + ": invalid YAML: " + e.msg);
  }
}

Result<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io("cannot open recipe " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<SftConfig> parse_sft_recipe(const std::string& yaml, const std::string& origin, const RecipeOptions& options) {
  auto root = load_yaml(yaml, origin);
  if (!root.is_ok()) return root.status();
  SftConfig c;
  c.training.learning_rate = 2e-5;
  c.training.shuffle_dataset = false;
  GrpoArgs unused_g;
  RewardArgs unused_r;
  Binder b = binder_for(RecipeKind::kSft, c.model, c.data, c.training, c.sft, unused_g, unused_r);
  Parsed p;
  try {
    Status s = apply(RecipeKind::kSft, *root, origin, b, c.info, p, options);
    if (!s.is_ok()) return s;
  } catch (const YAML::Exception& e) {
    return Status::parse(line_of(origin, e.mark) + ": " + e.msg);
  }
  Status v = validate_common(origin, p, c.model, c.data, c.training);
  if (!v.is_ok()) return v;
  if (c.sft.packing && !c.sft.max_length)
    return Status::invalid(at_key(origin, p, "packing") + ": packing needs max_length (the packed row length)");
  return c;
}

Result<GrpoConfig> parse_grpo_recipe(const std::string& yaml, const std::string& origin, const RecipeOptions& options) {
  auto root = load_yaml(yaml, origin);
  if (!root.is_ok()) return root.status();
  GrpoConfig c;
  c.training.learning_rate = 1e-6;
  c.training.shuffle_dataset = true;
  SftArgs unused_s;
  Binder b = binder_for(RecipeKind::kGrpo, c.model, c.data, c.training, unused_s, c.grpo, c.rewards);
  Parsed p;
  try {
    Status s = apply(RecipeKind::kGrpo, *root, origin, b, c.info, p, options);
    if (!s.is_ok()) return s;
  } catch (const YAML::Exception& e) {
    return Status::parse(line_of(origin, e.mark) + ": " + e.msg);
  }
  Status v = validate_common(origin, p, c.model, c.data, c.training);
  if (!v.is_ok()) return v;

  const auto& r = c.rewards;
  std::string at_funcs = at_key(origin, p, "reward_funcs");
  if (r.reward_funcs.empty()) return Status::invalid(at_funcs + ": key 'reward_funcs' must name at least one reward");
  std::vector<std::string> known = reward_names();
  for (const auto& f : r.reward_funcs)
    if (std::find(known.begin(), known.end(), f) == known.end())
      return Status::invalid(at_funcs + ": unknown reward function '" + f + "' in 'reward_funcs'; known: " + join(known));
  if (!r.reward_weights.empty() && r.reward_weights.size() != r.reward_funcs.size())
    return Status::invalid(at_key(origin, p, "reward_weights") + ": key 'reward_weights' has " +
                           std::to_string(r.reward_weights.size()) + " weights for " +
                           std::to_string(r.reward_funcs.size()) + " reward_funcs");
  bool overlong = std::find(r.reward_funcs.begin(), r.reward_funcs.end(), "soft_overlong_punishment") != r.reward_funcs.end();
  if (overlong) {
    if (r.max_completion_len <= 0)
      return Status::invalid(at_key(origin, p, "max_completion_len") +
                             ": reward 'soft_overlong_punishment' needs max_completion_len > 0");
    if (r.soft_punish_cache > r.max_completion_len)
      return Status::invalid(at_key(origin, p, "soft_punish_cache") +
                             ": key 'soft_punish_cache' must be <= max_completion_len");
  }
  if (c.grpo.generation_batch_size && c.grpo.steps_per_generation)
    return Status::invalid(at_key(origin, p, "steps_per_generation") +
                           ": generation_batch_size and steps_per_generation cannot both be set");
  code::ensure_code_tasks_registered();
  if (!TaskRegistry::global().find(c.grpo.task))
    return Status::invalid(at_key(origin, p, "task") + ": unknown task '" + c.grpo.task + "' in key 'task'; known tasks: " +
                           join(TaskRegistry::global().names()));
  return c;
}

Result<SftConfig> load_sft_recipe(const std::string& path, const RecipeOptions& options) {
  auto text = slurp(path);
  if (!text.is_ok()) return text.status();
  auto c = parse_sft_recipe(*text, path, options);
  if (c.is_ok()) c->info.path = path;
  return c;
}

Result<GrpoConfig> load_grpo_recipe(const std::string& path, const RecipeOptions& options) {
  auto text = slurp(path);
  if (!text.is_ok()) return text.status();
  auto c = parse_grpo_recipe(*text, path, options);
  if (c.is_ok()) c->info.path = path;
  return c;
}

Result<GenerationBatch> resolve_generation_batch(const GrpoConfig& cfg, int64_t world_size) {
  const auto& g = cfg.grpo;
  const int64_t global = cfg.training.per_device_train_batch_size * std::max<int64_t>(1, world_size);
  GenerationBatch out;
  if (g.generation_batch_size && g.steps_per_generation)
    return Status::invalid("generation_batch_size and steps_per_generation cannot both be set");
  if (g.generation_batch_size) {
    if (*g.generation_batch_size % global != 0)
      return Status::invalid("generation_batch_size (" + std::to_string(*g.generation_batch_size) +
                             ") must be divisible by the global batch size (" + std::to_string(global) + ")");
    out.generation_batch_size = *g.generation_batch_size;
    out.steps_per_generation = *g.generation_batch_size / global;
  } else {
    out.steps_per_generation = g.steps_per_generation.value_or(cfg.training.gradient_accumulation_steps);
    out.generation_batch_size = global * out.steps_per_generation;
  }
  if (out.generation_batch_size % g.num_generations != 0)
    return Status::invalid("generation batch size (" + std::to_string(out.generation_batch_size) +
                           " = per_device_train_batch_size x processes x steps_per_generation) must be divisible by "
                           "num_generations (" + std::to_string(g.num_generations) + ")");
  return out;
}

std::vector<std::string> recipe_keys(RecipeKind kind) { return keys_of(kind); }

}  // namespace crucible::train
