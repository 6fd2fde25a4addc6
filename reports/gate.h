// Regression gate: compares each measured (model, benchmark) avg@n with a baseline.
// Baseline file: a previous leaderboard.json (schema crucible.leaderboard/1), or a flat map
//   {"<model>/<benchmark>": <points> | {"value": <points>, "stderr": <points>}}
// split at the LAST '/' (model names contain slashes, benchmark names do not).
// Matching: by row label ("model" or "model@revision") first, then by model name alone, so a new
// checkpoint (new revision) is compared with the previous one.
// Rule: drop = baseline - current (points). drop > max_drop FAILS, even when the drop is within
// noise (drop < 2 * sqrt(se_baseline^2 + se_current^2)); the message then says so.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "reports/leaderboard_model.h"

namespace crucible::reports {

struct BaselineValue {
  double value = 0;  // points
  double se = -1;
};

struct BaselineEntry {
  std::string label;   // "model" or "model@revision" (flat map: the key's model part)
  std::string model;
  std::string benchmark;
  BaselineValue v;
};

struct Baseline {
  std::string path;
  std::vector<BaselineEntry> entries;
};

Result<Baseline> load_baseline(const std::string& path);
Result<Baseline> parse_baseline(const json& j, const std::string& path);

struct GateResult {
  std::string row;        // row label
  std::string model;
  std::string benchmark;
  double baseline = 0, current = 0;
  double drop = 0;        // baseline - current, points (negative = improvement)
  double two_sigma = 0;   // 2 * combined stderr (0 when unknown)
  bool noise_known = false;
  bool within_noise = false;
  bool failed = false;
};

struct GateReport {
  bool enabled = false;
  std::string baseline_path;
  double max_drop = 0;
  std::vector<GateResult> results;
  std::vector<std::string> missing;  // in the baseline, absent now (reported, not failing)
  std::vector<std::string> added;    // measured now, absent from the baseline

  bool failed() const;
  const GateResult* find(const std::string& row, const std::string& benchmark) const;
};

GateReport apply_gate(const Leaderboard& lb, const Baseline& baseline, double max_drop);

// "model / bench: 55.0 -> 50.0 (-5.0 pts, max drop 2.0) (within noise: 5.0 pts < 2σ = 6.1)"
std::string gate_message(const GateResult& r, double max_drop);

}  // namespace crucible::reports
