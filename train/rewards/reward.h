// The reward-function contract shared by every GRPO reward (train/rewards/*) and the registry.
//
// A RewardFunction scores a batch of completions: score(batch)[i] is the reward of batch[i].
// Rewards follow Open-R1's rewards.py (names, formulas, defaults; docs/training.md lists them).
// NaN is Open-R1's `None`: "this reward does not apply / cannot be computed for this sample"
// (e.g. a gold answer the grader cannot parse, a code problem without tests, a sandbox failure).
// The weighted sum (RewardSet, reward_registry.h) skips NaN terms like TRL's nansum; a sample whose
// every term is NaN stays NaN and gets advantage 0 (grpo_loss.h).
// Reward functions are immutable after construction and score() is thread-safe; it never throws
// for a model's output (bad output is a low reward, not an error).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/grader.h"

namespace crucible::train {

struct RewardInput {
  std::string_view prompt;        // the rendered prompt (informational)
  std::string_view completion;    // the generated text (decoded completion tokens)
  int64_t completion_tokens = -1; // number of completion tokens; -1 = unknown
  const Problem* problem = nullptr;  // gold answer (Problem::gold) and problem reference (Problem::meta:
                                     // verification_info, codeforces row, ioi_row + tests_dir, language)
  const Grader* grader = nullptr;    // the task's grader (tasks/task_registry.h); null: the reward's default
};

class RewardFunction {
 public:
  virtual ~RewardFunction() = default;
  virtual std::string name() const = 0;  // the registry name ("accuracy", "cosine", ...)
  // One value per input, in order (NaN = not applicable, see above).
  virtual std::vector<double> score(const std::vector<RewardInput>& batch) const = 0;
};

// Python's len(str): the number of Unicode code points of UTF-8 text (invalid bytes count one each).
size_t utf8_length(std::string_view s);

}  // namespace crucible::train
