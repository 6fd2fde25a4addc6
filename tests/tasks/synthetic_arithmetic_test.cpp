// The synthetic arithmetic task: traces are correct step by step, the gold answer is what the
// real math grader accepts from the trace, and generation is deterministic and varied.
#include <gtest/gtest.h>

#include <set>

#include "tasks/math/math_grader.h"
#include "tasks/synthetic/arithmetic.h"

namespace crucible::synthetic {
namespace {

int apply(int a, char op, int b) { return op == '+' ? a + b : op == '-' ? a - b : a * b; }

TEST(SyntheticArithmetic, StepsAreCorrectAndChainToTheAnswer) {
  ArithmeticOptions o;
  o.min_steps = 2;
  o.max_steps = 4;
  auto problems = generate_arithmetic(1, 500, o);
  ASSERT_EQ(problems.size(), 500u);
  std::set<std::string> statements;
  for (const auto& p : problems) {
    statements.insert(p.problem);
    ASSERT_GE(p.steps.size(), 2u);
    ASSERT_LE(p.steps.size(), 4u);
    int carried = -1;
    for (const auto& s : p.steps) {
      int a, b, c;
      char op;
      ASSERT_EQ(std::sscanf(s.c_str(), "%d %c %d = %d", &a, &op, &b, &c), 4) << s;
      EXPECT_EQ(apply(a, op, b), c) << s;
      EXPECT_GE(c, 0);
      EXPECT_LE(c, o.max_value);
      if (carried >= 0) {
        EXPECT_EQ(a, carried) << p.problem;
      }
      carried = c;
    }
    EXPECT_EQ(std::to_string(carried), p.answer);
  }
  EXPECT_EQ(statements.size(), 500u);
}

TEST(SyntheticArithmetic, TheMathGraderAcceptsTheTraceAndRejectsAWrongOne) {
  math::MathGrader grader;
  for (const auto& p : generate_arithmetic(2, 50)) {
    Problem prob;
    prob.id = p.id;
    prob.statement = p.problem;
    prob.gold = p.answer;
    EXPECT_TRUE(grader.grade(prob, p.trace()).correct) << p.trace();
    std::string wrong = p.trace();
    wrong.replace(wrong.rfind(p.answer), p.answer.size(), std::to_string(std::stoi(p.answer) + 1));
    EXPECT_FALSE(grader.grade(prob, wrong).correct) << wrong;
  }
}

TEST(SyntheticArithmetic, DeterministicPerSeedAndDifferentAcrossSeeds) {
  auto a = generate_arithmetic(42, 20), b = generate_arithmetic(42, 20), c = generate_arithmetic(43, 20);
  ASSERT_EQ(a.size(), 20u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].to_json(), b[i].to_json());
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i].problem == c[i].problem;
  EXPECT_LT(same, 3u);
  auto row = a[0].to_json();
  EXPECT_EQ(row["messages"][1]["content"], a[0].trace());
  EXPECT_EQ(row["answer"], a[0].answer);
}

}  // namespace
}  // namespace crucible::synthetic
