#include "tasks/code/communication_run.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

#include "tasks/code/interactive_run.h"

namespace crucible::code {
namespace {

using namespace interact_detail;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

bool clear_nonblock(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  return fl >= 0 && ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0;
}

// The FIFO pair of one user process and our copies of its four ends.
struct Channel {
  std::unique_ptr<HostDir> dir;
  std::string u2m, m2u;       // host paths
  std::string box_dir;        // /fifo<i>
  int user_in = -1;           // m2u read end   (user side: the user's stdin in std_io)
  int user_out = -1;          // u2m write end  (user side: the user's stdout in std_io)
  int mgr_out = -1;           // m2u write end  (manager side)
  int mgr_in = -1;            // u2m read end   (manager side)
  void close_user() { close_fd(user_in); close_fd(user_out); }
  void close_manager() { close_fd(mgr_out); close_fd(mgr_in); }
};

// Creates the FIFOs and opens all four ends without blocking (a read end first, then the write
// end that needs it): neither box's open() of a FIFO can then block, and a side's ends are closed
// when its box is gone so the peer sees EOF / EPIPE.
bool open_channel(Channel& c, int i, std::string* err) {
  c.dir = std::make_unique<HostDir>("comm");
  if (!c.dir->ok()) {
    *err = c.dir->error();
    return false;
  }
  std::string idx = std::to_string(i);
  c.u2m = c.dir->path() + "/u" + idx + "_to_m";
  c.m2u = c.dir->path() + "/m_to_u" + idx;
  c.box_dir = "/fifo" + idx;
  for (const std::string* p : {&c.u2m, &c.m2u}) {
    if (::mkfifo(p->c_str(), 0666) != 0 || ::chmod(p->c_str(), 0666) != 0) {
      *err = "mkfifo " + *p + ": " + std::strerror(errno);
      return false;
    }
  }
  c.mgr_in = ::open(c.u2m.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  c.user_in = ::open(c.m2u.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  c.user_out = c.mgr_in >= 0 ? ::open(c.u2m.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC) : -1;
  c.mgr_out = c.user_in >= 0 ? ::open(c.m2u.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC) : -1;
  if (c.mgr_in < 0 || c.user_in < 0 || c.user_out < 0 || c.mgr_out < 0 || !clear_nonblock(c.user_in) ||
      !clear_nonblock(c.user_out)) {
    *err = "open FIFOs in " + c.dir->path() + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool parse_score(const std::string& line, double* v) {
  std::string t = trim(line);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || errno != 0) return false;
  while (*end == ' ' || *end == '\t') ++end;
  if (*end != '\0') return false;
  *v = x;
  return true;
}

}  // namespace

CommunicationRunner::CommunicationRunner(const sandbox::Sandbox& sb, const Compiler& compiler,
                                         const CodeProblem& problem)
    : sb_(sb), num_processes_(std::max(1, problem.num_processes)), fifo_io_(problem.user_io_fifos) {
  if (problem.manager_files.empty()) {
    error_ = "Communication task without a manager (graders/manager.cpp)";
    return;
  }
  manager_ = compiler.compile(Language::kCpp, problem.manager_files);
  if (!manager_.ok) error_ = "manager does not compile: " + manager_.error;
  if (num_processes_ > 32) error_ = "Communication task with " + std::to_string(num_processes_) + " user processes";
}

void CommunicationRunner::run_test(const CompileResult& user, const TestCase& test, const std::string& input,
                                   const sandbox::Limits& limits, TestResult* out) const {
  using sandbox::RunStatus;
  TestResult& tr = *out;
  if (!start_test(&tr, error_)) return;
  auto grader_error = [&tr](const std::string& why) { set_grader_error(&tr, why); };
  const int n = num_processes_;

  std::vector<Channel> ch(static_cast<size_t>(n));
  auto close_all = [&] {
    for (auto& c : ch) {
      c.close_user();
      c.close_manager();
    }
  };
  for (int i = 0; i < n; ++i) {
    std::string err;
    if (!open_channel(ch[static_cast<size_t>(i)], i, &err)) {
      close_all();
      return grader_error(err);
    }
  }

  // Manager: ./prog u0_to_m m_to_u0 u1_to_m m_to_u1 ... < input.
  sandbox::RunSpec mspec;
  std::vector<std::string> margs;
  for (auto& c : ch) {
    margs.push_back(c.box_dir + "/" + c.u2m.substr(c.u2m.rfind('/') + 1));
    margs.push_back(c.box_dir + "/" + c.m2u.substr(c.m2u.rfind('/') + 1));
    mspec.binds.push_back({c.dir->path(), c.box_dir, false});
  }
  program_spec(manager_, &mspec, margs);
  mspec.files.push_back({"input.txt", input, false});
  if (!test.input_path.empty()) mspec.stdin_file = test.input_path;
  else mspec.stdin_data = input;
  sandbox::Limits mlim;
  mlim.cpu_ms = std::max<int64_t>(n * (limits.cpu_ms + 1000), 10000);
  mlim.wall_ms = limits.wall_ms + 2000;
  mlim.memory_bytes = std::max<int64_t>(limits.memory_bytes, 1ll << 30);
  mlim.output_bytes = 16ll << 20;
  mlim.processes = 4;
  mlim.file_bytes = std::max<int64_t>(64ll << 20, static_cast<int64_t>(input.size()) + (16ll << 20));

  std::vector<sandbox::RunSpec> uspec(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Channel& c = ch[static_cast<size_t>(i)];
    std::vector<std::string> args;
    if (fifo_io_) {
      args.push_back(c.box_dir + "/" + c.m2u.substr(c.m2u.rfind('/') + 1));
      args.push_back(c.box_dir + "/" + c.u2m.substr(c.u2m.rfind('/') + 1));
      uspec[static_cast<size_t>(i)].binds.push_back({c.dir->path(), c.box_dir, false});
    } else {
      uspec[static_cast<size_t>(i)].stdin_fd = c.user_in;
      uspec[static_cast<size_t>(i)].stdout_fd = c.user_out;
    }
    if (n != 1) args.push_back(std::to_string(i));
    program_spec(user, &uspec[static_cast<size_t>(i)], args);
  }

  sandbox::RunResult mrr;
  std::vector<sandbox::RunResult> urr(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  try {
    threads.emplace_back([&] {
      mrr = sb_.run(mspec, mlim);
      for (auto& c : ch) c.close_manager();
    });
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        urr[static_cast<size_t>(i)] = sb_.run(uspec[static_cast<size_t>(i)], limits);
        ch[static_cast<size_t>(i)].close_user();
      });
  } catch (const std::system_error& e) {
    // The boxes already started end by their wall limits once their peers are missing.
    for (auto& t : threads) t.join();
    close_all();
    return grader_error(std::string("cannot start a box thread: ") + e.what());
  }
  for (auto& t : threads) t.join();

  int64_t cpu_sum = 0, peak = 0;
  int failed = -1;
  for (int i = 0; i < n; ++i) {
    const auto& r = urr[static_cast<size_t>(i)];
    cpu_sum += r.cpu_ms;
    peak = std::max(peak, r.peak_rss_bytes);
    if (r.status == RunStatus::internal) return grader_error("sandbox (user " + std::to_string(i) + "): " + r.reason);
    if (failed < 0 && r.status != RunStatus::ok) failed = i;
  }
  tr.time_ms = cpu_sum;
  tr.memory_bytes = peak;
  if (mrr.status == RunStatus::internal) return grader_error("sandbox (manager): " + mrr.reason);
  std::string mmsg = clip(one_line(mrr.stderr_data));
  const bool manager_sigpipe = mrr.status == RunStatus::signaled && mrr.signal == SIGPIPE;
  if (mrr.status != RunStatus::ok && !(failed >= 0 && manager_sigpipe))
    return grader_error(std::string("manager ") + sandbox::to_string(mrr.status) + ": " + mrr.reason +
                        (mmsg.empty() ? "" : " [" + mmsg + "]"));
  if (failed >= 0) {
    const auto& r = urr[static_cast<size_t>(failed)];
    tr.verdict = contestant_verdict(r, limits);
    tr.message = (n > 1 ? "user process " + std::to_string(failed) + ": " : std::string()) + contestant_message(r);
    if (!mmsg.empty()) tr.message += " [manager: " + mmsg + "]";
    return;
  }
  if (cpu_sum > limits.cpu_ms) {
    tr.verdict = Verdict::kTimeLimit;
    tr.message = "total CPU time of the " + std::to_string(n) + " user processes " + std::to_string(cpu_sum) +
                 " ms exceeded the limit of " + std::to_string(limits.cpu_ms) + " ms";
    return;
  }
  std::string first = mrr.stdout_data.substr(0, mrr.stdout_data.find('\n'));
  double v = 0;
  if (!parse_score(first, &v))
    return grader_error("manager printed no score on stdout line 1 ('" + clip(trim(first), 80) + "'): " + mmsg);
  tr.score = std::max(0.0, std::min(1.0, v));
  tr.message = mmsg;
  tr.verdict = tr.score >= 1.0 ? Verdict::kCorrect : (tr.score > 0 ? Verdict::kPartial : Verdict::kWrong);
}

}  // namespace crucible::code
