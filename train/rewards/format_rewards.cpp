#include "train/rewards/format_rewards.h"

#include <algorithm>

namespace crucible::train {

namespace {

constexpr std::string_view kOpen = "<think>\n";
constexpr std::string_view kMiddle = "\n</think>\n<answer>\n";
constexpr std::string_view kClose = "\n</answer>";
constexpr size_t npos = std::string_view::npos;

// Position just after the `^<think>\n.*?\n</think>\n<answer>\n` prefix, or npos. Taking the
// first occurrence of the middle marker leaves the most room for the rest of the pattern, so a
// match exists iff one exists from this position.
size_t after_think_prefix(std::string_view t) {
  if (t.substr(0, kOpen.size()) != kOpen) return npos;
  size_t k = t.find(kMiddle, kOpen.size());
  return k == npos ? npos : k + kMiddle.size();
}

// `.*?\n</answer>$` (MULTILINE) from `from`: some "\n</answer>" at or after `from` followed by the
// end of the text or a newline.
bool close_answer_from(std::string_view t, size_t from) {
  for (size_t m = t.find(kClose, from); m != npos; m = t.find(kClose, m + 1)) {
    size_t e = m + kClose.size();
    if (e == t.size() || t[e] == '\n') return true;
  }
  return false;
}

size_t count_nonoverlapping(std::string_view t, std::string_view pat) {
  size_t n = 0;
  for (size_t p = t.find(pat); p != npos; p = t.find(pat, p + pat.size())) ++n;
  return n;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Length of the reasoning-step alternative matching at position i (0 = none).
size_t step_match(std::string_view t, size_t i) {
  auto at = [&](std::string_view s) { return t.substr(i, s.size()) == s; };
  if (at("Step ")) {
    size_t j = i + 5;
    while (j < t.size() && is_digit(t[j])) ++j;
    if (j > i + 5 && j < t.size() && t[j] == ':') return j + 1 - i;
  }
  if (i == 0) {
    size_t j = 0;
    while (j < t.size() && is_digit(t[j])) ++j;
    if (j > 0 && j < t.size() && t[j] == '.') return j + 1;
  }
  for (std::string_view s : {std::string_view("\n-"), std::string_view("\n*"), std::string_view("First,"),
                             std::string_view("Second,"), std::string_view("Next,"), std::string_view("Finally,")})
    if (at(s)) return s.size();
  return 0;
}

}  // namespace

bool matches_think_answer_format(std::string_view t) {
  size_t j = after_think_prefix(t);
  return j != npos && close_answer_from(t, j);
}

double tag_count_score(std::string_view t) {
  double s = 0;
  for (std::string_view tag : {std::string_view("<think>\n"), std::string_view("\n</think>\n"),
                               std::string_view("\n<answer>\n"), std::string_view("\n</answer>")})
    if (count_nonoverlapping(t, tag) == 1) s += 0.25;
  return s;
}

size_t count_reasoning_steps(std::string_view t) {
  size_t n = 0;
  for (size_t i = 0; i < t.size();) {
    size_t len = step_match(t, i);
    if (len) {
      ++n;
      i += len;
    } else {
      ++i;
    }
  }
  return n;
}

bool matches_code_format(std::string_view t, std::string_view language) {
  size_t j = after_think_prefix(t);
  if (j == npos) return false;
  std::string fence = "```" + std::string(language);
  size_t a = t.find(fence, j);
  if (a == npos) return false;
  size_t b = t.find("```", a + fence.size());
  if (b == npos) return false;
  return close_answer_from(t, b + 3);
}

std::vector<double> FormatReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> out;
  for (const auto& in : batch) out.push_back(matches_think_answer_format(in.completion) ? 1.0 : 0.0);
  return out;
}

std::vector<double> TagCountReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> out;
  for (const auto& in : batch) out.push_back(tag_count_score(in.completion));
  return out;
}

std::vector<double> ReasoningStepsReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> out;
  for (const auto& in : batch) out.push_back(std::min(1.0, static_cast<double>(count_reasoning_steps(in.completion)) / 3.0));
  return out;
}

std::vector<double> CodeFormatReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> out;
  for (const auto& in : batch) {
    std::string lang = language_;
    if (in.problem && in.problem->meta.is_object() && in.problem->meta.contains("language") &&
        in.problem->meta["language"].is_string())
      lang = in.problem->meta["language"].get<std::string>();
    out.push_back(matches_code_format(in.completion, lang) ? 1.0 : 0.0);
  }
  return out;
}

}  // namespace crucible::train
