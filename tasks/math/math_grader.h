// MathGrader: the math Grader. extract the final answer from a completion
// (tasks/math/answer_extraction.h), then compare it with the gold answer (compare_answers).
// Gold may be a bare answer ("33", "\frac{1}{2}") or a full solution containing \boxed{...}
// (the last boxed expression is then the gold answer).
// Verdicts: correct, wrong, no_answer (nothing extractable), grader_error (gold unparsable).
#pragma once
#include <string>

#include "tasks/grader.h"
#include "tasks/math/math_compare.h"

namespace crucible::math {

struct MathGraderOptions {
  bool integer_fallback = false;  // AIME-style: last integer in the text when no boxed/"answer is"
  bool require_think_close = false;  // a completion with <think> but no </think> has no answer
  CompareOptions compare;
};

class MathGrader : public Grader {
 public:
  explicit MathGrader(MathGraderOptions options = {}) : options_(std::move(options)) {}
  Grade grade(const Problem& problem, std::string_view completion) const override;
  bool same_answer(std::string_view a, std::string_view b) const override;
  std::string name() const override { return "math"; }
  const MathGraderOptions& options() const { return options_; }

 private:
  MathGraderOptions options_;
};

}  // namespace crucible::math
