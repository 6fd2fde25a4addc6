// `crucible report diff RUN_A RUN_B`: per benchmark, which problems got worse or better between
// two runs (per-problem avg A -> avg B). A problem "flips" when it crosses 50% (majority of
// samples correct in one run, not in the other); with n=1 that is exactly correct <-> wrong.
#pragma once
#include <string>
#include <vector>

#include "reports/leaderboard_model.h"

namespace crucible::reports {

struct ProblemChange {
  std::string id;
  double avg_a = 0, avg_b = 0;  // fractions
  int n_a = 0, n_b = 0;
  bool flipped() const { return (avg_a >= 0.5) != (avg_b >= 0.5); }
};

struct BenchmarkDiff {
  std::string benchmark;
  std::string label_a, label_b;
  double score_a = 0, score_b = 0;  // avg@n, points
  std::vector<ProblemChange> worse, better;  // sorted by |change| descending, then id
  size_t unchanged = 0;
  std::vector<std::string> only_a, only_b;
};

// Pairs cells by benchmark (one measured row on each side), else by benchmark and row label.
// Benchmarks that cannot be paired are described in `notes`.
std::vector<BenchmarkDiff> diff_leaderboards(const Leaderboard& a, const Leaderboard& b,
                                             std::vector<std::string>* notes);
BenchmarkDiff diff_cells(const Cell& a, const Cell& b);
std::string render_diff(const std::vector<BenchmarkDiff>& diffs);

}  // namespace crucible::reports
