// Problem packages -> CodeProblem (tests, subtasks, limits, checker, grader files).
//  - CMS/IOI: problem.json (time_limit s, memory_limit bytes, task_type, score_precision),
//    subtasks/NN-name.json {"score", "testcases"}, tests/<name>.in|.out, graders/ (compiled with
//    the solution for Batch-with-grader; manager + stub for Communication), checker/checker.cpp
//    (IOI-modified testlib: score on stdout). The solution file is named <code>.cpp.
//  - Kattis/ICPC: problem.yaml (validator_flags, limits.time_multiplier, limits.memory MB,
//    limits.time_limit when present), data/sample + data/secret *.in/.ans. Interactive problems
//    (`validation: custom interactive`, or `type: interactive` in the 2023-07 format): the output
//    validator in output_validators/<name>/ (or output_validator/) is the interactor (C++ sources +
//    headers, or one Python file); other custom output validators are refused (see docs). Kattis derives the time
//    limit from the slowest accepted submission x time_multiplier; without a stated limit we use
//    LoadOptions::default_time_limit_ms (2 s) unless a --time-limit override is given.
//  - open-r1/codeforces rows (JSON): official_tests [{input, output}], time_limit (s),
//    memory_limit (MB), generated_checker (Python), interaction_format; "interactor" (a
//    testlib-style C++ interactor source, see interactive_run.h) makes the problem interactive.
//  - open-r1/ioi rows: one subtask per row; test files read from a directory.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tasks/code/checker.h"
#include "tasks/code/compiler.h"

namespace crucible::code {

using json = nlohmann::json;

enum class ProblemFormat { kCms, kKattis, kCodeforces };
enum class TaskType { kBatch, kCommunication, kInteractive };
// How an interactive problem's interactor is invoked and how its exit code reads (interactive_run.h):
// CodeForces/testlib (`interactor input output answer`, exit 0 = accepted) or Kattis
// (`validator input answer feedback_dir/ [flags]`, exit 42 = accepted, 43 = wrong answer).
enum class InteractorProtocol { kTestlib, kKattis };

struct TestCase {
  std::string name;
  std::string input_path, answer_path;  // files, or:
  std::string input, answer;            // inline data (used when the path is empty)
  std::string group;                    // "sample" / "secret" (Kattis)
};

struct Subtask {
  std::string name;
  double points = 0;
  std::vector<size_t> tests;  // indices into CodeProblem::tests
};

struct CodeProblem {
  std::string id;
  std::string dir;
  ProblemFormat format = ProblemFormat::kKattis;
  TaskType task_type = TaskType::kBatch;
  std::string code;                 // CMS short name: the solution is compiled as <code>.cpp
  int64_t time_limit_ms = 2000;
  int64_t memory_bytes = 256ll << 20;
  bool time_limit_stated = false;   // false: a documented default
  int score_precision = 2;
  std::vector<TestCase> tests;
  std::vector<Subtask> subtasks;    // empty: pass/fail over all tests (ICPC / CodeForces)
  CheckerSpec checker;
  std::vector<SourceFile> grader_files;   // compiled with a C++ solution (grader.cpp + headers)
  std::vector<SourceFile> manager_files;  // Communication: manager.cpp (+ testlib.h, header)
  int num_processes = 1;
  bool user_io_fifos = false;             // Communication: users get FIFO paths as argv (CMS
                                          // fifo_io), else stdin/stdout are the FIFOs (std_io)
  std::string interactor;                 // CodeForces interaction_format (informational)
  std::vector<SourceFile> interactor_files;  // Interactive: the interactor's sources (+ headers)
  InteractorProtocol interactor_protocol = InteractorProtocol::kTestlib;
  std::vector<std::string> validator_flags;  // Kattis: validator_flags, passed after feedback_dir
};

struct LoadOptions {
  int64_t default_time_limit_ms = 2000;   // Kattis packages that do not state a limit
  int64_t time_limit_override_ms = 0;     // >0: replaces every limit
  bool include_samples = true;            // Kattis: judge data/sample as well as data/secret
};

// Detects the format from the directory contents (problem.json -> CMS, problem.yaml -> Kattis).
Result<CodeProblem> load_problem_dir(const std::string& dir, const LoadOptions& opt = {});
Result<CodeProblem> load_cms_problem(const std::string& dir, const LoadOptions& opt = {});
Result<CodeProblem> load_kattis_problem(const std::string& dir, const LoadOptions& opt = {});
// One open-r1/codeforces row.
Result<CodeProblem> load_codeforces_row(const json& row, const LoadOptions& opt = {});
// One open-r1/ioi row (one subtask): "id"/"problem_id"/"name", "subtask", "score", "time_limit"
// (s), "memory_limit" (bytes as in the dataset; values below 64 Ki are taken as MB), "test_names",
// "task_type"; or several subtasks at once: "subtasks": [{"subtask", "score", "test_names"}] (a
// test shared by subtasks runs once). Tests read from tests_dir/<problem_id>/<test>.in|.out (or
// tests_dir/<test>.in|.out); "grader_files" [[name, contents]...] when present.
Result<CodeProblem> load_ioi_row(const json& row, const std::string& tests_dir, const LoadOptions& opt = {});

// problem.yaml as flat "key: value" pairs; nested keys become "parent.key" (limits.memory, ...).
std::vector<std::pair<std::string, std::string>> read_problem_yaml(const std::string& text);

// Reads a test's input/answer (inline or from file).
Result<std::string> test_input(const TestCase& t);
Result<std::string> test_answer(const TestCase& t);

}  // namespace crucible::code
