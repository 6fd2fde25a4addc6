#include "reports/stats.h"

#include <cmath>

namespace crucible::reports {

double combined_se(double a, double b) {
  a = a > 0 ? a : 0;
  b = b > 0 ? b : 0;
  return std::sqrt(a * a + b * b);
}

}  // namespace crucible::reports
