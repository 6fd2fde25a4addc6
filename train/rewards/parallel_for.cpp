#include "train/rewards/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace crucible::train {

void parallel_for(size_t n, size_t threads, const std::function<void(size_t)>& fn) {
  threads = std::max<size_t>(1, std::min(threads, n));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace crucible::train
