// bench_math_grading: MathGrader throughput and latency on generated MATH-500-style pairs.
//
// The pairs are written by this program (no dataset needed): ~1.5 KB of step-by-step reasoning with
// inline and display LaTeX, optionally inside <think>...</think>, ending in a boxed answer (or an
// answer phrase). Golds cycle through varied answer forms (integers, fractions, radicals, pi,
// intervals, tuples, sets, text, degrees, percents, matrices, ...). About 70% of the pairs answer
// correctly, ~20% wrongly, ~10% give no answer (truncated). The generator is deterministic (a fixed
// seed and a project-local LCG, so the same pairs on every platform).
//
// Usage: bench_math_grading [--pairs N] [--seed S] [--integer-fallback] [--show-mismatches K]
// (--show-mismatches K prints the first K pairs whose verdict differs from the generator's intent
// to stderr: gold, extracted answer, verdict, compare method.)
// Prints a Markdown block for docs/PERFORMANCE.md.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tasks/math/answer_extraction.h"
#include "tasks/math/math_grader.h"

using namespace crucible;
using namespace crucible::math;
using Clock = std::chrono::steady_clock;

namespace {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
  uint32_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s >> 33);
  }
  size_t below(size_t n) { return next() % n; }
  bool chance(int percent) { return static_cast<int>(below(100)) < percent; }
};

// Gold answers in the forms MATH-500 uses; each with a plausible wrong answer of the same form.
struct GoldForm {
  const char* gold;
  const char* wrong;
};
const GoldForm kGolds[] = {
    {"204", "202"},
    {"033", "34"},
    {"-7", "7"},
    {"1000", "999"},
    {"\\frac{3}{4}", "\\frac{4}{3}"},
    {"\\frac{14}{3}", "\\frac{13}{3}"},
    {"-\\frac{1}{2}", "\\frac{1}{2}"},
    {"2\\sqrt{3}", "3\\sqrt{2}"},
    {"\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{2}}{2}"},
    {"5\\sqrt{2} - 1", "5\\sqrt{2} + 1"},
    {"16\\pi", "8\\pi"},
    {"\\frac{\\pi}{3}", "\\frac{\\pi}{6}"},
    {"4 - \\pi", "\\pi - 4"},
    {"(-\\infty, 3]", "(-\\infty, 3)"},
    {"[2, 5)", "[2, 5]"},
    {"(-2, 0) \\cup (1, \\infty)", "(-2, 1)"},
    {"(3, -1)", "(-1, 3)"},
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "\\left( 3, \\pi \\right)"},
    {"\\{1, 2, 3\\}", "\\{1, 2\\}"},
    {"\\text{Evelyn}", "\\text{Angela}"},
    {"\\text{(C)}", "\\text{(B)}"},
    {"30^\\circ", "60^\\circ"},
    {"25\\%", "20\\%"},
    {"0.75", "0.8"},
    {"x^2 + 2x + 1", "x^2 - 2x + 1"},
    {"\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}"},
    {"y = 2x + 3", "y = 3x + 2"},
    {"\\$18.90", "\\$19.80"},
    {"6 + 9i", "9 + 6i"},
    {"2, -3", "-2, 3"},
};

const char* kSteps[] = {
    "First, let me restate the problem. We are given that $x^2 + 5x + 6 = 0$, so we factor it as "
    "$(x+2)(x+3) = 0$ and read off the roots $x = -2$ and $x = -3$.\n\n",
    "Next, consider the expression \\[ \\frac{a+b}{a-b} = \\frac{\\sqrt{3}+1}{\\sqrt{3}-1}, \\] and "
    "rationalise the denominator by multiplying by $\\sqrt{3}+1$ to get $2 + \\sqrt{3}$.\n\n",
    "By the Pythagorean theorem, $AB^2 = AC^2 + BC^2 = 9 + 16 = 25$, hence $AB = 5$. The area of "
    "triangle $ABC$ is $\\frac{1}{2} \\cdot 3 \\cdot 4 = 6$.\n\n",
    "Let me double-check this step. Substituting $n = 4$ into $\\binom{n}{2} = \\frac{n(n-1)}{2}$ "
    "gives $6$, which matches the count of pairs we listed: $\\{1,2\\}, \\{1,3\\}, \\{1,4\\}, "
    "\\{2,3\\}, \\{2,4\\}, \\{3,4\\}$.\n\n",
    "Now we use the identity $\\sin^2\\theta + \\cos^2\\theta = 1$. Since $\\sin\\theta = "
    "\\frac{3}{5}$, we have $\\cos\\theta = \\pm\\frac{4}{5}$, and the angle lies in the second "
    "quadrant, so $\\cos\\theta = -\\frac{4}{5}$.\n\n",
    "The sum of the geometric series is $\\sum_{k=0}^{\\infty} \\left(\\frac{1}{3}\\right)^k = "
    "\\frac{1}{1 - \\frac{1}{3}} = \\frac{3}{2}$. Multiplying by the first term $a_0 = 4$ we get "
    "$6$.\n\n",
    "Wait, I should check the boundary case. If $x = 0$ then $f(0) = \\log_2(1) = 0$, which is "
    "allowed, but $x = -1$ makes the argument $\\frac{1}{x+1}$ undefined, so it is excluded.\n\n",
    "We can write the system as a matrix equation: $\\begin{pmatrix} 2 & 1 \\\\ 1 & 3 "
    "\\end{pmatrix} \\begin{pmatrix} x \\\\ y \\end{pmatrix} = \\begin{pmatrix} 5 \\\\ 10 "
    "\\end{pmatrix}$, whose determinant is $2 \\cdot 3 - 1 \\cdot 1 = 5 \\neq 0$.\n\n",
    "Modulo $7$, the powers of $3$ cycle with period $6$: $3^1 \\equiv 3$, $3^2 \\equiv 2$, "
    "$3^3 \\equiv 6$, $3^4 \\equiv 4$, $3^5 \\equiv 5$, $3^6 \\equiv 1 \\pmod{7}$.\n\n",
    "Hmm, that does not look right. Let me recompute: $12 \\times 17 = 204$, and $204 / 4 = 51$. "
    "So the intermediate value is $51$, and we continue from there.\n\n",
};

struct Pair {
  std::string gold;
  std::string completion;
  int kind;  // 0 correct, 1 wrong, 2 no answer
};

std::vector<Pair> make_pairs(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<Pair> pairs;
  pairs.reserve(n);
  const size_t ngolds = sizeof(kGolds) / sizeof(kGolds[0]);
  const size_t nsteps = sizeof(kSteps) / sizeof(kSteps[0]);
  for (size_t i = 0; i < n; ++i) {
    const GoldForm& g = kGolds[rng.below(ngolds)];
    Pair p;
    p.gold = g.gold;
    std::string& c = p.completion;
    c.reserve(2048);
    bool think = rng.chance(50);
    if (think) c += "<think>\n";
    while (c.size() < 1300) c += kSteps[rng.below(nsteps)];
    int r = static_cast<int>(rng.below(100));
    p.kind = r < 70 ? 0 : r < 90 ? 1 : 2;
    const char* ans = p.kind == 0 ? g.gold : g.wrong;
    if (p.kind == 2) {  // truncated mid-reasoning: no answer
      if (think) c += "Let me reconsider the case where";
      else c += "So far we have $x = ";
    } else {
      if (think) c += "</think>\n\nPutting it together:\n\n";
      // An intermediate boxed value sometimes precedes the final one.
      if (rng.chance(10)) c += "From the first part, $\\boxed{6}$ pairs. ";
      switch (rng.below(10)) {
        case 0:
          c += "The final answer is $";
          c += ans;
          c += "$. I hope it is correct.";
          break;
        case 1:
          c += "**Final Answer**\n\\[\n\\boxed{";
          c += ans;
          c += "}\n\\]";
          break;
        default:
          c += "Therefore, the final answer is: $\\boxed{";
          c += ans;
          c += "}$.";
      }
    }
    pairs.push_back(std::move(p));
  }
  return pairs;
}

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double time_one(const MathGrader& g, const std::string& gold, const std::string& completion, Grade* out = nullptr) {
  Problem p;
  p.gold = gold;
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    Grade r = g.grade(p, completion);
    double t = us(Clock::now() - t0);
    best = std::min(best, t);
    if (out) *out = r;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = 20000;
  uint64_t seed = 20240601;
  bool int_fb = false;
  int show_mismatches = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--pairs") && i + 1 < argc) n = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--integer-fallback")) int_fb = true;
    else if (!std::strcmp(argv[i], "--show-mismatches") && i + 1 < argc) show_mismatches = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--pairs N] [--seed S] [--integer-fallback] [--show-mismatches K]\n", argv[0]);
      return 2;
    }
  }
  if (n == 0) n = 1;
  std::vector<Pair> pairs = make_pairs(n, seed);
  size_t bytes = 0;
  for (auto& p : pairs) bytes += p.completion.size();

  MathGraderOptions opts;
  opts.integer_fallback = int_fb;
  MathGrader grader(opts);

  // Warm-up (page in code, allocator, any lazy init in the comparison library).
  for (size_t i = 0; i < std::min<size_t>(n, 500); ++i) {
    Problem p;
    p.gold = pairs[i].gold;
    (void)grader.grade(p, pairs[i].completion);
  }

  std::vector<double> lat(n);
  std::map<std::string, std::vector<double>> by_gold;  // latency per gold form
  std::map<std::string, size_t> verdicts;
  size_t mismatched = 0;  // verdict differs from what the generator intended
  // Time spent in extraction alone, measured on a separate pass (so the main loop is undisturbed).
  // kPasses timed passes over all pairs. Throughput comes from the fastest pass; a pair's latency is
  // its minimum over the passes, so scheduler preemption on a shared machine (a ~10 ms timeslice)
  // does not pose as grader cost. The single-pass worst case is reported too.
  constexpr int kPasses = 3;
  double total_s = 1e300;
  double worst_single_pass = 0;
  std::fill(lat.begin(), lat.end(), 1e300);
  for (int pass = 0; pass < kPasses; ++pass) {
    auto t_all = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      Problem p;
      p.gold = pairs[i].gold;
      auto t0 = Clock::now();
      Grade g = grader.grade(p, pairs[i].completion);
      double t = us(Clock::now() - t0);
      lat[i] = std::min(lat[i], t);
      worst_single_pass = std::max(worst_single_pass, t);
      if (pass > 0) continue;
      ++verdicts[verdict_name(g.verdict)];
      Verdict want = pairs[i].kind == 0 ? Verdict::kCorrect : pairs[i].kind == 1 ? Verdict::kWrong : Verdict::kNoAnswer;
      if (g.verdict != want && static_cast<int>(mismatched++) < show_mismatches)
        std::fprintf(stderr, "mismatch #%zu: gold=%s extracted=%s verdict=%s intended=%s details=%s\n", i,
                     pairs[i].gold.c_str(), g.extracted.c_str(), verdict_name(g.verdict), verdict_name(want),
                     g.details.dump().c_str());
    }
    total_s = std::min(total_s, std::chrono::duration<double>(Clock::now() - t_all).count());
  }
  for (size_t i = 0; i < n; ++i) by_gold[pairs[i].gold].push_back(lat[i]);

  auto t_ex = Clock::now();
  size_t found = 0;
  for (size_t i = 0; i < n; ++i) found += extract_answer(pairs[i].completion, {int_fb, false}).found;
  double extract_us = us(Clock::now() - t_ex) / static_cast<double>(n);

  std::vector<double> sorted = lat;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double q) { return sorted[std::min(n - 1, static_cast<size_t>(q * static_cast<double>(n)))]; };
  double pairs_per_s = static_cast<double>(n) / total_s;

  // Pathological completions (best of 3 runs each).
  struct Patho {
    std::string name;
    std::string gold;
    std::string completion;
  };
  std::vector<Patho> patho;
  patho.push_back({"500 nested braces in \\boxed{}", "1",
                   "\\boxed{" + std::string(500, '{') + "1" + std::string(500, '}') + "}"});
  patho.push_back({"500 nested braces, unterminated", "1", "\\boxed{" + std::string(500, '{') + "1"});
  {
    std::string s;
    for (int i = 0; i < 15000; ++i) s += "\\boxed{";
    patho.push_back({"15,000 x \"\\boxed{\" (105k chars)", "1", s});
  }
  {
    std::string s;
    while (s.size() < 100000) s += kSteps[s.size() % 10];
    patho.push_back({"100k chars, no answer", "204", s});
    patho.push_back({"100k chars + final \\boxed{204}", "204", s + "\\boxed{204}"});
    patho.push_back({"100k chars, unterminated <think>", "204", "<think>" + s});
  }
  {
    std::string s;
    for (int i = 0; i < 10000; ++i) s += "Answer: $";
    patho.push_back({"10,000 x \"Answer: $\" (90k chars)", "1", s});
  }
  patho.push_back({"50k-char boxed content", "1", "\\boxed{" + std::string(50000, '1') + "}"});

  std::printf("### Math grading (bench_math_grading)\n\n");
  std::printf("%zu generated MATH-500-style pairs (seed %llu, mean completion %.0f bytes, "
              "integer_fallback=%s), graded single-threaded with MathGrader "
              "(extraction + compare_answers).\n\n",
              n, static_cast<unsigned long long>(seed), static_cast<double>(bytes) / static_cast<double>(n),
              int_fb ? "on" : "off");
  std::printf("| metric | value |\n|---|---|\n");
  std::printf("| throughput (fastest of %d passes) | %.0f pairs/s |\n", kPasses, pairs_per_s);
  std::printf("| mean (fastest pass) | %.2f us |\n", total_s * 1e6 / static_cast<double>(n));
  std::printf("| median | %.2f us |\n", pct(0.5));
  std::printf("| p99 | %.2f us |\n", pct(0.99));
  std::printf("| worst (min of %d passes per pair) | %.2f us |\n", kPasses, sorted.back());
  std::printf("| worst (any single pass, includes scheduler noise) | %.2f us |\n", worst_single_pass);
  std::printf("| extraction alone (mean) | %.2f us |\n", extract_us);
  std::string vs;
  for (auto& [k, v] : verdicts) vs += (vs.empty() ? "" : ", ") + k + " " + std::to_string(v);
  std::printf("| verdicts | %s |\n", vs.c_str());
  std::printf("| verdict != generator intent | %zu (%.1f%%) |\n\n", mismatched,
              100.0 * static_cast<double>(mismatched) / static_cast<double>(n));

  {
    struct Row {
      std::string gold;
      double mean, median, worst;
    };
    std::vector<Row> rows;
    for (auto& [gold, v] : by_gold) {
      std::vector<double> t = v;
      std::sort(t.begin(), t.end());
      double sum = 0;
      for (double x : t) sum += x;
      rows.push_back({gold, sum / static_cast<double>(t.size()), t[t.size() / 2], t.back()});
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.mean > b.mean; });
    std::printf("Where the time goes: the 8 most expensive gold forms (extraction is ~%.1f us of each;\n"
                "the rest is compare_answers).\n\n",
                extract_us);
    std::printf("| gold form | mean | median | worst |\n|---|---|---|---|\n");
    for (size_t i = 0; i < rows.size() && i < 8; ++i)
      std::printf("| `%s` | %.1f us | %.1f us | %.1f us |\n", rows[i].gold.c_str(), rows[i].mean, rows[i].median,
                  rows[i].worst);
    std::printf("\n");
  }

  std::printf("| pathological completion | time (best of 3) | verdict |\n|---|---|---|\n");
  for (auto& p : patho) {
    Grade g;
    double t = time_one(grader, p.gold, p.completion, &g);
    std::printf("| %s | %.1f us | %s |\n", p.name.c_str(), t, verdict_name(g.verdict));
  }
  std::printf("\nTargets: >= 20,000 pairs/s on one core, median < 50 us: %s.\n",
              (pairs_per_s >= 20000 && pct(0.5) < 50) ? "met" : "NOT met");
  return 0;
}
