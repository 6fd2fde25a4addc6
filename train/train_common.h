// Pieces the SFT and GRPO trainers share: device choice, optimizer construction, lr updates,
// the bf16 autocast scope, log lines.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include "backends/chat_template/chat_template.h"
#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/model.h"
#include "core/status.h"
#include "train/distributed/communicator.h"
#include "train/recipe.h"

namespace crucible::train {

// "auto" -> cuda:local_rank when CUDA is available, else cpu; "cpu", "cuda", "cuda:N" as given.
Result<torch::Device> resolve_train_device(const std::string& name, int local_rank);

// AdamW over the model with transformers' grouping: weight_decay on weights, none on biases and
// norm weights (parameters whose name ends in "bias" or contains "norm").
std::unique_ptr<torch::optim::AdamW> make_adamw(lm::CausalLM& model, const TrainingArgs& args);

// Data-parallel gradient sync after the step's backward passes: every parameter gets a gradient
// (zeros where backward left none, so all ranks reduce the same list) and each becomes its mean
// over ranks, in buckets (Communicator::all_reduce_mean).
Status average_gradients(Communicator& c, const std::vector<torch::Tensor>& params);
// The L2 norm of all the parameters' gradients; when max_grad_norm > 0 they are also clipped to
// it (torch's clip_grad_norm_, which returns the norm before clipping, as transformers logs it).
double clip_gradients(const std::vector<torch::Tensor>& params, double max_grad_norm);
// Sets lr on every (AdamW) parameter group, takes one optimizer step and clears the gradients.
void optimizer_step(torch::optim::Optimizer& opt, double lr);

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

// splitmix64: advances `state` and returns the next 64-bit value (the trainers' portable RNG).
uint64_t splitmix64(uint64_t& state);
// 0..n-1 shuffled by Fisher-Yates over splitmix64 from `state` (the same order on every platform).
std::vector<size_t> shuffled_order(size_t n, uint64_t state);

// The chat template a recipe trains with: `override_text` (the recipe's chat_template, with the
// tokenizer's bos/eos) when set, else the model directory's tokenizer_config.json template, else
// none (no tokenizer_config.json, or one without a template: only non-chat rows can be used).
Result<std::optional<ChatTemplate>> load_recipe_chat_template(const std::string& model_dir,
                                                              const std::optional<std::string>& override_text,
                                                              const Tokenizer& tok);

// Rank 0's last act: the model (+ tokenizer files from model_dir, trainer_state.json = `state`)
// written as a Hugging Face directory into OUTPUT_DIR itself, via OUTPUT_DIR/final.
Status save_final_model(lm::CausalLM& model, const nlohmann::json& state, const std::string& model_dir,
                        const std::string& output_dir);

// Appends one JSON line to OUTPUT_DIR/log.jsonl and, unless quiet, prints it on stdout.
void write_log_line(const std::string& output_dir, const nlohmann::json& line, bool quiet);

}  // namespace crucible::train
