// Kattis interactive problems (`validation: custom interactive`, or `type: interactive` in the
// 2023-07 format): the output validator is the interactor, `validator input answer feedback_dir/
// [validator_flags]`, exit 42 accepted / 43 wrong answer / anything else a judge error, with
// problemtools' precedence (a validator that rejects first decides; else the submission's own
// crash or time-out; else the validator). A project-written "guess the number" package is built
// here in a temp dir; judged through the library and `crucible grade code --json`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"
#include "tests/code/code_test_support.h"

using namespace crucible;
using namespace crucible::code;
using namespace crucible::code_test;

namespace {

// The validator (Kattis protocol). Input "n x"; the answer file holds x. It sends n, then answers
// "? y" with "<" (x < y), ">" (x > y) or "=", at most `max_queries` times (validator flag
// "max_queries K", default 40); "! y" ends the game: 42 when y == x, else 43. A guess outside
// [1, n] is rejected at once (43) while the submission is still waiting. The message goes to
// judgemessage.txt in the feedback directory. Variants by macro: EXIT_ZERO (exits 0: a judge
// error in Kattis terms), CRASH (dies at the first query).
const char* kValidator = R"(#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include "guess.h"
static std::string feedback;
static int verdict(int code, const char* msg) {
  FILE* f = fopen((feedback + "judgemessage.txt").c_str(), "w");
  if (f) { fputs(msg, f); fclose(f); }
#ifdef EXIT_ZERO
  return 0;
#endif
  return code;
}
int main(int argc, char** argv) {
  if (argc < 4) { fprintf(stderr, "usage: validator input answer feedback_dir [flags]\n"); return 1; }
  feedback = argv[3];
  int max_queries = 40;
  for (int i = 4; i + 1 < argc; ++i)
    if (!strcmp(argv[i], "max_queries")) max_queries = atoi(argv[i + 1]);
  FILE* in = fopen(argv[1], "r");
  FILE* ans = fopen(argv[2], "r");
  long n = 0, x = 0, xa = -1;
  if (!in || !ans || fscanf(in, "%ld %ld", &n, &x) != 2 || fscanf(ans, "%ld", &xa) != 1 || xa != x) {
    fprintf(stderr, "bad test files\n");
    return 1;
  }
  printf("%ld\n", n);
  fflush(stdout);
  for (int used = 0;;) {
    char op[8] = {0};
    long y = 0;
    if (scanf("%7s %ld", op, &y) != 2) return verdict(GUESS_WRONG, "unexpected end of output");
#ifdef CRASH
    abort();
#endif
    if (y < 1 || y > n) return verdict(GUESS_WRONG, "guess out of range");
    if (!strcmp(op, "!")) return y == x ? verdict(GUESS_OK, "found it") : verdict(GUESS_WRONG, "wrong final guess");
    if (strcmp(op, "?")) return verdict(GUESS_WRONG, "expected ? or !");
    if (++used > max_queries) return verdict(GUESS_WRONG, "too many queries");
    printf("%s\n", x < y ? "<" : x > y ? ">" : "=");
    fflush(stdout);
  }
})";

const char* kGuessHeader = "#pragma once\n#define GUESS_OK 42\n#define GUESS_WRONG 43\n";

// Submissions. OFFSET shifts the final answer (wrong answer); SPIN never answers (burns CPU);
// CRASH_AFTER_QUERY aborts after its first reply; OUT_OF_RANGE first guesses n + 1 and then
// crashes when its input ends (the validator rejected first: wrong answer, not a crash).
const char* kSolution = R"(#include <cstdio>
#include <cstdlib>
#ifndef OFFSET
#define OFFSET 0
#endif
int main() {
  long n;
  if (scanf("%ld", &n) != 1) return 1;
#ifdef SPIN
  for (volatile unsigned long i = 0;; ++i) {}
#endif
#ifdef OUT_OF_RANGE
  printf("? %ld\n", n + 1);
  fflush(stdout);
  char r[4];
  if (scanf("%3s", r) != 1) abort();
#endif
  long lo = 1, hi = n;
  while (lo < hi) {
    long m = (lo + hi) / 2;
    printf("? %ld\n", m);
    fflush(stdout);
    char r[4] = {0};
    if (scanf("%3s", r) != 1) return 0;
#ifdef CRASH_AFTER_QUERY
    abort();
#endif
    if (r[0] == '=') { lo = hi = m; break; }
    if (r[0] == '<') hi = m - 1; else lo = m + 1;
  }
  printf("! %ld\n", lo + OFFSET);
  fflush(stdout);
})";

const char* kPythonSolution = R"(import sys
n = int(sys.stdin.readline())
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

// Reads n and then waits for a reply that never comes (the validator waits for a query).
const char* kPythonDeadlock = "import sys\nn = int(sys.stdin.readline())\nsys.stdin.readline()\n";

std::string with(const std::string& defines, const char* src) { return defines + "\n" + src; }

struct PackageOptions {
  std::string validator_defines;
  std::string yaml = "name: Guess the number\nvalidation: custom interactive\nvalidator_flags: max_queries 25\n";
  std::string validator_dir = "output_validators/guess";
};

// The package: data/sample (1 test) + data/secret (3 tests), the validator with its header.
std::string make_package(const PackageOptions& o = {}) {
  std::string d = temp_dir("kattis-interactive");
  write(d + "/problem.yaml", o.yaml);
  const std::vector<std::pair<std::string, std::pair<long, long>>> tests = {
      {"sample/1", {100, 37}}, {"secret/1", {1000, 700}}, {"secret/2", {1, 1}}, {"secret/3", {1000000, 123457}}};
  for (auto& [name, nx] : tests) {
    write(d + "/data/" + name + ".in", std::to_string(nx.first) + " " + std::to_string(nx.second) + "\n");
    write(d + "/data/" + name + ".ans", std::to_string(nx.second) + "\n");
  }
  write(d + "/" + o.validator_dir + "/validate.cpp", with(o.validator_defines, kValidator));
  write(d + "/" + o.validator_dir + "/guess.h", kGuessHeader);
  return d;
}

CodeProblem load(const std::string& dir) {
  LoadOptions lo;
  lo.time_limit_override_ms = 1000;
  auto p = load_problem_dir(dir, lo);
  EXPECT_TRUE(p.is_ok()) << p.status().message();
  return p.is_ok() ? *p : CodeProblem{};
}

const TestResult* first_run(const JudgeResult& r) {
  for (auto& t : r.tests)
    if (!t.skipped && t.verdict != Verdict::kCorrect) return &t;
  return nullptr;
}

// `crucible grade code --json` on the package.
nlohmann::json grade_cli(const std::string& dir, const std::string& src, const std::string& ext) {
  std::string file = temp_dir("kattis-interactive-sub") + "/sub." + ext;
  write(file, src);
  int rc = -1;
  std::string out = crucible_cli("grade code --problem " + dir + " --submission " + file +
                                     " --time-limit 1s --workers 2 --json --cache-dir " + cache_dir(),
                                 &rc);
  EXPECT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out;
  return j.is_discarded() ? nlohmann::json::object() : j;
}

std::string first_bad_message(const nlohmann::json& j) {
  for (auto& t : j.value("tests", nlohmann::json::array()))
    if (t.value("verdict", "") != "correct" && t.value("verdict", "") != "skipped") return t.value("message", "");
  return "";
}

}  // namespace

TEST(KattisInteractive, LoadsValidatorAsInteractor) {
  auto p = load(make_package());
  EXPECT_EQ(p.task_type, TaskType::kInteractive);
  EXPECT_EQ(p.interactor_protocol, InteractorProtocol::kKattis);
  ASSERT_EQ(p.interactor_files.size(), 2u);
  EXPECT_EQ(p.interactor_files[0].name, "validate.cpp");  // the program first, the header beside it
  EXPECT_TRUE(p.interactor_files[0].compile);
  EXPECT_EQ(p.interactor_files[1].name, "guess.h");
  EXPECT_FALSE(p.interactor_files[1].compile);
  EXPECT_EQ(p.validator_flags, (std::vector<std::string>{"max_queries", "25"}));
  EXPECT_EQ(p.tests.size(), 4u);

  // 2023-07 format: type interactive (string, flow list, block list), output_validator/.
  for (std::string type : {"type: interactive\n", "type: [pass-fail, interactive]\n", "type:\n  - pass-fail\n  - interactive\n"}) {
    PackageOptions o;
    o.yaml = "problem_format_version: 2023-07-draft\nname: Guess\n" + type;
    o.validator_dir = "output_validator";
    auto q = load(make_package(o));
    EXPECT_EQ(q.task_type, TaskType::kInteractive) << type;
    EXPECT_EQ(q.interactor_protocol, InteractorProtocol::kKattis) << type;
  }
}

TEST(KattisInteractive, RefusesWhatItCannotJudge) {
  auto refused = [](const PackageOptions& o, const std::string& extra_file, const std::string& want) {
    std::string d = make_package(o);
    if (!extra_file.empty()) write(d + "/" + extra_file, "#!/bin/sh\n");
    auto p = load_problem_dir(d);
    ASSERT_FALSE(p.is_ok()) << d;
    EXPECT_NE(p.status().message().find(want), std::string::npos) << p.status().message();
  };
  PackageOptions custom;
  custom.yaml = "validation: custom\n";  // a non-interactive custom validator: still refused
  refused(custom, "", "not supported");
  PackageOptions score;
  score.yaml = "validation: custom interactive score\n";
  refused(score, "", "not supported");
  refused({}, "output_validators/guess/build", "build/run scripts");
  refused({}, "output_validators/other.cpp", "expected one program");
  PackageOptions none;
  none.validator_dir = "elsewhere";
  refused(none, "", "without an output validator");
}

TEST(KattisInteractive, JudgedThroughTheLibrary) {
  SKIP_WITHOUT_SANDBOX();
  auto p = load(make_package());
  auto ok = judge(p, kSolution);
  EXPECT_EQ(ok.verdict, Verdict::kCorrect) << ok.to_json().dump();
  for (auto& t : ok.tests) EXPECT_EQ(t.message, "found it") << t.name;  // judgemessage.txt

  auto py = judge(p, kPythonSolution, Language::kPython);
  EXPECT_EQ(py.verdict, Verdict::kCorrect) << py.to_json().dump();

  auto wa = judge(p, with("#define OFFSET 1", kSolution), Language::kCpp, true);
  EXPECT_EQ(wa.verdict, Verdict::kWrong) << wa.to_json().dump();
  ASSERT_NE(first_run(wa), nullptr);
  EXPECT_NE(first_run(wa)->message.find("wrong final guess"), std::string::npos) << first_run(wa)->message;

  // The flag reaches the validator: max_queries 25 fails the 10^6 test only when lowered to 5.
  PackageOptions few;
  few.yaml = "validation: custom interactive\nvalidator_flags: max_queries 5\n";
  auto limited = judge(load(make_package(few)), kSolution, Language::kCpp, true);
  EXPECT_EQ(limited.verdict, Verdict::kWrong) << limited.to_json().dump();
  EXPECT_EQ(limited.tests[0].verdict, Verdict::kCorrect) << limited.tests[0].message;  // 3 queries
  EXPECT_EQ(limited.tests[3].verdict, Verdict::kWrong) << limited.tests[3].message;
  EXPECT_NE(limited.tests[3].message.find("too many queries"), std::string::npos) << limited.tests[3].message;
}

TEST(KattisInteractive, PrecedenceOfSubmissionAndValidator) {
  SKIP_WITHOUT_SANDBOX();
  auto p = load(make_package());
  // Never answers, burning CPU: its time-out wins over the validator's "unexpected end" (43).
  auto spin = judge(p, with("#define SPIN", kSolution));
  EXPECT_EQ(spin.verdict, Verdict::kTimeLimit) << spin.to_json().dump();
  // Waits for a reply while the validator waits for a query: killed idle at its wall limit.
  auto idle = judge(p, kPythonDeadlock, Language::kPython);
  EXPECT_EQ(idle.verdict, Verdict::kTimeLimit) << idle.to_json().dump();
  ASSERT_NE(first_run(idle), nullptr);
  EXPECT_NE(first_run(idle)->message.find("idleness"), std::string::npos) << first_run(idle)->message;
  // Crashes mid-protocol: the validator then reads EOF and rejects, but the crash came first.
  auto crash = judge(p, with("#define CRASH_AFTER_QUERY", kSolution));
  EXPECT_EQ(crash.verdict, Verdict::kRuntimeError) << crash.to_json().dump();
  // The validator rejects first (guess out of range); the submission then crashes on EOF: wrong.
  auto first = judge(p, with("#define OUT_OF_RANGE", kSolution));
  EXPECT_EQ(first.verdict, Verdict::kWrong) << first.to_json().dump();
  ASSERT_NE(first_run(first), nullptr);
  EXPECT_NE(first_run(first)->message.find("out of range"), std::string::npos) << first_run(first)->message;
}

TEST(KattisInteractive, ValidatorFailuresAreJudgeErrors) {
  SKIP_WITHOUT_SANDBOX();
  PackageOptions zero;
  zero.validator_defines = "#define EXIT_ZERO";  // 0 is not a Kattis verdict
  auto z = judge(load(make_package(zero)), kSolution);
  EXPECT_EQ(z.verdict, Verdict::kGraderError) << z.to_json().dump();
  EXPECT_NE(z.message.find("exit code 0"), std::string::npos) << z.message;
  PackageOptions crash;
  crash.validator_defines = "#define CRASH";
  auto c = judge(load(make_package(crash)), kSolution);
  EXPECT_EQ(c.verdict, Verdict::kGraderError) << c.to_json().dump();
  EXPECT_NE(c.message.find("output validator"), std::string::npos) << c.message;
  PackageOptions broken;
  broken.validator_defines = "#error broken validator";
  auto b = judge(load(make_package(broken)), kSolution);
  EXPECT_EQ(b.verdict, Verdict::kGraderError) << b.to_json().dump();
  EXPECT_NE(b.message.find("does not compile"), std::string::npos) << b.message;
}

TEST(KattisInteractive, GradeCodeCli) {
  SKIP_WITHOUT_SANDBOX();
  std::string dir = make_package();
  auto ok = grade_cli(dir, kSolution, "cpp");
  EXPECT_EQ(ok.value("verdict", ""), "correct") << ok.dump();
  EXPECT_EQ(ok["tests"].size(), 4u) << ok.dump();
  auto wa = grade_cli(dir, with("#define OFFSET 1", kSolution), "cpp");
  EXPECT_EQ(wa.value("verdict", ""), "wrong") << wa.dump();
  EXPECT_NE(first_bad_message(wa).find("wrong final guess"), std::string::npos) << wa.dump();
  auto tle = grade_cli(dir, with("#define SPIN", kSolution), "cpp");
  EXPECT_EQ(tle.value("verdict", ""), "time_limit") << tle.dump();
  auto rte = grade_cli(dir, with("#define CRASH_AFTER_QUERY", kSolution), "cpp");
  EXPECT_EQ(rte.value("verdict", ""), "runtime_error") << rte.dump();
  auto py = grade_cli(dir, kPythonSolution, "py");
  EXPECT_EQ(py.value("verdict", ""), "correct") << py.dump();
}
