// LR schedules against values computed by hand from transformers' lambdas.
#include <gtest/gtest.h>

#include <cmath>

#include "train/lr_schedule.h"

using namespace crucible::train;

namespace {
LrSchedule make(LrSchedulerType t, int64_t warmup, int64_t total, LrSchedulerKwargs kw = {}, double lr = 1.0) {
  auto s = LrSchedule::create(t, lr, warmup, total, kw);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  return *s;
}
}  // namespace

TEST(LrSchedule, Linear) {
  // W = 2, N = 10: k / 2 during warm-up, then (10 - k) / 8.
  LrSchedule s = make(LrSchedulerType::kLinear, 2, 10);
  EXPECT_DOUBLE_EQ(s.multiplier(0), 0.0);
  EXPECT_DOUBLE_EQ(s.multiplier(1), 0.5);
  EXPECT_DOUBLE_EQ(s.multiplier(2), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(6), 0.5);
  EXPECT_DOUBLE_EQ(s.multiplier(9), 0.125);
  EXPECT_DOUBLE_EQ(s.multiplier(10), 0.0);
  EXPECT_DOUBLE_EQ(s.multiplier(12), 0.0);  // clamped at 0 past the end
}

TEST(LrSchedule, Cosine) {
  // No warm-up, N = 4: 0.5 (1 + cos(pi k / 4)).
  LrSchedule s = make(LrSchedulerType::kCosine, 0, 4, {}, 2e-5);
  EXPECT_DOUBLE_EQ(s.multiplier(0), 1.0);
  EXPECT_NEAR(s.multiplier(1), 0.8535533905932737, 1e-15);  // 0.5 (1 + sqrt(2)/2)
  EXPECT_NEAR(s.multiplier(2), 0.5, 1e-15);
  EXPECT_NEAR(s.multiplier(3), 0.1464466094067262, 1e-15);
  EXPECT_NEAR(s.multiplier(4), 0.0, 1e-15);
  EXPECT_NEAR(s.lr(2), 1e-5, 1e-20);
  // Warm-up W = 3, N = 7: k / 3, then p = (k - 3) / 4.
  LrSchedule w = make(LrSchedulerType::kCosine, 3, 7);
  EXPECT_DOUBLE_EQ(w.multiplier(0), 0.0);
  EXPECT_DOUBLE_EQ(w.multiplier(2), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(w.multiplier(3), 1.0);
  EXPECT_NEAR(w.multiplier(5), 0.5, 1e-15);
  // num_cycles = 1: a full wave, back to 1 at the end.
  LrSchedulerKwargs kw;
  kw.num_cycles = 1.0;
  LrSchedule full = make(LrSchedulerType::kCosine, 0, 4, kw);
  EXPECT_NEAR(full.multiplier(2), 0.0, 1e-15);
  EXPECT_NEAR(full.multiplier(4), 1.0, 1e-15);
}

TEST(LrSchedule, CosineWithMinLr) {
  // W = 1, N = 5, min_lr_rate = 0.1: f (1 - 0.1) + 0.1, f = 0.5 (1 + cos(pi (k - 1) / 4)).
  LrSchedulerKwargs kw;
  kw.min_lr_rate = 0.1;
  LrSchedule s = make(LrSchedulerType::kCosineWithMinLr, 1, 5, kw);
  EXPECT_DOUBLE_EQ(s.multiplier(0), 0.0);                   // warm-up 0 / 1
  EXPECT_NEAR(s.multiplier(1), 1.0, 1e-15);                 // f = 1
  EXPECT_NEAR(s.multiplier(2), 0.868198051533946, 1e-15);   // 0.853553 x 0.9 + 0.1
  EXPECT_NEAR(s.multiplier(3), 0.55, 1e-15);                // f = 0.5
  EXPECT_NEAR(s.multiplier(5), 0.1, 1e-15);                 // f = 0 -> min
  // min_lr (absolute) = min_lr_rate x learning_rate.
  LrSchedulerKwargs abs;
  abs.min_lr = 4e-6;
  LrSchedule a = make(LrSchedulerType::kCosineWithMinLr, 1, 5, abs, 4e-5);
  EXPECT_NEAR(a.min_lr_rate(), 0.1, 1e-15);
  EXPECT_NEAR(a.lr(3), 0.55 * 4e-5, 1e-18);
  EXPECT_NEAR(a.lr(5), 4e-6, 1e-18);
  // Missing / conflicting kwargs are errors.
  EXPECT_FALSE(LrSchedule::create(LrSchedulerType::kCosineWithMinLr, 1e-5, 0, 10, {}).is_ok());
  LrSchedulerKwargs both;
  both.min_lr = 1e-6;
  both.min_lr_rate = 0.1;
  EXPECT_FALSE(LrSchedule::create(LrSchedulerType::kCosineWithMinLr, 1e-5, 0, 10, both).is_ok());
}

TEST(LrSchedule, ConstantAndConstantWithWarmup) {
  LrSchedule c = make(LrSchedulerType::kConstant, 5, 10);  // transformers ignores warm-up here
  EXPECT_DOUBLE_EQ(c.multiplier(0), 1.0);
  EXPECT_DOUBLE_EQ(c.multiplier(9), 1.0);
  LrSchedule w = make(LrSchedulerType::kConstantWithWarmup, 4, 10);
  EXPECT_DOUBLE_EQ(w.multiplier(0), 0.0);
  EXPECT_DOUBLE_EQ(w.multiplier(1), 0.25);
  EXPECT_DOUBLE_EQ(w.multiplier(3), 0.75);
  EXPECT_DOUBLE_EQ(w.multiplier(4), 1.0);
  EXPECT_DOUBLE_EQ(w.multiplier(100), 1.0);
}

TEST(LrSchedule, WarmupStepsAndTotals) {
  EXPECT_EQ(resolve_warmup_steps(10, 0.1, 0), 1);
  EXPECT_EQ(resolve_warmup_steps(100, 0.03, 0), 3);  // ceil(100 x 0.03)
  EXPECT_EQ(resolve_warmup_steps(7, 0.1, 0), 1);     // ceil(0.7)
  EXPECT_EQ(resolve_warmup_steps(100, 0.03, 5), 5);  // warmup_steps wins
  EXPECT_EQ(resolve_warmup_steps(10, 0.0, 0.25), 3); // a fractional warmup_steps is a ratio (v5)
  EXPECT_EQ(resolve_warmup_steps(10, 0.0, 0), 0);

  TrainingArgs t;
  t.gradient_accumulation_steps = 3;
  t.num_train_epochs = 2.5;
  EXPECT_EQ(total_training_steps(10, t), 8);  // floor(10 / 3) = 3 per epoch, ceil(2.5 x 3)
  EXPECT_EQ(total_training_steps(2, t), 3);   // at least one update per epoch: ceil(2.5 x 1)
  t.max_steps = 7;
  EXPECT_EQ(total_training_steps(10, t), 7);

  // From a recipe's TrainingArgs: linear with warmup_ratio 0.1 over 20 steps -> W = 2.
  TrainingArgs r;
  r.learning_rate = 1e-3;
  r.warmup_ratio = 0.1;
  auto s = LrSchedule::create(r, 20);
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(s->warmup_steps(), 2);
  EXPECT_DOUBLE_EQ(s->lr(1), 0.5e-3);
  EXPECT_DOUBLE_EQ(s->lr(11), 1e-3 * 9.0 / 18.0);
}
