// The retry delay shared by the network backends (OpenAI HTTP, vLLM gRPC): retry is 1-based;
// initial, 2*initial, 4*initial, ... capped at max_s, then +-20% jitter (still capped).
#pragma once
#include <algorithm>
#include <cmath>
#include <random>

namespace crucible {

inline double retry_backoff_delay(double initial_s, double max_s, int retry, std::mt19937_64& rng) {
  double d = initial_s * std::pow(2.0, std::min(retry - 1, 60));
  d = std::min(d, max_s);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  d *= jitter(rng);
  return std::max(0.0, std::min(d, max_s));
}

}  // namespace crucible
