#include "train/rewards/quality_rewards.h"

#include <limits>
#include <set>

namespace crucible::train {

namespace {

// Decodes one code point at s[i] (advancing i); invalid bytes decode as themselves (Latin-1).
uint32_t next_cp(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return ++i, c;
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return ++i, c;
    cp = (cp << 6) | (d & 0x3F);
  }
  i += len;
  return cp;
}

void append_cp(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// str.isspace() for str.split(): ASCII whitespace, \x1c-\x1f and the Unicode space separators.
bool py_space(uint32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

uint32_t py_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;     // Latin-1 capitals
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;  // Greek capitals
  if (c >= 0x410 && c <= 0x42F) return c + 32;                // Cyrillic А-Я
  if (c >= 0x400 && c <= 0x40F) return c + 80;                // Cyrillic Ѐ-Џ
  return c;
}

}  // namespace

std::vector<std::string> python_lower_split(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = next_cp(s, i);
    if (py_space(cp)) {
      if (in_word) words.push_back(std::move(cur)), cur.clear(), in_word = false;
    } else {
      append_cp(cur, py_lower(cp));
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

Result<RepetitionPenaltyReward> RepetitionPenaltyReward::create(int64_t ngram_size, double max_penalty) {
  if (ngram_size < 1) return Status::invalid("repetition_penalty: repetition_n_grams must be >= 1");
  if (max_penalty > 0)
    return Status::invalid("repetition_penalty: repetition_max_penalty " + std::to_string(max_penalty) +
                           " should not be positive");
  return RepetitionPenaltyReward(ngram_size, max_penalty);
}

double RepetitionPenaltyReward::score_one(std::string_view completion) const {
  if (completion.empty()) return 0.0;
  std::vector<std::string> words = python_lower_split(completion);
  const size_t n = static_cast<size_t>(n_);
  if (words.size() < n) return 0.0;
  std::set<std::vector<std::string>> unique;
  size_t total = 0;
  for (size_t i = 0; i + n <= words.size(); ++i, ++total)
    unique.insert(std::vector<std::string>(words.begin() + i, words.begin() + i + n));
  double scaling = 1.0 - static_cast<double>(unique.size()) / static_cast<double>(total);
  return scaling * max_penalty_;
}

std::vector<double> RepetitionPenaltyReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> out;
  for (const auto& in : batch) out.push_back(score_one(in.completion));
  return out;
}

Result<SoftOverlongPunishmentReward> SoftOverlongPunishmentReward::create(int64_t max_completion_len,
                                                                          int64_t soft_punish_cache) {
  if (max_completion_len < 1) return Status::invalid("soft_overlong_punishment: max_completion_len must be > 0");
  if (soft_punish_cache < 0 || soft_punish_cache > max_completion_len)
    return Status::invalid("soft_overlong_punishment: soft_punish_cache must be in [0, max_completion_len]");
  return SoftOverlongPunishmentReward(max_completion_len, soft_punish_cache);
}

double SoftOverlongPunishmentReward::score_length(int64_t L) const {
  if (L < 0) return std::numeric_limits<double>::quiet_NaN();
  if (L <= max_len_ - cache_) return 0.0;
  if (L <= max_len_) return static_cast<double>(max_len_ - cache_ - L) / static_cast<double>(cache_);
  return -1.0;
}

std::vector<double> SoftOverlongPunishmentReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> out;
  for (const auto& in : batch) out.push_back(score_length(in.completion_tokens));
  return out;
}

}  // namespace crucible::train
