// CMS Communication tasks: a manager (the problem's program) and N user processes (the contestant's
// code, compiled with the stub when the package has one) run at the same time, each in its own
// sandbox, talking over FIFOs — as CMS's Communication task type does.
//
// Per test: for each user i a private host directory (0711) holds the FIFOs `u<i>_to_m` and
// `m_to_u<i>` (0666); it is bound read-only at /fifo<i> in the manager's box (all of them) and, in
// fifo_io mode, in user i's box. The manager runs as `./prog /fifo0/u0_to_m /fifo0/m_to_u0
// /fifo1/u1_to_m ...` with the test input on stdin (and as /box/input.txt). User i runs with stdin
// = m_to_u<i> and stdout = u<i>_to_m (CMS std_io, the default), or with the argument list
// `/fifo<i>/m_to_u<i> /fifo<i>/u<i>_to_m` (fifo_io); when N > 1 its 0-based index is appended.
// The FIFO ends are opened here without blocking and each box's ends are closed as soon as that
// box is gone, so no open() can hang and the other side reads EOF (or gets EPIPE) when a peer dies.
//
// Limits: each user gets the judge's limits (CPU = the task's time limit, wall = 3 x CPU + 1 s,
// memory); the sum of the users' CPU times must stay within the time limit. The manager (trusted)
// gets CPU max(N x (limit + 1 s), 10 s), wall = the users' wall + 2 s, memory max(limit, 1 GiB).
//
// Outcome (CMS): a sandbox failure or a manager that does not exit 0 within its limits ->
// grader_error (a manager killed by SIGPIPE after a user failed counts as that user's failure);
// else a user that failed (crash, non-zero exit, a limit) or a CPU sum over the limit -> that
// verdict, score 0; else the manager's stdout line 1 is the score in [0,1] (no number ->
// grader_error) and its stderr the message.
#pragma once
#include <string>

#include "sandbox/sandbox.h"
#include "tasks/code/compiler.h"
#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"

namespace crucible::code {

class CommunicationRunner {
 public:
  // Compiles the manager (problem.manager_files; manager.cpp + headers) once. Never throws.
  CommunicationRunner(const sandbox::Sandbox& sb, const Compiler& compiler, const CodeProblem& problem);
  const std::string& error() const { return error_; }  // non-empty: no usable manager
  // Runs one test with `user` (the contestant's program) as every user process; fills verdict,
  // score, time_ms (sum of the users' CPU), memory_bytes (largest user peak), message. Thread-safe.
  void run_test(const CompileResult& user, const TestCase& test, const std::string& input,
                const sandbox::Limits& limits, TestResult* out) const;

 private:
  const sandbox::Sandbox& sb_;
  CompileResult manager_;
  int num_processes_ = 1;
  bool fifo_io_ = false;
  std::string error_;
};

}  // namespace crucible::code
