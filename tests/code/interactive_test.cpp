// Interactive (CodeForces-style) problems: a project-written "guess the number" problem with a
// testlib-style interactor (written here, no testlib.h), judged through judge_submission with the
// real sandbox: accepted (C++ and Python), wrong answer, too many queries, TLE, a solution that
// never flushes or deadlocks, a crash mid-protocol, an interactor that never flushes, fails (exit
// 3) or crashes, points (exit 7), an interactor + checker pair, and an interactor that writes
// after the solution has gone (SIGPIPE ignored); `crucible grade code --interactor` on
// open-r1/codeforces rows without one. Boxes run under a host uid of this test process, so
// leftovers can be counted after the runs that end by a wall-clock kill.
#include <gtest/gtest.h>
#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tasks/code/checker.h"
#include "tasks/code/compiler.h"
#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"
#include "tests/code/code_test_support.h"

using namespace crucible;
using namespace crucible::code;
using namespace crucible::code_test;

namespace {

// The interactor: testlib conventions (argv input output [answer]; exit 0 ok, 1 WA, 2 PE, 3 FAIL,
// 7 points with "points X" on stderr; the final guess written to the output file). Input "n x q":
// the solution gets "n q", asks "? y" (reply "<" when x < y, ">" when x > y, "=") at most q times,
// then answers "! y". Variants by macro: NO_FLUSH, CRASH (dies at the first query), POINTS.
const char* kInteractor = R"(#include <cstdio>
#include <cstdlib>
#include <cstring>
#ifdef NO_FLUSH
#define FLUSH() ((void)0)
#else
#define FLUSH() fflush(stdout)
#endif
int main(int argc, char** argv) {
  if (argc < 3) { fprintf(stderr, "usage: interactor input output [answer]\n"); return 3; }
  FILE* in = fopen(argv[1], "r");
  FILE* out = fopen(argv[2], "w");
  if (!in || !out) { fprintf(stderr, "cannot open the test files\n"); return 3; }
  long n, x; int q;
  if (fscanf(in, "%ld %ld %d", &n, &x, &q) != 3 || x < 1 || x > n) { fprintf(stderr, "bad test input\n"); return 3; }
  printf("%ld %d\n", n, q);
  FLUSH();
  for (int used = 0;;) {
    char op[8] = {0};
    long y = 0;
    if (scanf("%7s %ld", op, &y) != 2) { fprintf(stderr, "unexpected EOF after %d queries\n", used); return 2; }
#ifdef CRASH
    abort();
#endif
    if (!strcmp(op, "!")) {
      fprintf(out, "%ld\n", y);
      fclose(out);
      if (y != x) { fprintf(stderr, "wrong answer: %ld, the number was %ld\n", y, x); return 1; }
#ifdef POINTS
      fprintf(stderr, "points 0.25 found with %d queries\n", used);
      return 7;
#endif
      fprintf(stderr, "ok found %ld with %d queries\n", x, used);
      return 0;
    }
    if (strcmp(op, "?")) { fprintf(stderr, "expected '?' or '!', got '%s'\n", op); return 2; }
    if (++used > q) { printf("-1\n"); FLUSH(); fprintf(stderr, "wrong answer: more than %d queries\n", q); return 1; }
    printf("%s\n", x < y ? "<" : x > y ? ">" : "=");
    FLUSH();
  }
})";

// Binary search; variants by macro.
const char* kSolution = R"(#include <cstdio>
#ifndef FLUSH
#define FLUSH() fflush(stdout)
#endif
#ifndef OFFSET
#define OFFSET 0
#endif
int main() {
  long n; int q;
  if (scanf("%ld %d", &n, &q) != 2) return 0;
  long lo = 1, hi = n;
  int asked = 0;
  while (lo < hi) {
    long m = (lo + hi) / 2;
    printf("? %ld\n", m);
    FLUSH();
#ifdef CRASH_AFTER
    if (++asked == CRASH_AFTER) { volatile int* p = nullptr; *p = 1; }
#endif
    char r[4] = {0};
    if (scanf("%3s", r) != 1) return 0;
    if (r[0] == '=') { lo = hi = m; break; }
    if (r[0] == '<') hi = m - 1; else lo = m + 1;
  }
  printf("! %ld\n", lo + OFFSET);
  FLUSH();
  (void)asked;
})";

std::string with(const std::string& defines, const char* src) { return defines + "\n" + src; }

// A CodeForces row with the interactor attached (load_codeforces_row -> kInteractive).
CodeProblem guess_problem(const std::string& interactor_defines = "",
                          std::vector<std::string> inputs = {"1000 700 12", "1 1 12", "1000000 123457 25"}) {
  nlohmann::json row;
  row["id"] = "guess";
  row["time_limit"] = 0.5;
  row["memory_limit"] = 256;
  row["interaction_format"] = "Ask '? y', answer '! x'.";
  row["interactor"] = with(interactor_defines, kInteractor);
  row["official_tests"] = nlohmann::json::array();
  for (auto& in : inputs) {
    long n = 0, x = 0;
    std::sscanf(in.c_str(), "%ld %ld", &n, &x);
    row["official_tests"].push_back({{"input", in + "\n"}, {"output", std::to_string(x) + "\n"}});
  }
  auto p = load_codeforces_row(row);
  EXPECT_TRUE(p.is_ok()) << p.status().message();
  return p.is_ok() ? *p : CodeProblem{};
}

const TestResult* first_run(const JudgeResult& r, Verdict v) {
  for (auto& t : r.tests)
    if (!t.skipped && t.verdict == v) return &t;
  return nullptr;
}

}  // namespace

TEST(Interactive, LoaderMakesCodeforcesRowInteractive) {
  CodeProblem p = guess_problem();
  EXPECT_EQ(p.task_type, TaskType::kInteractive);
  ASSERT_EQ(p.interactor_files.size(), 1u);
  EXPECT_EQ(p.interactor_files[0].name, "interactor.cpp");
  EXPECT_EQ(p.tests.size(), 3u);
}

TEST(Interactive, AcceptedCppAndPython) {
  SKIP_WITHOUT_SANDBOX();
  CodeProblem p = guess_problem();
  auto r = judge(p, kSolution);
  EXPECT_EQ(r.verdict, Verdict::kCorrect) << r.to_json().dump();
  EXPECT_EQ(r.score, 1.0);
  for (auto& t : r.tests) EXPECT_NE(t.message.find("ok found"), std::string::npos) << t.message;
  std::string py = R"(import sys
n, q = map(int, input().split())
lo, hi = 1, n
while lo < hi:
    m = (lo + hi) // 2
    print("?", m, flush=True)
    r = sys.stdin.readline().strip()
    if r == "=":
        lo = hi = m
        break
    if r == "<":
        hi = m - 1
    else:
        lo = m + 1
print("!", lo, flush=True)
)";
  auto rp = judge(p, py, Language::kPython);
  EXPECT_EQ(rp.verdict, Verdict::kCorrect) << rp.to_json().dump();
}

TEST(Interactive, WrongAnswerAndTooManyQueries) {
  SKIP_WITHOUT_SANDBOX();
  CodeProblem p = guess_problem();
  auto wa = judge(p, with("#define OFFSET 1", kSolution));
  EXPECT_EQ(wa.verdict, Verdict::kWrong) << wa.to_json().dump();
  const TestResult* t = first_run(wa, Verdict::kWrong);
  ASSERT_NE(t, nullptr);
  EXPECT_NE(t->message.find("wrong answer"), std::string::npos) << t->message;

  // A linear scan: the interactor answers -1 after q queries and exits with WA; the solution goes
  // on writing (SIGPIPE, or EOF) -- the interactor's verdict stands.
  std::string linear = R"(#include <cstdio>
int main() {
  long n; int q;
  scanf("%ld %d", &n, &q);
  for (long y = 1; y <= n; ++y) {
    printf("? %ld\n", y);
    fflush(stdout);
    char r[4] = {0};
    scanf("%3s", r);
    if (r[0] == '=') { printf("! %ld\n", y); fflush(stdout); return 0; }
  }
  printf("! 1\n");
})";
  auto many = judge(p, linear, Language::kCpp, true);
  EXPECT_EQ(many.verdict, Verdict::kWrong) << many.to_json().dump();
  ASSERT_EQ(many.tests.size(), 3u);
  EXPECT_EQ(many.tests[1].verdict, Verdict::kCorrect) << many.tests[1].message;  // n = 1: no query needed
  EXPECT_EQ(many.tests[0].verdict, Verdict::kWrong) << many.tests[0].message;
  EXPECT_NE(many.tests[0].message.find("more than 12 queries"), std::string::npos) << many.tests[0].message;
}

TEST(Interactive, TimeLimitNeverFlushDeadlockAndCrash) {
  SKIP_WITHOUT_SANDBOX();
  CodeProblem p = guess_problem();
  auto tle = judge(p, "#include <cstdio>\nint main(){long n;int q;scanf(\"%ld %d\",&n,&q);volatile unsigned long x=0;for(;;)x++;}");
  EXPECT_EQ(tle.verdict, Verdict::kTimeLimit) << tle.to_json().dump();

  // Output left in stdio's buffer: both sides wait to read; the wall clock ends it.
  auto noflush = judge(p, with("#define FLUSH() ((void)0)", kSolution));
  EXPECT_EQ(noflush.verdict, Verdict::kTimeLimit) << noflush.to_json().dump();
  const TestResult* t = first_run(noflush, Verdict::kTimeLimit);
  ASSERT_NE(t, nullptr);
  EXPECT_NE(t->message.find("idleness"), std::string::npos) << t->message;
  EXPECT_TRUE(box_processes().empty());

  // Reads a second line that never comes before asking anything.
  auto deadlock = judge(p, "#include <cstdio>\nint main(){long n,m;int q;scanf(\"%ld %d\",&n,&q);scanf(\"%ld\",&m);printf(\"! %ld\\n\",m);}");
  EXPECT_EQ(deadlock.verdict, Verdict::kTimeLimit) << deadlock.to_json().dump();
  EXPECT_TRUE(box_processes().empty());

  // Crash after the second query: the interactor then reads EOF (PE), the crash is the verdict.
  auto crash = judge(p, with("#define CRASH_AFTER 2", kSolution));
  EXPECT_EQ(crash.verdict, Verdict::kRuntimeError) << crash.to_json().dump();
  const TestResult* c = first_run(crash, Verdict::kRuntimeError);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->message.find("SIGSEGV"), std::string::npos) << c->message;
}

TEST(Interactive, BrokenInteractorsAreContained) {
  SKIP_WITHOUT_SANDBOX();
  // An interactor that never flushes: a deadlock that the solution's wall limit ends; the
  // verdict says idleness, and nothing is left running.
  auto stuck = judge(guess_problem("#define NO_FLUSH 1"), kSolution);
  EXPECT_EQ(stuck.verdict, Verdict::kTimeLimit) << stuck.to_json().dump();
  const TestResult* t = first_run(stuck, Verdict::kTimeLimit);
  ASSERT_NE(t, nullptr);
  EXPECT_NE(t->message.find("idleness"), std::string::npos) << t->message;
  EXPECT_TRUE(box_processes().empty());

  // FAIL (exit 3) on a malformed test -> grader_error, whatever the solution did.
  auto fail = judge(guess_problem("", {"5 9 3"}), kSolution);
  EXPECT_EQ(fail.verdict, Verdict::kGraderError) << fail.to_json().dump();
  EXPECT_NE(fail.message.find("bad test input"), std::string::npos) << fail.message;

  // An interactor that crashes at the first query -> grader_error.
  auto crash = judge(guess_problem("#define CRASH 1", {"1000 700 12"}), kSolution);
  EXPECT_EQ(crash.verdict, Verdict::kGraderError) << crash.to_json().dump();
  EXPECT_NE(crash.message.find("interactor"), std::string::npos) << crash.message;

  // No interactor source at all -> grader_error (not a hang, not a batch run).
  CodeProblem none = guess_problem();
  none.interactor_files.clear();
  auto n = judge(none, kSolution);
  EXPECT_EQ(n.verdict, Verdict::kGraderError);
  EXPECT_NE(n.message.find("unsupported: interactive problem without interactor"), std::string::npos) << n.message;
}

TEST(Interactive, PointsAndCheckerOnOutputFile) {
  SKIP_WITHOUT_SANDBOX();
  // exit 7 + "points 0.25" on stderr -> a partial test score.
  auto pts = judge(guess_problem("#define POINTS 1", {"1000 700 12"}), kSolution);
  ASSERT_EQ(pts.tests.size(), 1u);
  EXPECT_EQ(pts.tests[0].verdict, Verdict::kPartial) << pts.to_json().dump();
  EXPECT_DOUBLE_EQ(pts.tests[0].score, 0.25);

  // Once the interactor accepts, a testlib checker compares its output file (the final guess)
  // with the answer file; test 0's answer file is altered so that only the checker objects.
  CodeProblem p = guess_problem();
  p.tests[0].answer = "701\n";
  p.checker.kind = CheckerKind::kTestlib;
  p.checker.sources = {{"checker.cpp", R"(#include <cstdio>
int main(int argc, char** argv) {
  FILE* o = fopen(argv[2], "r"); FILE* a = fopen(argv[3], "r");
  long x = -1, y = -2;
  if (!o || fscanf(o, "%ld", &x) != 1) { fprintf(stderr, "no guess in the output file\n"); return 2; }
  fscanf(a, "%ld", &y);
  if (x != y) { fprintf(stderr, "checker: %ld != %ld\n", x, y); return 1; }
  fprintf(stderr, "checker: ok %ld\n", x);
  return 0;
})", true}};
  auto r = judge(p, kSolution, Language::kCpp, true);
  ASSERT_EQ(r.tests.size(), 3u);
  EXPECT_EQ(r.verdict, Verdict::kWrong) << r.to_json().dump();
  EXPECT_EQ(r.tests[0].verdict, Verdict::kWrong);
  EXPECT_NE(r.tests[0].message.find("checker: 700 != 701"), std::string::npos) << r.tests[0].message;
  EXPECT_EQ(r.tests[2].verdict, Verdict::kCorrect);
  EXPECT_NE(r.tests[2].message.find("checker: ok 123457"), std::string::npos) << r.tests[2].message;
}

TEST(Interactive, InteractorOutlivingTheSolutionIsNotKilledBySigpipe) {
  SKIP_WITHOUT_SANDBOX();
  // The solution leaves at once; the interactor reads to EOF, then writes to it: the write fails
  // with EPIPE instead of killing the interactor (SIGPIPE ignored), which reaches its own verdict.
  CodeProblem p = guess_problem("", {"1000 700 12"});
  p.interactor_files = {{"interactor.cpp", R"(#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>
int main() {
  char b[4096];
  while (read(0, b, sizeof b) > 0) {}
  static char buf[1 << 16];
  memset(buf, 'x', sizeof buf);
  ssize_t w = write(1, buf, sizeof buf);
  if (w < 0 && errno == EPIPE) { fprintf(stderr, "ok: EPIPE after the solution left\n"); return 0; }
  fprintf(stderr, "write returned %zd\n", w);
  return 1;
})", true}};
  auto r = judge(p, "int main() { return 0; }");
  EXPECT_EQ(r.verdict, Verdict::kCorrect) << r.to_json().dump();
  ASSERT_EQ(r.tests.size(), 1u);
  EXPECT_NE(r.tests[0].message.find("EPIPE"), std::string::npos) << r.tests[0].message;
}

// open-r1/codeforces rows carry `interaction_format` but no interactor: `crucible grade code
// --interactor FILE` supplies one (testlib conventions); without it the CLI refuses the row.
TEST(Interactive, GradeCodeInteractorFlagForCodeforcesRow) {
  SKIP_WITHOUT_SANDBOX();
  std::string d = temp_dir("cf-row");
  nlohmann::json row;
  row["id"] = "guess";
  row["time_limit"] = 0.5;
  row["memory_limit"] = 256;
  row["interaction_format"] = "Ask '? y', answer '! x'.";
  row["official_tests"] = {{{"input", "1000 700 12\n"}, {"output", "700\n"}},
                           {{"input", "1000000 123457 25\n"}, {"output", "123457\n"}}};
  nlohmann::json batch = row;  // a second JSONL row: an ordinary batch problem
  batch["id"] = "echo";
  batch.erase("interaction_format");
  batch["official_tests"] = {{{"input", "5\n"}, {"output", "5\n"}}};
  write(d + "/rows.jsonl", row.dump() + "\n" + batch.dump() + "\n");
  write(d + "/row.json", row.dump());
  write(d + "/interactor.cpp", kInteractor);
  write(d + "/ok.cpp", kSolution);
  write(d + "/wa.cpp", with("#define OFFSET 1", kSolution));
  const std::string common = " --workers 2 --json --cache-dir " + cache_dir();
  auto grade = [&](const std::string& args, int* rc) { return crucible_cli("grade code " + args + common, rc); };

  int rc = -1;
  auto ok = nlohmann::json::parse(grade("--problem " + d + "/rows.jsonl --submission " + d + "/ok.cpp --interactor " +
                                            d + "/interactor.cpp", &rc), nullptr, false);
  ASSERT_EQ(rc, 0);
  ASSERT_FALSE(ok.is_discarded());
  EXPECT_EQ(ok.value("verdict", ""), "correct") << ok.dump();
  EXPECT_EQ(ok["tests"].size(), 2u) << ok.dump();
  EXPECT_NE(ok["tests"][0].value("message", "").find("ok found 700"), std::string::npos) << ok.dump();

  auto wa = nlohmann::json::parse(grade("--problem " + d + "/row.json --submission " + d + "/wa.cpp --interactor " +
                                            d + "/interactor.cpp", &rc), nullptr, false);
  ASSERT_EQ(rc, 0);
  ASSERT_FALSE(wa.is_discarded());
  EXPECT_EQ(wa.value("verdict", ""), "wrong") << wa.dump();

  // Without --interactor: refused with a clear message, never judged as a batch problem.
  std::string refused = crucible_cli("grade code --problem " + d + "/rows.jsonl --submission " + d + "/ok.cpp --json",
                                     &rc, true);
  EXPECT_EQ(rc, 2) << refused;
  EXPECT_NE(refused.find("unsupported: interactive problem without interactor"), std::string::npos) << refused;
  // Row 1 is a batch problem and is judged as one.
  write(d + "/echo.cpp", "#include <cstdio>\nint main(){int x;scanf(\"%d\",&x);printf(\"%d\\n\",x);}\n");
  auto echo = nlohmann::json::parse(grade("--problem " + d + "/rows.jsonl --row 1 --submission " + d + "/echo.cpp", &rc),
                                    nullptr, false);
  ASSERT_EQ(rc, 0);
  ASSERT_FALSE(echo.is_discarded());
  EXPECT_EQ(echo.value("verdict", ""), "correct") << echo.dump();
  // A problem that has an interactor already does not take a second one.
  nlohmann::json with_interactor = row;
  with_interactor["interactor"] = kInteractor;
  write(d + "/own.json", with_interactor.dump());
  std::string twice = crucible_cli("grade code --problem " + d + "/own.json --submission " + d + "/ok.cpp --interactor " +
                                       d + "/interactor.cpp --json", &rc, true);
  EXPECT_EQ(rc, 2) << twice;
  EXPECT_NE(twice.find("already has an interactor"), std::string::npos) << twice;
  // --help documents the flag.
  std::string help = crucible_cli("grade code --help", &rc, true);
  EXPECT_NE(help.find("--interactor"), std::string::npos) << help;
  EXPECT_NE(help.find("testlib"), std::string::npos) << help;
}
