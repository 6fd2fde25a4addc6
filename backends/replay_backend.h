// ReplayBackend: serves completions recorded earlier, without a model.
// Accepted JSONL rows (formats may be mixed in one file):
//   - a crucible samples.jsonl row: {"problem_id", "sample", "completion", ["finish_reason", "tokens"]}
//     -> the completion for that exact sample index;
//   - an export row: {"id"|"problem_id", "completions": [..]} or {"id"|"problem_id", "completion": ".."}
//     (no "sample"); several rows per id append in file order.
// A request (problem_id, first_sample, n) returns completions first_sample .. first_sample+n-1;
// any of them missing -> an error naming the problem id.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace crucible {

class ReplayBackend : public Backend {
 public:
  static Result<std::unique_ptr<ReplayBackend>> load(const std::string& path);

  std::future<Result<std::vector<Completion>>> submit(GenerationRequest request) override;
  std::string name() const override { return "replay"; }

  // Number of leading contiguous completions recorded for a problem (0 if unknown).
  size_t available(const std::string& problem_id) const;

 private:
  std::string path_;
  // problem id -> sample index -> completion (absent slots are gaps)
  std::map<std::string, std::vector<std::unique_ptr<Completion>>> data_;
};

}  // namespace crucible
