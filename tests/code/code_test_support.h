// Helpers shared by the tests of tasks/code (the test_code binary): temp directories, files, the
// shared problem packages, this test process's sandboxes and compile cache, the crucible CLI.
#pragma once
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/sandbox.h"
#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"

namespace crucible::code_test {

namespace fs = std::filesystem;

// Real problem packages (IOI CMS, Kattis with labelled submissions), read in place, never copied.
inline const std::string kProblems = CRUCIBLE_SOURCE_DIR "/../shared/data/problems";

// Directories made by temp_dir(), removed when the test program ends.
struct TempDirs : ::testing::Environment {
  std::mutex mu;
  std::vector<std::string> dirs;
  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& d : dirs) {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
    dirs.clear();
  }
};
inline TempDirs* const kTempDirs = static_cast<TempDirs*>(::testing::AddGlobalTestEnvironment(new TempDirs));

// A fresh directory /tmp/crucible-code-test-<pid>-<tag>-<n>, removed at the end of the program.
inline std::string temp_dir(const std::string& tag) {
  static std::atomic<int> n{0};
  std::string d = "/tmp/crucible-code-test-" + std::to_string(::getpid()) + "-" + tag + "-" + std::to_string(n++);
  fs::create_directories(d);
  std::lock_guard<std::mutex> lock(kTempDirs->mu);
  kTempDirs->dirs.push_back(d);
  return d;
}

// Writes `s` to `p` (binary), making its parent directories.
inline void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

// The whole file; "" when it cannot be read.
inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command; returns its stdout, *rc = exit status (-1 when it did not exit).
inline std::string run(const std::string& cmd, int* rc) {
  FILE* f = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (f && (n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = f ? ::pclose(f) : -1;
  *rc = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// `crucible <args>` (the binary this build made); stdout, and stderr too when `with_stderr`.
inline std::string crucible_cli(const std::string& args, int* rc, bool with_stderr = false) {
  return run(std::string(CRUCIBLE_BINARY) + " " + args + (with_stderr ? " 2>&1" : ""), rc);
}

// The default sandbox (box uid 60000 on the host).
inline const sandbox::Sandbox& sb() {
  static sandbox::Sandbox s;
  return s;
}

// A host uid of this test process for its boxes, so processes left behind can be counted.
inline unsigned box_uid() { return 56000 + static_cast<unsigned>(::getpid()) % 3000; }

inline const sandbox::Sandbox& uid_sb() {
  static sandbox::Sandbox s = [] {
    sandbox::SandboxOptions o;
    o.host_uid = o.host_gid = box_uid();
    return sandbox::Sandbox(o);
  }();
  return s;
}

// Host processes running as box_uid() (none may be left after a run).
inline std::vector<int> box_processes() {
  std::vector<int> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("Uid:", 0) != 0) continue;
      if (std::atoi(line.c_str() + 4) == static_cast<int>(box_uid())) out.push_back(std::atoi(e->d_name));
      break;
    }
  }
  ::closedir(d);
  return out;
}

// The compile cache of the judging tests: <build dir>/test-cache/compile, kept between test
// processes (ctest runs each test in its own) and runs, so the checkers, managers and labelled
// solutions are compiled once (the cache is content-addressed: sources, flags, compiler version).
// Tests that assert cache hits or misses use a fresh directory of their own (temp_dir).
inline const std::string& cache_dir() {
  static std::string d = [] {
    std::string p = (fs::path(CRUCIBLE_BINARY).parent_path() / "test-cache" / "compile").string();
    std::error_code ec;
    fs::create_directories(p, ec);
    return ec ? temp_dir("cache") : p;
  }();
  return d;
}

inline code::JudgeOptions judge_opts(int workers = 2) {
  code::JudgeOptions o;
  o.workers = workers;
  o.compile.cache_dir = cache_dir();
  return o;
}

// Judges with uid_sb() and this process's compile cache.
inline code::JudgeResult judge(const code::CodeProblem& p, const std::string& src,
                               code::Language lang = code::Language::kCpp, bool all_tests = false) {
  code::JudgeOptions o = judge_opts();
  o.all_tests = all_tests;
  return code::judge_submission(uid_sb(), p, src, lang, o);
}

// Runs fn(0..n-1) on `threads` threads (each item once); gtest assertions in fn are thread-safe.
template <typename Fn>
void parallel_for(size_t n, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads && static_cast<size_t>(t) < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

// Milliseconds since `t0`.
inline long long ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

// Whether a test that ran got verdict v.
inline bool has_test_verdict(const code::JudgeResult& r, Verdict v) {
  for (auto& t : r.tests)
    if (!t.skipped && t.verdict == v) return true;
  return false;
}

}  // namespace crucible::code_test

#define SKIP_WITHOUT_SANDBOX()                                                                        \
  do {                                                                                               \
    auto probe = ::crucible::sandbox::Sandbox::probe();                                              \
    if (!probe.value("namespaces", false)) GTEST_SKIP() << "sandbox unavailable: " << probe.dump(); \
  } while (0)

#define SKIP_WITHOUT_PROBLEMS()                                                                           \
  do {                                                                                                   \
    if (!std::filesystem::is_directory(::crucible::code_test::kProblems))                                \
      GTEST_SKIP() << ::crucible::code_test::kProblems << " missing (CI keeps ../shared beside the clone)"; \
  } while (0)
