// Rewards (math, format, quality) and the registry, against values worked out by hand from
// Open-R1's formulas. Math rewards grade with Crucible's MathGrader on real LaTeX answers.
#include <gtest/gtest.h>

#include <cmath>
#include <deque>

#include "tasks/task_registry.h"
#include "train/rewards/format_rewards.h"
#include "train/rewards/math_rewards.h"
#include "train/rewards/quality_rewards.h"
#include "train/rewards/reward_registry.h"

using namespace crucible;
using namespace crucible::train;

namespace {

Problem problem(const std::string& gold) {
  Problem p;
  p.id = "p";
  p.gold = gold;
  return p;
}

// RewardInput views its text: keep every completion alive for the whole test process.
std::string_view keep(std::string s) {
  static std::deque<std::string> store;
  store.push_back(std::move(s));
  return store.back();
}

RewardInput in(const Problem& p, const std::string& completion, int64_t tokens = -1, const Grader* g = nullptr) {
  RewardInput r;
  r.problem = &p;
  r.completion = keep(completion);
  r.completion_tokens = tokens;
  r.grader = g;
  return r;
}

std::unique_ptr<RewardFunction> make(const std::string& name, RewardArgs args = {}) {
  RewardParams p;
  p.args = std::move(args);
  auto r = make_reward(name, p);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? std::move(r).value() : nullptr;
}

}  // namespace

TEST(MathRewards, AccuracyUsesTheMathGrader) {
  auto acc = make("accuracy");
  Problem half = problem("\\frac{1}{2}"), root = problem("2\\sqrt{3}"), pair = problem("(3, -1)"),
          poly = problem("x^2+2x+1"), broken = problem("\\boxed{"), aime = problem("204");
  std::vector<std::string> texts = {
      "So the probability is \\boxed{\\dfrac{1}{2}}.",  // \dfrac = \frac
      "<think>maybe \\boxed{3}</think> Final: \\boxed{0.5}",  // only after </think>; 0.5 = 1/2
      "\\boxed{3}",
      "I am not sure.",
      "The side is \\boxed{\\sqrt{12}}",
      "The intersection is \\boxed{(3,-1)}",
      "Expanding, \\boxed{(x+1)^2}",
      "\\boxed{1}",
      "so we get 204",
  };
  std::vector<RewardInput> batch = {in(half, texts[0]), in(half, texts[1]), in(half, texts[2]),
                                    in(half, texts[3]), in(root, texts[4]), in(pair, texts[5]),
                                    in(poly, texts[6]), in(broken, texts[7]), in(aime, texts[8])};
  auto r = acc->score(batch);
  ASSERT_EQ(r.size(), batch.size());
  EXPECT_EQ(r[0], 1.0);
  EXPECT_EQ(r[1], 1.0);
  EXPECT_EQ(r[2], 0.0);
  EXPECT_EQ(r[3], 0.0);
  EXPECT_EQ(r[4], 1.0);
  EXPECT_EQ(r[5], 1.0);
  EXPECT_EQ(r[6], 1.0);
  EXPECT_TRUE(std::isnan(r[7]));  // unparsable gold: Open-R1's None
  EXPECT_EQ(r[8], 0.0);           // the generic math grader has no integer fallback

  // The task's own grader (AIME: integer fallback) is the one used when given.
  auto aime_grader = TaskRegistry::global().find("aime24")->make_grader();
  auto with_task = acc->score({in(aime, texts[8], -1, aime_grader.get())});
  EXPECT_EQ(with_task[0], 1.0);
  // No problem: not applicable.
  RewardInput none;
  none.completion = "\\boxed{1}";
  EXPECT_TRUE(std::isnan(acc->score({none})[0]));
}

TEST(MathRewards, LengthKimi) {
  auto len = make("length");
  Problem one = problem("1"), broken = problem("");
  std::string e10;
  for (int i = 0; i < 10; ++i) e10 += "\xc3\xa9";  // 10 x 'é': 10 code points, 20 bytes
  std::vector<RewardInput> b = {
      in(one, "\\boxed{1}"),                          // 9 chars, correct
      in(one, "\\boxed{2}" + e10),                    // 19 chars, wrong
      in(one, "\\boxed{1}" + std::string(20, 'y')),   // 29 chars, correct
      in(one, "\\boxed{2}"),                          // 9 chars, wrong
      in(broken, "\\boxed{7}"),                       // 9 chars, ungradable -> treated as correct
  };
  // min 9, max 29: lambda = 0.5 - (len - 9) / 20.
  auto r = len->score(b);
  EXPECT_DOUBLE_EQ(r[0], 0.5);
  EXPECT_DOUBLE_EQ(r[1], 0.0);   // wrong: min(0, 0.0)
  EXPECT_DOUBLE_EQ(r[2], -0.5);  // correct: lambda
  EXPECT_DOUBLE_EQ(r[3], 0.0);   // wrong: min(0, 0.5)
  EXPECT_DOUBLE_EQ(r[4], 0.5);
  // All the same length: zeros.
  auto same = len->score({in(one, "\\boxed{1}"), in(one, "\\boxed{2}")});
  EXPECT_EQ(same, (std::vector<double>{0.0, 0.0}));
}

TEST(MathRewards, CosineScaled) {
  RewardArgs a;
  a.cosine_max_len = 100;  // defaults: wrong 0.0 / -0.5, correct 0.5 / 1.0
  auto cos = make("cosine", a);
  Problem one = problem("1"), broken = problem("");
  auto pad = [](size_t n, const std::string& tail) { return std::string(n - tail.size(), 'x') + tail; };
  std::vector<RewardInput> b = {
      in(one, pad(50, "\\boxed{1}")),   // correct, progress 0.5: 0.5 + 0.5 x 0.5 x (1 + 0) = 0.75
      in(one, pad(100, "\\boxed{1}")),  // correct, progress 1:   0.5 + 0.25 x 0 = 0.5
      in(one, pad(50, "\\boxed{2}")),   // wrong: lo = -0.5, hi = 0.0 -> -0.5 + 0.25 = -0.25
      in(one, pad(100, "\\boxed{2}")),  // wrong, progress 1: -0.5
      in(one, ""),                      // wrong (no answer), progress 0: -0.5 + 0.5 = 0.0
      in(broken, "\\boxed{1}"),         // ungradable: 1.0
      in(one, pad(25, "\\boxed{1}")),   // correct, progress 0.25: 0.5 + 0.25 (1 + cos(pi/4))
  };
  auto r = cos->score(b);
  EXPECT_NEAR(r[0], 0.75, 1e-12);
  EXPECT_NEAR(r[1], 0.5, 1e-12);
  EXPECT_NEAR(r[2], -0.25, 1e-12);
  EXPECT_NEAR(r[3], -0.5, 1e-12);
  EXPECT_NEAR(r[4], 0.0, 1e-12);
  EXPECT_EQ(r[5], 1.0);
  EXPECT_NEAR(r[6], 0.5 + 0.25 * (1 + std::sqrt(0.5)), 1e-12);
}

TEST(FormatRewards, ThinkAnswerFormat) {
  EXPECT_TRUE(matches_think_answer_format("<think>\nabc\n</think>\n<answer>\n42\n</answer>"));
  EXPECT_TRUE(matches_think_answer_format("<think>\n\n</think>\n<answer>\n\n</answer>"));
  EXPECT_TRUE(matches_think_answer_format("<think>\na\nb\n</think>\n<answer>\n42\n</answer>\ntrailing line"));  // $ before \n
  EXPECT_FALSE(matches_think_answer_format("<think>\nabc\n</think>\n<answer>\n42\n</answer> extra"));
  EXPECT_FALSE(matches_think_answer_format(" <think>\nabc\n</think>\n<answer>\n42\n</answer>"));
  EXPECT_FALSE(matches_think_answer_format("<think>abc\n</think>\n<answer>\n42\n</answer>"));
  EXPECT_FALSE(matches_think_answer_format("<think>\nabc</think>\n<answer>\n42\n</answer>"));
  // A later "\n</answer>" at the end rescues an earlier one followed by text (regex backtracking).
  EXPECT_TRUE(matches_think_answer_format("<think>\nx\n</think>\n<answer>\n1\n</answer>!\n</answer>"));
  auto f = make("format");
  Problem p = problem("1");
  auto r = f->score({in(p, "<think>\nx\n</think>\n<answer>\ny\n</answer>"), in(p, "y")});
  EXPECT_EQ(r, (std::vector<double>{1.0, 0.0}));
}

TEST(FormatRewards, TagCount) {
  EXPECT_DOUBLE_EQ(tag_count_score("<think>\nx\n</think>\n<answer>\ny\n</answer>"), 1.0);
  EXPECT_DOUBLE_EQ(tag_count_score("<think>\nx\n</think>\n"), 0.5);
  EXPECT_DOUBLE_EQ(tag_count_score("<think>\n<think>\nx\n</think>\n<answer>\ny\n</answer>"), 0.75);  // 2 x <think>
  EXPECT_DOUBLE_EQ(tag_count_score("nothing"), 0.0);
  EXPECT_DOUBLE_EQ(tag_count_score("\n</answer>"), 0.25);
}

TEST(FormatRewards, ReasoningSteps) {
  EXPECT_EQ(count_reasoning_steps("Step 1: add\nStep 2: multiply"), 2u);
  EXPECT_EQ(count_reasoning_steps("1. first\n2. second"), 1u);  // ^ only at the start of the text
  EXPECT_EQ(count_reasoning_steps("First, a. Second, b. Next, c. Finally, d."), 4u);
  EXPECT_EQ(count_reasoning_steps("list:\n- a\n- b\n* c"), 3u);
  EXPECT_EQ(count_reasoning_steps("Step x: no; Step 12 nope; Step 3:"), 1u);
  auto f = make("reasoning_steps");
  Problem p = problem("1");
  auto r = f->score({in(p, "Step 1: a\nStep 2: b"), in(p, "First, Second, Next, Finally,"), in(p, "plain")});
  EXPECT_NEAR(r[0], 2.0 / 3.0, 1e-15);
  EXPECT_EQ(r[1], 1.0);
  EXPECT_EQ(r[2], 0.0);
}

TEST(FormatRewards, CodeFormat) {
  std::string good = "<think>\nplan\n</think>\n<answer>\nHere:\n```python\nprint(1)\n```\n</answer>";
  EXPECT_TRUE(matches_code_format(good, "python"));
  EXPECT_FALSE(matches_code_format(good, "cpp"));
  EXPECT_FALSE(matches_code_format("<think>\nplan\n</think>\n<answer>\n```python\nprint(1)\n</answer>", "python"));
  RewardArgs a;
  a.code_language = "cpp";
  auto f = make("code_format", a);
  Problem plain = problem(""), py = problem("");
  py.meta["language"] = "python";  // a per-problem language overrides code_language
  auto r = f->score({in(plain, good), in(py, good)});
  EXPECT_EQ(r, (std::vector<double>{0.0, 1.0}));
}

TEST(QualityRewards, RepetitionPenalty) {
  auto r = RepetitionPenaltyReward::create(3, -1.0);
  ASSERT_TRUE(r.is_ok());
  // 6 words -> 4 trigrams (a b c)(b c a)(c a b)(a b c): 3 unique -> (1 - 3/4) x -1.
  EXPECT_DOUBLE_EQ(r->score_one("a b c a b c"), -0.25);
  EXPECT_DOUBLE_EQ(r->score_one("A b C\ta B\nc"), -0.25);  // lower-cased, any whitespace
  EXPECT_DOUBLE_EQ(r->score_one(""), 0.0);
  EXPECT_DOUBLE_EQ(r->score_one("a b"), 0.0);               // fewer words than n
  EXPECT_DOUBLE_EQ(r->score_one("x\xc2\xa0y z"), 0.0);      // NBSP splits: 3 words, 1 trigram, unique
  EXPECT_DOUBLE_EQ(r->score_one("\xc3\x89t\xc3\xa9 \xc3\xa9t\xc3\xa9 a \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 a"), -0.25);
  auto half = RepetitionPenaltyReward::create(2, -0.5);
  ASSERT_TRUE(half.is_ok());
  EXPECT_DOUBLE_EQ(half->score_one("go go go go go"), -0.5 * (1 - 1.0 / 4.0));  // 4 bigrams, 1 unique
  EXPECT_FALSE(RepetitionPenaltyReward::create(3, 0.5).is_ok());
  EXPECT_EQ(python_lower_split("  Hello\u2003W\xc3\x96rld  "), (std::vector<std::string>{"hello", "w\xc3\xb6rld"}));
}

TEST(QualityRewards, SoftOverlongPunishment) {
  auto r = SoftOverlongPunishmentReward::create(100, 20);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->score_length(0), 0.0);
  EXPECT_EQ(r->score_length(80), 0.0);
  EXPECT_DOUBLE_EQ(r->score_length(90), -0.5);   // (80 - 90) / 20
  EXPECT_DOUBLE_EQ(r->score_length(81), -0.05);
  EXPECT_DOUBLE_EQ(r->score_length(100), -1.0);
  EXPECT_EQ(r->score_length(101), -1.0);
  EXPECT_TRUE(std::isnan(r->score_length(-1)));  // unknown token count
  EXPECT_FALSE(SoftOverlongPunishmentReward::create(0, 0).is_ok());
  EXPECT_FALSE(SoftOverlongPunishmentReward::create(10, 11).is_ok());
  RewardArgs a;
  a.max_completion_len = 10;
  a.soft_punish_cache = 0;  // no soft zone: 0 up to the limit, -1 beyond
  auto f = make("soft_overlong_punishment", a);
  Problem p = problem("");
  EXPECT_EQ(f->score({in(p, "", 10), in(p, "", 11)}), (std::vector<double>{0.0, -1.0}));
}

TEST(RewardRegistry, NamesUnknownAndWeightedSum) {
  EXPECT_EQ(reward_names(), (std::vector<std::string>{"accuracy", "binary_code", "cf_code", "code", "code_format",
                                                      "cosine", "format", "ioi_code", "length", "reasoning_steps",
                                                      "repetition_penalty", "soft_overlong_punishment", "tag_count"}));
  RewardParams p;
  auto bad = make_reward("vibes", p);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("unknown reward function 'vibes'; known: accuracy, binary_code"), std::string::npos)
      << bad.status().message();
  p.args.repetition_max_penalty = 1.0;
  auto pos = make_reward("repetition_penalty", p);
  ASSERT_FALSE(pos.is_ok());
  EXPECT_NE(pos.status().message().find("should not be positive"), std::string::npos);

  RewardParams w;
  w.args.reward_funcs = {"accuracy", "format"};
  w.args.reward_weights = {2.0, 0.5};
  auto set = RewardSet::create(w);
  ASSERT_TRUE(set.is_ok()) << set.status().message();
  Problem half = problem("\\frac{1}{2}"), broken = problem("");
  std::string formatted = "<think>\nhalf\n</think>\n<answer>\n\\boxed{\\frac{1}{2}}\n</answer>";
  auto s = set->score({in(half, formatted), in(broken, formatted), in(broken, "\\boxed{1}"), in(half, "\\boxed{2}")});
  EXPECT_EQ(s.names, (std::vector<std::string>{"accuracy", "format"}));
  EXPECT_EQ(s.per_function[1], (std::vector<double>{1, 1, 0, 0}));
  EXPECT_DOUBLE_EQ(s.total[0], 2.5);  // 2 x 1 + 0.5 x 1
  EXPECT_DOUBLE_EQ(s.total[1], 0.5);  // accuracy NaN skipped
  EXPECT_DOUBLE_EQ(s.total[2], 0.0);  // NaN skipped, 0.5 x 0
  EXPECT_DOUBLE_EQ(s.total[3], 0.0);
  EXPECT_TRUE(std::isnan(weighted_reward_sum({NAN, NAN}, {1, 1})));
  RewardParams mismatch;
  mismatch.args.reward_funcs = {"format"};
  mismatch.args.reward_weights = {1, 2};
  EXPECT_FALSE(RewardSet::create(mismatch).is_ok());
}
