// Equivalence of two parsed answers (Values, tasks/math/answer_value.h).
//  - scalars: exact first (GiNaC difference is zero; two exact rationals are compared exactly,
//    so 2^65536 != 2^65536+1), then, when either side is irrational or written as a decimal,
//    numeric at 17 digits with |a-b| <= rel_tol * max(1,|a|,|b|); expressions with free
//    variables: symbolic normal() of the difference (small inputs only), then evaluation at
//    fixed rational points (deterministic), all of which must agree.
//  - sets / bare lists unordered; tuples, intervals (ends' open/closed must match) and matrices
//    ordered; unions unordered; "x = 5" vs "5" compares the right-hand side when the left is a
//    lone variable; inequalities in one variable match the equivalent interval; percentages
//    per CompareOptions::percent_lenient.
// All GiNaC work must happen under ginac_mutex() (GiNaC reference counts are not atomic).
#pragma once
#include <chrono>
#include <mutex>
#include <string>

#include "tasks/math/answer_value.h"
#include "tasks/math/latex_parser.h"
#include "tasks/math/math_compare.h"

namespace crucible::math {

// Serialises all GiNaC use in this process (constructed on first use; thread-safe init).
std::mutex& ginac_mutex();

struct EquivContext {
  const CompareOptions* opts = nullptr;
  ParseContext* parse = nullptr;  // its symbols (infinity, \pm) are the ones the Values use
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::string method;  // the stage that decided the last scalar comparison
  std::string note;    // limits hit
};

// Whether gold and pred denote the same answer. Never throws (GiNaC errors count as "not equal"
// for the pair of scalars involved, with a note).
bool values_equal(const Value& gold, const Value& pred, EquivContext& ctx);

}  // namespace crucible::math
