// `crucible train sft`: supervised fine-tuning of a local model on chat / prompt-completion / text
// JSONL (train/sft_data.h), the way TRL's SFTTrainer does it, in C++ on LibTorch.
//
// One optimizer step = gradient_accumulation_steps micro-batches of per_device_train_batch_size
// rows on each of world_size ranks. The loss is the token mean of the next-token cross-entropy over
// the whole step (every micro-batch, every rank: the loss-token count is all-reduced first), so N
// ranks give the same update as one process with the same global batch. Gradients are averaged
// over ranks in buckets (train/distributed), clipped to max_grad_norm, and AdamW (weight decay on
// every parameter except biases and norm weights, as transformers) steps with the scheduled lr.
// Weights and optimizer state are fp32; on CUDA with bf16 the forward runs under bf16 autocast.
//
// Checkpoints: OUTPUT_DIR/checkpoint-STEP every save_steps (train/checkpoint.h), the final model in
// OUTPUT_DIR. resume_from_checkpoint restores weights, optimizer, schedule and data position (the
// row order of an epoch depends only on seed and epoch), so a run killed and resumed ends with the
// same weights as one never killed. A non-finite loss or gradient norm stops the run before the
// optimizer step, with the last good checkpoint left as it was.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "train/recipe.h"

namespace crucible::train {

struct TrainRunOptions {
  std::string device = "auto";    // auto: cuda:LOCAL_RANK when CUDA is available, else cpu
  int64_t stop_after_steps = -1;  // > 0: return after this many optimizer steps of this run, without
                                  // the final save (a preemption, for tests of resume)
  bool quiet = false;             // no log lines on stdout (log.jsonl is still written)
};

struct TrainSummary {
  int64_t global_step = 0;
  int64_t total_steps = 0;
  double last_loss = 0;
  bool stopped_early = false;      // stop_after_steps hit
  std::string output_dir;
  std::vector<nlohmann::json> log_history;
};

Result<TrainSummary> run_sft(const SftConfig& config, const TrainRunOptions& options = {});

}  // namespace crucible::train
