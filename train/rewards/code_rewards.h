// Code rewards (Open-R1 code_reward, binary_code_reward, cf_code_reward, ioi_code_reward), judged
// by tasks/code's CodeGrader - the same extraction, compilation, sandbox limits and checkers as
// `crucible eval` on ioi / codeforces / icpc - with completions judged concurrently
// (parallel_code_exec_per_proc at once), every run in its own sandbox box.
// The problem comes from RewardInput::problem->meta:
//  - code / binary_code: Open-R1's "verification_info" {"language", "test_cases": [{input, output}]}
//    (each test limited to 5 s, Open-R1's exec_timeout, and 256 MB), or any problem the CodeGrader
//    reads (problem_dir, codeforces row, ioi_row). reward = fraction of tests passed (tests compared
//    by the grader's token checker, where Open-R1 compares stripped lines); no code block or a
//    compile error -> 0. binary_code: 1 if that fraction > 0.99 else 0.
//  - cf_code: an open-r1/codeforces row (official_tests, time_limit, memory_limit,
//    generated_checker); language = meta "language" or code_language. No code -> -1.0, compile
//    error -> -0.1, else by code_eval_scoring_mode: pass_fail (1/0), partial (fraction passed),
//    weighted_sum (pass_fail + 0.1 x fraction, up to 1.1 as in Open-R1).
//  - ioi_code: an open-r1/ioi row (meta "ioi_row" + "tests_dir"), C++; reward = the subtask score
//    normalised to [0, 1] (GroupMin over its tests); no code or a compile error -> 0.
// Every kind: NaN when the problem cannot be judged (no tests / no problem reference / a sandbox
// or grader failure: verdict grader_error) - an infrastructure fault is not the model's fault.
#pragma once
#include <memory>
#include <string>

#include "core/status.h"
#include "tasks/code/code_grader.h"
#include "train/rewards/reward.h"

namespace crucible::train {

enum class CodeRewardKind { kCode, kBinaryCode, kCfCode, kIoiCode };

struct CodeRewardOptions {
  code::CodeGraderOptions grader;            // sandbox, compile cache, loading (judge.workers is set below)
  std::string language = "python";           // code_language: default language of code / cf_code
  std::string scoring_mode = "weighted_sum"; // cf_code: pass_fail | partial | weighted_sum
  size_t parallel = 2;                       // completions judged at once
  int64_t test_batch_size = 1;               // tests of one completion judged at once (<= 0: all cores)
};

class CodeReward : public RewardFunction {
 public:
  static Result<std::unique_ptr<CodeReward>> create(CodeRewardKind kind, CodeRewardOptions options);
  std::string name() const override;
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;
  double score_one(const RewardInput& in) const;

 private:
  CodeReward(CodeRewardKind kind, CodeRewardOptions options);
  CodeRewardKind kind_;
  CodeRewardOptions opt_;
  std::unique_ptr<code::CodeGrader> grader_;
};

// Open-R1's verification_info -> a Problem the CodeGrader judges (a codeforces-style row);
// other problems are returned unchanged. Exposed for tests.
Problem code_problem_from_verification_info(const Problem& p);

}  // namespace crucible::train
