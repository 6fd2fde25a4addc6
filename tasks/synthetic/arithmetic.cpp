#include "tasks/synthetic/arithmetic.h"

#include <unordered_set>

namespace crucible::synthetic {
namespace {

// splitmix64: a tiny, fully specified generator (same stream on every platform).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int uniform(int lo, int hi) {  // inclusive; hi - lo is tiny, so modulo bias is negligible
    return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
};

enum class Op { kAdd, kSub, kMul };

const char* verb(Op op) { return op == Op::kAdd ? "add" : op == Op::kSub ? "subtract" : "multiply by"; }
const char* symbol(Op op) { return op == Op::kAdd ? "+" : op == Op::kSub ? "-" : "*"; }

// One random operation applicable to `value` that keeps the result in [0, max_value], or false.
bool pick_step(Rng& rng, int value, const ArithmeticOptions& o, Op* op, int* operand) {
  for (int attempt = 0; attempt < 32; ++attempt) {
    Op candidate = static_cast<Op>(rng.uniform(0, 2));
    int x = candidate == Op::kMul ? rng.uniform(2, std::max(2, o.max_operand)) : rng.uniform(1, o.max_operand);
    int r = candidate == Op::kAdd ? value + x : candidate == Op::kSub ? value - x : value * x;
    if (r < 0 || r > o.max_value) continue;
    *op = candidate;
    *operand = x;
    return true;
  }
  return false;
}

}  // namespace

std::string ArithmeticProblem::trace() const {
  std::string t = "<think>\n";
  for (const auto& s : steps) t += s + "\n";
  return t + "</think>\n\\boxed{" + answer + "}";
}

nlohmann::json ArithmeticProblem::to_json() const {
  return {{"id", id},
          {"problem", problem},
          {"answer", answer},
          {"messages", nlohmann::json::array({{{"role", "user"}, {"content", problem}},
                                              {{"role", "assistant"}, {"content", trace()}}})}};
}

std::vector<ArithmeticProblem> generate_arithmetic(uint64_t seed, size_t count, const ArithmeticOptions& o) {
  Rng rng{seed};
  std::vector<ArithmeticProblem> out;
  std::unordered_set<std::string> seen;
  size_t misses = 0;
  while (out.size() < count && misses < 64 * count + 1024) {
    int steps = rng.uniform(o.min_steps, std::max(o.min_steps, o.max_steps));
    int value = rng.uniform(1, o.max_operand);
    ArithmeticProblem p;
    p.problem = "Start with " + std::to_string(value) + ".";
    bool ok = true;
    for (int i = 0; i < steps && ok; ++i) {
      Op op;
      int x;
      if (!(ok = pick_step(rng, value, o, &op, &x))) break;
      int r = op == Op::kAdd ? value + x : op == Op::kSub ? value - x : value * x;
      std::string v = verb(op);
      if (i == 0) v[0] = static_cast<char>(v[0] - 'a' + 'A');
      p.problem += (i == 0 ? " " : ", then ") + v + " " + std::to_string(x);
      p.steps.push_back(std::to_string(value) + " " + symbol(op) + " " + std::to_string(x) + " = " + std::to_string(r));
      value = r;
    }
    p.problem += ". What is the result?";
    if (!ok || !seen.insert(p.problem).second) {
      ++misses;
      continue;
    }
    p.answer = std::to_string(value);
    p.id = o.id_prefix + "-" + std::to_string(out.size());
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace crucible::synthetic
