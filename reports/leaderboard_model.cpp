#include "reports/leaderboard_model.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>

namespace crucible::reports {

const Metric* Cell::find(const std::string& name) const {
  for (const auto& [k, v] : metrics)
    if (k == name) return &v;
  return nullptr;
}

std::optional<std::pair<double, double>> Cell::points_total() const {
  bool any = false;
  double pts = 0, mx = 0;
  for (const auto& p : problems) {
    if (!p.points) continue;
    any = true;
    pts += *p.points;
    mx += p.max_points.value_or(0);
  }
  if (!any) return std::nullopt;
  return std::make_pair(pts, mx);
}

std::optional<int> Cell::solved_count() const {
  bool any = false;
  int n = 0;
  for (const auto& p : problems) {
    if (!p.solved) continue;
    any = true;
    n += *p.solved ? 1 : 0;
  }
  if (!any) return std::nullopt;
  return n;
}

const Cell* Row::cell(const std::string& benchmark) const {
  auto it = cells.find(benchmark);
  return it == cells.end() ? nullptr : &it->second;
}

bool Leaderboard::is_best(const Row& row, const std::string& benchmark) const {
  if (row.reference) return false;
  const Cell* mine = row.cell(benchmark);
  if (!mine || !mine->avg()) return false;
  double best = -1;
  for (const auto& r : rows) {
    if (r.reference) continue;
    const Cell* c = r.cell(benchmark);
    if (c && c->avg()) best = std::max(best, c->avg()->value);
  }
  return mine->avg()->value >= best - 1e-9;
}

size_t Leaderboard::measured_rows() const {
  return static_cast<size_t>(std::count_if(rows.begin(), rows.end(), [](const Row& r) { return !r.reference; }));
}

namespace {

std::string now_iso() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct GroupKey {
  std::string model, revision, task, config;
  bool operator<(const GroupKey& o) const {
    return std::tie(model, revision, task, config) < std::tie(o.model, o.revision, o.task, o.config);
  }
};

std::string base_label(const std::string& model, const std::string& revision) {
  return revision.empty() ? model : model + "@" + revision;
}

// Models (model@revision) that have more than one configuration for some task get one row per
// configuration; the row label then carries the sampling settings.
std::set<std::string> models_with_variants(const std::map<GroupKey, std::vector<const RunRecord*>>& groups,
                                           std::vector<std::string>* warnings) {
  std::map<std::tuple<std::string, std::string, std::string>, int> configs;
  for (const auto& [k, runs] : groups) ++configs[{k.model, k.revision, k.task}];
  std::set<std::string> out;
  for (const auto& [k, count] : configs) {
    if (count < 2) continue;
    std::string label = base_label(std::get<0>(k), std::get<1>(k));
    out.insert(label);
    warnings->push_back(fmt::format(
        "{} has {} runs of {} with different data/prompt/sampling settings; shown as separate rows",
        label, count, std::get<2>(k)));
  }
  return out;
}

double mean_avg(const Row& r) {
  double sum = 0;
  int n = 0;
  for (const auto& [b, c] : r.cells)
    if (c.avg()) sum += c.avg()->value, ++n;
  return n ? sum / n : 0;
}

void rank_rows(std::vector<Row>* rows) {
  std::stable_sort(rows->begin(), rows->end(), [](const Row& a, const Row& b) {
    if (a.reference != b.reference) return !a.reference;
    if (a.reference) return a.key < b.key;
    if (a.cells.size() != b.cells.size()) return a.cells.size() > b.cells.size();
    double ma = mean_avg(a), mb = mean_avg(b);
    if (ma != mb) return ma > mb;
    return a.key < b.key;
  });
}

void add_reference_rows(const std::vector<ReferenceEntry>& refs, std::vector<Row>* rows,
                        std::set<std::string>* benchmarks) {
  std::map<std::string, size_t> by_model;
  for (const auto& e : refs) {
    auto [it, inserted] = by_model.try_emplace(e.model, rows->size());
    if (inserted) {
      Row r;
      r.model = e.model;
      r.key = e.model + " (reference)";
      r.reference = true;
      rows->push_back(std::move(r));
    }
    Cell& c = (*rows)[it->second].cells[e.benchmark];
    c.benchmark = e.benchmark;
    c.metrics.emplace_back(e.metric, Metric{e.value, e.se});
    if (!e.source.empty() && c.source.find(e.source) == std::string::npos)
      c.source += (c.source.empty() ? "" : "; ") + e.source;
    benchmarks->insert(e.benchmark);
  }
}

}  // namespace

Leaderboard build_leaderboard(const LoadedRuns& loaded, const std::vector<ReferenceEntry>& references) {
  Leaderboard lb;
  lb.generated = now_iso();
  lb.skipped = loaded.skipped;
  std::map<GroupKey, std::vector<const RunRecord*>> groups;
  for (const auto& r : loaded.runs) groups[{r.model, r.revision, r.task, r.config_key}].push_back(&r);
  std::set<std::string> variants = models_with_variants(groups, &lb.warnings);

  std::map<std::string, size_t> row_index;
  std::set<std::string> benchmarks;
  for (const auto& [k, runs] : groups) {
    std::string label = base_label(k.model, k.revision);
    std::string variant;
    if (variants.count(label)) {
      variant = runs.front()->config_label.empty() ? "default settings" : runs.front()->config_label;
      label += " [" + variant + "]";
    }
    auto [it, inserted] = row_index.try_emplace(label, lb.rows.size());
    if (inserted) {
      Row row;
      row.key = label;
      row.model = k.model;
      row.revision = k.revision;
      row.variant = variant;
      lb.rows.push_back(std::move(row));
    }
    Row& row = lb.rows[it->second];
    if (row.cells.count(k.task)) {  // same label, settings differ only outside the label
      lb.warnings.push_back(fmt::format("{} / {}: two configurations share a label; kept the first", label, k.task));
      continue;
    }
    row.cells[k.task] = build_cell(runs, &lb.warnings);
    for (const auto& note : row.cells[k.task].notes)
      if (note.find("merged from") == std::string::npos) lb.warnings.push_back(label + " / " + k.task + ": " + note);
    benchmarks.insert(k.task);
  }
  add_reference_rows(references, &lb.rows, &benchmarks);
  lb.benchmarks.assign(benchmarks.begin(), benchmarks.end());
  rank_rows(&lb.rows);
  return lb;
}

}  // namespace crucible::reports
