// Format rewards (Open-R1 format_reward, tag_count_reward, reasoning_steps_reward,
// get_code_format_reward). Open-R1 writes them as Python regexes; they are matched here by
// hand-written scanners with the same semantics (linear time, no backtracking blow-up on long
// completions):
//  - format:        re.match(r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$", DOTALL|MULTILINE)
//                   -> 1.0 if it matches else 0.0 ($ under MULTILINE: end of text or before a '\n').
//  - tag_count:     0.25 for each of "<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>" that
//                   occurs exactly once (Python str.count: non-overlapping occurrences).
//  - reasoning_steps: min(1, n / 3), n = re.findall(r"(Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|
//                   Finally,)") matches (non-overlapping, left to right, first alternative wins;
//                   ^ only at the start of the text; \d: ASCII digits).
//  - code_format:   re.match(rf"^<think>\n.*?\n</think>\n<answer>\n.*?```{lang}.*?```.*?\n</answer>$",
//                   DOTALL|MULTILINE) -> 1.0 / 0.0; lang = the problem's meta "language" when set,
//                   else code_language.
#pragma once
#include <string>
#include <string_view>

#include "train/rewards/reward.h"

namespace crucible::train {

bool matches_think_answer_format(std::string_view text);
double tag_count_score(std::string_view text);
size_t count_reasoning_steps(std::string_view text);
bool matches_code_format(std::string_view text, std::string_view language);

class FormatReward : public RewardFunction {
 public:
  std::string name() const override { return "format"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;
};

class TagCountReward : public RewardFunction {
 public:
  std::string name() const override { return "tag_count"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;
};

class ReasoningStepsReward : public RewardFunction {
 public:
  std::string name() const override { return "reasoning_steps"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;
};

class CodeFormatReward : public RewardFunction {
 public:
  explicit CodeFormatReward(std::string language) : language_(std::move(language)) {}
  std::string name() const override { return "code_format"; }
  std::vector<double> score(const std::vector<RewardInput>& batch) const override;

 private:
  std::string language_;
};

}  // namespace crucible::train
