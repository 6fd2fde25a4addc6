// The few statistics the report recomputes when it merges runs (definitions as in
// harness/metrics.h, reimplemented here because reports/ depends only on run records):
//   pass@k = 1 - C(n-c,k)/C(n,k) (unbiased), mean and standard error over problems (ddof=1).
#pragma once
#include <vector>

namespace crucible::reports {

struct MeanSe {
  double mean = 0;
  double se = 0;
};

double pass_at_k(int n, double c, int k);
MeanSe mean_se(const std::vector<double>& xs);
// sqrt(a^2 + b^2), treating negative (unknown) as 0.
double combined_se(double a, double b);

}  // namespace crucible::reports
