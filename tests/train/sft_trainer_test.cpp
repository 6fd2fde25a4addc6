// The SFT trainer end to end on a tiny Qwen2 (random weights, a BPE tokenizer trained on the data):
// the loss falls, checkpoints are Hugging Face directories, a preempted run resumed ends with the
// same weights bit for bit, a diverging run stops with a clear error, and two ranks started by
// `crucible train sft --nproc-per-node 2` match one process with the same global batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backends/torch/model.h"
#include "tests/support/temp_files.h"
#include "tests/train/tiny_workspace.h"
#include "train/recipe.h"
#include "train/sft_trainer.h"

namespace crucible::train {
namespace {

std::string recipe(const std::string& ws, const std::string& out, const std::string& extra = "") {
  return "model_name_or_path: " + ws + "/base\n" + "dataset_name: " + ws + "/data.jsonl\n" +
         "output_dir: " + out + "\n" +
         "learning_rate: 3.0e-3\n"
         "num_train_epochs: 2\n"
         "per_device_train_batch_size: 4\n"
         "gradient_accumulation_steps: 2\n"
         "max_length: 128\n"
         "packing: true\n"
         "lr_scheduler_type: cosine\n"
         "warmup_ratio: 0.1\n"
         "weight_decay: 0.01\n"
         "logging_steps: 1\n"
         "save_steps: 3\n"
         "bf16: false\n"
         "gradient_checkpointing: false\n"
         "seed: 7\n" +
         extra;
}

SftConfig parse(const std::string& yaml) {
  RecipeOptions o;
  o.print_warnings = false;
  auto c = parse_sft_recipe(yaml, "test.yaml", o);
  EXPECT_TRUE(c.is_ok()) << c.status().message();
  return *c;
}

using test::quiet_cpu;
std::map<std::string, torch::Tensor> weights(const std::string& dir) { return test::model_weights(dir); }

TEST(SftTrainer, LossFallsAndTheOutputIsAModelDirectory) {
  std::string ws = test::make_tiny_workspace("sft", 64);
  std::string y = recipe(ws, ws + "/out", "shuffle_dataset: true\n");
  y.replace(y.find("num_train_epochs: 2"), 19, "num_train_epochs: 8");
  auto r = run_sft(parse(y), quiet_cpu());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_GE(r->log_history.size(), 4u);
  double first = r->log_history.front()["loss"], last = r->log_history.back()["loss"];
  EXPECT_LT(last, 0.6 * first) << "loss " << first << " -> " << last;
  EXPECT_TRUE(std::filesystem::exists(ws + "/out/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(ws + "/out/tokenizer.json"));
  EXPECT_TRUE(std::filesystem::exists(ws + "/out/checkpoint-3/optimizer.pt"));
  // Warm-up then cosine decay: the lr rises to at most learning_rate, then falls.
  double peak = 0;
  for (const auto& l : r->log_history) peak = std::max(peak, l["learning_rate"].get<double>());
  EXPECT_LE(peak, 3e-3);
  EXPECT_LT(r->log_history.front()["learning_rate"].get<double>(), peak);
  EXPECT_LT(r->log_history.back()["learning_rate"].get<double>(), 0.1 * peak);
}

TEST(SftTrainer, APreemptedRunResumedEndsWithTheSameWeights) {
  std::string ws = test::make_tiny_workspace("sft", 48);
  auto full = run_sft(parse(recipe(ws, ws + "/full", "shuffle_dataset: true\n")), quiet_cpu());
  ASSERT_TRUE(full.is_ok()) << full.status().message();
  TrainRunOptions stop = quiet_cpu();
  stop.stop_after_steps = 3;  // "killed" right after checkpoint-3 was written
  auto part = run_sft(parse(recipe(ws, ws + "/resumed", "shuffle_dataset: true\n")), stop);
  ASSERT_TRUE(part.is_ok()) << part.status().message();
  ASSERT_TRUE(part->stopped_early);
  ASSERT_FALSE(std::filesystem::exists(ws + "/resumed/model.safetensors"));
  auto rest = run_sft(parse(recipe(ws, ws + "/resumed", "shuffle_dataset: true\nresume_from_checkpoint: true\n")),
                      quiet_cpu());
  ASSERT_TRUE(rest.is_ok()) << rest.status().message();
  EXPECT_EQ(rest->global_step, full->global_step);
  auto a = weights(ws + "/full"), b = weights(ws + "/resumed");
  ASSERT_EQ(a.size(), b.size());
  for (auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b[name])) << name;
}

TEST(SftTrainer, AMisspeltKeyIsRefusedAndANonFiniteLossStopsWithAClearError) {
  std::string ws = test::make_tiny_workspace("sft", 16);
  RecipeOptions o;
  o.print_warnings = false;
  EXPECT_FALSE(parse_sft_recipe(recipe(ws, ws + "/out", "learning_rate_override: 1\n"), "t.yaml", o).is_ok());
  std::string y = recipe(ws, ws + "/nan", "max_grad_norm: 0\n");
  y.replace(y.find("learning_rate: 3.0e-3"), 21, "learning_rate: 1.0e+30");
  auto bad = run_sft(parse(y), quiet_cpu());
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("non-finite"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(std::filesystem::exists(ws + "/nan/model.safetensors"));
}

TEST(SftTrainer, TwoRanksMatchOneProcessWithTheSameGlobalBatch) {
  std::string ws = test::make_tiny_workspace("sft", 32);
  // One process, 8 rows per micro-batch; two ranks, 4 rows each: the same global batch.
  std::string one = recipe(ws, ws + "/one", "max_steps: 4\nsave_strategy: \"no\"\n");
  one.replace(one.find("per_device_train_batch_size: 4"), 30, "per_device_train_batch_size: 8");
  std::string two = recipe(ws, ws + "/two", "max_steps: 4\nsave_strategy: \"no\"\n");
  test::write_text(ws + "/one.yaml", one);
  test::write_text(ws + "/two.yaml", two);
  std::string bin = CRUCIBLE_BINARY;
  int rc1 = std::system((bin + " train sft --config " + ws + "/one.yaml --device cpu > " + ws + "/one.log 2>&1").c_str());
  ASSERT_EQ(rc1, 0) << ws + "/one.log";
  int rc2 = std::system(
      (bin + " train sft --config " + ws + "/two.yaml --device cpu --nproc-per-node 2 > " + ws + "/two.log 2>&1").c_str());
  ASSERT_EQ(rc2, 0) << ws + "/two.log";
  auto a = weights(ws + "/one"), b = weights(ws + "/two");
  for (auto& [name, t] : a) EXPECT_TRUE(torch::allclose(t, b[name], 1e-4, 1e-5)) << name;
}

}  // namespace
}  // namespace crucible::train
