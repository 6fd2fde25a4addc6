// Pathological inputs (bounded time, no crash / throw), options, normalisation, threads.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tasks/math/math_compare.h"

namespace {

using crucible::math::compare_answers;
using crucible::math::CompareOptions;
using crucible::math::CompareResult;
using crucible::math::normalize_answer_text;

// Generous wall bound for a loaded 2-core machine; speed targets live in bench/.
constexpr double kMaxMs = 200;

CompareResult timed(const std::string& g, const std::string& p, double* ms,
                    const CompareOptions& o = {}) {
  auto t0 = std::chrono::steady_clock::now();
  CompareResult r = compare_answers(g, p, o);
  *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int k = 0; k < n; ++k) out += s;
  return out;
}

struct Patho {
  const char* name;
  std::string gold, pred;
  int expect;  // 1 equal, 0 not equal, -1 either (just bounded)
};

std::vector<Patho> patho_cases() {
  return {
      {"tower_10", "10^{10^{10}}", "1", 0},
      {"tower_10_same_text", "10^{10^{10}}", "10^{10^{10}}", 1},
      {"tower_10_plus_one", "10^{10^{10}}", "10^{10^{10}}+1", 0},
      {"tower_2_five", "2^{2^{2^{2^{2}}}}", "2^{65536}", 1},
      {"tower_2_five_off_by_one", "2^{2^{2^{2^{2}}}}", "2^{65536}+1", 0},
      {"tower_2_six", "2^{2^{2^{2^{2^{2}}}}}", "1", 0},
      {"tower_9", "9^{9^{9}}", "9^{9^9}+0", -1},
      {"factorial_100000", "100000!", "5", 0},
      {"factorial_of_power", "(10^{100})!", "1", 0},
      {"factorial_1000_self", "1000!", "1000\\cdot 999!", 1},
      {"binom_huge", "\\binom{1000000}{500000}", "1", 0},
      {"sci_huge_exponent", "1e999999", "1", 0},
      {"sqrt_power_huge", "\\sqrt{2}^{100000}", "2^{50000}", -1},
      {"symbolic_power_huge", "x^{100000}", "x^{99999}", 0},
      {"symbolic_power_big_same", "(x+1)^{1000}", "(1+x)^{1000}", 1},
      {"exp_huge", "e^{10^{10}}", "e^{10^{10}}", 1},
      {"sin_huge", "\\sin(10^{100})", "\\sin(10^{100}+1)", 0},
      {"chars_100k_same", repeat("1", 100000), repeat("1", 100000), 1},
      {"chars_100k_diff", repeat("1", 100000), repeat("1", 99999) + "2", 0},
      {"chars_100k_vs_short", repeat("1+", 50000) + "1", "50001", 0},
      {"nested_braces_500", repeat("{", 500) + "1" + repeat("}", 500), "1", -1},
      {"nested_braces_500_unbalanced", repeat("{", 500) + "1", "1", 0},
      {"nested_parens_500", repeat("(", 500) + "1" + repeat(")", 500), "2", 0},
      {"nested_frac_300", repeat("\\frac{1}{", 300) + "2" + repeat("}", 300), "2", -1},
      {"nested_sqrt_300", repeat("\\sqrt{", 300) + "2" + repeat("}", 300), "2", 0},
      {"unary_minus_3000", repeat("-", 3000) + "1", "1", -1},
      {"long_sum_within_limit", repeat("1+", 1500) + "1", "1501", 1},
      {"long_symbolic_sum", repeat("x+", 1000) + "x", "1001x", 1},
      {"long_list", repeat("1,", 1500) + "1", "1", -1},
      {"many_digits", repeat("7", 4000), repeat("7", 4000), 1},
      {"many_digits_diff", repeat("7", 3999) + "8", repeat("7", 4000), 0},
      {"long_decimal", "0." + repeat("0", 3000) + "1", "0", -1},
      {"many_powers", repeat("2^{60000}\\cdot", 30) + "1", "1", 0},
      {"only_operators", repeat("+-*/", 500), "1", 0},
      {"only_backslashes", repeat("\\", 1001), "1", 0},
      {"control_chars", std::string("1\x01\x02", 3), "1", 0},
      {"nul_byte", std::string("1\0", 2), "1", -1},
      {"lone_brace", "{", "}", 0},
      {"unterminated_text", "\\text{abc", "abc", -1},
      {"unterminated_matrix", "\\begin{pmatrix}1&2", "(1,2)", 0},
      {"deep_text", repeat("\\text{", 50) + "5" + repeat("}", 50), "5", -1},
      {"huge_fraction_den", "\\frac{1}{10^{10^{10}}}", "0", 0},
      {"zero_to_huge", "0^{10^{10}}", "0", -1},
      {"one_to_huge", "1^{10^{10}}", "1", -1},
      {"pole", "\\tan\\frac{\\pi}{2}", "1", -1},
      {"log_zero", "\\ln 0", "1", 0},
      {"many_variables", "a+b+c+d+e+f+g+h+j+k+l+m+n+o+p+q+r+s+t+u+v+w+x+y+z",
       "z+y+x+w+v+u+t+s+r+q+p+o+n+m+l+k+j+h+g+f+e+d+c+b+a", 1},
      {"set_200_items", "\\{" + repeat("1,", 199) + "1\\}", "\\{1\\}", -1},
  };
}

TEST(MathCompareRobustness, PathologicalInputsAreBounded) {
  for (const Patho& c : patho_cases()) {
    double ms = 0;
    CompareResult r;
    EXPECT_NO_THROW(r = timed(c.gold, c.pred, &ms)) << c.name;
    EXPECT_LT(ms, kMaxMs) << c.name;
    if (c.expect >= 0) {
      EXPECT_EQ(r.equal, c.expect == 1) << c.name << " note=" << r.note;
    }
  }
}

TEST(MathCompareRobustness, LimitsAreNoted) {
  CompareResult r = compare_answers("10^{10^{10}}", "1");
  EXPECT_FALSE(r.equal);
  EXPECT_FALSE(r.gold_parsed);
  EXPECT_NE(r.note.find("too large"), std::string::npos) << r.note;
  r = compare_answers(repeat("(", 500) + "1" + repeat(")", 500), "1");
  EXPECT_FALSE(r.gold_parsed);
  EXPECT_NE(r.note.find("nesting"), std::string::npos) << r.note;
  r = compare_answers(repeat("1", 100000), "1");
  EXPECT_NE(r.note.find("max_input_chars"), std::string::npos) << r.note;
}

TEST(MathCompareRobustness, SymmetricOnPathological) {
  for (const Patho& c : patho_cases()) {
    double ms = 0;
    timed(c.pred, c.gold, &ms);
    EXPECT_LT(ms, kMaxMs) << c.name << " (swapped)";
  }
}

TEST(MathCompareOptions, PercentStrict) {
  CompareOptions o;
  o.percent_lenient = false;
  EXPECT_FALSE(compare_answers("28\\%", "28", o).equal);
  EXPECT_TRUE(compare_answers("28\\%", "0.28", o).equal);
  EXPECT_TRUE(compare_answers("28\\%", "28\\%", o).equal);
  EXPECT_TRUE(compare_answers("28\\%", "\\frac{7}{25}", o).equal);
}

TEST(MathCompareOptions, RelTol) {
  CompareOptions loose;
  loose.rel_tol = 1e-2;
  EXPECT_TRUE(compare_answers("\\pi", "3.14", loose).equal);
  EXPECT_FALSE(compare_answers("\\pi", "3.14").equal);
  CompareOptions tight;
  tight.rel_tol = 1e-12;
  EXPECT_FALSE(compare_answers("\\pi", "3.14159265", tight).equal);
  EXPECT_TRUE(compare_answers("\\pi", "3.14159265").equal);
}

TEST(MathCompareOptions, MaxInputChars) {
  CompareOptions o;
  o.max_input_chars = 5;
  CompareResult r = compare_answers("\\frac{1}{2}", "0.5", o);
  EXPECT_FALSE(r.equal);
  EXPECT_EQ(r.method, "string");
  EXPECT_TRUE(compare_answers("\\frac{1}{2}", "\\frac{1}{2}", o).equal);
}

TEST(MathCompareOptions, MaxDepth) {
  CompareOptions o;
  o.max_depth = 10;
  EXPECT_FALSE(compare_answers("((((((((1))))))))", "1", o).equal);
  EXPECT_TRUE(compare_answers("((((((((1))))))))", "1").equal);
}

TEST(MathCompareResult, MethodsAndFlags) {
  CompareResult r = compare_answers("42", "42");
  EXPECT_TRUE(r.equal);
  EXPECT_EQ(r.method, "string");
  r = compare_answers("42", "042");
  EXPECT_EQ(r.method, "exact");
  r = compare_answers("\\sqrt{8}", "2\\sqrt{2}");
  EXPECT_TRUE(r.equal);
  EXPECT_TRUE(r.gold_parsed);
  EXPECT_TRUE(r.pred_parsed);
  r = compare_answers("(x+1)^2", "x^2+2x+1");
  EXPECT_TRUE(r.equal);
  EXPECT_EQ(r.method, "symbolic");
  r = compare_answers("5", "\\frac{1}{2");
  EXPECT_FALSE(r.pred_parsed);
  EXPECT_FALSE(r.note.empty());
}

TEST(MathCompareResult, Deterministic) {
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(compare_answers("\\sin(2x)", "2\\sin x\\cos x").equal);
    EXPECT_FALSE(compare_answers("\\sin(2x)", "2\\sin x").equal);
  }
}

TEST(MathNormalize, CanonicalText) {
  EXPECT_EQ(normalize_answer_text("  \\left( 1, 2 \\right) "), "(1, 2)");
  EXPECT_EQ(normalize_answer_text("\\dfrac{1}{2}"), "\\frac{1}{2}");
  EXPECT_EQ(normalize_answer_text("\\tfrac{1}{2}."), "\\frac{1}{2}");
  EXPECT_EQ(normalize_answer_text("\\text{Evelyn}"), "Evelyn");
  EXPECT_EQ(normalize_answer_text("$5$"), "5");
  EXPECT_EQ(normalize_answer_text("x \\, + \\, 1"), "x+1");
  EXPECT_EQ(normalize_answer_text("10,\\!000"), "10,000");
  EXPECT_EQ(normalize_answer_text("4 4/9"), "4 4/9");  // a space between digits matters
  EXPECT_EQ(normalize_answer_text("\\sin x"), "\\sin x");
  EXPECT_EQ(normalize_answer_text(""), "");
}

TEST(MathCompareThreads, ConcurrentCallsAgree) {
  struct P { const char* g; const char* p; bool eq; };
  const P pairs[] = {{"\\frac{1}{2}", "0.5", true},      {"2\\sqrt2", "\\sqrt8", true},
                     {"(1,2)", "(2,1)", false},         {"x^2-1", "(x-1)(x+1)", true},
                     {"\\{1,2\\}", "\\{2,1\\}", true},  {"x>2", "(2,\\infty)", true},
                     {"\\pi", "3.14", false},           {"1011_2", "11", true}};
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 200; ++k)
        for (const P& q : pairs)
          if (compare_answers(q.g, q.p).equal != q.eq) ++bad[t];
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
}

}  // namespace
