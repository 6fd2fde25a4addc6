// Math rewards (Open-R1 accuracy_reward, len_reward, get_cosine_scaled_reward). All three decide
// correctness with the task's Grader (RewardInput::grader, e.g. the MathGrader of `math500`), or
// the reward's default grader (the `math` task's MathGrader) - the very objects `crucible eval`
// scores with, so a reward and an eval never disagree on what is correct.
//   correct:     Grade.verdict == correct;  ungradable: verdict grader_error (e.g. the gold
//                answer has no parsable answer) or no Problem;  wrong: anything else.
//  - accuracy:   Grade.score (0 or 1 for math); NaN when ungradable (Open-R1: None).
//  - length:     Kimi 1.5: over the batch, len = code points of the completion,
//                lambda = 0.5 - (len - min_len) / (max_len - min_len); correct (or ungradable, which
//                Open-R1 treats as correct): lambda, wrong: min(0, lambda); all lengths equal: 0.
//  - cosine:     progress = len / cosine_max_len (not clamped, as Open-R1), c = cos(pi * progress);
//                correct: lo = min_value_correct, hi = max_value_correct; wrong: lo = max_value_wrong,
//                hi = min_value_wrong; reward = lo + 0.5 (hi - lo)(1 + c); ungradable: 1.0 (Open-R1).
#pragma once
#include <memory>

#include "train/rewards/reward.h"

namespace crucible::train {

enum class Correctness { kCorrect, kWrong, kUngradable };

struct MathRewardOptions {
  std::shared_ptr<const Grader> default_grader;  // used when RewardInput::grader is null (required)
  size_t threads = 1;                            // completions graded concurrently
};

// Grades one input with its grader (or `fallback`); `score` receives Grade.score.
Correctness judge_correctness(const RewardInput& in, const Grader& fallback, double* score = nullptr);

class AccuracyReward : public RewardFunction {
 public:
  explicit AccuracyReward(MathRewardOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "accuracy"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;

 private:
  MathRewardOptions o_;
};

class LengthReward : public RewardFunction {
 public:
  explicit LengthReward(MathRewardOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "length"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;

 private:
  MathRewardOptions o_;
};

struct CosineParams {
  double min_value_wrong = 0.0;    // Open-R1 GRPOScriptArguments defaults
  double max_value_wrong = -0.5;
  double min_value_correct = 0.5;
  double max_value_correct = 1.0;
  int64_t max_len = 1000;
};

class CosineReward : public RewardFunction {
 public:
  CosineReward(MathRewardOptions o, CosineParams p) : o_(std::move(o)), p_(p) {}
  std::string name() const override { return "cosine"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;

 private:
  MathRewardOptions o_;
  CosineParams p_;
};

}  // namespace crucible::train
