// Tests for tasks/code: extraction, checkers, compile cache, judge scoring on tiny hand-made
// problems, every labelled solution of ../shared/data/problems, the CLI's --json output.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "tasks/code/checker.h"
#include "tasks/code/code_extraction.h"
#include "tasks/code/code_grader.h"
#include "tasks/code/compiler.h"
#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"
#include "tasks/task_registry.h"
#include "tests/code/code_test_support.h"

namespace fs = std::filesystem;
using namespace crucible;
using namespace crucible::code;
using namespace crucible::code_test;


// ---------------------------------------------------------------- extraction
TEST(CodeExtraction, LastBlockOfLanguageAfterThink) {
  std::string c =
      "<think>```cpp\nint think(){}\n```</think>Here:\n```python\nprint(1)\n```\n"
      "```cpp\nint a;\n```\ntext\n```c++\nint b;\n```\n";
  auto e = extract_code(c, Language::kCpp);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "int b;\n");
  EXPECT_FALSE(e->fallback);
  auto p = extract_code(c, Language::kPython);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->code, "print(1)\n");
}

TEST(CodeExtraction, BareFenceFallbackAndNoCode) {
  auto e = extract_code("```\nx = 1\n```", Language::kPython);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->fallback);
  EXPECT_FALSE(extract_code("no code here", Language::kCpp));
  EXPECT_FALSE(extract_code("<think>```cpp\nint x;\n```</think> none", Language::kCpp));
  EXPECT_FALSE(extract_code("```java\nclass A{}\n```", Language::kCpp));
  auto cc = extract_code("```cc\nint c;\n```", Language::kCpp);
  ASSERT_TRUE(cc);
  EXPECT_EQ(cc->code, "int c;\n");
  auto py3 = extract_code("```python3\nprint(2)\n```", Language::kPython);
  ASSERT_TRUE(py3);
  // Unclosed final block (truncated completion) still counts.
  auto open = extract_code("```cpp\nint main(){}\n", Language::kCpp);
  ASSERT_TRUE(open);
  EXPECT_EQ(open->code, "int main(){}\n");
}

// ---------------------------------------------------------------- built-in checkers
TEST(Checker, TokenDiffIgnoresWhitespace) {
  CheckerSpec s;
  EXPECT_EQ(compare_builtin(s, "1  2\n3\n\n", "1 2 3").score, 1.0);
  EXPECT_EQ(compare_builtin(s, "1 2", "1 2 3").score, 0.0);
  EXPECT_EQ(compare_builtin(s, "YES", "yes").score, 0.0);
  s.kind = CheckerKind::kCaseInsensitive;
  EXPECT_EQ(compare_builtin(s, "YES", "yes").score, 1.0);
  s.kind = CheckerKind::kExact;
  EXPECT_EQ(compare_builtin(s, "1 2\n", "1 2").score, 1.0);
  EXPECT_EQ(compare_builtin(s, "1  2\n", "1 2").score, 0.0);
}

TEST(Checker, FloatTolerance) {
  CheckerSpec s = checker_from_kattis_flags("float_tolerance 1e-6");
  EXPECT_EQ(s.kind, CheckerKind::kFloat);
  EXPECT_EQ(compare_builtin(s, "1.0000001 abc", "1 abc").score, 1.0);
  EXPECT_EQ(compare_builtin(s, "1.001", "1").score, 0.0);
  EXPECT_EQ(compare_builtin(s, "1000000.5", "1000000").score, 1.0);  // relative 1e-6 * 1e6 = 1
  CheckerSpec a = checker_from_kattis_flags("float_absolute_tolerance 0.01");
  EXPECT_EQ(compare_builtin(a, "100.005", "100").score, 1.0);
  EXPECT_EQ(compare_builtin(a, "100.5", "100").score, 0.0);
  CheckerSpec r = checker_from_kattis_flags("float_relative_tolerance 0.01");
  EXPECT_EQ(compare_builtin(r, "100.5", "100").score, 1.0);
  EXPECT_EQ(compare_builtin(r, "0.005", "0").score, 0.0);
  EXPECT_EQ(compare_builtin(r, "nan", "0").score, 0.0);
}

// ---------------------------------------------------------------- external checkers
TEST(Checker, TestlibExitCodesAndPoints) {
  SKIP_WITHOUT_SANDBOX();
  // A tiny checker speaking testlib's exit-code protocol (argv: input output answer).
  std::string src = R"(#include <cstdio>
#include <cstring>
int main(int argc, char** argv) {
  if (argc != 4) return 3;
  FILE* o = fopen(argv[2], "r"); FILE* a = fopen(argv[3], "r");
  char x[64] = {0}, y[64] = {0};
  if (fscanf(o, "%63s", x) != 1) return 2;
  fscanf(a, "%63s", y);
  if (!strcmp(x, "half")) { printf("0.5\n"); return 7; }
  if (!strcmp(x, "fail")) return 3;
  return strcmp(x, y) ? 1 : 0;
})";
  CompileOptions co;
  co.cache_dir = cache_dir();
  Compiler comp(sb(), co);
  CheckerSpec spec;
  spec.kind = CheckerKind::kTestlib;
  spec.sources = {{"checker.cpp", src, true}};
  Checker ch(sb(), comp, spec);
  ASSERT_EQ(ch.error(), "");
  EXPECT_EQ(ch.check("in", "42", "42").score, 1.0);
  auto wa = ch.check("in", "41", "42");
  EXPECT_EQ(wa.score, 0.0);
  EXPECT_FALSE(wa.failed);
  auto pe = ch.check("in", "", "42");
  EXPECT_TRUE(pe.presentation);
  EXPECT_EQ(pe.score, 0.0);
  EXPECT_DOUBLE_EQ(ch.check("in", "half", "42").score, 0.5);
  EXPECT_TRUE(ch.check("in", "fail", "42").failed);
}

TEST(Checker, CmsScoreLine) {
  SKIP_WITHOUT_SANDBOX();
  // CMS protocol: argv input correct_output contestant_output; score on stdout, message on stderr.
  std::string src = R"(#include <cstdio>
int main(int argc, char** argv) {
  FILE* c = fopen(argv[2], "r"); FILE* o = fopen(argv[3], "r");
  long a = 0, b = 0;
  fscanf(c, "%ld", &a);
  if (fscanf(o, "%ld", &b) != 1) { printf("0\n"); fprintf(stderr, "no output\n"); return 0; }
  if (a == b) { printf("1\n"); fprintf(stderr, "Output is correct\n"); }
  else if (b == a + 1) { printf("0.25\n"); fprintf(stderr, "Partially correct\n"); }
  else { printf("0\n"); fprintf(stderr, "Output isn't correct\n"); }
  return 0;
})";
  CompileOptions co;
  co.cache_dir = cache_dir();
  Compiler comp(sb(), co);
  CheckerSpec spec;
  spec.kind = CheckerKind::kCms;
  spec.sources = {{"checker.cpp", src, true}};
  Checker ch(sb(), comp, spec);
  ASSERT_EQ(ch.error(), "");
  auto okr = ch.check("", "7", "7");
  EXPECT_EQ(okr.score, 1.0);
  EXPECT_EQ(okr.message, "Output is correct");
  EXPECT_DOUBLE_EQ(ch.check("", "8", "7").score, 0.25);
  EXPECT_EQ(ch.check("", "9", "7").score, 0.0);
}

// ---------------------------------------------------------------- compile cache
TEST(Compiler, CacheHitSkipsCompilerAndErrorsAreVerdicts) {
  SKIP_WITHOUT_SANDBOX();
  CompileOptions co;
  co.cache_dir = temp_dir("cache-own");
  Compiler comp(sb(), co);
  std::vector<SourceFile> src = {{"main.cpp", "#include <cstdio>\nint main(){puts(\"hi\");}\n", true}};
  auto a = comp.compile(Language::kCpp, src);
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_FALSE(a.cache_hit);
  auto b = comp.compile(Language::kCpp, src);
  ASSERT_TRUE(b.ok);
  EXPECT_TRUE(b.cache_hit);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.binary, b.binary);
  EXPECT_TRUE(fs::exists(co.cache_dir + "/" + a.key + ".bin"));
  // Different flags -> different key.
  auto c = comp.compile(Language::kCpp, src, {"-DX=1"});
  EXPECT_NE(c.key, a.key);
  EXPECT_FALSE(c.cache_hit);

  auto bad = comp.compile(Language::kCpp, {{"main.cpp", "int main( { return 0; }\n", true}});
  EXPECT_FALSE(bad.ok);
  EXPECT_FALSE(bad.internal_error);
  EXPECT_NE(bad.error.find("error"), std::string::npos) << bad.error;

  auto py = comp.compile(Language::kPython, {{"main.py", "def f(:\n", true}});
  EXPECT_FALSE(py.ok);
  EXPECT_NE(py.error.find("SyntaxError"), std::string::npos) << py.error;
  auto pyok = comp.compile(Language::kPython, {{"main.py", "print(input())\n", true}});
  EXPECT_TRUE(pyok.ok) << pyok.error;
}

// ---------------------------------------------------------------- judge on tiny problems
namespace {

// A tiny CMS package: sum of two numbers, 2 subtasks sharing test "a".
std::string make_cms(bool with_checker) {
  std::string d = temp_dir("cms");
  write(d + "/problem.json", R"({"code":"sum","time_limit":1.0,"memory_limit":268435456,"task_type":"Batch","score_precision":2})");
  write(d + "/tests/a.in", "1 2\n");
  write(d + "/tests/a.out", "3\n");
  write(d + "/tests/b.in", "100 200\n");
  write(d + "/tests/b.out", "300\n");
  write(d + "/tests/c.in", "5 5\n");
  write(d + "/tests/c.out", "10\n");
  write(d + "/subtasks/01-small.json", R"({"score": 40, "testcases": ["a", "c"]})");
  write(d + "/subtasks/02-big.json", R"({"score": 60, "testcases": ["a", "b"]})");
  if (with_checker) {
    write(d + "/checker/checker.cpp", R"(#include <cstdio>
int main(int argc, char** argv) {
  FILE* c = fopen(argv[2], "r"); FILE* o = fopen(argv[3], "r");
  long a = 0, b = 0; fscanf(c, "%ld", &a);
  if (fscanf(o, "%ld", &b) != 1) { puts("0"); return 0; }
  puts(a == b ? "1" : (b == a + 1 ? "0.5" : "0")); fputs("msg\n", stderr);
})");
  }
  return d;
}

}  // namespace

TEST(Judge, IoiGroupMinAndSharedTests) {
  SKIP_WITHOUT_SANDBOX();
  auto p = load_problem_dir(make_cms(true));
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  // Correct only when a+b < 100 -> subtask small full, big zero.
  std::string src = "#include <cstdio>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\", a+b<100?a+b:0);}";
  auto r = judge_submission(sb(), *p, src, Language::kCpp, judge_opts());
  EXPECT_EQ(r.verdict, Verdict::kPartial);
  EXPECT_DOUBLE_EQ(r.points, 40);
  EXPECT_DOUBLE_EQ(r.score, 0.4);
  // Partial checker score: off by one on b -> big gets 60 * 0.5.
  std::string half = "#include <cstdio>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\", a+b<100?a+b:a+b+1);}";
  auto h = judge_submission(sb(), *p, half, Language::kCpp, judge_opts());
  EXPECT_DOUBLE_EQ(h.points, 70);
  EXPECT_EQ(h.verdict, Verdict::kPartial);
  // Python solution, full score; the shared test "a" ran once (3 tests, 3 results).
  auto py = judge_submission(sb(), *p, "a,b=map(int,input().split())\nprint(a+b)\n", Language::kPython, judge_opts());
  EXPECT_EQ(py.verdict, Verdict::kCorrect) << py.to_json().dump();
  EXPECT_DOUBLE_EQ(py.score, 1.0);
  // Compile error.
  auto ce = judge_submission(sb(), *p, "int main( {", Language::kCpp, judge_opts());
  EXPECT_EQ(ce.verdict, Verdict::kCompileError);
  EXPECT_FALSE(ce.message.empty());
}

TEST(Judge, KattisVerdictsAndRewards) {
  SKIP_WITHOUT_SANDBOX();
  std::string d = temp_dir("kattis");
  write(d + "/problem.yaml", "name: t\nvalidator_flags: float_tolerance 1e-4\nlimits:\n  time_multiplier: 2\n");
  for (int i = 1; i <= 4; ++i) {
    write(d + "/data/secret/" + std::to_string(i) + ".in", std::to_string(i) + "\n");
    write(d + "/data/secret/" + std::to_string(i) + ".ans", std::to_string(i * 0.5) + "\n");
  }
  LoadOptions lo;
  lo.time_limit_override_ms = 1000;
  auto p = load_problem_dir(d, lo);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_EQ(p->checker.kind, CheckerKind::kFloat);
  auto run = [&](const std::string& src, CfReward rw = CfReward::kPassFail) {
    JudgeOptions o = judge_opts();
    o.cf_reward = rw;
    return judge_submission(sb(), *p, src, Language::kCpp, o);
  };
  auto ok = run("#include <cstdio>\nint main(){int n;scanf(\"%d\",&n);printf(\"%.5f\\n\",n*0.5);}");
  EXPECT_EQ(ok.verdict, Verdict::kCorrect);
  std::string three_of_four = "#include <cstdio>\nint main(){int n;scanf(\"%d\",&n);printf(\"%.5f\\n\",n==4?0.0:n*0.5);}";
  auto wa = run(three_of_four);
  EXPECT_EQ(wa.verdict, Verdict::kWrong);
  EXPECT_EQ(wa.score, 0.0);
  EXPECT_DOUBLE_EQ(run(three_of_four, CfReward::kPartial).score, 0.75);
  EXPECT_DOUBLE_EQ(run(three_of_four, CfReward::kWeightedSum).score, 0.075);
  auto tle = run("int main(){volatile unsigned long x=0;for(;;)x++;}");
  EXPECT_EQ(tle.verdict, Verdict::kTimeLimit);
  auto re = run("int main(){int* p=nullptr; return *p + 3;}");
  EXPECT_EQ(re.verdict, Verdict::kRuntimeError);
  auto mle = run("#include <vector>\n#include <cstdio>\nint main(){std::vector<char> v(3ull<<30, 1); printf(\"%d\", v[12345]);}");
  // cgroup v1 reclaims for seconds before the OOM kill, so the CPU limit may fire first; the judge
  // then reports memory_limit when the peak reached the limit.
  // (Observed on cgroup v1 with a 1 s limit: time_limit, the peak not yet at the limit.)
  EXPECT_TRUE(mle.verdict == Verdict::kMemoryLimit || mle.verdict == Verdict::kRuntimeError ||
              mle.verdict == Verdict::kTimeLimit) << verdict_name(mle.verdict);
}

// ---------------------------------------------------------------- CodeGrader
TEST(CodeGrader, ExtractsAndJudgesCodeforcesRow) {
  SKIP_WITHOUT_SANDBOX();
  CodeGraderOptions go;
  go.judge = judge_opts();
  CodeGrader g(go);
  Problem p;
  p.id = "cf1";
  p.meta["codeforces_row"] = {{"id", "cf1"}, {"time_limit", 1.0}, {"memory_limit", 256},
                              {"official_tests", {{{"input", "2 3\n"}, {"output", "5\n"}}, {{"input", "10 -1\n"}, {"output", "9\n"}}}}};
  auto r = g.grade(p, "<think>hmm</think>\n```cpp\n#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b;}\n```");
  EXPECT_EQ(r.verdict, Verdict::kCorrect) << r.to_json().dump();
  EXPECT_TRUE(r.correct);
  EXPECT_EQ(r.score, 1.0);
  auto none = g.grade(p, "I cannot solve this.");
  EXPECT_EQ(none.verdict, Verdict::kNoAnswer);
  EXPECT_EQ(none.score, 0.0);
  auto ce = g.grade(p, "```cpp\nint main( {\n```");
  EXPECT_EQ(ce.verdict, Verdict::kCompileError);
  EXPECT_EQ(ce.score, 0.0);
  Problem bad;
  bad.id = "x";
  EXPECT_EQ(g.grade(bad, "```cpp\nint main(){}\n```").verdict, Verdict::kGraderError);
}

TEST(CodeTasks, Registered) {
  ensure_code_tasks_registered();
  for (auto n : {"ioi", "icpc", "codeforces"}) EXPECT_NE(TaskRegistry::global().find(n), nullptr) << n;
}

// ---------------------------------------------------------------- real packages
namespace {

struct Labelled {
  std::string problem_dir, file, label;
};

std::vector<Labelled> labelled(const std::string& sub, const std::string& folder) {
  std::vector<Labelled> out;
  fs::path root = fs::path(kProblems) / sub;
  if (!fs::is_directory(root)) return out;
  std::vector<fs::path> probs;
  for (auto& e : fs::directory_iterator(root)) if (e.is_directory()) probs.push_back(e.path());
  std::sort(probs.begin(), probs.end());
  for (auto& pd : probs) {
    fs::path sd = pd / folder;
    if (!fs::is_directory(sd)) continue;
    std::vector<fs::path> files;
    for (auto& e : fs::recursive_directory_iterator(sd)) if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      if (!language_from_path(f.string())) continue;
      out.push_back({pd.string(), f.string(), f.parent_path().filename().string()});
    }
  }
  return out;
}

void check_labelled(const Labelled& s, const JudgeResult& r) {
  std::string where = s.file + " -> " + r.to_json().dump().substr(0, 600);
  const std::string& l = s.label;
  if (l == "model_solution" || l == "correct" || l == "accepted") {
    EXPECT_EQ(r.verdict, Verdict::kCorrect) << where;
    EXPECT_DOUBLE_EQ(r.score, 1.0) << where;
  } else if (l == "incorrect" || l == "wrong_answer") {
    EXPECT_LT(r.score, 1.0) << where;
    EXPECT_TRUE(has_test_verdict(r, Verdict::kWrong) || has_test_verdict(r, Verdict::kPartial)) << where;
  } else if (l == "time_limit" || l == "time_limit_exceeded") {
    EXPECT_LT(r.score, 1.0) << where;
    EXPECT_TRUE(has_test_verdict(r, Verdict::kTimeLimit)) << where;
  } else if (l == "runtime_error") {
    EXPECT_TRUE(has_test_verdict(r, Verdict::kRuntimeError)) << where;
  } else if (l == "memory_limit") {
    EXPECT_TRUE(has_test_verdict(r, Verdict::kMemoryLimit) || has_test_verdict(r, Verdict::kRuntimeError)) << where;
  }
}

// Judges the submissions two at a time (each with 2 test workers: the boxes mostly wait on
// process set-up, and a submission that fails stops at its first failing test).
void run_labelled(const std::vector<Labelled>& subs, const LoadOptions& lo) {
  std::map<std::string, CodeProblem> probs;
  for (auto& s : subs) {
    if (probs.count(s.problem_dir)) continue;
    auto p = load_problem_dir(s.problem_dir, lo);
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    probs.emplace(s.problem_dir, std::move(*p));
  }
  parallel_for(subs.size(), 2, [&](size_t i) {
    const Labelled& s = subs[i];
    Language lang = *language_from_path(s.file);
    auto t0 = std::chrono::steady_clock::now();
    auto r = judge_submission(sb(), probs.at(s.problem_dir), slurp(s.file), lang, judge_opts());
    check_labelled(s, r);
    int64_t tmax = 0;
    size_t ran = 0;
    for (auto& t : r.tests) {
      tmax = std::max(tmax, t.time_ms);
      ran += t.skipped ? 0 : 1;
    }
    std::printf("[labelled] %-70s %-20s -> %-13s score %.3f max %lld ms, %zu/%zu tests, %lld ms wall\n",
                s.file.substr(kProblems.size() + 1).c_str(), s.label.c_str(), verdict_name(r.verdict), r.score,
                static_cast<long long>(tmax), ran, r.tests.size(), ms_since(t0));
  });
}

// Whether `s` is one of the named files (paths relative to kProblems).
bool is_one_of(const Labelled& s, std::initializer_list<const char*> rel) {
  for (const char* r : rel)
    if (s.file == kProblems + "/" + r) return true;
  return false;
}

}  // namespace

TEST(RealPackages, IoiAplusbSolutions) {
  SKIP_WITHOUT_PROBLEMS();
  SKIP_WITHOUT_SANDBOX();
  auto subs = labelled("ioi2024", "solutions");
  std::vector<Labelled> batch;
  for (auto& s : subs) if (s.problem_dir.find("aplusb") != std::string::npos) batch.push_back(s);
  ASSERT_FALSE(batch.empty());
  run_labelled(batch, {});
}

TEST(RealPackages, KattisSubmissions) {
  SKIP_WITHOUT_PROBLEMS();
  SKIP_WITHOUT_SANDBOX();
  auto subs = labelled("kth2020", "submissions");
  ASSERT_FALSE(subs.empty());
  // The packages state no time limit (Kattis derives it from the slowest accepted submission x
  // time_multiplier); the limits here are chosen per group. Every labelled folder of every
  // problem is judged by default; CRUCIBLE_CODE_SLOW=1 adds the repeats that only cost time:
  //  - bling, C++: sl_prune2.cpp (accepted, <= 0.25 s per test) runs under 1 s, which sl.cpp (the
  //    time_limit_exceeded one, ~14 s on its worst test) exceeds early in the test order. nils.cpp
  //    (~3.4 s worst test on a slow VM) and sl_prune.cpp (~1.2 s), accepted too, take the same
  //    path over all 128 tests at 5-10x the cost: slow mode, where every C++ one runs under 7 s;
  //  - bling, Python: the accepted ones need ~10 s per worst test (minutes in all) and the TLE one
  //    runs to its limit: slow mode (12 s limit); the Python wrong answers fail early and run
  //    (12 s limit), but jsannemo_attempt2.py (~2 s per test over its first 34) only in slow mode;
  //  - winningthevote, Python accepted: per_n2.py (O(n^2), ~5 s worst test) is slow mode; joseph.py
  //    and per_nlogn.py run under 10 s.
  bool slow = std::getenv("CRUCIBLE_CODE_SLOW") != nullptr;
  std::vector<Labelled> wtv, wtv_py, bling_cpp, bling_py;
  for (auto& s : subs) {
    bool py = language_from_path(s.file) == Language::kPython;
    bool repeat = is_one_of(s, {"kth2020/bling/submissions/accepted/nils.cpp",
                                "kth2020/bling/submissions/accepted/sl_prune.cpp",
                                "kth2020/bling/submissions/wrong_answer/jsannemo_attempt2.py",
                                "kth2020/winningthevote/submissions/accepted/per_n2.py"});
    if (repeat && !slow) continue;
    if (s.problem_dir.find("bling") == std::string::npos) (py ? wtv_py : wtv).push_back(s);
    else if (!py) bling_cpp.push_back(s);
    else if (slow || s.label == "wrong_answer") bling_py.push_back(s);
  }
  // Coverage: each problem keeps at least one submission of each of its labels.
  std::set<std::pair<std::string, std::string>> all, kept;
  for (auto& s : subs) all.insert({s.problem_dir, s.label});
  for (auto* g : {&wtv, &wtv_py, &bling_cpp, &bling_py})
    for (auto& s : *g) kept.insert({s.problem_dir, s.label});
  EXPECT_EQ(kept, all);
  // All groups at once (a pool of 2 per group; the groups' limits differ).
  LoadOptions wp, c, p;
  wp.time_limit_override_ms = 10000;
  c.time_limit_override_ms = slow ? 7000 : 1000;
  p.time_limit_override_ms = 12000;
  std::vector<std::pair<const std::vector<Labelled>*, LoadOptions>> groups = {
      {&bling_cpp, c}, {&bling_py, p}, {&wtv, {}}, {&wtv_py, wp}};
  parallel_for(groups.size(), 2, [&](size_t i) { run_labelled(*groups[i].first, groups[i].second); });
}

// ---------------------------------------------------------------- CLI
TEST(Cli, GradeCodeJson) {
  SKIP_WITHOUT_SANDBOX();
  std::string d = make_cms(false);
  std::string sub = d + "/sol.cpp";
  write(sub, "#include <cstdio>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);}\n");
  int rc = -1;
  std::string out = crucible_cli("grade code --problem " + d + " --submission " + sub +
                                     " --json --workers 2 --cache-dir " + cache_dir(),
                                 &rc, true);
  EXPECT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["verdict"], "correct");
  EXPECT_DOUBLE_EQ(j["score"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["points"].get<double>(), 100.0);
  EXPECT_EQ(j["subtasks"].size(), 2u);
  EXPECT_EQ(j["tests"].size(), 3u);
  EXPECT_EQ(j["tests"][0]["verdict"], "correct");
  EXPECT_TRUE(j["tests"][0].contains("time_ms"));
  EXPECT_TRUE(j["tests"][0].contains("memory_bytes"));
}
