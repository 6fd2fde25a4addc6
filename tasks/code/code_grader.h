// CodeGrader: extracts the last code block of the wanted language from a completion and judges it.
// Which problem: Problem::meta holds one of
//   {"problem_dir": DIR}                       a CMS/IOI or Kattis package directory,
//   {"codeforces_row": {...}} or the row itself (has "official_tests"): an open-r1/codeforces row,
//   {"ioi_row": {...}, "tests_dir": DIR}        an open-r1/ioi row (or merged rows: "subtasks");
// optional "time_limit_ms" (> 0) replaces the problem's time limit;
// optional "language" ("cpp", "c", "python") overrides CodeGraderOptions::language.
// Loaded packages are cached per directory. Grade.score in [0,1]; details = JudgeResult::to_json()
// (+ "language", "reward_mode"). Never throws.
#pragma once
#include <map>
#include <memory>
#include <mutex>

#include "sandbox/sandbox.h"
#include "tasks/code/code_extraction.h"
#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"
#include "tasks/grader.h"

namespace crucible::code {

struct CodeGraderOptions {
  Language language = Language::kCpp;
  JudgeOptions judge;
  LoadOptions load;
  sandbox::SandboxOptions sandbox;
};

class CodeGrader : public Grader {
 public:
  explicit CodeGrader(CodeGraderOptions opt = {});
  Grade grade(const Problem& problem, std::string_view completion) const override;
  std::string name() const override { return "code"; }
  // Judges a given source directly (no extraction), e.g. the CLI.
  Grade grade_source(const Problem& problem, const std::string& source, Language lang) const;

 private:
  Result<std::shared_ptr<const CodeProblem>> problem_for(const Problem& p) const;
  CodeGraderOptions opt_;
  sandbox::Sandbox sb_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const CodeProblem>> cache_;
};

// Registers the tasks ioi, icpc and codeforces in TaskRegistry::global() (idempotent; see
// code_tasks.cpp). The crucible CLI calls it at start-up.
void ensure_code_tasks_registered();

// Grade from a JudgeResult.
Grade grade_from_judge(const JudgeResult& r, const std::string& extracted);

}  // namespace crucible::code
