// PCRE2 (8-bit, UTF + UCP, JIT) wrapper for the tokenizer's pre-tokenizer patterns.
// Patterns in tokenizer.json are written for Oniguruma (what Hugging Face tokenizers uses); the
// one difference that matters for real files is that Oniguruma's \s also matches U+0085 (NEL),
// so \s / \S are rewritten to include it. Matching is thread-safe: each thread keeps its own
// match data and JIT stack.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace crucible::tokenizer {

class Regex {
 public:
  // literal: the pattern is a plain string (Split with {"String": ...}).
  static Result<Regex> compile(std::string_view pattern, bool literal = false);
  // Finds the first match starting at or after `from` in `subject` (valid UTF-8, `from` on a code
  // point boundary). Empty matches are skipped. Returns false when there is none.
  bool find(std::string_view subject, size_t from, size_t& begin, size_t& end) const;
  // The Oniguruma -> PCRE2 rewrite (exposed for tests).
  static std::string translate(std::string_view onig_pattern);

 private:
  struct Code;
  std::shared_ptr<Code> code_;
};

}  // namespace crucible::tokenizer
