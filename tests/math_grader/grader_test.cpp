// MathGrader end to end (extraction + comparison + verdicts).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tasks/math/math_grader.h"

using namespace crucible;
using namespace crucible::math;

namespace {

Grade grade(const std::string& gold, const std::string& completion, MathGraderOptions o = {}) {
  Problem p;
  p.id = "t";
  p.gold = gold;
  return MathGrader(o).grade(p, completion);
}

TEST(MathGrader, CorrectBoxed) {
  Grade g = grade("42", "Step 1... so the final answer is $\\boxed{42}$.");
  EXPECT_EQ(g.verdict, Verdict::kCorrect);
  EXPECT_TRUE(g.correct);
  EXPECT_EQ(g.score, 1.0);
  EXPECT_EQ(g.extracted, "42");
  EXPECT_EQ(g.details["method"], "boxed");
  EXPECT_FALSE(g.details["compare_method"].get<std::string>().empty());
  EXPECT_TRUE(g.details["notes"].is_array());
}

TEST(MathGrader, WrongBoxed) {
  Grade g = grade("42", "so $\\boxed{41}$");
  EXPECT_EQ(g.verdict, Verdict::kWrong);
  EXPECT_FALSE(g.correct);
  EXPECT_EQ(g.score, 0.0);
  EXPECT_EQ(g.extracted, "41");
}

TEST(MathGrader, NoAnswer) {
  Grade g = grade("42", "I am not sure how to proceed.");
  EXPECT_EQ(g.verdict, Verdict::kNoAnswer);
  EXPECT_EQ(g.score, 0.0);
  EXPECT_EQ(g.extracted, "");
  EXPECT_EQ(g.details["method"], "");
  EXPECT_FALSE(g.details["notes"].empty());
}

TEST(MathGrader, EmptyGoldIsGraderError) {
  Grade g = grade("", "\\boxed{1}");
  EXPECT_EQ(g.verdict, Verdict::kGraderError);
  EXPECT_EQ(g.score, 0.0);
  EXPECT_FALSE(g.correct);
}

TEST(MathGrader, UnterminatedBoxedGoldIsGraderError) {
  Grade g = grade("The solution gives \\boxed{4", "\\boxed{4}");
  EXPECT_EQ(g.verdict, Verdict::kGraderError);
  EXPECT_NE(g.details["notes"][0].get<std::string>().find("boxed"), std::string::npos);
}

TEST(MathGrader, GoldAsMathSolution) {
  std::string sol = "We factor: $x^2-1=(x-1)(x+1)$. The positive root is $\\boxed{1}$.";
  EXPECT_EQ(grade(sol, "The answer is $\\boxed{1}$").verdict, Verdict::kCorrect);
  EXPECT_EQ(grade(sol, "The answer is $\\boxed{-1}$").verdict, Verdict::kWrong);
  EXPECT_EQ(grade(sol, "The answer is $\\boxed{1}$").details["gold_answer"], "1");
}

TEST(MathGrader, GoldWithDollars) {
  EXPECT_EQ(grade("$\\frac{1}{2}$", "\\boxed{\\frac{1}{2}}").verdict, Verdict::kCorrect);
}

TEST(MathGrader, AimeLeadingZeros) {
  EXPECT_EQ(grade("033", "\\boxed{33}").verdict, Verdict::kCorrect);
  EXPECT_EQ(grade("33", "\\boxed{033}").verdict, Verdict::kCorrect);
  EXPECT_EQ(grade("033", "The answer is 33.").verdict, Verdict::kCorrect);
  EXPECT_EQ(grade("000", "\\boxed{0}").verdict, Verdict::kCorrect);
  EXPECT_EQ(grade("033", "\\boxed{34}").verdict, Verdict::kWrong);
  EXPECT_EQ(grade("033", "\\boxed{330}").verdict, Verdict::kWrong);
  EXPECT_EQ(grade("033", "\\boxed{33}").details["compare_method"], "integer");
}

TEST(MathGrader, IntegerThousandsAndSign) {
  EXPECT_EQ(grade("1000", "\\boxed{1,000}").verdict, Verdict::kCorrect);
  EXPECT_EQ(grade("7", "\\boxed{+7}").verdict, Verdict::kCorrect);
  EXPECT_EQ(grade("-5", "\\boxed{-5}").verdict, Verdict::kCorrect);
  EXPECT_EQ(grade("5", "\\boxed{-5}").verdict, Verdict::kWrong);
  EXPECT_EQ(grade("1,2", "\\boxed{12}").verdict, Verdict::kWrong);  // not a thousands separator
}

TEST(MathGrader, IntegerFallbackOption) {
  std::string c = "After computing, we get 204";
  EXPECT_EQ(grade("204", c).verdict, Verdict::kNoAnswer);
  MathGraderOptions o;
  o.integer_fallback = true;
  Grade g = grade("204", c, o);
  EXPECT_EQ(g.verdict, Verdict::kCorrect);
  EXPECT_EQ(g.details["method"], "last_number");
}

TEST(MathGrader, RequireThinkOption) {
  std::string c = "<think>I guess \\boxed{5}";
  EXPECT_EQ(grade("5", c).verdict, Verdict::kCorrect);
  MathGraderOptions o;
  o.require_think_close = true;
  EXPECT_EQ(grade("5", c, o).verdict, Verdict::kNoAnswer);
  EXPECT_EQ(grade("5", "<think>x</think>\\boxed{5}", o).verdict, Verdict::kCorrect);
}

TEST(MathGrader, OnlyTextAfterThinkCounts) {
  EXPECT_EQ(grade("5", "<think>\\boxed{5}</think>\\boxed{6}").verdict, Verdict::kWrong);
  EXPECT_EQ(grade("5", "<think>\\boxed{6}</think>\\boxed{5}").verdict, Verdict::kCorrect);
}

TEST(MathGrader, FinalAnswerPhrase) {
  Grade g = grade("\\frac{1}{2}", "Thus, the final answer is $\\frac{1}{2}$.");
  EXPECT_EQ(g.verdict, Verdict::kCorrect);
  EXPECT_EQ(g.details["method"], "final_answer");
  EXPECT_EQ(g.extracted, "\\frac{1}{2}");
}

TEST(MathGrader, WhitespaceInsensitive) {
  EXPECT_EQ(grade("\\frac{1}{2}", "\\boxed{\\frac{1}{ 2}}").verdict, Verdict::kCorrect);
}

TEST(MathGrader, HugeCompletionIsBounded) {
  std::string c(200000, 'a');
  c += "\\boxed{7}";
  EXPECT_EQ(grade("7", c).verdict, Verdict::kCorrect);
}

TEST(MathGrader, ToJsonShape) {
  json j = grade("3", "\\boxed{3}").to_json();
  for (const char* k : {"score", "correct", "verdict", "extracted", "details"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["verdict"], "correct");
}

TEST(MathGrader, SameAnswer) {
  MathGrader g;
  EXPECT_TRUE(g.same_answer("033", "33"));
  EXPECT_TRUE(g.same_answer("\\frac{1}{2}", "\\frac{1}{2}"));
  EXPECT_TRUE(g.same_answer("$5$", "5"));
  EXPECT_FALSE(g.same_answer("5", "6"));
  EXPECT_EQ(g.name(), "math");
}

TEST(MathGrader, DeterministicAndThreadSafe) {
  MathGrader g;
  Problem p;
  p.gold = "\\frac{3}{4}";
  std::vector<std::string> cs = {"\\boxed{\\frac{3}{4}}", "\\boxed{1}", "nothing", "Answer: \\frac{3}{4}"};
  std::vector<std::thread> ts;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        Grade r = g.grade(p, cs[i % 4]);
        Verdict want = (i % 4 == 0 || i % 4 == 3) ? Verdict::kCorrect
                       : (i % 4 == 1)             ? Verdict::kWrong
                                                  : Verdict::kNoAnswer;
        if (r.verdict != want) ++bad[t];
      }
    });
  for (auto& t : ts) t.join();
  for (int b : bad) EXPECT_EQ(b, 0);
}

TEST(MathGrader, GarbageNeverThrows) {
  MathGrader g;
  Problem p;
  p.gold = "\\boxed{\\frac{1}{2}}";
  std::string s;
  unsigned x = 7;
  for (int i = 0; i < 5000; ++i) {
    x = x * 1664525u + 1013904223u;
    const char alphabet[] = "\\boxed{}$()[]0123456789 answer:is<think></think>\n.";
    s.push_back(alphabet[(x >> 16) % (sizeof(alphabet) - 1)]);
    if (i % 97 == 0) {
      EXPECT_NO_THROW(g.grade(p, s));
    }
  }
}

}  // namespace

namespace {

// End to end with the real compare_answers: equivalent forms of the same answer.
TEST(MathGraderEndToEnd, EquivalentFormsAreCorrect) {
  const std::pair<const char*, const char*> cases[] = {
      {"\\frac{1}{2}", "\\dfrac12"},         {"\\frac{1}{2}", "0.5"},
      {"2\\sqrt{3}", "\\sqrt{12}"},          {"(-\\infty, 3]", "(-\\infty,3]"},
      {"\\text{Evelyn}", "Evelyn"},          {"\\{1,2,3\\}", "\\{3,2,1\\}"},
      {"16\\pi", "16 \\pi"},                 {"033", "33.0"},
  };
  for (auto& [gold, pred] : cases) {
    Grade g = grade(gold, std::string("The final answer is $\\boxed{") + pred + "}$.");
    EXPECT_EQ(g.verdict, Verdict::kCorrect) << gold << " vs " << pred << " " << g.details.dump();
  }
}

TEST(MathGraderEndToEnd, DifferentAnswersAreWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"\\frac{1}{2}", "\\frac{2}{1}"}, {"2\\sqrt{3}", "3\\sqrt{2}"}, {"(-\\infty, 3]", "(-\\infty, 3)"},
      {"\\text{Evelyn}", "Angela"},     {"16\\pi", "8\\pi"},          {"033", "34"},
  };
  for (auto& [gold, pred] : cases) {
    Grade g = grade(gold, std::string("$\\boxed{") + pred + "}$");
    EXPECT_EQ(g.verdict, Verdict::kWrong) << gold << " vs " << pred << " " << g.details.dump();
  }
}

TEST(MathGraderEndToEnd, R1StyleCompletion) {
  std::string c =
      "<think>\nLet me think. If x = 3 then \\boxed{9}? No wait, x^2 = 16 so x = 4.\n</think>\n\n"
      "We solve $x^2 = 16$ with $x > 0$, so $x = 4$.\n\n**Final Answer**\n\\[\n\\boxed{4}\n\\]";
  Grade g = grade("4", c);
  EXPECT_EQ(g.verdict, Verdict::kCorrect);
  EXPECT_EQ(g.extracted, "4");
}

}  // namespace
