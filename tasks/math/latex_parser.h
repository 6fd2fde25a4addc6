// LaTeX answer parser: a tokenizer plus a recursive-descent parser that turns one answer string
// ("\frac{\sqrt3}{2}", "(1,2]", "x = 5", "\{1, 2\}", "4\frac{4}{9}", "1011_2", "\text{(A)}") into
// a Value (tasks/math/answer_value.h) whose scalars are GiNaC expressions.
//
// Contract:
//  - Call only while holding ginac_mutex() (GiNaC reference counts are not atomic).
//  - Never throws: unsupported or malformed input, and input over the limits, yield a non-ok
//    Status (kParse / kInvalidArgument / kTimeout) whose message says why.
//  - Bounded: nesting depth <= ParseContext::max_depth; exact powers / factorials whose result
//    would exceed kMaxExactBits bits are refused (not computed); the deadline is checked while
//    parsing.
//  - Symbols are looked up by name in ParseContext::symbols, so parsing gold and pred with the
//    same context makes "x" mean the same GiNaC symbol in both.
#pragma once
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"
#include "tasks/math/answer_value.h"

namespace crucible::math {

// Largest exact integer (in bits) a power / factorial may produce while parsing.
inline constexpr double kMaxExactBits = 100000;

struct ParseContext {
  int max_depth = 200;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::map<std::string, GiNaC::symbol> symbols;  // shared by gold and pred
  double bits_budget = 4 * kMaxExactBits;        // total exact-power work allowed per context

  const GiNaC::symbol& symbol(const std::string& name);
  const GiNaC::symbol& infinity() { return symbol("\\infty"); }
  const GiNaC::symbol& plus_minus() { return symbol("\\pm"); }
};

// Parses one answer. On success the Value is a kExpr / kTuple / kSet / ... (see answer_value.h);
// a top-level comma list yields a kSet with bare_list = true; "a \pm b" yields a kSet {a+b, a-b};
// a trailing "\%" sets Value::percent on the scalar(s) (the value is kept without the /100).
Result<Value> parse_answer(std::string_view text, ParseContext& ctx);

}  // namespace crucible::math
