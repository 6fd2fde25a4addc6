// Quality rewards (Open-R1 get_repetition_penalty_reward, get_soft_overlong_punishment).
//  - repetition_penalty: words = completion.lower().split() (Python semantics: Unicode whitespace;
//    lower-casing of ASCII, Latin-1, Greek and Cyrillic letters); with n = repetition_n_grams,
//    "" or fewer than n words -> 0, else (1 - unique n-grams / total n-grams) x max_penalty
//    (max_penalty = repetition_max_penalty <= 0).
//  - soft_overlong_punishment (DAPO eq. 13) on L = completion token count, Lmax =
//    max_completion_len, C = soft_punish_cache: L <= Lmax - C -> 0; Lmax - C < L <= Lmax ->
//    (Lmax - C - L) / C; L > Lmax -> -1. NaN when the token count is unknown.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "train/rewards/reward.h"

namespace crucible::train {

// Python's s.lower().split() (see above).
std::vector<std::string> python_lower_split(std::string_view s);

class RepetitionPenaltyReward : public RewardFunction {
 public:
  // Error when ngram_size < 1 or max_penalty > 0.
  static Result<RepetitionPenaltyReward> create(int64_t ngram_size, double max_penalty);
  std::string name() const override { return "repetition_penalty"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;
  double score_one(std::string_view completion) const;

 private:
  RepetitionPenaltyReward(int64_t n, double p) : n_(n), max_penalty_(p) {}
  int64_t n_;
  double max_penalty_;
};

class SoftOverlongPunishmentReward : public RewardFunction {
 public:
  // Error when max_completion_len < 1 or soft_punish_cache is not in [0, max_completion_len].
  static Result<SoftOverlongPunishmentReward> create(int64_t max_completion_len, int64_t soft_punish_cache);
  std::string name() const override { return "soft_overlong_punishment"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;
  double score_length(int64_t completion_tokens) const;

 private:
  SoftOverlongPunishmentReward(int64_t m, int64_t c) : max_len_(m), cache_(c) {}
  int64_t max_len_;
  int64_t cache_;
};

}  // namespace crucible::train
