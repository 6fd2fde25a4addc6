// The eval loop: for each problem x n samples: prompt -> backend -> grader -> run store,
// then metrics -> results.json.
// - Only (problem, sample) keys missing from the run store are requested: one request per
//   contiguous missing range of a problem (normally one per problem), so resume never re-asks.
// - With a seed, request seed = seed + problem_index*1000 + first_sample.
// - Requests are all submitted up front (or max_in_flight at a time); the backend bounds real
//   concurrency. Completed futures are collected as they finish and graded on a small thread pool
//   with the task's Grader (the same object a GRPO trainer would use).
// - A backend error for a request is recorded and the other problems continue; the report lists
//   errors and missing samples (they are retried on resume). Store I/O errors are fatal.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "harness/metrics.h"
#include "harness/run_store.h"
#include "tasks/task_registry.h"

namespace crucible {

struct EvalOptions {
  SamplingParams params;        // params.n = samples per problem; params.seed = base seed
  std::string model;            // for results.json
  size_t max_in_flight = 0;     // requests submitted but not finished; 0 = all at once
  int grade_threads = 0;        // 0 = min(hardware threads, 8)
  bool progress = true;
  std::FILE* progress_stream = stderr;
  int progress_tty = -1;        // -1 detect, 0 plain lines, 1 live bar
};

struct EvalError {
  std::string problem_id;
  int first_sample = 0;
  int n = 0;
  std::string message;
};

struct EvalReport {
  Metrics metrics;
  json results;                 // what was written to results.json
  size_t total_samples = 0;     // problems x n
  size_t resumed_samples = 0;   // already in the store
  size_t new_samples = 0;       // generated + graded now
  size_t missing_samples = 0;   // still missing at the end (backend errors)
  std::vector<EvalError> errors;
  bool ok() const { return errors.empty() && missing_samples == 0; }
};

// Fatal errors (store writes) come back as a Status; backend failures are in the report.
Result<EvalReport> run_eval(const Task& task, Backend& backend, RunStore& store, const EvalOptions& options);

// Seed for a request (problem index, first sample) given a base seed.
uint64_t request_seed(uint64_t base, size_t problem_index, int first_sample);

}  // namespace crucible
