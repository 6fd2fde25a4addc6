// Training recipes: an Open-R1 / TRL `recipe.yaml` parsed into typed structs.
//
//   auto cfg = crucible::train::load_grpo_recipe("recipes/qwen-grpo.yaml");   // Result<GrpoConfig>
//   auto sft = crucible::train::load_sft_recipe("recipes/qwen-sft.yaml");     // Result<SftConfig>
//
// Key names and defaults are TRL's (SFTConfig / GRPOConfig on top of transformers'
// TrainingArguments) and Open-R1's (ModelConfig, ScriptArguments, GRPOScriptArguments), so an
// Open-R1 recipe parses unchanged. Where TRL has since removed a key that recipes still carry
// (max_prompt_length), the last TRL default is kept. Every key falls in exactly one class:
//  - supported: bound to a field below (with its type and allowed values checked);
//  - accepted but ignored: infrastructure of the Python stack (Hub upload, wandb, vLLM, Liger,
//    evaluation callbacks, ...); listed in ignored_recipe_keys() with the reason, recorded in
//    RecipeInfo::ignored_keys and warned about once per process on stderr;
//  - anything else is an error "FILE:LINE: unknown SFT recipe key 'lerning_rate' (did you mean
//    'learning_rate'?)"; a key of the other recipe kind (num_generations in an SFT recipe) says so.
// A wrong type names the key and the expected type ("FILE:LINE: key 'num_generations' expects an
// integer, got 'eight'"); an out-of-range or unsupported value names the key and what is allowed.
// `null` is accepted only for optional keys (it means "unset"); a key repeated with a different
// value is an error (repeated with the same value it is accepted). Failures are a Status, never an
// exception. See docs/training.md for every key, its default and its meaning.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace crucible::train {

enum class RecipeKind { kSft, kGrpo };
const char* recipe_kind_name(RecipeKind k);  // "SFT" / "GRPO"

// transformers' scheduler names that Crucible implements (train/lr_schedule.h).
enum class LrSchedulerType { kLinear, kCosine, kCosineWithMinLr, kConstant, kConstantWithWarmup };
const char* lr_scheduler_name(LrSchedulerType t);
bool lr_scheduler_from_name(const std::string& s, LrSchedulerType* out);

// Open-R1 ModelConfig (TRL) keys.
struct ModelArgs {
  std::string model_name_or_path;  // required: a local model directory (config.json, *.safetensors, tokenizer.json)
  std::string model_revision = "main";  // only "main" (there is no Hub here)
  std::string torch_dtype = "auto";     // auto | bfloat16 | float16 | float32 (alias: dtype)
};

// Dataset keys (Open-R1 ScriptArguments). dataset_name is a local JSONL file, or a directory
// holding <dataset_train_split>.jsonl (see train_data_path()).
struct DataArgs {
  std::string dataset_name;                  // required
  std::string dataset_train_split = "train";
  std::string dataset_prompt_column = "prompt";  // GRPO: column holding the prompt (when no task template)
  std::string dataset_text_field = "text";       // SFT: column of plain-text (language-modeling) rows
};
// The JSONL file to read: dataset_name itself, or dataset_name/<split>.jsonl when it is a directory.
std::string train_data_path(const DataArgs& d);

// lr_scheduler_kwargs: the keys Crucible's schedules read.
struct LrSchedulerKwargs {
  std::optional<double> min_lr_rate;  // cosine_with_min_lr: final lr as a fraction of learning_rate
  std::optional<double> min_lr;       // cosine_with_min_lr: final lr (absolute); exclusive with min_lr_rate
  double num_cycles = 0.5;            // cosine / cosine_with_min_lr: number of cosine waves
};

// transformers TrainingArguments (with TRL's overrides).
struct TrainingArgs {
  double learning_rate = 0;           // SFT 2e-5, GRPO 1e-6 (TRL)
  double num_train_epochs = 3.0;
  int64_t max_steps = -1;             // > 0 overrides num_train_epochs
  int64_t per_device_train_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  LrSchedulerType lr_scheduler_type = LrSchedulerType::kLinear;
  LrSchedulerKwargs lr_scheduler_kwargs;
  double warmup_ratio = 0.0;          // in [0, 1]
  double warmup_steps = 0;            // >= 1: steps; in (0, 1): a ratio (transformers v5); 0: use warmup_ratio
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;         // <= 0: no clipping
  std::string optim = "adamw_torch";  // adamw_torch | adamw_torch_fused (both: AdamW)
  bool bf16 = true;                   // TRL: defaults to true unless fp16 (fp16 itself is not supported)
  bool gradient_checkpointing = true; // TRL default
  int64_t seed = 42;
  std::string output_dir = "trainer_output";
  std::string save_strategy = "steps";  // no | steps | epoch
  double save_steps = 500;            // >= 1: steps; in (0, 1): a fraction of the total steps
  std::optional<int64_t> save_total_limit;  // unset: keep every checkpoint
  double logging_steps = 10;          // TRL default; in (0, 1): a fraction of the total steps
  std::optional<std::string> resume_from_checkpoint;  // a checkpoint directory, or "true"/"latest"
  bool shuffle_dataset = false;       // SFT false, GRPO true (TRL)
  std::optional<std::string> chat_template;  // Jinja text replacing the tokenizer's template
  std::optional<std::string> system_prompt;  // GRPO: system message before each prompt
  nlohmann::json chat_template_kwargs = nlohmann::json::object();  // e.g. {enable_thinking: false}
};

// TRL SFTConfig.
enum class PackingStrategy { kBfd, kBfdSplit };  // "bfd" (truncate overflow), "bfd_split" (split it)
struct SftArgs {
  std::optional<int64_t> max_length = 1024;  // alias max_seq_length; null: no truncation (no packing)
  bool packing = false;
  PackingStrategy packing_strategy = PackingStrategy::kBfd;
  bool padding_free = false;                 // accepted; packed rows are always padding-free
  std::optional<bool> completion_only_loss;  // prompt/completion rows; unset = true (TRL)
  // Conversational rows: loss only on assistant turns. TRL's default is false (loss on the whole
  // conversation); Crucible's is true when unset. Set false for TRL's behaviour.
  std::optional<bool> assistant_only_loss;
  std::optional<std::string> eos_token;      // appended to plain prompt/completion and text rows
  std::optional<int64_t> pad_to_multiple_of;
};

// TRL GRPOConfig.
enum class GrpoLossKind { kGrpo, kBnpo, kDrGrpo, kDapo };
const char* grpo_loss_name(GrpoLossKind k);
enum class ScaleRewardsKind { kGroup, kBatch, kNone };
const char* scale_rewards_name(ScaleRewardsKind k);

struct GrpoArgs {
  int64_t num_generations = 8;
  int64_t max_prompt_length = 512;       // prompts are left-truncated to this many tokens
  int64_t max_completion_length = 256;
  std::optional<int64_t> generation_batch_size;  // exclusive with steps_per_generation
  std::optional<int64_t> steps_per_generation;   // unset (and no generation_batch_size): = gradient_accumulation_steps
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;                      // 0: disabled
  std::optional<double> min_p;
  double repetition_penalty = 1.0;
  double beta = 0.0;                      // KL coefficient (0: no reference model)
  double epsilon = 0.2;
  std::optional<double> epsilon_high;     // unset: = epsilon
  std::optional<double> delta;            // two-sided clipping bound (INTELLECT-2)
  GrpoLossKind loss_type = GrpoLossKind::kDapo;
  ScaleRewardsKind scale_rewards = ScaleRewardsKind::kGroup;  // true = group, false = none
  int64_t num_iterations = 1;
  bool mask_truncated_completions = false;
  std::string task = "math";              // Crucible task (tasks/task_registry.h): prompt template + grader
  double effective_epsilon_high() const { return epsilon_high.value_or(epsilon); }
};

// Open-R1 GRPOScriptArguments: reward functions and their parameters.
struct RewardArgs {
  std::vector<std::string> reward_funcs = {"accuracy", "format", "tag_count"};
  std::vector<double> reward_weights;     // empty: all 1.0; else one per reward function
  double cosine_min_value_wrong = 0.0;
  double cosine_max_value_wrong = -0.5;
  double cosine_min_value_correct = 0.5;
  double cosine_max_value_correct = 1.0;
  int64_t cosine_max_len = 1000;
  int64_t repetition_n_grams = 3;
  double repetition_max_penalty = -1.0;
  int64_t max_completion_len = 0;         // soft_overlong_punishment (required > 0 when used)
  int64_t soft_punish_cache = 0;
  std::string code_language = "python";   // python | cpp (| c)
  int64_t code_eval_test_batch_size = 1;  // tests judged in parallel per completion (<= 0: all cores)
  std::string code_eval_scoring_mode = "weighted_sum";  // cf_code: pass_fail | partial | weighted_sum
  int64_t parallel_code_exec_per_proc = 2;  // completions judged at once by the code rewards
  bool enforce_same_language = false;
};

struct RecipeInfo {
  std::string path;                       // the recipe file ("" when parsed from text)
  std::vector<std::string> ignored_keys;  // present in the file, accepted but ignored (in file order)
};

struct SftConfig {
  ModelArgs model;
  DataArgs data;
  TrainingArgs training;
  SftArgs sft;
  RecipeInfo info;
};

struct GrpoConfig {
  ModelArgs model;
  DataArgs data;
  TrainingArgs training;
  GrpoArgs grpo;
  RewardArgs rewards;
  RecipeInfo info;
};

struct RecipeOptions {
  bool print_warnings = true;  // warn on stderr about ignored keys (each key once per process)
};

Result<SftConfig> load_sft_recipe(const std::string& path, const RecipeOptions& options = {});
Result<GrpoConfig> load_grpo_recipe(const std::string& path, const RecipeOptions& options = {});
// From YAML text; `origin` names it in errors (e.g. the file it came from).
Result<SftConfig> parse_sft_recipe(const std::string& yaml, const std::string& origin = "recipe.yaml",
                                   const RecipeOptions& options = {});
Result<GrpoConfig> parse_grpo_recipe(const std::string& yaml, const std::string& origin = "recipe.yaml",
                                     const RecipeOptions& options = {});

// The generation batch (TRL): generation_batch_size, else per_device_train_batch_size x
// world_size x steps_per_generation (default gradient_accumulation_steps). Error when both are
// set, when it is not a multiple of the global batch, or not a multiple of num_generations.
struct GenerationBatch {
  int64_t generation_batch_size = 0;
  int64_t steps_per_generation = 0;
};
Result<GenerationBatch> resolve_generation_batch(const GrpoConfig& cfg, int64_t world_size);

// Every key a recipe of this kind binds to a field (sorted), and the accepted-but-ignored keys.
std::vector<std::string> recipe_keys(RecipeKind kind);
struct IgnoredRecipeKey {
  const char* key;
  const char* reason;
};
const std::vector<IgnoredRecipeKey>& ignored_recipe_keys();

}  // namespace crucible::train
