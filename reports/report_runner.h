// `crucible report` and `crucible report diff` as library calls (the CLI in harness/cli/report.cpp
// only parses flags). Exit codes: 0 ok, 1 the gate found a regression, 2 error (bad arguments,
// unreadable --reference/--baseline, no valid run, output not writable).
#pragma once
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace crucible::reports {

struct ReportOptions {
  std::vector<std::string> runs;     // run directories or parents of run directories
  std::string out;                   // output directory (created)
  std::string reference;             // --reference FILE ("" = none)
  std::string baseline;              // --baseline FILE ("" = no gate)
  std::optional<double> max_drop;    // --max-drop POINTS (required with --baseline)
  std::string title = "Crucible leaderboard";
  int samples_per_problem = 8;       // drill-down: samples shown per problem (0 = all)
  size_t max_completion_chars = 20000;  // drill-down: completion text kept per sample (0 = all)
  bool step_summary = true;          // append leaderboard.md to $GITHUB_STEP_SUMMARY when set
};

int run_report(const ReportOptions& opt, std::ostream& out, std::ostream& err);

// Compares two runs (or two parents of runs) problem by problem, per benchmark. 0 unless error.
int run_diff(const std::string& a, const std::string& b, std::ostream& out, std::ostream& err);

}  // namespace crucible::reports
