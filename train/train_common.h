// Pieces the SFT and GRPO trainers share: device choice, optimizer construction, lr updates,
// the bf16 autocast scope, log lines.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include "backends/torch/model.h"
#include "core/status.h"
#include "train/recipe.h"

namespace crucible::train {

// "auto" -> cuda:local_rank when CUDA is available, else cpu; "cpu", "cuda", "cuda:N" as given.
Result<torch::Device> resolve_train_device(const std::string& name, int local_rank);

// AdamW over the model with transformers' grouping: weight_decay on weights, none on biases and
// norm weights (parameters whose name ends in "bias" or contains "norm").
std::unique_ptr<torch::optim::AdamW> make_adamw(lm::CausalLM& model, const TrainingArgs& args);
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

// bf16 autocast for CUDA forwards while alive (no-op on CPU or when disabled).
class AutocastScope {
 public:
  AutocastScope(bool enabled, torch::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
};

// Steps as a count: values >= 1 are steps, (0, 1) a fraction of total_steps (transformers),
// <= 0 never.
int64_t steps_interval(double value, int64_t total_steps);

// Appends one JSON line to OUTPUT_DIR/log.jsonl and, unless quiet, prints it on stdout.
void write_log_line(const std::string& output_dir, const nlohmann::json& line, bool quiet);

}  // namespace crucible::train
