#include "harness/metrics.h"

#include <cmath>

#include <gtest/gtest.h>

#include "harness_test_util.h"

namespace crucible {
namespace {

double binom(int n, int k) {  // exact enough for the small cases below
  if (k < 0 || k > n) return 0;
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0));
}

TEST(PassAtK, HandComputedValues) {
  EXPECT_DOUBLE_EQ(pass_at_k(4, 1, 1), 0.25);
  EXPECT_NEAR(pass_at_k(4, 1, 2), 0.5, 1e-12);           // 1 - C(3,2)/C(4,2) = 1 - 3/6
  EXPECT_NEAR(pass_at_k(4, 2, 2), 5.0 / 6.0, 1e-12);     // 1 - C(2,2)/C(4,2) = 1 - 1/6
  EXPECT_NEAR(pass_at_k(10, 3, 4), 5.0 / 6.0, 1e-12);    // 1 - C(7,4)/C(10,4) = 1 - 35/210
  EXPECT_NEAR(pass_at_k(64, 1, 8), 0.125, 1e-12);        // k/n when c = 1
  EXPECT_NEAR(pass_at_k(5, 2, 4), 1.0, 1e-12);           // n-c < k
  EXPECT_DOUBLE_EQ(pass_at_k(64, 0, 64), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(64, 64, 1), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 4, 4), 1.0);
  // Against the binomial formula for a spread of (n, c, k).
  for (int n : {1, 2, 7, 16, 64})
    for (int c = 0; c <= n; c += std::max(1, n / 5))
      for (int k = 1; k <= n; k *= 2)
        EXPECT_NEAR(pass_at_k(n, c, k), 1.0 - binom(n - c, k) / binom(n, k), 1e-9) << n << " " << c << " " << k;
}

TEST(PassAtK, StableForLargeN) {
  // C(1000, 500) overflows doubles; the product form does not.
  double v = pass_at_k(1000, 500, 8);
  double expect = 1.0 - std::exp(std::lgamma(501.0) - std::lgamma(9.0) - std::lgamma(493.0) -
                                 (std::lgamma(1001.0) - std::lgamma(9.0) - std::lgamma(993.0)));
  EXPECT_NEAR(v, expect, 1e-9);
  EXPECT_TRUE(std::isfinite(pass_at_k(100000, 3, 1024)));
}

TEST(Metrics, Ks) {
  EXPECT_EQ(metric_ks(64), (std::vector<int>{1, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(metric_ks(5), (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(metric_ks(1), (std::vector<int>{1}));
}

TEST(Metrics, MeanAndStderr) {
  auto m = mean_and_stderr({1, 0, 1, 0});
  EXPECT_DOUBLE_EQ(m.value, 0.5);
  EXPECT_NEAR(m.stderr_, std::sqrt(1.0 / 3.0) / 2.0, 1e-12);  // sd (ddof=1) = sqrt(1/3), / sqrt(4)
  auto one = mean_and_stderr({0.7});
  EXPECT_DOUBLE_EQ(one.value, 0.7);
  EXPECT_DOUBLE_EQ(one.stderr_, 0.0);
}

SampleOutcome so(int i, const std::string& ans, bool correct) {
  SampleOutcome s;
  s.sample = i;
  s.extracted = ans;
  s.correct = correct;
  s.verdict = ans.empty() ? Verdict::kNoAnswer : correct ? Verdict::kCorrect : Verdict::kWrong;
  return s;
}

TEST(MajorityVote, EquivalentSpellingsFormOneClass) {
  test::TagGrader g;
  // "\frac12" and "0.5" are the same answer: 2 votes vs "3" with 2 votes at k=4 -> tie, first
  // seen ("\frac12") wins; at k=5 "3" has 3 votes.
  std::vector<SampleOutcome> s = {so(0, "\\frac12", true), so(1, "3", false), so(2, "0.5", true),
                                  so(3, "3", false), so(4, "3", false)};
  auto v4 = majority_vote(s, 4, g);
  ASSERT_TRUE(v4.has_winner);
  EXPECT_EQ(v4.answer, "\\frac12");
  EXPECT_EQ(v4.votes, 2);
  EXPECT_TRUE(v4.correct);
  auto v5 = majority_vote(s, 5, g);
  EXPECT_EQ(v5.answer, "3");
  EXPECT_EQ(v5.votes, 3);
  EXPECT_FALSE(v5.correct);
  auto v1 = majority_vote(s, 1, g);
  EXPECT_TRUE(v1.correct);
  // Tie broken by first occurrence the other way round.
  std::vector<SampleOutcome> t = {so(0, "3", false), so(1, "1/2", true), so(2, "0.5", true), so(3, "3", false)};
  EXPECT_FALSE(majority_vote(t, 4, g).correct);
  EXPECT_TRUE(majority_vote(t, 3, g).correct);
}

TEST(MajorityVote, NoAnswerDoesNotVote) {
  test::TagGrader g;
  std::vector<SampleOutcome> s = {so(0, "", false), so(1, "", false), so(2, "7", true), so(3, "", false)};
  auto v2 = majority_vote(s, 2, g);
  EXPECT_FALSE(v2.has_winner);
  EXPECT_FALSE(v2.correct);
  auto v4 = majority_vote(s, 4, g);
  ASSERT_TRUE(v4.has_winner);
  EXPECT_EQ(v4.answer, "7");
  EXPECT_EQ(v4.votes, 1);
  EXPECT_TRUE(v4.correct);
}

TEST(Metrics, ComputeOverProblemsByHand) {
  test::TagGrader g;
  // p1: c=1 of 4 (samples given out of order); p2: c=3 of 4; p3: only 2 samples -> incomplete.
  ProblemOutcome p1{"p1", {so(3, "2", false), so(0, "1/2", true), so(1, "2", false), so(2, "2", false)}};
  ProblemOutcome p2{"p2", {so(0, "5", true), so(1, "5", true), so(2, "", false), so(3, "5", true),
                           so(7, "9", false) /* beyond n: ignored */}};
  ProblemOutcome p3{"p3", {so(0, "1", true), so(1, "1", true)}};
  Metrics m = compute_metrics({p1, p2, p3}, 4, g);
  EXPECT_EQ(m.num_problems, 2u);
  EXPECT_EQ(m.num_samples, 8u);
  EXPECT_EQ(m.incomplete, std::vector<std::string>{"p3"});
  // avg@4: (0.25 + 0.75)/2 = 0.5; per-problem sd = sqrt(((-.25)^2 + .25^2)/1) = 0.353553; /sqrt(2) = 0.25
  ASSERT_NE(m.find("avg@4"), nullptr);
  EXPECT_DOUBLE_EQ(m.find("avg@4")->value, 0.5);
  EXPECT_NEAR(m.find("avg@4")->stderr_, 0.25, 1e-12);
  // pass@2: p1 1 - C(3,2)/C(4,2) = 0.5; p2 1 - 0 = 1 -> 0.75, stderr 0.25
  EXPECT_NEAR(m.find("pass@2")->value, 0.75, 1e-12);
  EXPECT_NEAR(m.find("pass@2")->stderr_, 0.25, 1e-12);
  EXPECT_NEAR(m.find("pass@4")->value, 1.0, 1e-12);
  EXPECT_NEAR(m.find("pass@1")->value, 0.5, 1e-12);
  // maj@1: p1 sample0 "1/2" correct, p2 "5" correct -> 1. maj@2: p1 tie 1/2 vs 2 -> first (1/2) -> 1;
  // maj@4: p1 "2" x3 wins -> 0; p2 "5" -> 1 -> 0.5
  EXPECT_DOUBLE_EQ(m.find("maj@1")->value, 1.0);
  EXPECT_DOUBLE_EQ(m.find("maj@2")->value, 1.0);
  EXPECT_DOUBLE_EQ(m.find("maj@4")->value, 0.5);
  EXPECT_EQ(m.verdict_counts["correct"], 4);
  EXPECT_EQ(m.verdict_counts["wrong"], 3);
  EXPECT_EQ(m.verdict_counts["no_answer"], 1);
  ASSERT_EQ(m.per_problem.size(), 2u);
  EXPECT_EQ(m.per_problem[0].id, "p1");
  EXPECT_EQ(m.per_problem[0].correct, 1);
  EXPECT_EQ(*m.per_problem[0].majority_answer, "2");
  EXPECT_EQ(*m.per_problem[1].majority_answer, "5");

  json j = metrics_to_json(m, "math500", "my-model");
  EXPECT_EQ(j["task"], "math500");
  EXPECT_EQ(j["model"], "my-model");
  EXPECT_EQ(j["n"], 4);
  EXPECT_DOUBLE_EQ(j["metrics"]["avg@4"]["value"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["metrics"]["avg@4"]["stderr"].get<double>(), 0.25);
  EXPECT_TRUE(j["metrics"].contains("pass@1"));
  EXPECT_TRUE(j["metrics"].contains("maj@4"));
  EXPECT_EQ(j["per_problem"][0]["id"], "p1");
  EXPECT_EQ(j["per_problem"][0]["n"], 4);
  EXPECT_EQ(j["per_problem"][0]["correct"], 1);
  EXPECT_DOUBLE_EQ(j["per_problem"][0]["avg"].get<double>(), 0.25);
  EXPECT_EQ(j["per_problem"][0]["majority_answer"], "2");
  EXPECT_EQ(j["num_problems"], 2);
  EXPECT_EQ(j["num_samples"], 8);
  EXPECT_EQ(j["verdict_counts"]["wrong"], 3);
  EXPECT_EQ(j["complete"], false);

  std::string table = format_summary(m, "math500", "my-model");
  EXPECT_NE(table.find("avg@4"), std::string::npos) << table;
  EXPECT_NE(table.find("50.00"), std::string::npos) << table;  // percentages
  EXPECT_NE(table.find("25.00"), std::string::npos) << table;
}

}  // namespace
}  // namespace crucible
