#include "tasks/math/answer_extraction.h"

#include <algorithm>
#include <cstring>

namespace crucible::math {

namespace {

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool starts_with(std::string_view s, size_t pos, std::string_view p) {
  return pos <= s.size() && s.size() - pos >= p.size() && std::memcmp(s.data() + pos, p.data(), p.size()) == 0;
}

bool istarts_with(std::string_view s, size_t pos, std::string_view lower_p) {
  if (pos > s.size() || s.size() - pos < lower_p.size()) return false;
  for (size_t i = 0; i < lower_p.size(); ++i)
    if (lower(s[pos + i]) != lower_p[i]) return false;
  return true;
}

// Last occurrence of `needle` that starts before `before` (memrchr on the first byte, so the
// common case is a fast backwards byte scan). npos when absent.
size_t rfind_before(std::string_view hay, std::string_view needle, size_t before) {
  if (needle.empty() || hay.size() < needle.size()) return std::string_view::npos;
  size_t limit = std::min(before, hay.size() - needle.size() + 1);  // candidates in [0, limit)
  const char* base = hay.data();
  while (limit > 0) {
    const void* p = ::memrchr(base, needle[0], limit);
    if (!p) return std::string_view::npos;
    size_t pos = static_cast<const char*>(p) - base;
    if (std::memcmp(base + pos, needle.data(), needle.size()) == 0) return pos;
    limit = pos;
  }
  return std::string_view::npos;
}

size_t find_from(std::string_view hay, std::string_view needle, size_t from, size_t limit) {
  if (limit > hay.size()) limit = hay.size();
  if (from >= limit || limit - from < needle.size()) return std::string_view::npos;
  size_t pos = hay.substr(from, limit - from).find(needle);
  return pos == std::string_view::npos ? pos : from + pos;
}

// ---------------------------------------------------------------- boxes

struct BoxCmd {
  size_t pos = std::string_view::npos;  // position of the backslash
  size_t len = 0;                       // 6 for \boxed, 5 for \fbox
  bool fbox = false;
};

// The last "\boxed" or "\fbox" command (not followed by a letter, e.g. \fboxsep) starting before
// `before`.
BoxCmd rfind_box_cmd(std::string_view s, size_t before) {
  if (before > s.size()) before = s.size();
  const char* base = s.data();
  size_t limit = before;
  while (limit > 0) {
    const void* p = ::memrchr(base, '\\', limit);
    if (!p) break;
    size_t pos = static_cast<const char*>(p) - base;
    limit = pos;
    size_t len = 0;
    bool fbox = false;
    if (starts_with(s, pos + 1, "boxed")) {
      len = 6;
    } else if (starts_with(s, pos + 1, "fbox")) {
      len = 5;
      fbox = true;
    } else {
      continue;
    }
    if (pos + len < s.size() && is_alpha(s[pos + len])) continue;  // \boxedx, \fboxsep
    return {pos, len, fbox};
  }
  return {};
}

// Position of the '}' matching the '{' at `open`; npos when unterminated. \{ \} \\ are skipped.
size_t match_brace(std::string_view s, size_t open) {
  int depth = 0;
  const size_t n = s.size();
  for (size_t i = open; i < n; ++i) {
    char c = s[i];
    if (c == '\\') {
      ++i;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string_view::npos;
}

enum class BoxStatus { kOk, kUnterminated, kEmpty, kNotBox };

struct BoxParse {
  BoxStatus status = BoxStatus::kNotBox;
  size_t content_begin = 0, content_end = 0;  // content span
  size_t end = 0;                             // one past the box (after '}' or the token)
};

BoxParse parse_box(std::string_view s, const BoxCmd& cmd) {
  BoxParse r;
  size_t j = cmd.pos + cmd.len;
  const size_t n = s.size();
  size_t k = j;
  while (k < n && is_space(s[k])) ++k;
  if (k >= n) {
    r.status = (k == j) ? BoxStatus::kUnterminated : BoxStatus::kEmpty;
    r.end = n;
    return r;
  }
  if (s[k] == '{') {
    size_t close = match_brace(s, k);
    if (close == std::string_view::npos) {
      r.status = BoxStatus::kUnterminated;
      r.end = n;
      return r;
    }
    r.content_begin = k + 1;
    r.content_end = close;
    r.end = close + 1;
    r.status = trim(s.substr(r.content_begin, r.content_end - r.content_begin)).empty()
                   ? BoxStatus::kEmpty
                   : BoxStatus::kOk;
    return r;
  }
  // Space form (\boxed 5), or a token right after the command (\boxed5, \boxed\pi).
  bool spaced = k > j;
  if (!spaced && !(is_digit(s[k]) || s[k] == '\\' || s[k] == '-')) return r;  // kNotBox
  size_t e = k;
  while (e < n && !is_space(s[e]) && s[e] != '$' && s[e] != '}') ++e;
  // A trailing sentence punctuation mark is not part of the token.
  size_t ce = e;
  while (ce > k && (s[ce - 1] == '.' || s[ce - 1] == ',' || s[ce - 1] == ';')) --ce;
  r.content_begin = k;
  r.content_end = ce;
  r.end = e;
  r.status = ce > k ? BoxStatus::kOk : BoxStatus::kEmpty;
  return r;
}

// Replaces inner complete \boxed{x} / \fbox{x} by x (bounded number of rewrites).
std::string unwrap_inner_boxes(std::string_view content) {
  std::string out(content);
  for (int iter = 0; iter < kMaxBoxAttempts; ++iter) {
    BoxCmd c = rfind_box_cmd(out, out.size());
    if (c.pos == std::string_view::npos) break;
    BoxParse b = parse_box(out, c);
    if (b.status == BoxStatus::kOk || b.status == BoxStatus::kEmpty) {
      std::string inner = b.status == BoxStatus::kOk
                              ? out.substr(b.content_begin, b.content_end - b.content_begin)
                              : std::string();
      out = out.substr(0, c.pos) + inner + out.substr(b.end);
    } else {
      break;  // unterminated / not a box inside a complete box: leave the text as it is
    }
  }
  return out;
}

struct BoxResult {
  bool found = false;
  bool fbox = false;
  size_t unterminated_at = std::string_view::npos;  // the last unterminated box (when !found)
  size_t end = 0;                                    // one past the chosen box (when found)
  std::string answer;
  std::string note;
};

void add_note(std::string& notes, const std::string& n) {
  if (notes.find(n) != std::string::npos) return;
  if (!notes.empty()) notes += "; ";
  notes += n;
}

BoxResult find_last_box(std::string_view s, size_t max_answer_chars) {
  BoxResult res;
  size_t before = s.size();
  int attempts = 0;
  while (true) {
    BoxCmd c = rfind_box_cmd(s, before);
    if (c.pos == std::string_view::npos) break;
    if (++attempts > kMaxBoxAttempts) {
      add_note(res.note, "gave up after " + std::to_string(kMaxBoxAttempts) + " boxes");
      break;
    }
    before = c.pos;
    const char* name = c.fbox ? "\\fbox" : "\\boxed";
    BoxParse b = parse_box(s, c);
    if (b.status == BoxStatus::kNotBox) continue;
    if (b.status == BoxStatus::kUnterminated) {
      if (res.unterminated_at == std::string_view::npos) res.unterminated_at = c.pos;
      add_note(res.note, std::string("skipped unterminated ") + name + "{");
      continue;
    }
    if (b.status == BoxStatus::kEmpty) {
      add_note(res.note, std::string("skipped empty ") + name + "{}");
      continue;
    }
    // The outermost box enclosing this one (\boxed{\boxed{5}}, \boxed{x=\boxed{3}}).
    BoxCmd chosen = c;
    BoxParse chosen_b = b;
    for (int up = 0; up < 8; ++up) {
      BoxCmd q = rfind_box_cmd(s, chosen.pos);
      if (q.pos == std::string_view::npos) break;
      BoxParse qb = parse_box(s, q);
      if (qb.status != BoxStatus::kOk || qb.end < chosen_b.end) break;
      chosen = q;
      chosen_b = qb;
    }
    std::string_view content =
        trim(s.substr(chosen_b.content_begin, chosen_b.content_end - chosen_b.content_begin));
    if (content.size() > max_answer_chars) {
      add_note(res.note, std::string("skipped ") + name + " longer than " +
                             std::to_string(max_answer_chars) + " chars");
      before = chosen.pos;
      continue;
    }
    std::string answer = strip_answer_delimiters(unwrap_inner_boxes(content));
    if (answer.empty()) {
      add_note(res.note, std::string("skipped empty ") + name + "{}");
      before = chosen.pos;
      continue;
    }
    res.found = true;
    res.fbox = chosen.fbox;
    res.answer = std::move(answer);
    res.end = chosen_b.end;
    return res;
  }
  return res;
}

// ---------------------------------------------------------------- "answer" phrases

struct PhraseResult {
  bool found = false;
  bool from_math = false;  // the answer was a $...$ / \(...\) / \[...\] span
  std::string answer;
  std::string method;
  std::string note;
};

// Reads the answer that follows a phrase, starting at `k` (after "is"/":"), up to `limit`.
// Returns "" when nothing usable is there.
std::string read_answer_span(std::string_view s, size_t k, size_t limit, std::string* note, bool* from_math) {
  *from_math = false;
  const size_t n = std::min(s.size(), limit);
  while (k < n && (is_space(s[k]) || s[k] == '*' || s[k] == ':' || s[k] == '_')) ++k;
  if (k >= n) return {};
  size_t sentence_begin = k;
  // Walk the sentence; the first math span inside it (if any) is the answer.
  for (size_t i = k; i < n; ++i) {
    char c = s[i];
    if (c == '\n') break;
    if (c == '.' && (i + 1 >= s.size() || is_space(s[i + 1]) || s[i + 1] == '*')) break;
    std::string_view open, close;
    if (c == '$') {
      if (i > 0 && s[i - 1] == '\\') continue;  // \$ is a dollar sign, not a delimiter
      bool dd = i + 1 < n && s[i + 1] == '$';
      open = dd ? "$$" : "$";
      close = open;
    } else if (c == '\\' && i + 1 < n && (s[i + 1] == '(' || s[i + 1] == '[')) {
      open = s[i + 1] == '(' ? "\\(" : "\\[";
      close = s[i + 1] == '(' ? "\\)" : "\\]";
    } else {
      continue;
    }
    size_t from = i + open.size();
    size_t end = std::string_view::npos;
    if (close == "$") {
      for (size_t t = from; t < n; ++t)
        if (s[t] == '$' && s[t - 1] != '\\') {
          end = t;
          break;
        }
    } else {
      end = find_from(s, close, from, n);
    }
    if (end == std::string_view::npos) {
      if (note) *note = std::string("unterminated ") + std::string(open) + " after answer phrase";
      return {};
    }
    *from_math = true;
    return strip_answer_delimiters(s.substr(from, end - from));
  }
  // Plain text: the rest of the sentence.
  size_t e = sentence_begin;
  while (e < n && s[e] != '\n') {
    if (s[e] == '.' && (e + 1 >= s.size() || is_space(s[e + 1]) || s[e + 1] == '*')) break;
    ++e;
  }
  std::string_view t = trim(s.substr(sentence_begin, e - sentence_begin));
  while (!t.empty() && (t.back() == '*' || t.back() == '.')) t = trim(t.substr(0, t.size() - 1));
  return strip_answer_delimiters(t);
}

PhraseResult find_answer_phrase(std::string_view s, const ExtractOptions& opt, bool final_only) {
  PhraseResult res;
  const size_t n = s.size();
  if (n < 6) return res;
  int attempts = 0;
  for (size_t i = n - 6 + 1; i-- > 0;) {
    if (lower(s[i]) != 'a' || !istarts_with(s, i, "answer")) continue;
    if (i > 0 && is_alnum(s[i - 1])) continue;
    size_t k = i + 6;
    if (k < n && is_alnum(s[k])) continue;  // answers, answered
    if (++attempts > kMaxPhraseAttempts) {
      res.note = "gave up after " + std::to_string(kMaxPhraseAttempts) + " answer phrases";
      break;
    }
    // The word before "answer".
    size_t b = i;
    while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '*' || s[b - 1] == '#' || s[b - 1] == '\t')) --b;
    size_t wb = b;
    while (wb > 0 && is_alpha(s[wb - 1])) --wb;
    bool final_prefix = (b - wb == 5) && istarts_with(s, wb, "final");
    if (final_only && !final_prefix) continue;

    size_t j = k;
    while (j < n && (s[j] == ' ' || s[j] == '*' || s[j] == '\t')) ++j;
    bool colon = j < n && s[j] == ':';
    bool is_form = !colon && istarts_with(s, j, "is") && (j + 2 >= n || !is_alnum(s[j + 2]));
    size_t start;
    if (colon) {
      start = j + 1;
    } else if (is_form) {
      start = j + 2;
    } else if (final_prefix) {
      // "**Final Answer**\n$$ 5 $$": a header followed directly by a math span.
      size_t t = j;
      while (t < n && (is_space(s[t]) || s[t] == '*' || s[t] == '#')) ++t;
      if (!(t < n && (s[t] == '$' || starts_with(s, t, "\\[") || starts_with(s, t, "\\("))))
        continue;
      start = t;
    } else {
      continue;
    }
    std::string note;
    bool from_math = false;
    std::string ans = read_answer_span(s, start, start + opt.max_answer_chars, &note, &from_math);
    if (!note.empty()) add_note(res.note, note);
    if (ans.empty() || ans.size() > opt.max_answer_chars) continue;
    res.found = true;
    res.from_math = from_math;
    res.answer = std::move(ans);
    res.method = final_prefix ? "final_answer" : (colon ? "answer_colon" : "answer_is");
    return res;
  }
  return res;
}

// ---------------------------------------------------------------- last number

bool find_last_number(std::string_view s, std::string* out) {
  size_t i = s.size();
  while (i > 0 && !is_digit(s[i - 1])) --i;
  if (i == 0) return false;
  size_t end = i, b = i - 1;
  while (true) {
    while (b > 0 && is_digit(s[b - 1])) --b;
    if (b >= 2 && s[b - 1] == '.' && is_digit(s[b - 2])) {  // decimal part
      b -= 1;
      continue;
    }
    // thousands separator: d,ddd
    if (b >= 2 && s[b - 1] == ',' && is_digit(s[b - 2])) {
      size_t g = b;
      while (g < end && is_digit(s[g])) ++g;
      if (g - b == 3) {
        b -= 1;
        continue;
      }
    }
    break;
  }
  if (b > 0 && s[b - 1] == '-' && (b < 2 || !is_alnum(s[b - 2]))) --b;
  out->clear();
  for (size_t t = b; t < end; ++t)
    if (s[t] != ',') out->push_back(s[t]);
  return true;
}

}  // namespace

std::string strip_answer_delimiters(std::string_view in) {
  std::string_view s = trim(in);
  for (int round = 0; round < 3; ++round) {
    std::string_view before = s;
    if (!s.empty() && s.back() == '.' && !(s.size() >= 2 && s[s.size() - 2] == '\\')) s = trim(s.substr(0, s.size() - 1));
    if (s.size() >= 4 && starts_with(s, 0, "$$") && s.substr(s.size() - 2) == "$$") {
      s = trim(s.substr(2, s.size() - 4));
    } else if (s.size() >= 2 && s.front() == '$' && s.back() == '$' && s[s.size() - 2] != '\\' &&
               s.substr(1, s.size() - 2).find('$') == std::string_view::npos) {
      s = trim(s.substr(1, s.size() - 2));
    } else if (s.size() >= 4 && (starts_with(s, 0, "\\(") && s.substr(s.size() - 2) == "\\)")) {
      s = trim(s.substr(2, s.size() - 4));
    } else if (s.size() >= 4 && (starts_with(s, 0, "\\[") && s.substr(s.size() - 2) == "\\]")) {
      s = trim(s.substr(2, s.size() - 4));
    }
    if (s == before) break;
  }
  return std::string(s);
}

std::optional<std::string_view> answer_region(std::string_view completion, bool require_think_close) {
  size_t close = rfind_before(completion, "</think>", completion.size());
  if (close != std::string_view::npos) return completion.substr(close + 8);
  if (require_think_close && completion.find("<think>") != std::string_view::npos) return std::nullopt;
  return completion;
}

Extraction extract_answer(std::string_view completion, const ExtractOptions& options) {
  Extraction ex;
  auto region = answer_region(completion, options.require_think_close);
  if (!region) {
    ex.note = "unterminated <think> block (no </think>)";
    return ex;
  }
  std::string_view s = *region;
  std::string notes;

  BoxResult box = find_last_box(s, options.max_answer_chars);
  if (!box.note.empty()) add_note(notes, box.note);
  if (box.found) {
    // A "final answer is ..." statement after the last box overrides it ("... $\boxed{6}$ pairs.
    // The final answer is $\frac{14}{3}$."); "the answer is" / "Answer:" do not.
    std::string_view tail = s.substr(box.end);
    if (tail.size() >= 12) {
      PhraseResult fin = find_answer_phrase(tail, options, /*final_only=*/true);
      // Only a math span or a single token counts ("final answer: we are confident" does not).
      bool token = fin.found && std::find_if(fin.answer.begin(), fin.answer.end(), is_space) == fin.answer.end();
      if (fin.found && (fin.from_math || token)) {
        add_note(notes, "\\boxed answer overridden by a later \"final answer\" statement");
        ex.found = true;
        ex.answer = std::move(fin.answer);
        ex.method = std::move(fin.method);
        ex.note = std::move(notes);
        return ex;
      }
    }
    ex.found = true;
    ex.answer = std::move(box.answer);
    ex.method = box.fbox ? "fbox" : "boxed";
    ex.note = std::move(notes);
    return ex;
  }
  // Text after an unterminated box is inside it (a truncated answer): phrases and numbers there
  // are not answers.
  if (box.unterminated_at != std::string_view::npos) s = s.substr(0, box.unterminated_at);
  PhraseResult ph = find_answer_phrase(s, options, /*final_only=*/false);
  if (!ph.note.empty()) add_note(notes, ph.note);
  if (ph.found) {
    ex.found = true;
    ex.answer = std::move(ph.answer);
    ex.method = std::move(ph.method);
    ex.note = std::move(notes);
    return ex;
  }
  if (options.integer_fallback) {
    std::string num;
    if (find_last_number(s, &num)) {
      ex.found = true;
      ex.answer = std::move(num);
      ex.method = "last_number";
      ex.note = std::move(notes);
      return ex;
    }
  }
  add_note(notes, options.integer_fallback ? "no boxed answer, answer phrase or number"
                                           : "no boxed answer or answer phrase");
  ex.note = std::move(notes);
  return ex;
}

std::optional<std::string> extract_last_boxed(std::string_view text) {
  BoxResult b = find_last_box(text, std::string_view::npos);
  if (!b.found) return std::nullopt;
  return std::move(b.answer);
}

std::optional<std::string> extract_gold_answer(std::string_view gold) {
  if (gold.find("\\boxed") != std::string_view::npos || gold.find("\\fbox") != std::string_view::npos) {
    auto b = extract_last_boxed(gold);
    if (b) return b;
    // "\boxed" may be part of an answer only in a malformed gold; fall through is not safe.
    return std::nullopt;
  }
  std::string s = strip_answer_delimiters(gold);
  if (s.empty()) return std::nullopt;
  return s;
}

}  // namespace crucible::math
