// Test fixtures: run directories written by hand (run.json, samples.jsonl, results.json) in the
// layout of harness/run_store.h, so the report tests do not depend on the harness.
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace crucible::reports::testing {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct FakeProblem {
  std::string id;
  std::vector<bool> correct;  // one entry per sample
};

struct FakeRun {
  std::string model = "model-a";
  std::string revision;          // "" -> no model_revision field
  std::string task = "aime24";
  int seed = 1;
  double temperature = 0.6;
  std::vector<FakeProblem> problems;
  bool write_samples = true;
  std::string completion = "The answer is \\boxed{42}.";
  json per_problem_extra = json::object();  // id -> extra fields merged into per_problem entries
};

// Fresh empty directory under the system temp dir, unique per test.
fs::path fresh_dir(const std::string& name);
// Writes the three files of a run into `dir` (created) and returns dir.
fs::path write_run(const fs::path& dir, const FakeRun& run);
// Problems p0..p{count-1} with `n` samples each; problem i has correct[i] correct samples.
std::vector<FakeProblem> problems_with(int n, const std::vector<int>& correct_counts, const std::string& prefix = "p");
std::string slurp(const fs::path& p);
// Runs a shell command, returns its exit status; stdout+stderr go to *output.
int run_command(const std::string& cmd, std::string* output);

}  // namespace crucible::reports::testing
