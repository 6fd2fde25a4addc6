// Run store: one directory per run.
//   run.json      what was asked (identity + provenance), rewritten on resume (n may change)
//   samples.jsonl append-only, fsync'd, one line per (problem_id, sample):
//                 {"problem_id","sample","completion","finish_reason","tokens","prompt_tokens",
//                  "grade":{score,correct,verdict,extracted,details},"latency_s"}
//   results.json  metrics (harness/metrics.h), written atomically
// Resume: opening a directory whose run.json has the same identity (task, data sha256, model,
// grader, prompt hash, sampling params other than n) loads samples.jsonl tolerantly (a torn last
// line is dropped; duplicate keys keep the first) so the runner asks only for missing keys.
// A conflicting run.json is an error telling the user to choose another --out.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "core/jsonl.h"
#include "core/status.h"
#include "tasks/grader.h"

namespace crucible {

using json = nlohmann::json;

// Hex SHA-256 (OpenSSL libcrypto).
std::string sha256_hex(std::string_view data);
Result<std::string> sha256_file(const std::string& path);
// A file's sha256, or a directory's: over its files' relative paths and sha256s, in path order.
Result<std::string> sha256_path(const std::string& path);

struct RunInfo {
  std::string task;
  std::string model;
  std::string backend;       // "openai" | "replay" | ...
  std::string url;           // server URL or replay file ("" if none)
  std::string data_path;
  std::string data_sha256;
  size_t num_problems = 0;
  std::string grader;        // Grader::name()
  SamplingParams sampling;   // sampling.n = samples per problem
  std::string prompt_mode;   // "chat" | "completion"
  std::string prompt_sha256; // hash of template + mode + system prompt
  std::string prompt_template;  // the template text itself (for the record)
  std::string system_prompt;

  json to_json() const;                 // without times/version (RunStore adds those)
  json identity_json() const;           // the fields that must match on resume
};

struct StoredSample {
  std::string problem_id;
  int sample = 0;
  std::string completion;
  std::string finish_reason;
  int completion_tokens = -1;  // "tokens" in the file; -1 -> null
  int prompt_tokens = -1;
  Grade grade;
  double latency_s = 0;

  json to_json() const;
  // `where` ("FILE:LINE") prefixes errors.
  static Result<StoredSample> from_json(const json& j, const std::string& where);
};

Result<Grade> grade_from_json(const json& j);

class RunStore {
 public:
  // Creates `dir` (and parents) or resumes it. Errors: conflicting run.json, a non-empty directory
  // that is not a run, an unreadable samples.jsonl (bad line in the middle).
  static Result<std::unique_ptr<RunStore>> open(const std::string& dir, const RunInfo& info);

  const std::string& dir() const { return dir_; }
  std::string run_json_path() const { return dir_ + "/run.json"; }
  std::string samples_path() const { return dir_ + "/samples.jsonl"; }
  std::string results_path() const { return dir_ + "/results.json"; }

  bool resumed() const { return resumed_; }
  bool torn_tail_dropped() const { return torn_; }
  size_t duplicates_dropped() const { return duplicates_; }
  // Samples already stored when opened (deduplicated, file order).
  const std::vector<StoredSample>& existing() const { return existing_; }
  bool has(const std::string& problem_id, int sample) const;

  // Appends one sample line (fsync'd). Thread-safe. A key already stored is skipped (ok).
  Status append(const StoredSample& s);
  Status write_results(const json& results);

 private:
  RunStore() = default;
  std::string dir_;
  bool resumed_ = false;
  bool torn_ = false;
  size_t duplicates_ = 0;
  std::vector<StoredSample> existing_;
  mutable std::mutex mu_;
  std::set<std::pair<std::string, int>> keys_;
  JsonlAppender appender_;
};

}  // namespace crucible
