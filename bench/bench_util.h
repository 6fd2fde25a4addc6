// Measurement helpers shared by the bench_* programs (header-only: each bench is one binary).
//   median(v)       the median of the samples (mean of the two middle ones for an even count; 0 if none)
//   ms_since(t0)    wall milliseconds since a steady_clock time point
//   cpu_ms_total()  user + system CPU ms of this process and its reaped children
#pragma once
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace crucible::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

inline double cpu_ms_total() {
  struct rusage a {}, b {};
  getrusage(RUSAGE_SELF, &a);
  getrusage(RUSAGE_CHILDREN, &b);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(a.ru_utime) + ms(a.ru_stime) + ms(b.ru_utime) + ms(b.ru_stime);
}

}  // namespace crucible::bench
