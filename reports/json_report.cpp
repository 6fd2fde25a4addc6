#include "reports/json_report.h"

#include "reports/escape.h"

namespace crucible::reports {
namespace {

json metric_json(const Metric& m) {
  return {{"value", m.value}, {"stderr", m.has_se() ? json(m.se) : json(nullptr)}};
}

json problem_json(const ProblemResult& p) {
  json correct = p.correct == static_cast<double>(static_cast<long long>(p.correct))
                     ? json(static_cast<long long>(p.correct))
                     : json(p.correct);
  json j = {{"id", p.id}, {"n", p.n}, {"correct", correct}, {"avg", p.avg}};
  j["majority_answer"] = p.majority_answer.empty() ? json(nullptr) : json(p.majority_answer);
  if (p.points) j["points"] = *p.points;
  if (p.max_points) j["max_points"] = *p.max_points;
  if (!p.subtasks.empty()) {
    json subs = json::array();
    for (const auto& s : p.subtasks) subs.push_back({{"name", s.name}, {"points", s.points}, {"max_points", s.max_points}});
    j["subtasks"] = subs;
  }
  if (p.solved) j["solved"] = *p.solved;
  return j;
}

json cell_json(const Leaderboard& lb, const Row& row, const Cell& c) {
  json metrics = json::object();
  for (const auto& [k, m] : c.metrics) metrics[k] = metric_json(m);
  json j = {{"metrics", metrics}, {"best", lb.is_best(row, c.benchmark)}};
  if (row.reference) {
    j["source"] = c.source;
    return j;
  }
  j["n"] = c.n;
  j["num_problems"] = c.num_problems;
  j["num_samples"] = c.num_samples;
  j["merged"] = c.merged;
  j["runs"] = c.runs;
  j["notes"] = c.notes;
  j["verdict_counts"] = c.verdict_counts;
  if (auto pts = c.points_total()) j["points"] = {{"total", pts->first}, {"max", pts->second}};
  if (auto solved = c.solved_count()) j["solved"] = *solved;
  json per = json::array();
  for (const auto& p : c.problems) per.push_back(problem_json(p));
  j["per_problem"] = per;
  return j;
}

json row_json(const Leaderboard& lb, const Row& row) {
  json cells = json::object();
  for (const auto& [bench, c] : row.cells) cells[bench] = cell_json(lb, row, c);
  return {{"label", row.key},     {"model", row.model},         {"revision", row.revision},
          {"variant", row.variant}, {"reference", row.reference}, {"cells", cells}};
}

json gate_json(const GateReport& g) {
  json results = json::array();
  for (const auto& r : g.results)
    results.push_back({{"label", r.row},
                       {"model", r.model},
                       {"benchmark", r.benchmark},
                       {"baseline", r.baseline},
                       {"current", r.current},
                       {"drop", r.drop},
                       {"two_sigma", r.noise_known ? json(r.two_sigma) : json(nullptr)},
                       {"within_noise", r.within_noise},
                       {"failed", r.failed}});
  return {{"baseline", g.baseline_path}, {"max_drop", g.max_drop}, {"failed", g.failed()},
          {"results", results},          {"missing", g.missing},   {"added", g.added}};
}

// nlohmann::json throws on invalid UTF-8 when dumping; run records may hold anything.
json clean_strings(const json& j) {
  if (j.is_string()) return sanitize_utf8(j.get_ref<const std::string&>());
  if (j.is_array()) {
    json out = json::array();
    for (const auto& x : j) out.push_back(clean_strings(x));
    return out;
  }
  if (j.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : j.items()) out[sanitize_utf8(k)] = clean_strings(v);
    return out;
  }
  return j;
}

}  // namespace

json leaderboard_to_json(const Leaderboard& lb, const GateReport* gate) {
  json rows = json::array();
  for (const auto& row : lb.rows) rows.push_back(row_json(lb, row));
  json skipped = json::array();
  for (const auto& s : lb.skipped) skipped.push_back({{"dir", s.dir}, {"reason", s.reason}});
  json j = {{"schema", kLeaderboardSchema},
            {"title", lb.title},
            {"generated", lb.generated},
            {"crucible_version", CRUCIBLE_VERSION},
            {"unit", "percentage points"},
            {"benchmarks", lb.benchmarks},
            {"rows", rows},
            {"gate", gate && gate->enabled ? gate_json(*gate) : json(nullptr)},
            {"warnings", lb.warnings},
            {"skipped", skipped}};
  return clean_strings(j);
}

}  // namespace crucible::reports
