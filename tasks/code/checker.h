// Output checkers. Built-in comparators run in-process on the captured output (a plain string the
// sandbox handed back); external checkers are compiled once (compile cache) and run in their own
// sandbox with the input, the reference answer and the contestant's output as fresh files in /box.
//
// Protocols:
//  - testlib (CodeForces/Polygon): `checker input output answer`; exit 0 OK, 1 WA, 2 PE, 3 FAIL,
//    7 points (the first number on stdout, else on stderr, taken as a fraction clamped to [0,1]).
//  - cms (IOI-modified testlib, CMS checkers): `checker input correct_output contestant_output`;
//    score in [0,1] on stdout line 1, message on stderr. A non-number on stdout is a checker failure.
//  - python_cf (open-r1/codeforces generated_checker): `python3 checker.py input.txt
//    correct_output.txt solution_output.txt` in /box; accepted iff it exits 0 and prints exactly
//    "1" (trimmed), as open-r1's scorer reads it; any other output or exit code is a rejection.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"
#include "tasks/code/compiler.h"

namespace crucible::code {

enum class CheckerKind { kTokens, kExact, kFloat, kCaseInsensitive, kTestlib, kCms, kPythonCf };
const char* checker_kind_name(CheckerKind k);

struct CheckerSpec {
  CheckerKind kind = CheckerKind::kTokens;
  double abs_tol = 1e-6;   // kFloat: a token matches if |a-b| <= abs_tol or |a-b| <= rel_tol*|b|
  double rel_tol = 1e-6;
  bool case_sensitive = true;     // Kattis `case_sensitive` flag (tokens kind)
  bool space_sensitive = false;   // Kattis `space_change_sensitive` (exact whitespace)
  std::vector<SourceFile> sources;  // external checkers (checker.cpp + testlib.h / checker.py)
};

// Kattis validator_flags: float_tolerance E, float_absolute_tolerance E, float_relative_tolerance E,
// case_sensitive, space_change_sensitive. Unknown flags are ignored.
CheckerSpec checker_from_kattis_flags(const std::string& flags);

struct CheckResult {
  double score = 0.0;       // [0,1]
  bool failed = false;      // the checker itself failed (-> grader_error)
  bool presentation = false;
  std::string message;
};

// In-process comparison (kTokens / kExact / kFloat / kCaseInsensitive).
CheckResult compare_builtin(const CheckerSpec& spec, const std::string& output, const std::string& answer);

// Prepared checker: compiles an external one once. Thread-safe after construction.
class Checker {
 public:
  Checker(const sandbox::Sandbox& sb, const Compiler& compiler, CheckerSpec spec);
  // Error text when the external checker did not compile ("" when fine).
  const std::string& error() const { return error_; }
  bool cache_hit() const { return compiled_.cache_hit; }
  CheckResult check(const std::string& input, const std::string& output, const std::string& answer) const;
  const CheckerSpec& spec() const { return spec_; }

 private:
  const sandbox::Sandbox& sb_;
  CheckerSpec spec_;
  CompileResult compiled_;
  std::string error_;
};

}  // namespace crucible::code
