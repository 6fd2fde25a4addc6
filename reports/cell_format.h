// Plain-text pieces of a leaderboard cell shared by the Markdown and HTML writers.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "reports/leaderboard_model.h"

namespace crucible::reports {

std::string fmt_points(double v);                 // "55.3"
std::string fmt_metric(const Metric& m);          // "55.3 ± 2.1" or "55.3"
// The compact extras shown under avg@n: the largest pass@k (k > 1) and the largest maj@k,
// e.g. {{"pass@64","83.3"},{"maj@64","70.0"}}.
std::vector<std::pair<std::string, std::string>> cell_extras(const Cell& c);
// "n=64", plus " · merged" / " · 12/30 solved" / " · 310/600 pts" when applicable.
std::string cell_detail(const Cell& c);
// pass@k points sorted by k: (k, value, se).
struct PassPoint {
  int k;
  double value;
  double se;
};
std::vector<PassPoint> pass_curve(const Cell& c);

}  // namespace crucible::reports
