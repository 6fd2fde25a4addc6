// Final-answer extraction from a model completion (a C++ counterpart of lighteval's math
// extraction as used by Math-Verify / Open-R1).
//
// Region: when the completion contains "</think>", only the text after the LAST "</think>" is
// considered. A completion with "<think>" but no "</think>" (reasoning cut off) has no answer when
// require_think_close is set; otherwise the whole text is used.
//
// Priority (the first rule that yields a non-empty answer wins):
//   1. "boxed":  the last \boxed{...} / \boxed 5 (space form) / \fbox{...} in the region, with
//      balanced-brace matching (\{ and \} do not count). A box nested in another box yields the
//      outermost box; inner \boxed{x} / \fbox{x} wrappers are then unwrapped to x. An unterminated
//      or empty box is skipped (noted) and the previous box is tried.
//      Exception: a "final answer is|:" statement AFTER the last box overrides it (an intermediate
//      result was boxed, then the final answer stated) when its answer is a math span or a single
//      token: method "final_answer".
//   2. "final_answer" / "answer_is" / "answer_colon": the last "final answer is|:" /
//      "[the|my|...] answer is" / "Answer:" phrase (case-insensitive, markdown ** tolerated). The
//      answer is the first math span ($...$, $$...$$, \(...\), \[...\]) on the rest of the line,
//      else the rest of the sentence (up to a newline or ". "); a trailing period is stripped.
//   3. "last_number" (only with integer_fallback, for AIME-style integer tasks): the last number
//      in the region ("1,000" -> "1000").
// Cost: scans from the end with plain searches (no regex); linear in the completion length with
// small constants, and bounded on pathological input (deep nesting, many unterminated boxes,
// 100k-char completions): at most kMaxBoxAttempts boxes and kMaxPhraseAttempts phrases are tried,
// and an answer span is searched within max_answer_chars.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace crucible::math {

struct ExtractOptions {
  bool integer_fallback = false;     // rule 3 (AIME-style integer answers)
  bool require_think_close = false;  // "<think>" without "</think>" -> no answer
  size_t max_answer_chars = 2000;    // longer candidate answers are rejected (noted)
};

struct Extraction {
  bool found = false;
  std::string answer;  // the extracted answer text (trimmed; "" when !found)
  std::string method;  // "boxed", "fbox", "final_answer", "answer_is", "answer_colon", "last_number"
  std::string note;    // why nothing was found / what was skipped ("" when nothing to say)
};

inline constexpr int kMaxBoxAttempts = 16;
inline constexpr int kMaxPhraseAttempts = 64;

Extraction extract_answer(std::string_view completion, const ExtractOptions& options = {});

// The region extract_answer looks at (after the last "</think>"); nullopt when require_think_close
// and the think block is unterminated.
std::optional<std::string_view> answer_region(std::string_view completion, bool require_think_close);

// The last complete \boxed{...} / \fbox{...} in `text` (no think handling, no phrase rules);
// nullopt when there is none. Used for gold answers given as MATH solutions.
std::optional<std::string> extract_last_boxed(std::string_view text);

// Gold answer from a Problem.gold field: when it contains \boxed or \fbox, the last boxed content
// (nullopt if no complete box); otherwise the trimmed text with $...$ / \(...\) delimiters removed.
std::optional<std::string> extract_gold_answer(std::string_view gold);

// Trim whitespace, then strip one pair of enclosing $...$, $$...$$, \(...\) or \[...\] delimiters
// and a trailing sentence period. Exposed for tests and the CLI.
std::string strip_answer_delimiters(std::string_view s);

}  // namespace crucible::math
