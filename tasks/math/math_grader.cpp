#include "tasks/math/math_grader.h"

#include <exception>
#include <optional>

#include "tasks/math/answer_extraction.h"

namespace crucible::math {

namespace {

// "033" -> "33", "+7" -> "7", "-0" -> "0", "1,000" -> "1000"; nullopt when `s` is not a plain
// integer literal. AIME golds are zero-padded ("033"), model answers usually are not.
std::optional<std::string> canonical_integer(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n')) --e;
  if (b == e) return std::nullopt;
  bool neg = false;
  if (s[b] == '+' || s[b] == '-') {
    neg = s[b] == '-';
    ++b;
  }
  if (b == e) return std::nullopt;
  std::string digits;
  size_t group = 0;  // digits since the last comma
  bool saw_comma = false;
  for (size_t i = b; i < e; ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
      ++group;
    } else if (c == ',') {
      if (i == b || (saw_comma && group != 3) || (!saw_comma && group > 3)) return std::nullopt;
      saw_comma = true;
      group = 0;
    } else {
      return std::nullopt;
    }
  }
  if (saw_comma && group != 3) return std::nullopt;
  if (digits.empty()) return std::nullopt;
  size_t z = digits.find_first_not_of('0');
  std::string out = z == std::string::npos ? "0" : digits.substr(z);
  if (neg && out != "0") out.insert(out.begin(), '-');
  return out;
}

struct Comparison {
  bool equal = false;
  std::string method;
  std::string note;
};

Comparison compare_canonical(const std::string& gold, const std::string& pred, const CompareOptions& opts) {
  auto gi = canonical_integer(gold);
  auto pi = canonical_integer(pred);
  if (gi && pi) return {*gi == *pi, "integer", {}};
  CompareResult r = compare_answers(gi ? *gi : gold, pi ? *pi : pred, opts);
  return {r.equal, r.method, r.note};
}

}  // namespace

Grade MathGrader::grade(const Problem& problem, std::string_view completion) const {
  Grade g;
  g.score = 0.0;
  g.correct = false;
  try {
    json notes = json::array();
    std::optional<std::string> gold = extract_gold_answer(problem.gold);
    if (!gold) {
      g.verdict = Verdict::kGraderError;
      g.details = {{"method", ""},
                   {"compare_method", ""},
                   {"notes", json::array({problem.gold.empty()
                                              ? "gold answer is empty"
                                              : "gold answer has \\boxed but no complete box"})}};
      return g;
    }
    ExtractOptions eo;
    eo.integer_fallback = options_.integer_fallback;
    eo.require_think_close = options_.require_think_close;
    Extraction ex = extract_answer(completion, eo);
    if (!ex.note.empty()) notes.push_back(ex.note);
    g.details["method"] = ex.method;
    g.details["gold_answer"] = *gold;
    if (!ex.found) {
      g.verdict = Verdict::kNoAnswer;
      g.details["compare_method"] = "";
      g.details["notes"] = std::move(notes);
      return g;
    }
    g.extracted = ex.answer;
    Comparison c = compare_canonical(*gold, ex.answer, options_.compare);
    if (!c.note.empty()) notes.push_back("compare: " + c.note);
    g.details["compare_method"] = c.method;
    g.details["notes"] = std::move(notes);
    g.correct = c.equal;
    g.score = c.equal ? 1.0 : 0.0;
    g.verdict = c.equal ? Verdict::kCorrect : Verdict::kWrong;
    return g;
  } catch (const std::exception& e) {
    g = Grade{};
    g.verdict = Verdict::kGraderError;
    g.details = {{"method", ""}, {"compare_method", ""}, {"notes", json::array({std::string("exception: ") + e.what()})}};
    return g;
  } catch (...) {
    g = Grade{};
    g.verdict = Verdict::kGraderError;
    g.details = {{"method", ""}, {"compare_method", ""}, {"notes", json::array({"unknown exception"})}};
    return g;
  }
}

bool MathGrader::same_answer(std::string_view a, std::string_view b) const {
  try {
    return compare_canonical(strip_answer_delimiters(a), strip_answer_delimiters(b), options_.compare).equal;
  } catch (...) {
    return false;
  }
}

}  // namespace crucible::math
