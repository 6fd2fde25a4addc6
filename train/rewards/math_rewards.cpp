#include "train/rewards/math_rewards.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/rewards/parallel_for.h"

namespace crucible::train {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<Correctness> judge_all(const std::vector<RewardInput>& batch, const MathRewardOptions& o,
                                   std::vector<double>* scores = nullptr) {
  std::vector<Correctness> out(batch.size(), Correctness::kUngradable);
  if (scores) scores->assign(batch.size(), 0.0);
  parallel_for(batch.size(), o.threads, [&](size_t i) {
    out[i] = judge_correctness(batch[i], *o.default_grader, scores ? &(*scores)[i] : nullptr);
  });
  return out;
}
}  // namespace

Correctness judge_correctness(const RewardInput& in, const Grader& fallback, double* score) {
  if (!in.problem) return Correctness::kUngradable;
  const Grader& g = in.grader ? *in.grader : fallback;
  Grade grade = g.grade(*in.problem, in.completion);
  if (score) *score = grade.score;
  if (grade.verdict == Verdict::kGraderError) return Correctness::kUngradable;
  return grade.verdict == Verdict::kCorrect ? Correctness::kCorrect : Correctness::kWrong;
}

std::vector<double> AccuracyReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> scores;
  auto c = judge_all(batch, o_, &scores);
  std::vector<double> out(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) out[i] = c[i] == Correctness::kUngradable ? kNaN : scores[i];
  return out;
}

std::vector<double> LengthReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> out(batch.size(), 0.0);
  if (batch.empty()) return out;
  auto c = judge_all(batch, o_);
  std::vector<double> len(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) len[i] = static_cast<double>(utf8_length(batch[i].completion));
  double lo = *std::min_element(len.begin(), len.end());
  double hi = *std::max_element(len.begin(), len.end());
  if (hi == lo) return out;
  for (size_t i = 0; i < batch.size(); ++i) {
    double lambda = 0.5 - (len[i] - lo) / (hi - lo);
    out[i] = c[i] == Correctness::kWrong ? std::min(0.0, lambda) : lambda;
  }
  return out;
}

std::vector<double> CosineReward::score(const std::vector<RewardInput>& batch) const {
  auto c = judge_all(batch, o_);
  std::vector<double> out(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (c[i] == Correctness::kUngradable) {
      out[i] = 1.0;
      continue;
    }
    double progress = static_cast<double>(utf8_length(batch[i].completion)) / static_cast<double>(p_.max_len);
    double cosine = std::cos(progress * M_PI);
    double lo, hi;
    if (c[i] == Correctness::kCorrect) {
      lo = p_.min_value_correct;
      hi = p_.max_value_correct;
    } else {
      lo = p_.max_value_wrong;
      hi = p_.min_value_wrong;
    }
    out[i] = lo + 0.5 * (hi - lo) * (1.0 + cosine);
  }
  return out;
}

}  // namespace crucible::train
