// Cheap, CAS-free answer text handling: the canonical text form (normalize_answer_text, declared
// in math_compare.h) and the plain-literal fast path of compare_answers.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace crucible::math {

// Trims whitespace and a trailing '.', and strips surrounding "$...$" / "\(...\)" delimiters.
std::string_view trim_answer(std::string_view s);

// Exact comparison of two plain rational literals without GiNaC: integers ("1,000", "-33",
// "033"), integer fractions ("\frac{3}{4}", "3/4", "-\frac{1}{2}"). Input is normalised text.
// Returns nullopt when either side is not such a literal (or does not fit in 64 bits); then the
// full parser decides. Decimals are left to the parser (they compare with a tolerance).
std::optional<bool> compare_plain_literals(std::string_view gold, std::string_view pred);

}  // namespace crucible::math
