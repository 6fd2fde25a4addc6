// Reads run directories (harness/run_store.h layout: run.json, samples.jsonl, results.json).
// A directory with a missing or invalid run.json/results.json is not an error for the report as
// a whole: it is returned in `skipped` with the reason, and the remaining runs still render.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace crucible::reports {

using json = nlohmann::json;

struct SampleRecord {
  std::string problem_id;
  int sample = 0;
  std::string prompt;          // "" unless the sample line stores one
  std::string completion;
  std::string finish_reason;
  bool correct = false;
  double score = 0;
  std::string verdict;
  std::string extracted;
  json details = json::object();  // grade.details (test results, IOI points, ...)
};

struct RunRecord {
  std::string dir;
  json run;                    // run.json as read
  json results;                // results.json as read
  std::string model;
  std::string revision;        // run.json model_revision ("" when absent)
  std::string task;            // the benchmark
  std::string seed;            // sampling.seed as text ("" when absent/null)
  std::string config_key;      // what must match to merge: data, prompt, sampling except n/seed
  std::string config_label;    // short human description of the sampling (T, top_p, ...)
  std::string created;
  bool has_samples = false;    // samples.jsonl present and readable
  std::vector<SampleRecord> samples;
  std::vector<std::string> notes;  // per-run remarks (torn tail, incomplete results, ...)
};

struct SkippedRun {
  std::string dir;
  std::string reason;
};

struct LoadedRuns {
  std::vector<RunRecord> runs;
  std::vector<SkippedRun> skipped;
};

// Directories to load for one --runs argument: the argument itself when it holds run files,
// otherwise every directory below it (up to 3 levels) that holds run.json, results.json or
// samples.jsonl, sorted by path. Problems (missing path, nothing found) go to `skipped`.
std::vector<std::string> discover_run_dirs(const std::string& path, std::vector<SkippedRun>* skipped);

// Loads one run directory. Errors: run.json / results.json missing or invalid.
Result<RunRecord> load_run(const std::string& dir);

// discover_run_dirs + load_run for every argument; a directory reached twice loads once.
LoadedRuns load_runs(const std::vector<std::string>& paths);

}  // namespace crucible::reports
