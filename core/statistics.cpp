#include "core/statistics.h"

#include <cmath>

namespace crucible {

double pass_at_k(int n, int c, int k) {
  if (n <= 0 || k <= 0 || c <= 0) return 0.0;
  if (c > n) c = n;
  if (k > n) k = n;
  if (n - c < k) return 1.0;
  double prod = 1.0;  // C(n-c,k)/C(n,k)
  for (int i = n - c + 1; i <= n; ++i) prod *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - prod;
}

MeanSe mean_se(const std::vector<double>& xs) {
  MeanSe r;
  if (xs.empty()) return r;
  double sum = 0;
  for (double x : xs) sum += x;
  r.mean = sum / static_cast<double>(xs.size());
  if (xs.size() < 2) return r;
  double ss = 0;
  for (double x : xs) ss += (x - r.mean) * (x - r.mean);
  r.se = std::sqrt(ss / static_cast<double>(xs.size() - 1)) / std::sqrt(static_cast<double>(xs.size()));
  return r;
}

}  // namespace crucible
