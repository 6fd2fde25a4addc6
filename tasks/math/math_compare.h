// Math answer equivalence (a C++ counterpart of Math-Verify), built on GiNaC.
// compare_answers(gold, pred): both are answer strings (LaTeX or plain), already extracted from
// completions. Parsing, simplification and numeric checks are bounded (size, depth, time):
// pathological input yields a result with equal=false and a note, never a hang or a throw.
#pragma once
#include <string>
#include <string_view>

namespace crucible::math {

struct CompareOptions {
  double rel_tol = 1e-6;      // numeric fallback: |a-b| <= rel_tol * max(1,|a|,|b|)  (documented)
  int max_input_chars = 4096; // longer answers are not parsed (compared as normalised text only)
  int max_depth = 200;        // parser nesting limit
  double time_budget_ms = 50; // per comparison, symbolic + numeric stages together
  bool percent_lenient = true;// gold 28\% matches 28, 28\% and 0.28
};

struct CompareResult {
  bool equal = false;
  bool gold_parsed = false;
  bool pred_parsed = false;
  std::string method;  // "string", "exact", "symbolic", "numeric", "set", ... (which stage decided)
  std::string note;    // why it failed / what was limited
};

CompareResult compare_answers(std::string_view gold, std::string_view pred,
                              const CompareOptions& opts = {});

// Canonical text form of an answer for display / quick equality (whitespace, \left \right,
// \dfrac->\frac, trailing '.', \text{} wrappers removed). Cheap; no CAS.
std::string normalize_answer_text(std::string_view s);

}  // namespace crucible::math
