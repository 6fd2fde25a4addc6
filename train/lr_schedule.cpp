#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace crucible::train {

int64_t resolve_warmup_steps(int64_t total_steps, double warmup_ratio, double warmup_steps) {
  if (warmup_steps >= 1) return static_cast<int64_t>(warmup_steps);
  double ratio = warmup_steps > 0 ? warmup_steps : warmup_ratio;
  return static_cast<int64_t>(std::ceil(static_cast<double>(total_steps) * ratio));
}

int64_t total_training_steps(int64_t batches_per_epoch, const TrainingArgs& args) {
  if (args.max_steps > 0) return args.max_steps;
  int64_t per_epoch = std::max<int64_t>(1, batches_per_epoch / std::max<int64_t>(1, args.gradient_accumulation_steps));
  return static_cast<int64_t>(std::ceil(args.num_train_epochs * static_cast<double>(per_epoch)));
}

Result<LrSchedule> LrSchedule::create(const TrainingArgs& args, int64_t total_steps) {
  return create(args.lr_scheduler_type, args.learning_rate,
                resolve_warmup_steps(total_steps, args.warmup_ratio, args.warmup_steps), total_steps,
                args.lr_scheduler_kwargs);
}

Result<LrSchedule> LrSchedule::create(LrSchedulerType type, double base_lr, int64_t warmup_steps, int64_t total_steps,
                                      const LrSchedulerKwargs& kwargs) {
  if (total_steps < 0 || warmup_steps < 0) return Status::invalid("lr schedule: negative step count");
  LrSchedule s;
  s.type_ = type;
  s.base_lr_ = base_lr;
  s.warmup_ = warmup_steps;
  s.total_ = total_steps;
  s.num_cycles_ = kwargs.num_cycles;
  if (type == LrSchedulerType::kCosineWithMinLr) {
    if (kwargs.min_lr && kwargs.min_lr_rate)
      return Status::invalid("lr schedule cosine_with_min_lr: only one of min_lr and min_lr_rate may be set");
    if (kwargs.min_lr_rate) {
      s.min_lr_rate_ = *kwargs.min_lr_rate;
    } else if (kwargs.min_lr) {
      if (base_lr <= 0) return Status::invalid("lr schedule cosine_with_min_lr: min_lr needs learning_rate > 0");
      s.min_lr_rate_ = *kwargs.min_lr / base_lr;
    } else {
      return Status::invalid("lr schedule cosine_with_min_lr: set lr_scheduler_kwargs.min_lr_rate or min_lr");
    }
  }
  return s;
}

double LrSchedule::multiplier(int64_t step) const {
  const double k = static_cast<double>(step);
  if (type_ == LrSchedulerType::kConstant) return 1.0;
  if (step < warmup_) return k / static_cast<double>(std::max<int64_t>(1, warmup_));
  const double span = static_cast<double>(std::max<int64_t>(1, total_ - warmup_));
  switch (type_) {
    case LrSchedulerType::kConstantWithWarmup:
      return 1.0;
    case LrSchedulerType::kLinear:
      return std::max(0.0, static_cast<double>(total_ - step) / span);
    case LrSchedulerType::kCosine:
    case LrSchedulerType::kCosineWithMinLr: {
      const double progress = static_cast<double>(step - warmup_) / span;
      double f = 0.5 * (1.0 + std::cos(M_PI * num_cycles_ * 2.0 * progress));
      if (type_ == LrSchedulerType::kCosineWithMinLr) f = f * (1.0 - min_lr_rate_) + min_lr_rate_;
      return std::max(0.0, f);
    }
    case LrSchedulerType::kConstant:
      break;
  }
  return 1.0;
}

}  // namespace crucible::train
