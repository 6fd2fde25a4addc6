// The in-memory leaderboard every writer renders: rows = models (measured, then reference),
// columns = benchmarks, one Cell per (row, benchmark). All metric values are percentage points.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/run_loader.h"

namespace crucible::reports {

using json = nlohmann::json;

struct Metric {
  double value = 0;  // percentage points
  double se = -1;    // standard error in points; < 0 when unknown (reference numbers)
  bool has_se() const { return se >= 0; }
};

struct Subtask {
  std::string name;
  double points = 0;
  double max_points = 0;
};

struct ProblemResult {
  std::string id;
  int n = 0;
  double correct = 0;           // number of correct samples
  double avg = 0;               // correct / n, fraction
  std::string majority_answer;
  std::string prompt;           // "" unless stored
  std::optional<double> points, max_points;  // IOI
  std::vector<Subtask> subtasks;             // IOI
  std::optional<bool> solved;                // CodeForces / ICPC
};

struct Cell {
  std::string benchmark;
  int n = 0;                    // samples per problem (min over problems when merged)
  size_t num_problems = 0;
  size_t num_samples = 0;
  // "avg@n" first, then pass@k by k, then maj@k by k (results.json's "avg@64" is renamed "avg@n").
  std::vector<std::pair<std::string, Metric>> metrics;
  std::vector<ProblemResult> problems;
  std::vector<SampleRecord> samples;  // for the drill-down; may be empty
  json verdict_counts = json::object();
  std::vector<std::string> runs;      // run directories that fed this cell
  bool merged = false;
  std::vector<std::string> notes;
  std::string source;                 // reference cells: where the number comes from

  const Metric* find(const std::string& name) const;
  const Metric* avg() const { return find("avg@n"); }
  // Sum of per-problem points / max points (IOI), when any problem has points.
  std::optional<std::pair<double, double>> points_total() const;
  // Number of solved problems (CodeForces/ICPC), when problems carry `solved`.
  std::optional<int> solved_count() const;
};

struct Row {
  std::string key;       // unique label: model, "model@revision", "+ [variant]", "(reference)"
  std::string model;
  std::string revision;
  std::string variant;   // sampling label when a model was run with several settings
  bool reference = false;
  std::map<std::string, Cell> cells;  // by benchmark
  const Cell* cell(const std::string& benchmark) const;
};

struct ReferenceEntry {
  std::string model;
  std::string benchmark;
  std::string metric = "avg@n";
  double value = 0;   // percentage points
  double se = -1;
  std::string source;
};

struct Leaderboard {
  std::string title = "Crucible leaderboard";
  std::string generated;                // ISO-8601 UTC
  std::vector<std::string> benchmarks;  // column order
  std::vector<Row> rows;                // measured rows (ranked), then reference rows
  std::vector<std::string> warnings;    // merge conflicts, per-run notes
  std::vector<SkippedRun> skipped;

  // Rows with the best avg@n in this column (measured rows only; ties all count).
  bool is_best(const Row& row, const std::string& benchmark) const;
  size_t measured_rows() const;
};

// Groups runs by (model, revision, task, settings), merges each group into a Cell and arranges
// rows and columns. Reference entries become separate rows marked `reference`.
Leaderboard build_leaderboard(const LoadedRuns& runs, const std::vector<ReferenceEntry>& references);

// One cell from one run (results.json as written by the harness) or from several runs of the
// same configuration (samples merged by (seed, problem_id, sample); metrics recomputed).
// Conflicting duplicates are appended to `warnings`.
Cell build_cell(const std::vector<const RunRecord*>& runs, std::vector<std::string>* warnings);

}  // namespace crucible::reports
