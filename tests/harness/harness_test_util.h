// Helpers for harness tests: temp dirs, files, a tiny deterministic Grader, child processes.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tasks/grader.h"
#include "tests/support/temp_files.h"

namespace crucible::test {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline size_t count_lines(const std::string& path) {
  std::string s = slurp(path);
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Reads "ANSWER: x" (last occurrence, to end of line). Answers are compared through a small
// table of equivalent spellings, so maj@k classes can be tested independently of the CAS.
class TagGrader : public Grader {
 public:
  static std::string canon(std::string_view s) {
    std::string t(s);
    static const std::map<std::string, std::string> eq = {
        {"\\frac12", "1/2"}, {"\\frac{1}{2}", "1/2"}, {"0.5", "1/2"}, {"1/2", "1/2"}};
    auto it = eq.find(t);
    return it == eq.end() ? t : it->second;
  }
  Grade grade(const Problem& p, std::string_view completion) const override {
    Grade g;
    auto pos = completion.rfind("ANSWER:");
    if (pos == std::string_view::npos) {
      g.verdict = Verdict::kNoAnswer;
      return g;
    }
    auto rest = completion.substr(pos + 7);
    auto nl = rest.find('\n');
    if (nl != std::string_view::npos) rest = rest.substr(0, nl);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
    g.extracted = std::string(rest);
    if (g.extracted.empty()) {
      g.verdict = Verdict::kNoAnswer;
      return g;
    }
    g.correct = canon(g.extracted) == canon(p.gold);
    g.score = g.correct ? 1.0 : 0.0;
    g.verdict = g.correct ? Verdict::kCorrect : Verdict::kWrong;
    return g;
  }
  bool same_answer(std::string_view a, std::string_view b) const override { return canon(a) == canon(b); }
  std::string name() const override { return "tag"; }
};

// Starts `argv` with stdout/stderr redirected to files; returns the pid.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o >= 0) ::dup2(o, 1);
    if (e >= 0) ::dup2(e, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

inline int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

struct CliResult {
  int code = -1;
  std::string out, err;
};

// Runs the crucible binary with `args` (without argv[0]) and waits.
inline CliResult run_cli(const std::vector<std::string>& args, const std::string& scratch_dir) {
  std::vector<std::string> argv{CRUCIBLE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  static std::atomic<int> k{0};
  int i = k++;
  std::string o = scratch_dir + "/cli" + std::to_string(i) + ".out";
  std::string e = scratch_dir + "/cli" + std::to_string(i) + ".err";
  CliResult r;
  r.code = wait_exit(spawn(argv, o, e));
  r.out = slurp(o);
  r.err = slurp(e);
  return r;
}

}  // namespace crucible::test
