// The reward registry: builds reward functions from Open-R1 names + recipe parameters
// (GRPOScriptArguments, see train/recipe.h RewardArgs), and RewardSet, the weighted sum TRL
// computes from them.
//
//   names:  accuracy, format, tag_count, reasoning_steps, length, cosine, repetition_penalty,
//           soft_overlong_punishment, code, binary_code, ioi_code, cf_code, code_format
//   total[i] = sum_f w_f x r_f[i] over the functions whose r_f[i] is not NaN (TRL's nansum);
//              NaN when every r_f[i] is NaN (the sample is unscorable: advantage 0, grpo_loss.h).
// An unknown name is an error listing the registry. Math rewards grade with
// RewardInput::grader, else RewardParams::default_grader, else the `math` task's grader from
// tasks/task_registry.h (the one `crucible eval --task math` uses).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tasks/code/code_grader.h"
#include "train/recipe.h"
#include "train/rewards/reward.h"

namespace crucible::train {

struct RewardParams {
  RewardArgs args;                               // names, weights and per-reward parameters
  std::shared_ptr<const Grader> default_grader;  // null: the `math` task's grader
  code::CodeGraderOptions code_grader;           // sandbox + compile cache of the code rewards
  size_t grading_threads = 1;                    // completions graded at once by the math rewards
};

std::vector<std::string> reward_names();  // the registry, sorted

Result<std::unique_ptr<RewardFunction>> make_reward(const std::string& name, const RewardParams& params);

// NaN-skipping weighted sum of one sample's rewards (NaN when all are NaN).
double weighted_reward_sum(const std::vector<double>& values, const std::vector<double>& weights);

class RewardSet {
 public:
  // One function per params.args.reward_funcs entry; weights = reward_weights (or all 1.0).
  static Result<RewardSet> create(const RewardParams& params);

  struct Scores {
    std::vector<std::string> names;                 // [F]
    std::vector<std::vector<double>> per_function;  // [F][B]
    std::vector<double> total;                      // [B]
  };
  Scores score(const std::vector<RewardInput>& batch) const;

  const std::vector<double>& weights() const { return weights_; }
  std::vector<std::string> names() const;

 private:
  std::vector<std::shared_ptr<const RewardFunction>> functions_;
  std::vector<double> weights_;
};

}  // namespace crucible::train
