// The GRPO trainer end to end on a tiny random Qwen2 (tests/train/tiny_workspace.h): a learnable
// reward rises, a preempted run resumed ends with the same weights bit for bit, the KL and
// num_iterations paths log their metrics, two ranks match one process with the same global batch,
// an infinite reward stops the run with the checkpoint kept, and an unknown reward lists the registry.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/generate.h"
#include "tests/support/temp_files.h"
#include "tests/train/tiny_workspace.h"
#include "train/grpo_rollout.h"
#include "train/grpo_trainer.h"
#include "train/recipe.h"

namespace crucible::train {
namespace {

// soft_overlong_punishment with Lmax = cache = 16 is -L/16 for a completion of L tokens: the model
// earns reward by learning to end (EOS = <|im_end|>) early, something a random model can discover.
std::string recipe(const std::string& ws, const std::string& out, const std::string& extra = "") {
  return "model_name_or_path: " + ws + "/base\n" + "dataset_name: " + ws + "/data.jsonl\n" +
         "output_dir: " + out + "\n" +
         "task: math\n"
         "reward_funcs: [soft_overlong_punishment]\n"
         "max_completion_len: 16\n"
         "soft_punish_cache: 16\n"
         "learning_rate: 1.0e-2\n"
         "lr_scheduler_type: constant\n"
         "per_device_train_batch_size: 8\n"
         "gradient_accumulation_steps: 1\n"
         "num_generations: 4\n"
         "max_prompt_length: 24\n"
         "max_completion_length: 16\n"
         "max_steps: 6\n"
         "logging_steps: 1\n"
         "save_steps: 2\n"
         "bf16: false\n"
         "gradient_checkpointing: false\n"
         "seed: 11\n" +
         extra;
}

std::string set_key(std::string y, const std::string& key, const std::string& value) {
  auto p = y.find("\n" + key + ":");
  if (p == std::string::npos) return y + key + ": " + value + "\n";
  auto e = y.find('\n', p + 1);
  return y.replace(p + 1, e - p - 1, key + ": " + value);
}

GrpoConfig parse(const std::string& yaml) {
  RecipeOptions o;
  o.print_warnings = false;
  auto c = parse_grpo_recipe(yaml, "test.yaml", o);
  EXPECT_TRUE(c.is_ok()) << c.status().message();
  return c.is_ok() ? *c : GrpoConfig{};
}

std::map<std::string, torch::Tensor> weights(const std::string& dir) { return test::model_weights(dir); }

// Adds `cosine` (per sample, continuous in the completion's length in characters), so every group
// has distinct rewards and every step a gradient: comparisons of weights are not vacuous.
std::string dense_rewards(std::string y) {
  y = set_key(y, "reward_funcs", "[soft_overlong_punishment, cosine]");
  return set_key(y, "cosine_max_len", "64");
}

// Whether training changed the weights at all (so an equality of two runs means something).
bool moved_from_base(const std::string& ws, const std::map<std::string, torch::Tensor>& w) {
  auto base = weights(ws + "/base");
  for (auto& [name, t] : w)
    if (!torch::equal(t, base[name])) return true;
  return false;
}

using test::quiet_cpu;

double mean_of(const std::vector<nlohmann::json>& log, size_t from, size_t to, const char* key) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += log[i][key].get<double>();
  return s / static_cast<double>(to - from);
}

TEST(GrpoTrainer, ALearnableRewardRises) {
  std::string ws = test::make_tiny_workspace("grpo-learn", 64);
  std::string y = set_key(recipe(ws, ws + "/out"), "max_steps", "36");
  y = set_key(y, "save_steps", "100");
  auto r = run_grpo(parse(y), quiet_cpu());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->log_history.size(), 36u);
  for (const char* k : {"loss", "grad_norm", "learning_rate", "reward", "reward_std", "frac_reward_zero_std",
                        "rewards/soft_overlong_punishment/mean", "rewards/soft_overlong_punishment/std",
                        "completions/mean_length", "completions/min_length", "completions/max_length",
                        "completions/clipped_ratio", "entropy", "clip_ratio/region_mean", "timing/generation_s",
                        "timing/reward_s", "timing/training_s"})
    EXPECT_TRUE(r->log_history.front().contains(k)) << k;
  EXPECT_FALSE(r->log_history.front().contains("kl"));  // beta = 0: no reference model
  double first = mean_of(r->log_history, 0, 6, "reward"), last = mean_of(r->log_history, 30, 36, "reward");
  double len0 = mean_of(r->log_history, 0, 6, "completions/mean_length");
  double len1 = mean_of(r->log_history, 30, 36, "completions/mean_length");
  // A random model rarely emits EOS (reward near -1); the trained one ends much earlier.
  EXPECT_GT(last, first + 0.3) << "reward " << first << " -> " << last;
  EXPECT_LT(len1, len0 - 4) << "length " << len0 << " -> " << len1;
  EXPECT_TRUE(std::filesystem::exists(ws + "/out/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(ws + "/out/log.jsonl"));
}

// The micro-batch order of a generation: a permutation, fixed by (seed, generation, rank), that
// actually mixes the rows (TRL shuffles before splitting into steps_per_generation parts).
TEST(GrpoTrainer, RolloutOrderIsASeededPermutation) {
  auto a = grpo_rollout_order(16, 11, 3, 0);
  EXPECT_EQ(a, grpo_rollout_order(16, 11, 3, 0));
  std::vector<size_t> sorted = a, iota(16);
  std::sort(sorted.begin(), sorted.end());
  std::iota(iota.begin(), iota.end(), size_t{0});
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(a, iota);
  EXPECT_NE(a, grpo_rollout_order(16, 11, 4, 0));
  EXPECT_NE(a, grpo_rollout_order(16, 11, 3, 1));
  EXPECT_NE(a, grpo_rollout_order(16, 12, 3, 0));
}

// steps_per_generation 2 (two shuffled micro-batches of 4) and num_iterations 2: each generation
// trains four optimizer steps, so checkpoint-3 is taken mid-generation and the resumed run needs
// the saved (shuffled) rollout.
TEST(GrpoTrainer, APreemptedRunResumedEndsWithTheSameWeights) {
  std::string ws = test::make_tiny_workspace("grpo-resume", 32);
  std::string y = set_key(dense_rewards(recipe(ws, "OUT")), "num_iterations", "2");
  y = set_key(set_key(y, "per_device_train_batch_size", "4"), "steps_per_generation", "2");
  y = set_key(y, "save_steps", "3");
  auto with_out = [&](const std::string& out) { return set_key(y, "output_dir", out); };
  auto full = run_grpo(parse(with_out(ws + "/full")), quiet_cpu());
  ASSERT_TRUE(full.is_ok()) << full.status().message();
  TrainRunOptions stop = quiet_cpu();
  stop.stop_after_steps = 3;
  auto part = run_grpo(parse(with_out(ws + "/resumed")), stop);
  ASSERT_TRUE(part.is_ok()) << part.status().message();
  ASSERT_TRUE(part->stopped_early);
  ASSERT_TRUE(std::filesystem::exists(ws + "/resumed/checkpoint-3/rollout-rank0.pt"));
  EXPECT_FALSE(std::filesystem::exists(ws + "/resumed/checkpoint-3.rollout-rank0.pt"));  // moved in, not copied
  ASSERT_FALSE(std::filesystem::exists(ws + "/resumed/model.safetensors"));
  auto rest = run_grpo(parse(with_out(ws + "/resumed") + "resume_from_checkpoint: true\n"), quiet_cpu());
  ASSERT_TRUE(rest.is_ok()) << rest.status().message();
  EXPECT_EQ(rest->global_step, full->global_step);
  auto a = weights(ws + "/full"), b = weights(ws + "/resumed");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b[name])) << name;
  EXPECT_TRUE(moved_from_base(ws, a));
  for (const auto& l : full->log_history) EXPECT_GT(l["grad_norm"].get<double>(), 0.0) << l.dump();
}

TEST(GrpoTrainer, BetaLogsKlAndNumIterationsLogsClipRatios) {
  std::string ws = test::make_tiny_workspace("grpo-kl", 32);
  std::string y = set_key(recipe(ws, ws + "/out"), "beta", "0.1");
  y = set_key(y, "num_iterations", "2");
  y = set_key(y, "save_strategy", "\"no\"");
  auto r = run_grpo(parse(y), quiet_cpu());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->log_history.size(), 6u);
  // Step 1 trains with the initial weights: policy == reference, kl exactly 0. Later steps drift.
  EXPECT_NEAR(r->log_history[0]["kl"].get<double>(), 0.0, 1e-6);
  double later_kl = 0;
  for (size_t i = 1; i < 6; ++i) {
    ASSERT_TRUE(r->log_history[i]["kl"].is_number()) << r->log_history[i].dump();
    later_kl = std::max(later_kl, r->log_history[i]["kl"].get<double>());
  }
  EXPECT_GT(later_kl, 0.0);
  // The second iteration over a generation has a ratio != 1: clip metrics are numbers in [0, 1].
  for (const auto& l : r->log_history)
    for (const char* k : {"clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"}) {
      ASSERT_TRUE(l[k].is_number()) << k << " " << l.dump();
      EXPECT_GE(l[k].get<double>(), 0.0);
      EXPECT_LE(l[k].get<double>(), 1.0);
    }
  // Generation metrics appear on the steps that sampled (every other step).
  EXPECT_TRUE(r->log_history[0].contains("reward"));
  EXPECT_FALSE(r->log_history[1].contains("reward"));
}

TEST(GrpoTrainer, TwoRanksMatchOneProcessWithTheSameGlobalBatch) {
  std::string ws = test::make_tiny_workspace("grpo-ddp", 32);
  std::string one =
      set_key(set_key(dense_rewards(recipe(ws, ws + "/one")), "save_strategy", "\"no\""), "max_steps", "3");
  std::string two = set_key(set_key(one, "output_dir", ws + "/two"), "per_device_train_batch_size", "4");
  test::write_text(ws + "/one.yaml", one);
  test::write_text(ws + "/two.yaml", two);
  std::string bin = CRUCIBLE_BINARY;
  int rc1 = std::system((bin + " train grpo --config " + ws + "/one.yaml --device cpu > " + ws + "/one.log 2>&1").c_str());
  ASSERT_EQ(rc1, 0) << ws + "/one.log";
  int rc2 = std::system((bin + " train grpo --config " + ws + "/two.yaml --device cpu --nproc-per-node 2 > " + ws +
                         "/two.log 2>&1")
                            .c_str());
  ASSERT_EQ(rc2, 0) << ws + "/two.log";
  auto a = weights(ws + "/one"), b = weights(ws + "/two");
  ASSERT_FALSE(a.empty());
  for (auto& [name, t] : a) EXPECT_TRUE(torch::allclose(t, b[name], 1e-4, 1e-5)) << name;
  EXPECT_TRUE(moved_from_base(ws, a));
}

// Two ranks, num_iterations 2: checkpoint-1 is taken mid-generation and holds both ranks'
// rollouts; two ranks resumed from it end where the uninterrupted run ends.
TEST(GrpoTrainer, TwoRanksResumeFromAMidGenerationCheckpoint) {
  std::string ws = test::make_tiny_workspace("grpo-ddp-resume", 32);
  std::string full = set_key(set_key(dense_rewards(recipe(ws, ws + "/full")), "max_steps", "3"), "save_steps", "1");
  full = set_key(set_key(full, "num_iterations", "2"), "per_device_train_batch_size", "4");
  std::string rest = set_key(set_key(full, "output_dir", ws + "/rest"), "save_strategy", "\"no\"");
  test::write_text(ws + "/full.yaml", full);
  test::write_text(ws + "/rest.yaml", rest);
  std::string bin = CRUCIBLE_BINARY;
  int rc = std::system((bin + " train grpo --config " + ws + "/full.yaml --device cpu --nproc-per-node 2 > " + ws +
                        "/full.log 2>&1")
                           .c_str());
  ASSERT_EQ(rc, 0) << ws + "/full.log";
  for (const char* f : {"/full/checkpoint-1/rollout-rank0.pt", "/full/checkpoint-1/rollout-rank1.pt"})
    ASSERT_TRUE(std::filesystem::exists(ws + f)) << f;
  EXPECT_FALSE(std::filesystem::exists(ws + "/full/checkpoint-1.rollout-rank1.pt"));
  rc = std::system((bin + " train grpo --config " + ws + "/rest.yaml --device cpu --nproc-per-node 2 --resume " + ws +
                    "/full/checkpoint-1 > " + ws + "/rest.log 2>&1")
                       .c_str());
  ASSERT_EQ(rc, 0) << ws + "/rest.log";
  auto a = weights(ws + "/full"), b = weights(ws + "/rest");
  ASSERT_FALSE(a.empty());
  for (auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b[name])) << name;
  EXPECT_TRUE(moved_from_base(ws, a));
}

TEST(GrpoTrainer, AnInfiniteRewardStopsTheRunAndKeepsTheCheckpoint) {
  std::string ws = test::make_tiny_workspace("grpo-inf", 32);
  TrainRunOptions stop = quiet_cpu();
  stop.stop_after_steps = 2;
  auto part = run_grpo(parse(recipe(ws, ws + "/out")), stop);
  ASSERT_TRUE(part.is_ok()) << part.status().message();
  ASSERT_TRUE(std::filesystem::exists(ws + "/out/checkpoint-2/model.safetensors"));
  auto before = weights(ws + "/out/checkpoint-2");
  // cosine on wrong answers with hi - lo = 2e308: the reward overflows to +inf.
  std::string y = set_key(recipe(ws, ws + "/out"), "reward_funcs", "[cosine]");
  y = set_key(y, "cosine_min_value_wrong", "1.0e+308");
  y = set_key(y, "cosine_max_value_wrong", "-1.0e+308");
  auto bad = run_grpo(parse(y + "resume_from_checkpoint: true\n"), quiet_cpu());
  ASSERT_FALSE(bad.is_ok());
  const std::string& msg = bad.status().message();
  EXPECT_NE(msg.find("non-finite"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'cosine'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("checkpoint-2"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(ws + "/out/model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(ws + "/out/checkpoint-3"));
  auto after = weights(ws + "/out/checkpoint-2");
  for (auto& [name, t] : before) EXPECT_TRUE(torch::equal(t, after[name])) << name;
}

TEST(GrpoTrainer, AnUnknownRewardListsTheRegistryAndABadRowNamesItsLine) {
  std::string ws = test::make_tiny_workspace("grpo-bad", 8);
  // The recipe parser refuses it, naming the file and line and listing the registry ...
  RecipeOptions o;
  o.print_warnings = false;
  auto p = parse_grpo_recipe(set_key(recipe(ws, ws + "/out"), "reward_funcs", "[acuracy]"), "test.yaml", o);
  ASSERT_FALSE(p.is_ok());
  for (const char* name : {"test.yaml:", "acuracy", "accuracy", "format", "soft_overlong_punishment"})
    EXPECT_NE(p.status().message().find(name), std::string::npos) << p.status().message();
  // ... and so does run_grpo for a config built in code, before any model is loaded.
  GrpoConfig cfg = parse(recipe(ws, ws + "/out"));
  cfg.rewards.reward_funcs = {"acuracy"};
  auto r = run_grpo(cfg, quiet_cpu());
  ASSERT_FALSE(r.is_ok());
  for (const char* name : {"acuracy", "accuracy", "format", "soft_overlong_punishment"})
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().message();
  test::write_text(ws + "/bad.jsonl", "{\"problem\": \"1+1\", \"answer\": \"2\"}\n{\"answer\": \"3\"}\n");
  auto b = run_grpo(parse(set_key(recipe(ws, ws + "/out"), "dataset_name", ws + "/bad.jsonl")), quiet_cpu());
  ASSERT_FALSE(b.is_ok());
  EXPECT_NE(b.status().message().find("bad.jsonl:2"), std::string::npos) << b.status().message();
}

// The recipe's min_p and repetition_penalty reach the sampler: min_p = 1 keeps only the most likely
// token (= greedy), and a huge repetition penalty never repeats a prompt or output token.
TEST(GrpoTrainer, MinPAndRepetitionPenaltyShapeSampling) {
  std::string ws = test::make_tiny_workspace("grpo-sampler", 4);
  auto m = lm::load_causal_lm(ws + "/base", torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  std::vector<std::vector<int64_t>> prompts = {{5, 6, 7, 5}, {9, 10}};
  lm::GenerateOptions greedy;
  greedy.max_new_tokens = 12;
  greedy.temperature = 0;
  lm::GenerateOptions minp = greedy;
  minp.temperature = 1.0;
  minp.min_p = 1.0;
  minp.seeds = {3, 4};
  auto a = lm::generate(*m, nullptr, prompts, greedy), b = lm::generate(*m, nullptr, prompts, minp);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].token_ids, b[i].token_ids);
  lm::GenerateOptions rep = minp;
  rep.min_p = 0;
  rep.repetition_penalty = 1e30;  // a positive logit becomes ~0, a negative one ~-inf
  rep.top_k = 1;
  auto r = lm::generate(*m, nullptr, prompts, rep);
  for (size_t i = 0; i < r.size(); ++i) {
    std::set<int64_t> seen(prompts[i].begin(), prompts[i].end());
    for (int64_t t : r[i].token_ids) EXPECT_TRUE(seen.insert(t).second) << "token " << t << " repeated in row " << i;
  }
  // And the recipe keys are accepted by the trainer (parsed, passed on, trained with).
  std::string y = recipe(ws, ws + "/out", "min_p: 0.05\nrepetition_penalty: 1.1\n");
  y = set_key(set_key(y, "max_steps", "1"), "per_device_train_batch_size", "4");
  auto run = run_grpo(parse(y), quiet_cpu());
  ASSERT_TRUE(run.is_ok()) << run.status().message();
}

}  // namespace
}  // namespace crucible::train
