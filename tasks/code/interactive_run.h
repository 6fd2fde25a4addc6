// Interactive tests: the solution and the problem's interactor run at the same time, each in its
// own sandbox, connected by two pipes (solution stdout -> interactor stdin, interactor stdout ->
// solution stdin). The interactor (CodeProblem::interactor_files, compiled once through the
// compile cache) speaks one of two protocols (CodeProblem::interactor_protocol):
//
// testlib / CodeForces: `interactor input.txt output.txt answer.txt` (cwd /box; input and answer
// are fresh files there; output.txt is a host file bound writable, read back after the run), exit
// 0 accepted, 1 wrong answer, 2 presentation error (also testlib's unexpected EOF without
// ENABLE_UNEXPECTED_EOF), 4 "dirt", 8 unexpected EOF -> wrong, 7 points (the first number on
// stderr after "points", else in output.txt, clamped to [0,1]), 3 FAIL and anything else ->
// grader_error.
// Kattis (problem package format, output validator in interactive mode): `validator input.txt
// answer.txt /box/feedback/ [validator_flags]`, the feedback directory a host directory bound
// writable (judgemessage.txt is the test's message, else the validator's stderr); exit 42
// accepted, 43 wrong answer, anything else (0 included), a crash or a limit -> grader_error.
//
// The interactor runs with SIGPIPE ignored, so writing to a solution that has gone makes its write
// fail and it goes on to its own verdict (usually "unexpected EOF").
//
// Verdict precedence:
//  1. a sandbox failure of either box -> grader_error; testlib FAIL (exit 3) / any Kattis judge
//     error -> grader_error;
//  2. Kattis only (as problemtools): a validator that exited with wrong answer *before* the
//     submission ended -> wrong, even if its early exit then made the submission crash or time out;
//  3. the solution over a limit or crashed -> its own verdict (time_limit, memory_limit,
//     runtime_error, output_limit), whatever the interactor said; a solution killed by wall clock
//     while idle (waiting for input: a deadlock, or output never flushed) is time_limit with an
//     "idleness limit" message. testlib only: a solution killed by SIGPIPE (it wrote after the
//     interactor had closed its input) is not a crash: the interactor's verdict stands;
//  4. otherwise the interactor's verdict (testlib: a crash or unknown exit code -> grader_error);
//     testlib: when it accepts and the problem has an external checker (testlib / cms / python),
//     the checker judges output.txt against the answer (Polygon's interactor + checker pairing).
// Limits: the solution gets the judge's limits (CPU, wall = 3 x CPU + 1 s, memory); the interactor
// gets CPU = the solution's wall + 1 s and wall = the solution's wall + 2 s, so a deadlock ends with
// the solution's wall-clock kill, after which the interactor reads EOF and exits.
#pragma once
#include <string>

#include "sandbox/sandbox.h"
#include "tasks/code/checker.h"
#include "tasks/code/compiler.h"
#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"

namespace crucible::code {

// The interactor's result as a verdict source (both protocols). exit_code is -1 when it did not
// exit normally (crash, limit, sandbox failure).
struct InteractorOutcome {
  enum Kind { kAccepted, kWrong, kPresentation, kPoints, kJudgeError } kind = kJudgeError;
  int exit_code = -1;
  bool judge_error_first = false;  // testlib FAIL (3), any Kattis judge error: beats the solution's verdict
};

class InteractiveRunner {
 public:
  // Compiles the interactor (C++ unless its first file says otherwise). Never throws.
  InteractiveRunner(const sandbox::Sandbox& sb, const Compiler& compiler, const CodeProblem& problem);
  // Non-empty when there is no usable interactor (the judge reports grader_error).
  const std::string& error() const { return error_; }
  // Runs one test; fills verdict, score, time_ms (the solution's CPU), memory_bytes, message.
  // `checker` may be null (the interactor's exit code decides alone). Thread-safe.
  void run_test(const CompileResult& solution, const std::string& input, const std::string& answer,
                const sandbox::Limits& limits, const Checker* checker, TestResult* out) const;

 private:
  const sandbox::Sandbox& sb_;
  InteractorProtocol protocol_ = InteractorProtocol::kTestlib;
  std::vector<std::string> flags_;
  CompileResult interactor_;
  std::string error_;
};

// Helpers shared by interactive_run.cpp and communication_run.cpp.
namespace interact_detail {

// Exit status -> outcome: testlib (0 ok, 1/4/8 wrong, 2 presentation, 7 points, 3 FAIL, else judge
// error) or Kattis (42 accepted, 43 wrong answer, anything else judge error).
InteractorOutcome interactor_outcome(InteractorProtocol protocol, const sandbox::RunResult& r);

// The start of a runner's run_test: the test's score is 0 until decided; a runner without a usable
// interactor/manager (`runner_error` non-empty) makes it a grader_error and returns false.
bool start_test(TestResult* tr, const std::string& runner_error);
void set_grader_error(TestResult* tr, const std::string& why);
// Sandbox status of a contestant's process -> verdict (time and wall limit -> time_limit; a CPU
// kill with the peak at the memory limit -> memory_limit, as in judge.cpp).
Verdict contestant_verdict(const sandbox::RunResult& r, const sandbox::Limits& limits);
// "... (idleness limit: N ms CPU in M ms wall ...)" for a wall-clock kill, else the sandbox reason.
std::string contestant_message(const sandbox::RunResult& r);
// A fresh private host directory (mode 0711: the box uid may traverse it but not list it), removed
// with everything in it by the destructor. ok() is false when it could not be created.
class HostDir {
 public:
  explicit HostDir(const std::string& tag);
  ~HostDir();
  HostDir(const HostDir&) = delete;
  HostDir& operator=(const HostDir&) = delete;
  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_, error_;
};
// Text helpers: trimmed; trimmed with its lines joined by " / " (messages stay one line).
std::string trim(const std::string& s);
std::string one_line(const std::string& s);
std::string clip(const std::string& s, size_t n = 500);

}  // namespace interact_detail
}  // namespace crucible::code
