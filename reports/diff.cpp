#include "reports/diff.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "reports/escape.h"

namespace crucible::reports {
namespace {

struct Side {
  const Row* row;
  const Cell* cell;
};

std::vector<Side> cells_for(const Leaderboard& lb, const std::string& bench) {
  std::vector<Side> out;
  for (const auto& r : lb.rows)
    if (!r.reference)
      if (const Cell* c = r.cell(bench)) out.push_back({&r, c});
  return out;
}

void sort_changes(std::vector<ProblemChange>* v) {
  std::sort(v->begin(), v->end(), [](const ProblemChange& x, const ProblemChange& y) {
    double dx = std::fabs(x.avg_b - x.avg_a), dy = std::fabs(y.avg_b - y.avg_a);
    if (std::fabs(dx - dy) > 1e-12) return dx > dy;
    return x.id < y.id;
  });
}

std::string fmt_change(const ProblemChange& c) {
  return fmt::format("  {:<24} {:.2f} -> {:.2f}  (n={}/{}){}\n", sanitize_utf8(c.id), c.avg_a, c.avg_b, c.n_a,
                     c.n_b, c.flipped() ? (c.avg_b < c.avg_a ? "  FLIP correct->wrong" : "  FLIP wrong->correct") : "");
}

}  // namespace

BenchmarkDiff diff_cells(const Cell& a, const Cell& b) {
  BenchmarkDiff d;
  d.benchmark = a.benchmark;
  d.score_a = a.avg() ? a.avg()->value : 0;
  d.score_b = b.avg() ? b.avg()->value : 0;
  std::map<std::string, const ProblemResult*> in_b;
  for (const auto& p : b.problems) in_b[p.id] = &p;
  for (const auto& p : a.problems) {
    auto it = in_b.find(p.id);
    if (it == in_b.end()) {
      d.only_a.push_back(p.id);
      continue;
    }
    ProblemChange c{p.id, p.avg, it->second->avg, p.n, it->second->n};
    in_b.erase(it);
    if (std::fabs(c.avg_b - c.avg_a) < 1e-12) ++d.unchanged;
    else (c.avg_b < c.avg_a ? d.worse : d.better).push_back(c);
  }
  for (const auto& [id, p] : in_b) d.only_b.push_back(id);
  sort_changes(&d.worse);
  sort_changes(&d.better);
  return d;
}

std::vector<BenchmarkDiff> diff_leaderboards(const Leaderboard& a, const Leaderboard& b,
                                             std::vector<std::string>* notes) {
  std::vector<BenchmarkDiff> out;
  for (const auto& bench : a.benchmarks) {
    auto sa = cells_for(a, bench), sb = cells_for(b, bench);
    if (sb.empty()) {
      notes->push_back(bench + ": only in A");
      continue;
    }
    if (sa.size() == 1 && sb.size() == 1) {
      out.push_back(diff_cells(*sa[0].cell, *sb[0].cell));
      out.back().label_a = sa[0].row->key;
      out.back().label_b = sb[0].row->key;
      continue;
    }
    for (const auto& x : sa) {
      auto it = std::find_if(sb.begin(), sb.end(), [&](const Side& y) { return y.row->key == x.row->key; });
      if (it == sb.end()) {
        notes->push_back(bench + ": " + x.row->key + " has no counterpart in B");
        continue;
      }
      out.push_back(diff_cells(*x.cell, *it->cell));
      out.back().label_a = out.back().label_b = x.row->key;
    }
  }
  for (const auto& bench : b.benchmarks)
    if (std::find(a.benchmarks.begin(), a.benchmarks.end(), bench) == a.benchmarks.end())
      notes->push_back(bench + ": only in B");
  return out;
}

std::string render_diff(const std::vector<BenchmarkDiff>& diffs) {
  std::ostringstream os;
  for (const auto& d : diffs) {
    os << fmt::format("== {}: {} {:.1f} -> {} {:.1f} ({:+.1f} pts)\n", sanitize_utf8(d.benchmark),
                      sanitize_utf8(d.label_a), d.score_a, sanitize_utf8(d.label_b), d.score_b, d.score_b - d.score_a);
    os << fmt::format("worse in B ({}):\n", d.worse.size());
    for (const auto& c : d.worse) os << fmt_change(c);
    os << fmt::format("better in B ({}):\n", d.better.size());
    for (const auto& c : d.better) os << fmt_change(c);
    size_t flips = 0;
    for (const auto& c : d.worse) flips += c.flipped();
    for (const auto& c : d.better) flips += c.flipped();
    os << fmt::format("unchanged: {}; flipped: {}; only in A: {}; only in B: {}\n", d.unchanged, flips,
                      d.only_a.size(), d.only_b.size());
    auto list = [&](const char* what, const std::vector<std::string>& ids) {
      if (ids.empty()) return;
      os << "  " << what << ":";
      for (const auto& id : ids) os << " " << sanitize_utf8(id);
      os << "\n";
    };
    list("only in A", d.only_a);
    list("only in B", d.only_b);
    os << "\n";
  }
  return os.str();
}

}  // namespace crucible::reports
