// Judging one submission against a CodeProblem: compile once (cache), run every test in the
// sandbox with the problem's limits (CPU time, wall cap = 3 x CPU + 1 s, peak memory), check the
// output, then score.
//  - IOI/CMS: subtask points = points x min over its tests (GroupMin); a subtask stops at its
//    first zero test (unless all_tests); a test shared by several subtasks runs once; problem
//    points = sum over subtasks (rounded to score_precision); Grade.score = points / max_points.
//  - ICPC/Kattis/CodeForces: accepted iff every test passes (stops at the first failure unless
//    all_tests or a fractional reward needs every test). CodeForces rewards (Open-R1):
//    pass_fail (1/0), partial (fraction of tests passed), weighted_sum (pass_fail + 0.1 x
//    fraction, capped at 1 here so the score stays in [0,1]); no code -> 0, compile error -> 0.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sandbox/sandbox.h"
#include "tasks/code/compiler.h"
#include "tasks/code/problem_formats.h"
#include "tasks/grader.h"

namespace crucible::code {

enum class CfReward { kPassFail, kPartial, kWeightedSum };
const char* cf_reward_name(CfReward r);
bool cf_reward_from_name(const std::string& s, CfReward* out);

struct JudgeOptions {
  int workers = 0;               // parallel tests; 0 = hardware cores
  bool all_tests = false;        // run every test even after a subtask/problem is lost
  CfReward cf_reward = CfReward::kPassFail;
  int64_t output_bytes = 64ll << 20;
  int processes = 1;             // processes + threads a solution may have
  CompileOptions compile;
};

struct TestResult {
  std::string name;
  Verdict verdict = Verdict::kGraderError;
  bool skipped = false;
  int64_t time_ms = 0;
  int64_t memory_bytes = 0;
  double score = 0;              // [0,1]
  std::string message;
};

struct SubtaskResult {
  std::string name;
  double points = 0, max_points = 0;
  std::vector<size_t> tests;
  Verdict verdict = Verdict::kCorrect;
};

struct JudgeResult {
  Verdict verdict = Verdict::kGraderError;
  double score = 0;              // [0,1]
  double points = 0, max_points = 0;
  bool compile_cache_hit = false;
  std::string message;           // compile error / grader error text
  std::vector<TestResult> tests;
  std::vector<SubtaskResult> subtasks;
  json to_json() const;          // {verdict, score, points, max_points, subtasks, tests, ...}
};

// Never throws on the submission's behaviour.
JudgeResult judge_submission(const sandbox::Sandbox& sb, const CodeProblem& problem,
                             const std::string& source, Language lang, const JudgeOptions& opt = {});

}  // namespace crucible::code
