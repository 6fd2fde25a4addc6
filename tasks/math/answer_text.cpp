// normalize_answer_text, trim_answer and the plain-literal fast path (see answer_text.h).
#include "tasks/math/answer_text.h"

#include <cctype>
#include <cstdint>
#include <cstring>

#include "tasks/math/math_compare.h"

namespace crucible::math {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool starts_with(std::string_view s, size_t i, const char* p) {
  size_t n = std::strlen(p);
  return s.size() - i >= n && s.compare(i, n, p) == 0;
}

// Command names dropped entirely (with the backslash).
const char* const kDropped[] = {"left", "right", "displaystyle", "textstyle", "bigl", "bigr",
                                "Bigl", "Bigr", "biggl", "biggr", "Biggl", "Biggr", "big",
                                "Big", "bigg", "Bigg"};
// Wrappers whose braces are removed, keeping the content.
const char* const kWrappers[] = {"text", "textbf", "textit", "textrm", "mbox", "mathrm",
                                 "mathbf", "textup", "textnormal", "hbox"};

struct Parsed {
  __int128 num = 0, den = 1;
};

// Integer with optional thousands groups ("1,000,000") at s[i..]; advances i.
bool read_int(std::string_view s, size_t& i, __int128* out) {
  size_t start = i;
  __int128 v = 0;
  int digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    v = v * 10 + (s[i++] - '0');
    if (++digits > 18) return false;
  }
  if (digits == 0) return false;
  if (digits <= 3 && s[start] != '0') {
    while (i + 3 < s.size() + 0 && s[i] == ',' && i + 4 <= s.size() &&
           std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
           std::isdigit(static_cast<unsigned char>(s[i + 2])) &&
           std::isdigit(static_cast<unsigned char>(s[i + 3])) &&
           (i + 4 == s.size() || !std::isdigit(static_cast<unsigned char>(s[i + 4])))) {
      for (int k = 1; k <= 3; ++k) v = v * 10 + (s[i + k] - '0');
      digits += 3;
      if (digits > 18) return false;
      i += 4;
    }
  }
  *out = v;
  return true;
}

// Whole-string plain literal: [-]int, [-]int/int, [-]\frac{int}{int}.
bool parse_plain(std::string_view s, Parsed* p) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) { neg = s[i] == '-'; ++i; }
  if (starts_with(s, i, "\\frac{")) {
    i += 6;
    if (!read_int(s, i, &p->num) || i >= s.size() || s[i] != '}') return false;
    ++i;
    if (i >= s.size() || s[i] != '{') return false;
    ++i;
    if (!read_int(s, i, &p->den) || i >= s.size() || s[i] != '}') return false;
    ++i;
  } else {
    if (!read_int(s, i, &p->num)) return false;
    if (i < s.size() && s[i] == '/') {
      ++i;
      if (!read_int(s, i, &p->den)) return false;
    }
  }
  if (i != s.size() || p->den == 0) return false;
  if (neg) p->num = -p->num;
  return true;
}

}  // namespace

std::string_view trim_answer(std::string_view s) {
  while (true) {
    size_t before = s.size();
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && (is_space(s.back()) || s.back() == '.')) s.remove_suffix(1);
    if (s.size() >= 2 && s.front() == '$' && s.back() == '$') { s.remove_prefix(1); s.remove_suffix(1); }
    if (s.size() >= 4 && (starts_with(s, 0, "\\(") || starts_with(s, 0, "\\[")) &&
        (s.substr(s.size() - 2) == "\\)" || s.substr(s.size() - 2) == "\\]")) {
      s.remove_prefix(2);
      s.remove_suffix(2);
    }
    if (s.size() == before) return s;
  }
}

std::string normalize_answer_text(std::string_view in) {
  std::string_view s = trim_answer(in);
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  auto put = [&](char c) {
    if (pending_space && !out.empty() &&
        ((is_alnum(out.back()) && is_alnum(c)) || out.back() == ','))  // "1, 000" is a list
      out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  };
  int wrapper_depth = 0;  // braces of wrappers being removed, tracked with a small stack
  std::string stack;      // 'w' = wrapper brace (drop its '}'), 'b' = ordinary brace
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (is_space(c) || c == '~' || c == '$') { pending_space = true; ++i; continue; }
    if (c == '\\' && i + 1 < s.size()) {
      char d = s[i + 1];
      if (d == '!') { i += 2; continue; }
      if (d == ',' || d == ';' || d == ':' || d == ' ') { pending_space = true; i += 2; continue; }
      if (d == '$') { i += 2; continue; }
      if (std::isalpha(static_cast<unsigned char>(d))) {
        size_t j = i + 1;
        while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
        std::string_view name = s.substr(i + 1, j - i - 1);
        bool dropped = false;
        for (const char* n : kDropped)
          if (name == n) dropped = true;
        if (dropped) {
          i = j;
          if ((name == "left" || name == "right") && i < s.size() && s[i] == '.') ++i;
          continue;
        }
        bool wrapper = false;
        for (const char* n : kWrappers)
          if (name == n) wrapper = true;
        if (wrapper) {
          size_t k = j;
          while (k < s.size() && is_space(s[k])) ++k;
          if (k < s.size() && s[k] == '{') {
            stack.push_back('w');
            ++wrapper_depth;
            i = k + 1;
            continue;
          }
        }
        if (name == "dfrac" || name == "tfrac") {
          for (char ch : std::string_view("\\frac")) put(ch);
          i = j;
          continue;
        }
        for (size_t k = i; k < j; ++k) put(s[k]);
        i = j;
        continue;
      }
      put(c);
      put(d);
      i += 2;
      continue;
    }
    if (c == '{') { stack.push_back('b'); put(c); ++i; continue; }
    if (c == '}') {
      if (!stack.empty() && stack.back() == 'w') {
        stack.pop_back();
        --wrapper_depth;
        ++i;
        continue;
      }
      if (!stack.empty()) stack.pop_back();
      put(c);
      ++i;
      continue;
    }
    put(c);
    ++i;
  }
  while (!out.empty() && (out.back() == '.' || is_space(out.back()))) out.pop_back();
  return out;
}

std::optional<bool> compare_plain_literals(std::string_view gold, std::string_view pred) {
  Parsed g, p;
  if (!parse_plain(gold, &g) || !parse_plain(pred, &p)) return std::nullopt;
  return g.num * p.den == p.num * g.den;
}

}  // namespace crucible::math
