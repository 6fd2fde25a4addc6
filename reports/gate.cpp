#include "reports/gate.h"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/jsonl.h"
#include "reports/stats.h"

namespace crucible::reports {
namespace {

Result<BaselineValue> value_of(const json& v, const std::string& where) {
  BaselineValue b;
  if (v.is_number()) {
    b.value = v.get<double>();
    return b;
  }
  if (v.is_object() && v.contains("value") && v["value"].is_number()) {
    b.value = v["value"].get<double>();
    if (v.contains("stderr") && v["stderr"].is_number()) b.se = v["stderr"].get<double>();
    return b;
  }
  return Status::parse(where + ": expected a number or {\"value\", \"stderr\"}");
}

Status parse_leaderboard(const json& j, Baseline* out) {
  if (!j["rows"].is_array()) return Status::parse(out->path + ": \"rows\" must be an array");
  for (const auto& row : j["rows"]) {
    if (!row.is_object() || row.value("reference", false)) continue;
    std::string label = row.value("label", row.value("model", ""));
    std::string model = row.value("model", label);
    if (!row.contains("cells") || !row["cells"].is_object()) continue;
    for (const auto& [bench, cell] : row["cells"].items()) {
      if (!cell.is_object() || !cell.contains("metrics") || !cell["metrics"].contains("avg@n")) continue;
      auto v = value_of(cell["metrics"]["avg@n"], out->path + ": " + label + "/" + bench);
      if (!v) return v.status();
      out->entries.push_back({label, model, bench, *v});
    }
  }
  return Status::ok();
}

Status parse_flat(const json& j, Baseline* out) {
  for (const auto& [key, v] : j.items()) {
    auto slash = key.rfind('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == key.size())
      return Status::parse(out->path + ": key \"" + key + "\" is not \"model/benchmark\"");
    auto val = value_of(v, out->path + ": " + key);
    if (!val) return val.status();
    out->entries.push_back({key.substr(0, slash), key.substr(0, slash), key.substr(slash + 1), *val});
  }
  return Status::ok();
}

// Index of the baseline entry for (row, bench): same label first, then same model name.
int lookup(const Baseline& b, const Row& row, const std::string& bench) {
  for (size_t i = 0; i < b.entries.size(); ++i)
    if (b.entries[i].benchmark == bench && b.entries[i].label == row.key) return static_cast<int>(i);
  for (size_t i = 0; i < b.entries.size(); ++i)
    if (b.entries[i].benchmark == bench && b.entries[i].model == row.model) return static_cast<int>(i);
  return -1;
}

GateResult compare(const Row& row, const std::string& bench, const Metric& now, const BaselineValue& base,
                   double max_drop) {
  GateResult r;
  r.row = row.key;
  r.model = row.model;
  r.benchmark = bench;
  r.baseline = base.value;
  r.current = now.value;
  r.drop = base.value - now.value;
  r.noise_known = base.se >= 0 || now.has_se();
  r.two_sigma = 2 * combined_se(base.se, now.se);
  r.within_noise = r.noise_known && r.drop > 0 && r.drop < r.two_sigma;
  r.failed = r.drop > max_drop + 1e-9;
  return r;
}

}  // namespace

Result<Baseline> parse_baseline(const json& j, const std::string& path) {
  Baseline b;
  b.path = path;
  if (!j.is_object()) return Status::parse(path + ": expected a JSON object");
  Status st = j.contains("rows") ? parse_leaderboard(j, &b) : parse_flat(j, &b);
  if (!st) return st;
  return b;
}

Result<Baseline> load_baseline(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.status();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::parse(path + ": invalid JSON");
  return parse_baseline(j, path);
}

bool GateReport::failed() const {
  for (const auto& r : results)
    if (r.failed) return true;
  return false;
}

const GateResult* GateReport::find(const std::string& row, const std::string& benchmark) const {
  for (const auto& r : results)
    if (r.row == row && r.benchmark == benchmark) return &r;
  return nullptr;
}

GateReport apply_gate(const Leaderboard& lb, const Baseline& baseline, double max_drop) {
  GateReport g;
  g.enabled = true;
  g.baseline_path = baseline.path;
  g.max_drop = max_drop;
  std::set<int> used;
  for (const auto& row : lb.rows) {
    if (row.reference) continue;
    for (const auto& [bench, cell] : row.cells) {
      if (!cell.avg()) continue;
      int i = lookup(baseline, row, bench);
      if (i < 0) {
        g.added.push_back(row.key + "/" + bench);
        continue;
      }
      used.insert(i);
      g.results.push_back(compare(row, bench, *cell.avg(), baseline.entries[i].v, max_drop));
    }
  }
  for (size_t i = 0; i < baseline.entries.size(); ++i)
    if (!used.count(static_cast<int>(i)))
      g.missing.push_back(baseline.entries[i].label + "/" + baseline.entries[i].benchmark);
  return g;
}

std::string gate_message(const GateResult& r, double max_drop) {
  double change = std::fabs(r.drop) < 0.05 ? 0.0 : -r.drop;  // no "-0.0"
  std::string msg = fmt::format("{} / {}: {:.1f} -> {:.1f} ({:+.1f} pts", r.row, r.benchmark, r.baseline, r.current,
                                change);
  msg += r.failed ? fmt::format(", drop > max drop {:.1f})", max_drop) : ")";
  if (r.drop > 0 && r.noise_known) {
    msg += r.within_noise ? fmt::format(" (within noise: {:.1f} pts < 2σ = {:.1f})", r.drop, r.two_sigma)
                          : fmt::format(" (beyond noise: {:.1f} pts >= 2σ = {:.1f})", r.drop, r.two_sigma);
  }
  return msg;
}

}  // namespace crucible::reports
