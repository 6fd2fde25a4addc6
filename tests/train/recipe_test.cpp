// Recipe parsing: project-written Open-R1-style recipes, defaults, aliases, every error class.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "train/recipe.h"

using namespace crucible;
using namespace crucible::train;

namespace {

RecipeOptions quiet() {
  RecipeOptions o;
  o.print_warnings = false;
  return o;
}

std::string temp_file(const std::string& name, const std::string& text) {
  std::string dir = "/tmp/crucible-train-recipe-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string p = dir + "/" + name;
  std::ofstream(p) << text;
  return p;
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

const char* kGrpoRecipe = R"(# Model arguments
model_name_or_path: /models/Qwen2.5-1.5B-Instruct
model_revision: main
torch_dtype: bfloat16
attn_implementation: flash_attention_2

# Data training arguments
dataset_name: data/numina-tir.jsonl
dataset_prompt_column: problem
system_prompt: "You are a helpful AI Assistant. Respond in the following format: <think>\n...\n</think>\n<answer>\n...\n</answer>"

# GRPO trainer config
bf16: true
use_vllm: true
vllm_gpu_memory_utilization: 0.7
do_eval: false
gradient_accumulation_steps: 4
gradient_checkpointing: true
gradient_checkpointing_kwargs:
  use_reentrant: false
hub_model_id: Qwen2.5-1.5B-Open-R1-GRPO
learning_rate: 3.0e-06
log_completions: true
logging_steps: 5
lr_scheduler_type: cosine_with_min_lr
lr_scheduler_kwargs:
  min_lr_rate: 0.1
max_prompt_length: 512
max_completion_length: 2048
max_steps: -1
num_generations: 8
num_train_epochs: 1
output_dir: runs/grpo-demo
per_device_train_batch_size: 16
push_to_hub: true
report_to:
- wandb
reward_funcs:
- accuracy
- format
- tag_count
- cosine
- soft_overlong_punishment
reward_weights:
- 1.0
- 1.0
- 1.0
- 0.5
- 1.0
cosine_max_len: 2000
max_completion_len: 2048
soft_punish_cache: 512
beta: 0.04
epsilon_high: 0.28
loss_type: dr_grpo
scale_rewards: false
mask_truncated_completions: true
temperature: 0.7
top_p: 0.95
save_strategy: "steps"
save_steps: 0.1
save_total_limit: 1
seed: 42
warmup_ratio: 0.1
task: math500
)";

}  // namespace

TEST(Recipe, GrpoOpenR1StyleRecipe) {
  auto r = parse_grpo_recipe(kGrpoRecipe, "grpo.yaml", quiet());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const GrpoConfig& c = *r;
  EXPECT_EQ(c.model.model_name_or_path, "/models/Qwen2.5-1.5B-Instruct");
  EXPECT_EQ(c.model.torch_dtype, "bfloat16");
  EXPECT_EQ(c.data.dataset_name, "data/numina-tir.jsonl");
  EXPECT_EQ(c.data.dataset_prompt_column, "problem");
  ASSERT_TRUE(c.training.system_prompt);
  EXPECT_TRUE(contains(*c.training.system_prompt, "<think>\n...\n</think>"));
  EXPECT_DOUBLE_EQ(c.training.learning_rate, 3e-6);
  EXPECT_EQ(c.training.gradient_accumulation_steps, 4);
  EXPECT_EQ(c.training.per_device_train_batch_size, 16);
  EXPECT_EQ(c.training.lr_scheduler_type, LrSchedulerType::kCosineWithMinLr);
  ASSERT_TRUE(c.training.lr_scheduler_kwargs.min_lr_rate);
  EXPECT_DOUBLE_EQ(*c.training.lr_scheduler_kwargs.min_lr_rate, 0.1);
  EXPECT_DOUBLE_EQ(c.training.logging_steps, 5);
  EXPECT_DOUBLE_EQ(c.training.save_steps, 0.1);
  ASSERT_TRUE(c.training.save_total_limit);
  EXPECT_EQ(*c.training.save_total_limit, 1);
  EXPECT_DOUBLE_EQ(c.training.warmup_ratio, 0.1);
  EXPECT_EQ(c.training.output_dir, "runs/grpo-demo");
  EXPECT_EQ(c.grpo.num_generations, 8);
  EXPECT_EQ(c.grpo.max_prompt_length, 512);
  EXPECT_EQ(c.grpo.max_completion_length, 2048);
  EXPECT_DOUBLE_EQ(c.grpo.beta, 0.04);
  EXPECT_DOUBLE_EQ(c.grpo.epsilon, 0.2);
  EXPECT_DOUBLE_EQ(c.grpo.effective_epsilon_high(), 0.28);
  EXPECT_EQ(c.grpo.loss_type, GrpoLossKind::kDrGrpo);
  EXPECT_EQ(c.grpo.scale_rewards, ScaleRewardsKind::kNone);  // false -> none
  EXPECT_TRUE(c.grpo.mask_truncated_completions);
  EXPECT_DOUBLE_EQ(c.grpo.temperature, 0.7);
  EXPECT_DOUBLE_EQ(c.grpo.top_p, 0.95);
  EXPECT_EQ(c.grpo.task, "math500");
  EXPECT_EQ(c.rewards.reward_funcs,
            (std::vector<std::string>{"accuracy", "format", "tag_count", "cosine", "soft_overlong_punishment"}));
  EXPECT_EQ(c.rewards.reward_weights, (std::vector<double>{1, 1, 1, 0.5, 1}));
  EXPECT_EQ(c.rewards.cosine_max_len, 2000);
  EXPECT_EQ(c.rewards.max_completion_len, 2048);
  EXPECT_EQ(c.rewards.soft_punish_cache, 512);
  // Accepted-but-ignored keys are recorded in file order.
  EXPECT_EQ(c.info.ignored_keys,
            (std::vector<std::string>{"attn_implementation", "use_vllm", "vllm_gpu_memory_utilization", "do_eval",
                                      "gradient_checkpointing_kwargs", "hub_model_id", "log_completions",
                                      "push_to_hub", "report_to"}));
}

TEST(Recipe, TrlDefaults) {
  auto g = parse_grpo_recipe("model_name_or_path: m\ndataset_name: d.jsonl\n", "g.yaml", quiet());
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_DOUBLE_EQ(g->training.learning_rate, 1e-6);
  EXPECT_EQ(g->grpo.num_generations, 8);
  EXPECT_EQ(g->grpo.max_completion_length, 256);
  EXPECT_EQ(g->grpo.max_prompt_length, 512);
  EXPECT_DOUBLE_EQ(g->grpo.beta, 0.0);
  EXPECT_DOUBLE_EQ(g->grpo.epsilon, 0.2);
  EXPECT_DOUBLE_EQ(g->grpo.effective_epsilon_high(), 0.2);
  EXPECT_EQ(g->grpo.loss_type, GrpoLossKind::kDapo);
  EXPECT_EQ(g->grpo.scale_rewards, ScaleRewardsKind::kGroup);
  EXPECT_EQ(g->grpo.num_iterations, 1);
  EXPECT_DOUBLE_EQ(g->grpo.temperature, 1.0);
  EXPECT_DOUBLE_EQ(g->grpo.top_p, 1.0);
  EXPECT_EQ(g->grpo.top_k, 0);
  EXPECT_FALSE(g->grpo.mask_truncated_completions);
  EXPECT_TRUE(g->training.shuffle_dataset);
  EXPECT_EQ(g->grpo.task, "math");
  EXPECT_EQ(g->rewards.reward_funcs, (std::vector<std::string>{"accuracy", "format", "tag_count"}));
  EXPECT_TRUE(g->rewards.reward_weights.empty());
  EXPECT_DOUBLE_EQ(g->rewards.cosine_min_value_wrong, 0.0);
  EXPECT_DOUBLE_EQ(g->rewards.cosine_max_value_wrong, -0.5);
  EXPECT_DOUBLE_EQ(g->rewards.cosine_min_value_correct, 0.5);
  EXPECT_DOUBLE_EQ(g->rewards.cosine_max_value_correct, 1.0);
  EXPECT_EQ(g->rewards.cosine_max_len, 1000);
  EXPECT_EQ(g->rewards.repetition_n_grams, 3);
  EXPECT_DOUBLE_EQ(g->rewards.repetition_max_penalty, -1.0);
  EXPECT_EQ(g->rewards.code_language, "python");
  EXPECT_EQ(g->rewards.code_eval_scoring_mode, "weighted_sum");
  // TrainingArguments + TRL overrides.
  const TrainingArgs& t = g->training;
  EXPECT_DOUBLE_EQ(t.num_train_epochs, 3.0);
  EXPECT_EQ(t.max_steps, -1);
  EXPECT_EQ(t.per_device_train_batch_size, 8);
  EXPECT_EQ(t.gradient_accumulation_steps, 1);
  EXPECT_EQ(t.lr_scheduler_type, LrSchedulerType::kLinear);
  EXPECT_DOUBLE_EQ(t.warmup_ratio, 0.0);
  EXPECT_DOUBLE_EQ(t.weight_decay, 0.0);
  EXPECT_DOUBLE_EQ(t.adam_beta1, 0.9);
  EXPECT_DOUBLE_EQ(t.adam_beta2, 0.999);
  EXPECT_DOUBLE_EQ(t.adam_epsilon, 1e-8);
  EXPECT_DOUBLE_EQ(t.max_grad_norm, 1.0);
  EXPECT_TRUE(t.bf16);
  EXPECT_TRUE(t.gradient_checkpointing);
  EXPECT_EQ(t.seed, 42);
  EXPECT_DOUBLE_EQ(t.logging_steps, 10);
  EXPECT_DOUBLE_EQ(t.save_steps, 500);
  EXPECT_FALSE(t.save_total_limit);

  auto s = parse_sft_recipe("model_name_or_path: m\ndataset_name: d.jsonl\n", "s.yaml", quiet());
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_DOUBLE_EQ(s->training.learning_rate, 2e-5);
  ASSERT_TRUE(s->sft.max_length);
  EXPECT_EQ(*s->sft.max_length, 1024);
  EXPECT_FALSE(s->sft.packing);
  EXPECT_EQ(s->sft.packing_strategy, PackingStrategy::kBfd);
  EXPECT_FALSE(s->sft.completion_only_loss);
  EXPECT_FALSE(s->sft.assistant_only_loss);
  EXPECT_FALSE(s->training.shuffle_dataset);
  EXPECT_EQ(s->data.dataset_text_field, "text");
}

TEST(Recipe, SftRecipeWithAliasesAndKwargs) {
  const char* yaml = R"(model_name_or_path: /models/Qwen2.5-Math-7B
dataset_name: /data/mixture-of-thoughts.jsonl
eos_token: <|im_end|>
learning_rate: 4.0e-05
num_train_epochs: 5
max_seq_length: 32768
packing: true
packing_strategy: bfd_split
per_device_train_batch_size: 2
gradient_accumulation_steps: 8
use_liger_kernel: true
lr_scheduler_type: cosine_with_min_lr
lr_scheduler_kwargs: '{"min_lr": 4.0e-6}'
warmup_ratio: 0.03
assistant_only_loss: false
chat_template_kwargs:
  enable_thinking: false
max_grad_norm: 0.2
dataset_config: all
)";
  auto r = parse_sft_recipe(yaml, "sft.yaml", quiet());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r->sft.max_length, 32768);
  EXPECT_TRUE(r->sft.packing);
  EXPECT_EQ(r->sft.packing_strategy, PackingStrategy::kBfdSplit);
  EXPECT_EQ(*r->sft.eos_token, "<|im_end|>");
  ASSERT_TRUE(r->sft.assistant_only_loss);
  EXPECT_FALSE(*r->sft.assistant_only_loss);
  ASSERT_TRUE(r->training.lr_scheduler_kwargs.min_lr);
  EXPECT_DOUBLE_EQ(*r->training.lr_scheduler_kwargs.min_lr, 4e-6);
  EXPECT_EQ(r->training.chat_template_kwargs, nlohmann::json({{"enable_thinking", false}}));
  EXPECT_DOUBLE_EQ(r->training.max_grad_norm, 0.2);
  EXPECT_EQ(r->info.ignored_keys, (std::vector<std::string>{"use_liger_kernel", "dataset_config"}));
  // max_length: null = no truncation.
  auto n = parse_sft_recipe("model_name_or_path: m\ndataset_name: d\nmax_length: null\n", "n.yaml", quiet());
  ASSERT_TRUE(n.is_ok()) << n.status().message();
  EXPECT_FALSE(n->sft.max_length);
}

TEST(Recipe, UnknownKeyNamesFileLineAndSuggestion) {
  auto r = parse_sft_recipe("model_name_or_path: m\ndataset_name: d\nlerning_rate: 1.0e-5\n", "my.yaml", quiet());
  ASSERT_FALSE(r.is_ok());
  EXPECT_TRUE(contains(r.status().message(), "my.yaml:3")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "'lerning_rate'")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "did you mean 'learning_rate'")) << r.status().message();

  auto g = parse_grpo_recipe("model_name_or_path: m\ndataset_name: d\nnum_generation: 4\n", "g.yaml", quiet());
  ASSERT_FALSE(g.is_ok());
  EXPECT_TRUE(contains(g.status().message(), "did you mean 'num_generations'")) << g.status().message();

  // A key of the other recipe kind says so.
  auto k = parse_sft_recipe("model_name_or_path: m\ndataset_name: d\nnum_generations: 4\n", "s.yaml", quiet());
  ASSERT_FALSE(k.is_ok());
  EXPECT_TRUE(contains(k.status().message(), "it is a GRPO key")) << k.status().message();
  auto p = parse_grpo_recipe("model_name_or_path: m\ndataset_name: d\npacking: true\n", "g.yaml", quiet());
  ASSERT_FALSE(p.is_ok());
  EXPECT_TRUE(contains(p.status().message(), "it is a SFT key")) << p.status().message();

  auto far = parse_sft_recipe("model_name_or_path: m\ndataset_name: d\nzzzz_qqqq: 1\n", "s.yaml", quiet());
  ASSERT_FALSE(far.is_ok());
  EXPECT_FALSE(contains(far.status().message(), "did you mean")) << far.status().message();
  EXPECT_TRUE(contains(far.status().message(), "docs/training.md")) << far.status().message();
}

TEST(Recipe, WrongTypesNameKeyAndType) {
  struct Case {
    const char* line;
    const char* expect;
  };
  const Case cases[] = {
      {"num_generations: eight", "key 'num_generations' expects an integer, got 'eight'"},
      {"num_generations: 2.5", "key 'num_generations' expects an integer"},
      {"learning_rate: fast", "key 'learning_rate' expects a number, got 'fast'"},
      {"learning_rate: [1, 2]", "key 'learning_rate' expects a number, got a list"},
      {"mask_truncated_completions: maybe", "key 'mask_truncated_completions' expects a boolean"},
      {"reward_funcs: {accuracy: 1}", "key 'reward_funcs' expects a list of strings, got a mapping"},
      {"reward_weights: [1.0, heavy]", "key 'reward_weights' expects a list of numbers"},
      {"output_dir: [a]", "key 'output_dir' expects a string"},
      {"lr_scheduler_kwargs: 3", "key 'lr_scheduler_kwargs' expects a mapping"},
      {"beta: null", "key 'beta' expects a number, got null"},
  };
  for (const auto& c : cases) {
    std::string yaml = std::string("model_name_or_path: m\ndataset_name: d\n") + c.line + "\n";
    auto r = parse_grpo_recipe(yaml, "t.yaml", quiet());
    ASSERT_FALSE(r.is_ok()) << c.line;
    EXPECT_TRUE(contains(r.status().message(), c.expect)) << c.line << " -> " << r.status().message();
    EXPECT_TRUE(contains(r.status().message(), "t.yaml:3")) << r.status().message();
  }
}

TEST(Recipe, ValuesAndCrossKeyChecks) {
  struct Case {
    const char* body;
    const char* expect;
  };
  const Case cases[] = {
      {"loss_type: cispo", "must be one of: grpo, bnpo, dr_grpo, dapo"},
      {"scale_rewards: maybe", "must be one of: group, batch, none"},
      {"lr_scheduler_type: polynomial", "must be one of: linear, cosine, cosine_with_min_lr, constant"},
      {"num_generations: 1", "key 'num_generations' must be >= 2"},
      {"top_p: 1.5", "must be in (0, 1]"},
      {"warmup_ratio: 2", "must be in [0, 1]"},
      {"repetition_max_penalty: 0.5", "must be <= 0"},
      {"reward_funcs: [accuracy, vibes]", "unknown reward function 'vibes'"},
      {"reward_funcs: [accuracy, format]\nreward_weights: [1.0]", "'reward_weights' has 1 weights for 2 reward_funcs"},
      {"task: nonsense", "unknown task 'nonsense'"},
      {"reward_funcs: [soft_overlong_punishment]", "needs max_completion_len > 0"},
      {"lr_scheduler_type: cosine_with_min_lr", "needs lr_scheduler_kwargs.min_lr_rate"},
      {"lr_scheduler_type: cosine_with_min_lr\nlr_scheduler_kwargs: {min_lr: 1.0e-7, min_lr_rate: 0.1}",
       "only one of min_lr and min_lr_rate"},
      {"lr_scheduler_kwargs: {min_lr_rate: 0.1}", "only apply to cosine_with_min_lr"},
      {"lr_scheduler_kwargs: {warmup_lr_rate: 0.1}", "unknown key 'lr_scheduler_kwargs.warmup_lr_rate'"},
      {"generation_batch_size: 16\nsteps_per_generation: 2", "cannot both be set"},
      {"importance_sampling_level: sequence", "is only supported as 'token'"},
      {"fp16: true", "is only supported as false"},
      {"dataset_mixture: {datasets: []}", "is not supported"},
      {"save_steps: 2.5", "must be an integer >= 1 or a fraction"},
      {"learning_rate: 1.0e-6\nlearning_rate: 2.0e-6", "key 'learning_rate' appears twice with different values (first at line 3)"},
  };
  for (const auto& c : cases) {
    std::string yaml = std::string("model_name_or_path: m\ndataset_name: d\n") + c.body + "\n";
    auto r = parse_grpo_recipe(yaml, "v.yaml", quiet());
    ASSERT_FALSE(r.is_ok()) << c.body;
    EXPECT_TRUE(contains(r.status().message(), c.expect)) << c.body << " -> " << r.status().message();
    EXPECT_TRUE(contains(r.status().message(), "v.yaml")) << r.status().message();
  }
  auto missing = parse_sft_recipe("dataset_name: d\n", "m.yaml", quiet());
  ASSERT_FALSE(missing.is_ok());
  EXPECT_TRUE(contains(missing.status().message(), "required key 'model_name_or_path'"));
  auto nodata = parse_sft_recipe("model_name_or_path: m\n", "m.yaml", quiet());
  ASSERT_FALSE(nodata.is_ok());
  EXPECT_TRUE(contains(nodata.status().message(), "required key 'dataset_name'"));
  auto scale = parse_grpo_recipe("model_name_or_path: m\ndataset_name: d\nscale_rewards: batch\n", "b.yaml", quiet());
  ASSERT_TRUE(scale.is_ok());
  EXPECT_EQ(scale->grpo.scale_rewards, ScaleRewardsKind::kBatch);
  // The same value twice (as some published recipes have) is accepted.
  auto dup = parse_grpo_recipe("model_name_or_path: m\ndataset_name: d\ndo_eval: false\nbeta: 0.0\ndo_eval: false\n",
                               "d.yaml", quiet());
  ASSERT_TRUE(dup.is_ok()) << dup.status().message();
  EXPECT_EQ(dup->info.ignored_keys, (std::vector<std::string>{"do_eval"}));
  auto yes = parse_grpo_recipe("model_name_or_path: m\ndataset_name: d\nscale_rewards: true\n", "b.yaml", quiet());
  ASSERT_TRUE(yes.is_ok());
  EXPECT_EQ(yes->grpo.scale_rewards, ScaleRewardsKind::kGroup);
}

TEST(Recipe, FilesAndYamlErrors) {
  auto missing = load_sft_recipe("/nonexistent/recipe.yaml", quiet());
  ASSERT_FALSE(missing.is_ok());
  EXPECT_TRUE(contains(missing.status().message(), "/nonexistent/recipe.yaml"));
  std::string bad = temp_file("bad.yaml", "model_name_or_path: m\ndataset_name: [unclosed\n");
  auto b = load_sft_recipe(bad, quiet());
  ASSERT_FALSE(b.is_ok());
  EXPECT_TRUE(contains(b.status().message(), bad)) << b.status().message();
  EXPECT_TRUE(contains(b.status().message(), "invalid YAML")) << b.status().message();
  std::string list = temp_file("list.yaml", "- a\n- b\n");
  auto l = load_grpo_recipe(list, quiet());
  ASSERT_FALSE(l.is_ok());
  EXPECT_TRUE(contains(l.status().message(), "must be a mapping")) << l.status().message();
  std::string good = temp_file("good.yaml", "model_name_or_path: m\ndataset_name: d.jsonl\nnum_generations: 4\n");
  auto g = load_grpo_recipe(good, quiet());
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_EQ(g->info.path, good);
  EXPECT_EQ(g->grpo.num_generations, 4);
}

TEST(Recipe, IgnoredKeysWarnOncePerProcess) {
  const char* yaml = "model_name_or_path: m\ndataset_name: d\nvllm_enable_sleep_mode: true\n";
  testing::internal::CaptureStderr();
  auto a = parse_grpo_recipe(yaml, "a.yaml");
  auto b = parse_grpo_recipe(yaml, "b.yaml");
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  size_t first = err.find("'vllm_enable_sleep_mode' is accepted but ignored");
  ASSERT_NE(first, std::string::npos) << err;
  EXPECT_EQ(err.find("'vllm_enable_sleep_mode'", first + 1), std::string::npos) << err;
  EXPECT_EQ(b->info.ignored_keys, (std::vector<std::string>{"vllm_enable_sleep_mode"}));
  // Every ignored key has a reason, and no key is both bound and ignored.
  auto sft = recipe_keys(RecipeKind::kSft), grpo = recipe_keys(RecipeKind::kGrpo);
  for (const auto& k : ignored_recipe_keys()) {
    EXPECT_TRUE(k.reason && *k.reason) << k.key;
    EXPECT_EQ(std::count(sft.begin(), sft.end(), k.key), 0) << k.key;
    EXPECT_EQ(std::count(grpo.begin(), grpo.end(), k.key), 0) << k.key;
  }
}

TEST(Recipe, GenerationBatch) {
  auto c = parse_grpo_recipe("model_name_or_path: m\ndataset_name: d\nper_device_train_batch_size: 4\n"
                             "gradient_accumulation_steps: 4\nnum_generations: 8\n", "g.yaml", quiet());
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  auto gb = resolve_generation_batch(*c, 2);
  ASSERT_TRUE(gb.is_ok()) << gb.status().message();
  EXPECT_EQ(gb->steps_per_generation, 4);
  EXPECT_EQ(gb->generation_batch_size, 32);  // 4 x 2 x 4
  c->grpo.num_generations = 12;
  EXPECT_FALSE(resolve_generation_batch(*c, 2).is_ok());  // 32 % 12
  c->grpo.num_generations = 8;
  c->grpo.generation_batch_size = 24;
  auto bad = resolve_generation_batch(*c, 1);  // 24 % 4 == 0 but 24 % 8 == 0 -> ok
  ASSERT_TRUE(bad.is_ok()) << bad.status().message();
  EXPECT_EQ(bad->steps_per_generation, 6);
  c->grpo.generation_batch_size = 20;
  EXPECT_FALSE(resolve_generation_batch(*c, 1).is_ok());  // not a multiple of 8
}
