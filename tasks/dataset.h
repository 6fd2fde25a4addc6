// Math benchmark datasets from a local JSONL file (HF dataset rows exported one object per line).
// Field aliases (first present wins; an explicit DatasetOptions field replaces the alias list):
//   statement: problem | question | Problem | Question           (must be a non-empty string)
//   gold:      answer | Answer | solution                        (string, or a number -> its text;
//              a MATH `solution` holds \boxed{...}, which MathGrader extracts)
//   id:        id | ID | unique_id | problem_id                  (string or integer; else "line-N")
// Every other field (level, subject, url, year, ...) is kept in Problem::meta.
// Errors (missing/non-string field, duplicate id, malformed line, empty file) name "FILE:LINE".
#pragma once
#include <string>
#include <vector>

#include "core/status.h"
#include "tasks/grader.h"

namespace crucible {

struct DatasetOptions {
  std::string field_problem;  // "" = aliases
  std::string field_answer;   // "" = aliases
  std::string field_id;       // "" = aliases, then "line-N"
};

// Loads every row; the problems keep file order.
Result<std::vector<Problem>> load_problems_jsonl(const std::string& path,
                                                 const DatasetOptions& options = {});

}  // namespace crucible
