// Kattis time limits derived the way the problem package format defines them (opt-in: it runs
// every accepted submission once).
//
// A Kattis package that states no time limit gets one from its accepted submissions: run each of
// submissions/accepted/* on all test data; runtime of a submission = its slowest test (CPU time);
// then, with `slowest` the largest runtime over the accepted submissions:
//  - legacy format (no problem_format_version, as in kth2020): limit = max(1, round(slowest x
//    limits.time_multiplier)) whole seconds, round half up; time_multiplier defaults to 5
//    (limits.time_safety_margin, default 2, only sets how far beyond the limit a TLE submission
//    must run and does not change the limit);
//  - 2023-07 format: limit = max(1, ceil(slowest x limits.time_multipliers.ac_to_time_limit /
//    limits.time_resolution)) x time_resolution; ac_to_time_limit defaults to 2, time_resolution
//    to 1 s.
// Results are cached in <cache_dir>/kattis-tl-<key>.json, key = sha256 of problem.yaml, every
// test's input and answer, every accepted submission, the compiler versions, the measuring cap
// and the language filter.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "sandbox/sandbox.h"
#include "tasks/code/code_extraction.h"
#include "tasks/code/compiler.h"

namespace crucible::code {

struct KattisTimeLimitOptions {
  std::string cache_dir;                 // "" = the compile cache directory (default_cache_dir())
  bool use_cache = true;
  int64_t cap_ms = 60000;                // CPU limit per test while measuring
  int workers = 0;                       // tests in parallel (0 = cores)
  std::vector<Language> languages;       // empty = every accepted submission; else only these
  CompileOptions compile;                // compile cache for the submissions
};

struct KattisTimeLimit {
  int64_t time_limit_ms = 0;
  int64_t slowest_ms = 0;                // slowest test of the slowest accepted submission
  std::string slowest_submission;        // path relative to the package
  std::string format = "legacy";         // "legacy" or "2023-07"
  double multiplier = 5;
  double resolution_s = 1;
  bool cache_hit = false;
  std::string key;
  nlohmann::json submissions = nlohmann::json::array();  // [{name, language, max_ms}]
  nlohmann::json to_json() const;
};

// The package format's rule (see above) from a measured runtime.
int64_t kattis_time_limit_ms(int64_t slowest_ms, double multiplier, bool legacy, double resolution_s = 1.0);

// Errors: no accepted submission, a submission that does not compile or is not accepted within
// cap_ms (the package or the cap is wrong), sandbox failures.
Result<KattisTimeLimit> derive_kattis_time_limit(const sandbox::Sandbox& sb, const std::string& dir,
                                                 const KattisTimeLimitOptions& options = {});

}  // namespace crucible::code
