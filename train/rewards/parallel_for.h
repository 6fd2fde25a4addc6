// parallel_for: runs fn(i) for i in [0, n) on up to `threads` threads (the caller's thread is one
// of them); returns when all are done. Rewards use it to grade completions concurrently (each code
// completion is judged in its own sandbox runs). fn must not throw.
#pragma once
#include <cstddef>
#include <functional>

namespace crucible::train {

void parallel_for(size_t n, size_t threads, const std::function<void(size_t)>& fn);

}  // namespace crucible::train
