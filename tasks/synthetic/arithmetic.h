// Synthetic multi-step arithmetic problems with step-by-step reasoning traces: the project's own
// data for "R1 in miniature" (`crucible demo`) and for trainer tests. Small enough for a tiny model
// on a CPU, graded by the real math grader (the answer is an integer in \boxed{}).
//
//   problem: "Start with 7. Add 5, then multiply by 2, then subtract 4. What is the result?"
//   trace:   "<think>\n7 + 5 = 12\n12 * 2 = 24\n24 - 4 = 20\n</think>\n\\boxed{20}"
//   answer:  "20"
//
// Every intermediate value stays in [0, max_value]. Generation is deterministic for a seed on
// every platform (splitmix64; no std:: distributions, whose output differs between libraries).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crucible::synthetic {

struct ArithmeticOptions {
  int min_steps = 2;           // operations per problem
  int max_steps = 3;
  int max_operand = 9;         // operands are 1..max_operand (multipliers 2..max_operand)
  int max_value = 99;          // every intermediate result stays in [0, max_value]
  std::string id_prefix = "arith";
};

struct ArithmeticProblem {
  std::string id;
  std::string problem;                 // the question in words
  std::string answer;                  // the final value, as text
  std::vector<std::string> steps;      // "a op b = c", one per operation
  // "<think>\n" + steps joined by "\n" + "\n</think>\n\\boxed{" + answer + "}"
  std::string trace() const;
  // {"id", "problem", "answer", "messages": [{"role":"user",...},{"role":"assistant", trace}]}:
  // the eval (problem/answer) and SFT (messages) layouts in one row.
  nlohmann::json to_json() const;
};

// `count` distinct problems (by statement) from `seed`; fewer only if the space is exhausted.
std::vector<ArithmeticProblem> generate_arithmetic(uint64_t seed, size_t count,
                                                   const ArithmeticOptions& options = {});

}  // namespace crucible::synthetic
