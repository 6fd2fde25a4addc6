// Security of the judge against hostile submissions, with the real compiler, sandbox and checker:
//  - compile-time reads of host files (#include of /etc/shadow or of a secret the test writes
//    outside the box, .incbin) fail to compile and do not leak the file into the compile log;
//  - a solution that tries to rewrite the checker binary, the answer files or the test inputs (by
//    path or through /proc) changes neither the verdicts of later tests nor the host files, even
//    when the data files are world-writable;
//  - a file a solution leaves behind is not there for the next test or the next submission.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "sandbox/sandbox.h"
#include "tasks/code/compiler.h"
#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"
#include "tests/code/code_test_support.h"

namespace fs = std::filesystem;
using namespace crucible;
using namespace crucible::code;
using namespace crucible::code_test;

namespace {

JudgeOptions opts(int workers = 1) {
  JudgeOptions o;
  o.workers = workers;  // one after another: a later test sees what an earlier one left
  o.compile.cache_dir = cache_dir();
  return o;
}

// A C string literal of `s`.
std::string lit(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c;
  }
  return r + "\"";
}

// A CMS package: a+b, 4 tests, one subtask, a CMS checker (compiled into the compile cache).
std::string make_cms_package() {
  std::string d = temp_dir("cms");
  write(d + "/problem.json", R"({"code":"sum","time_limit":2.0,"memory_limit":268435456,"task_type":"Batch"})");
  const int a[] = {1, 20, 300, 4000}, b[] = {2, 30, 400, 5000};
  for (int i = 0; i < 4; ++i) {
    write(d + "/tests/t" + std::to_string(i) + ".in", std::to_string(a[i]) + " " + std::to_string(b[i]) + "\n");
    write(d + "/tests/t" + std::to_string(i) + ".out", std::to_string(a[i] + b[i]) + "\n");
  }
  write(d + "/subtasks/01-all.json", R"({"score": 100, "testcases": ["t0", "t1", "t2", "t3"]})");
  write(d + "/checker/checker.cpp", R"(#include <cstdio>
int main(int argc, char** argv) {
  FILE* c = fopen(argv[2], "r"); FILE* o = fopen(argv[3], "r");
  long x = 0, y = 0;
  if (!c || fscanf(c, "%ld", &x) != 1) { puts("0"); return 0; }
  if (!o || fscanf(o, "%ld", &y) != 1) { puts("0"); fputs("no number\n", stderr); return 0; }
  puts(x == y ? "1" : "0"); fputs(x == y ? "ok\n" : "wrong\n", stderr);
})");
  // World-writable data: protection must not rest on file modes.
  for (auto& e : fs::directory_iterator(d + "/tests")) ::chmod(e.path().c_str(), 0666);
  ::chmod((d + "/tests").c_str(), 0777);
  return d;
}

std::map<std::string, std::string> snapshot(const std::vector<std::string>& paths) {
  std::map<std::string, std::string> m;
  for (auto& p : paths) m[p] = slurp(p);
  return m;
}

const char* kHonest = "#include <cstdio>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);}\n";


}  // namespace

TEST(Security, CompileTimeHostFilesAreInvisibleAndNotLeaked) {
  SKIP_WITHOUT_SANDBOX();
  auto p = load_problem_dir(make_cms_package());
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  // Secrets outside the box: one under /tmp (the box has its own /tmp), one under /var/tmp.
  const std::string token = "CRUCIBLE_SECRET_TOKEN_" + std::to_string(::getpid()) + "_q7z";
  std::string sdir = temp_dir("secret");
  std::string secret = sdir + "/secret.h";
  write(secret, "#error " + token + "\nint leaked = 1; // " + token + "\n");
  std::string vdir = "/var/tmp/crucible-sec-" + std::to_string(::getpid());
  write(vdir + "/secret.h", "#error " + token + "\n");
  std::string shadow_head;
  if (fs::exists("/etc/shadow")) {
    shadow_head = slurp("/etc/shadow");
    shadow_head = shadow_head.substr(0, shadow_head.find('\n'));
  }
  std::string up = "../../../../../../../..";
  std::vector<std::pair<std::string, std::string>> attempts = {
      {"/etc/shadow", "#include \"/etc/shadow\"\nint main(){}\n"},
      {"secret by path", "#include " + lit(secret) + "\nint main(){}\n"},
      {"secret by ../", "#include " + lit(up + secret) + "\nint main(){}\n"},
      {"secret under /var/tmp", "#include " + lit(vdir + "/secret.h") + "\nint main(){}\n"},
      {"secret via -I-less <>", "#include <" + secret + ">\nint main(){}\n"},
      {".incbin", "__asm__(\".incbin \\\"" + secret + "\\\"\");\nint main(){}\n"},
      {"/proc/1/root", "#include " + lit("/proc/1/root" + secret) + "\nint main(){}\n"},
  };
  for (auto& [what, src] : attempts) {
    JudgeResult r = judge_submission(sb(), *p, src, Language::kCpp, opts());
    EXPECT_EQ(r.verdict, Verdict::kCompileError) << what << ": " << r.to_json().dump().substr(0, 400);
    EXPECT_FALSE(r.message.empty()) << what;
    EXPECT_EQ(r.message.find(token), std::string::npos) << what << " leaked: " << r.message;
    if (!shadow_head.empty()) {
      EXPECT_EQ(r.message.find(shadow_head), std::string::npos) << what << ": " << r.message;
    }
    EXPECT_TRUE(r.message.find("No such file") != std::string::npos ||
                r.message.find("not found") != std::string::npos ||
                r.message.find("Permission denied") != std::string::npos ||
                r.message.find("can't open") != std::string::npos ||
                r.message.find("cannot open") != std::string::npos)
        << what << ": " << r.message;
  }
  // Python: the source is read at run time, also inside the box.
  auto py = judge_submission(sb(), *p, "print(open(" + lit(secret) + ").read())\n", Language::kPython, opts());
  EXPECT_EQ(py.verdict, Verdict::kRuntimeError) << py.to_json().dump().substr(0, 400);
  for (auto& t : py.tests) EXPECT_EQ(t.message.find(token), std::string::npos);
  fs::remove_all(sdir);
  fs::remove_all(vdir);
  fs::remove_all(p->dir);
}

TEST(Security, SolutionCannotRewriteCheckerAnswersOrInputs) {
  SKIP_WITHOUT_SANDBOX();
  std::string d = make_cms_package();
  auto p = load_problem_dir(d);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  // Where the judge keeps the compiled checker (the compile cache on the host).
  Compiler comp(sb(), opts().compile);
  CompileResult ck = comp.compile(Language::kCpp, p->checker.sources);
  ASSERT_TRUE(ck.ok) << ck.error;
  std::string checker_bin = cache_dir() + "/" + ck.key + ".bin";
  ASSERT_TRUE(fs::exists(checker_bin));

  std::vector<std::string> host_files = {checker_bin};
  for (auto& t : p->tests) {
    host_files.push_back(t.input_path);
    host_files.push_back(t.answer_path);
  }
  auto before = snapshot(host_files);

  // Every target by host path, through the box's /proc (its init's root and cwd, its own fds),
  // and stdin reopened for writing; truncate + write, unlink, chmod. Then answer honestly.
  std::string targets = "static const char* targets[] = {\n";
  for (auto& f : host_files) {
    targets += "  " + lit(f) + ",\n";
    targets += "  " + lit("/proc/1/root" + f) + ",\n";
    targets += "  " + lit("/proc/self/root" + f) + ",\n";
  }
  targets += "  \"/proc/self/fd/0\", \"/proc/1/fd/0\", \"/dev/stdin\",\n  0};\n";
  std::string evil = "#include <cstdio>\n#include <fcntl.h>\n#include <unistd.h>\n#include <sys/stat.h>\n" + targets + R"(
int main() {
  int hits = 0;
  for (int i = 0; targets[i]; ++i) {
    int fd = open(targets[i], O_WRONLY | O_TRUNC);
    if (fd < 0) fd = open(targets[i], O_WRONLY);
    if (fd >= 0) { if (write(fd, "999\n", 4) == 4) ++hits; close(fd); }
    if (unlink(targets[i]) == 0) ++hits;
    if (chmod(targets[i], 0777) == 0) ++hits;
  }
  fprintf(stderr, "hits=%d\n", hits);
  long a = 0, b = 0;
  if (scanf("%ld %ld", &a, &b) != 2) return 3;
  printf("%ld\n", a + b);
}
)";
  JudgeResult r = judge_submission(sb(), *p, evil, Language::kCpp, opts(1));
  EXPECT_EQ(r.verdict, Verdict::kCorrect) << r.to_json().dump();
  for (auto& t : r.tests) EXPECT_EQ(t.verdict, Verdict::kCorrect) << t.name << ": " << t.message;
  auto after = snapshot(host_files);
  for (auto& f : host_files) EXPECT_EQ(before[f], after[f]) << f << " changed on the host";
  // Python too (os.open of the same targets), then an honest submission: verdicts unchanged.
  std::string pyevil = "import os\nfor t in [";
  for (auto& f : host_files) pyevil += lit(f) + ", " + lit("/proc/1/root" + f) + ", ";
  pyevil += "'/proc/self/fd/0']:\n    try:\n        fd = os.open(t, os.O_WRONLY | os.O_TRUNC)\n        os.write(fd, b'999\\n')\n"
            "    except OSError:\n        pass\na, b = map(int, input().split())\nprint(a + b)\n";
  JudgeResult rp = judge_submission(sb(), *p, pyevil, Language::kPython, opts(1));
  EXPECT_EQ(rp.verdict, Verdict::kCorrect) << rp.to_json().dump();
  for (auto& f : host_files) EXPECT_EQ(before[f], slurp(f)) << f << " changed on the host (python)";
  JudgeResult ok = judge_submission(sb(), *p, kHonest, Language::kCpp, opts(2));
  EXPECT_EQ(ok.verdict, Verdict::kCorrect) << ok.to_json().dump();
  EXPECT_DOUBLE_EQ(ok.points, 100);
  // A wrong submission is still judged wrong by the (untouched) checker.
  JudgeResult wa = judge_submission(sb(), *p, "#include <cstdio>\nint main(){puts(\"999\");}\n", Language::kCpp, opts(2));
  EXPECT_NE(wa.verdict, Verdict::kCorrect);
  fs::remove_all(d);
}

TEST(Security, NothingSurvivesToTheNextTest) {
  SKIP_WITHOUT_SANDBOX();
  std::string d = temp_dir("kattis");
  write(d + "/problem.yaml", "name: persist\n");
  for (int i = 0; i < 5; ++i) {
    write(d + "/data/secret/" + std::to_string(i) + ".in", std::to_string(i) + "\n");
    write(d + "/data/secret/" + std::to_string(i) + ".ans", std::to_string(i * 2) + "\n");
  }
  auto p = load_problem_dir(d);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  // Looks for marks in every writable place it can find; leaves them for whoever comes next.
  std::string src = R"(#include <cstdio>
#include <cstdlib>
#include <unistd.h>
static const char* marks[] = {"/tmp/crucible_mark", "/box/crucible_mark", "crucible_mark", "/dev/shm/crucible_mark",
                              "/var/tmp/crucible_mark", "/dev/crucible_mark", "/run/crucible_mark", 0};
int main() {
  int n = 0;
  if (scanf("%d", &n) != 1) return 3;
  for (int i = 0; marks[i]; ++i)
    if (access(marks[i], F_OK) == 0) { printf("found %s\n", marks[i]); return 0; }
  for (int i = 0; marks[i]; ++i) { FILE* f = fopen(marks[i], "w"); if (f) { fputs("x", f); fclose(f); } }
  printf("%d\n", 2 * n);
}
)";
  for (int round = 0; round < 2; ++round) {  // the second submission would find the first's marks
    JudgeResult r = judge_submission(sb(), *p, src, Language::kCpp, opts(1));
    EXPECT_EQ(r.verdict, Verdict::kCorrect) << "round " << round << ": " << r.to_json().dump();
    for (auto& t : r.tests) EXPECT_EQ(t.verdict, Verdict::kCorrect) << t.name << ": " << t.message;
  }
  // And the host's /tmp has no mark either.
  EXPECT_FALSE(fs::exists("/tmp/crucible_mark"));
  EXPECT_FALSE(fs::exists("/var/tmp/crucible_mark"));
  fs::remove_all(d);
}
