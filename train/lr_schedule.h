// Learning-rate schedules, computed exactly as transformers' get_scheduler() does (LambdaLR
// multipliers of the base learning_rate), so a recipe trains with the same lr curve as TRL.
//
// Step convention: multiplier(k) is the factor for optimizer update k = 0, 1, ..., total-1 (the
// value LambdaLR holds while update k runs; transformers steps the scheduler after each update).
// With W warm-up steps and N total steps (W = 0 means no warm-up):
//   warm-up (k < W, every schedule but "constant"):  k / max(1, W)
//   constant:              1                      (transformers ignores warm-up for "constant")
//   constant_with_warmup:  1
//   linear:                max(0, (N - k) / max(1, N - W))
//   cosine:                max(0, 0.5 (1 + cos(pi * 2c * p)))        p = (k - W) / max(1, N - W)
//   cosine_with_min_lr:    max(0, f (1 - r) + r),  f as cosine,   r = min_lr_rate (or min_lr / lr)
// c = lr_scheduler_kwargs.num_cycles (default 0.5: one half-wave down to 0 / to r).
// Warm-up steps (TrainingArguments.get_warmup_steps): warmup_steps when >= 1; a warmup_steps in
// (0, 1) is a ratio (transformers v5); otherwise ceil(N * warmup_ratio).
#pragma once
#include <cstdint>

#include "core/status.h"
#include "train/recipe.h"

namespace crucible::train {

int64_t resolve_warmup_steps(int64_t total_steps, double warmup_ratio, double warmup_steps);

// Optimizer updates for a run (transformers' Trainer): max_steps when > 0, else
// ceil(num_train_epochs x max(1, batches_per_epoch / gradient_accumulation_steps)) with the
// division rounded down, as transformers 4.x counts update steps per epoch.
int64_t total_training_steps(int64_t batches_per_epoch, const TrainingArgs& args);

class LrSchedule {
 public:
  // Validates kwargs (cosine_with_min_lr needs exactly one of min_lr / min_lr_rate) and steps.
  static Result<LrSchedule> create(const TrainingArgs& args, int64_t total_steps);
  static Result<LrSchedule> create(LrSchedulerType type, double base_lr, int64_t warmup_steps, int64_t total_steps,
                                   const LrSchedulerKwargs& kwargs = {});

  double multiplier(int64_t step) const;                  // in [0, 1]
  double lr(int64_t step) const { return base_lr_ * multiplier(step); }

  LrSchedulerType type() const { return type_; }
  int64_t warmup_steps() const { return warmup_; }
  int64_t total_steps() const { return total_; }
  double min_lr_rate() const { return min_lr_rate_; }
  double base_lr() const { return base_lr_; }

 private:
  LrSchedulerType type_ = LrSchedulerType::kLinear;
  double base_lr_ = 0;
  int64_t warmup_ = 0;
  int64_t total_ = 0;
  double num_cycles_ = 0.5;
  double min_lr_rate_ = 0;
};

}  // namespace crucible::train
