#include "reports/cell_format.h"

#include <algorithm>

#include <fmt/format.h>

namespace crucible::reports {
namespace {

// The metric of family `prefix` ("pass@", "maj@") with the largest integer k; k must exceed min_k.
const std::pair<std::string, Metric>* largest_k(const Cell& c, const std::string& prefix, int min_k) {
  const std::pair<std::string, Metric>* best = nullptr;
  long best_k = min_k;
  for (const auto& m : c.metrics) {
    if (m.first.rfind(prefix, 0) != 0) continue;
    std::string k = m.first.substr(prefix.size());
    if (k.empty() || !std::all_of(k.begin(), k.end(), ::isdigit) || k.size() > 9) continue;
    long kv = std::stol(k);
    if (kv > best_k) best_k = kv, best = &m;
  }
  return best;
}

}  // namespace

std::string fmt_points(double v) { return fmt::format("{:.1f}", v); }

std::string fmt_metric(const Metric& m) {
  return m.has_se() ? fmt::format("{:.1f} ± {:.1f}", m.value, m.se) : fmt_points(m.value);
}

std::vector<std::pair<std::string, std::string>> cell_extras(const Cell& c) {
  std::vector<std::pair<std::string, std::string>> out;
  if (auto* p = largest_k(c, "pass@", 1)) out.emplace_back(p->first, fmt_points(p->second.value));
  if (auto* m = largest_k(c, "maj@", 0)) out.emplace_back(m->first, fmt_points(m->second.value));
  for (const auto& [k, m] : c.metrics)  // reference cells may carry a metric other than avg@n
    if (k.rfind("avg@", 0) != 0 && k.rfind("pass@", 0) != 0 && k.rfind("maj@", 0) != 0)
      out.emplace_back(k, fmt_points(m.value));
  return out;
}

std::string cell_detail(const Cell& c) {
  std::string out = c.n > 0 ? fmt::format("n={}", c.n) : "";
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : " · ") + s; };
  if (auto solved = c.solved_count()) add(fmt::format("{}/{} solved", *solved, c.problems.size()));
  if (auto pts = c.points_total())
    add(pts->second > 0 ? fmt::format("{:g}/{:g} pts", pts->first, pts->second) : fmt::format("{:g} pts", pts->first));
  if (c.merged) add(fmt::format("merged {} runs", c.runs.size()));
  return out;
}

std::vector<PassPoint> pass_curve(const Cell& c) {
  std::vector<PassPoint> out;
  for (const auto& [name, m] : c.metrics) {
    if (name.rfind("pass@", 0) != 0) continue;
    std::string k = name.substr(5);
    if (k.empty() || k.size() > 9 || !std::all_of(k.begin(), k.end(), ::isdigit)) continue;
    out.push_back({std::stoi(k), m.value, m.se});
  }
  std::sort(out.begin(), out.end(), [](const PassPoint& a, const PassPoint& b) { return a.k < b.k; });
  return out;
}

}  // namespace crucible::reports
