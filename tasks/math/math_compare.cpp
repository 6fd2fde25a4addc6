// PLACEHOLDER until the GiNaC-based implementation lands: normalised string equality only.
#include "tasks/math/math_compare.h"

#include <cctype>

namespace crucible::math {

std::string normalize_answer_text(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(c);
  return out;
}

CompareResult compare_answers(std::string_view gold, std::string_view pred, const CompareOptions&) {
  CompareResult r;
  r.equal = normalize_answer_text(gold) == normalize_answer_text(pred);
  r.method = "string";
  return r;
}

}  // namespace crucible::math
