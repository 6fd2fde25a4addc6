// The statistics every report of Crucible uses, defined once (the eval harness's metrics and the
// leaderboard's merged-run recomputation call these):
//   pass@k = 1 - C(n-c,k)/C(n,k), the unbiased estimator over n samples with c correct;
//   mean and standard error of the mean (sample std with ddof=1, / sqrt(size)).
#pragma once
#include <vector>

namespace crucible {

// 1 - prod_{i=n-c+1}^{n} (1 - k/i); 1 when n-c < k; 0 when n, c or k <= 0. c and k are
// clamped to n.
double pass_at_k(int n, int c, int k);

struct MeanSe {
  double mean = 0;
  double se = 0;  // 0 for fewer than 2 values
};
MeanSe mean_se(const std::vector<double>& xs);

}  // namespace crucible
