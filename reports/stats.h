// The statistics the report recomputes when it merges runs: pass@k and mean +- standard error are
// core/statistics.h's (the same definitions as the eval harness's metrics); plus the combined
// error of a difference.
#pragma once
#include "core/statistics.h"

namespace crucible::reports {

using crucible::MeanSe;
using crucible::mean_se;
using crucible::pass_at_k;
// sqrt(a^2 + b^2), treating negative (unknown) as 0.
double combined_se(double a, double b);

}  // namespace crucible::reports
