#include "tasks/code/interactive_run.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

namespace crucible::code {
namespace interact_detail {

Verdict contestant_verdict(const sandbox::RunResult& r, const sandbox::Limits& limits) {
  using sandbox::RunStatus;
  switch (r.status) {
    case RunStatus::ok: return Verdict::kCorrect;
    case RunStatus::time_limit:
    case RunStatus::wall_limit:
      // A memory cgroup that reclaims before its OOM kill can burn the CPU budget first.
      if (r.status == RunStatus::time_limit && limits.memory_bytes > 0 &&
          r.peak_rss_bytes >= limits.memory_bytes - (limits.memory_bytes >> 6))
        return Verdict::kMemoryLimit;
      return Verdict::kTimeLimit;
    case RunStatus::memory_limit: return Verdict::kMemoryLimit;
    case RunStatus::output_limit: return Verdict::kOutputLimit;
    case RunStatus::runtime_error:
    case RunStatus::signaled:
    case RunStatus::security: return Verdict::kRuntimeError;
    case RunStatus::internal: return Verdict::kGraderError;
  }
  return Verdict::kGraderError;
}

void set_grader_error(TestResult* tr, const std::string& why) {
  tr->verdict = Verdict::kGraderError;
  tr->message = why;
}

bool start_test(TestResult* tr, const std::string& runner_error) {
  tr->score = 0;
  if (runner_error.empty()) return true;
  set_grader_error(tr, runner_error);
  return false;
}

std::string contestant_message(const sandbox::RunResult& r) {
  if (r.status == sandbox::RunStatus::wall_limit)
    return "idleness limit exceeded: killed after " + std::to_string(r.wall_ms) + " ms of wall-clock time with " +
           std::to_string(r.cpu_ms) + " ms of CPU (waiting for input: output not flushed, or a deadlock)";
  return r.reason;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string one_line(const std::string& s) {
  std::string t = trim(s), out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != '\n' && t[i] != '\r') { out += t[i]; continue; }
    while (i + 1 < t.size() && (t[i + 1] == '\n' || t[i + 1] == '\r')) ++i;
    out += " / ";
  }
  return out;
}

std::string clip(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

HostDir::HostDir(const std::string& tag) {
  // Under /tmp (not $TMPDIR): every component must be traversable by the box's host uid.
  std::string templ = "/tmp/crucible-" + tag + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    error_ = "mkdtemp " + templ + ": " + std::strerror(errno);
    return;
  }
  path_ = buf.data();
  if (::chmod(path_.c_str(), 0711) != 0) {
    error_ = "chmod " + path_ + ": " + std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    path_.clear();
  }
}

HostDir::~HostDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace interact_detail

namespace {

using namespace interact_detail;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Creates an empty file the box uid may write (0666 inside a 0711 directory).
bool make_shared_file(const std::string& path, std::string* err) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    *err = "create " + path + ": " + std::strerror(errno);
    return false;
  }
  ::fchmod(fd, 0666);  // the umask may have removed bits
  ::close(fd);
  return true;
}

std::string read_file(const std::string& path, size_t cap) {
  std::ifstream in(path, std::ios::binary);
  std::string s;
  if (!in) return s;
  s.resize(cap);
  in.read(s.data(), static_cast<std::streamsize>(cap));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

// testlib's quitp: "points 0.25 message" on stderr; the first number after the word "points".
bool first_number(const std::string& text, double* v) {
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    if (w.rfind("points", 0) == 0) continue;
    char* end = nullptr;
    errno = 0;
    double x = std::strtod(w.c_str(), &end);
    if (end != w.c_str() && *end == '\0' && errno == 0) {
      *v = x;
      return true;
    }
  }
  return false;
}

bool external_checker(const Checker* c) {
  if (!c) return false;
  CheckerKind k = c->spec().kind;
  return k == CheckerKind::kTestlib || k == CheckerKind::kCms || k == CheckerKind::kPythonCf;
}

}  // namespace

namespace interact_detail {

InteractorOutcome interactor_outcome(InteractorProtocol protocol, const sandbox::RunResult& r) {
  using sandbox::RunStatus;
  InteractorOutcome o;
  if (r.status != RunStatus::ok && r.status != RunStatus::runtime_error) {
    o.kind = InteractorOutcome::kJudgeError;  // crashed, killed by a limit, or a sandbox failure
    return o;
  }
  o.exit_code = r.status == RunStatus::ok ? 0 : r.exit_code;
  if (protocol == InteractorProtocol::kKattis) {
    // Kattis: 42 accepted, 43 wrong answer, anything else (0 included) is a judge error.
    o.kind = o.exit_code == 42 ? InteractorOutcome::kAccepted
             : o.exit_code == 43 ? InteractorOutcome::kWrong
                                 : InteractorOutcome::kJudgeError;
    o.judge_error_first = o.kind == InteractorOutcome::kJudgeError;
    return o;
  }
  switch (o.exit_code) {  // testlib
    case 0: o.kind = InteractorOutcome::kAccepted; break;
    case 1: case 4: case 8: o.kind = InteractorOutcome::kWrong; break;
    case 2: o.kind = InteractorOutcome::kPresentation; break;
    case 7: o.kind = InteractorOutcome::kPoints; break;
    case 3: o.kind = InteractorOutcome::kJudgeError; o.judge_error_first = true; break;  // FAIL
    default: o.kind = InteractorOutcome::kJudgeError; break;
  }
  return o;
}

}  // namespace interact_detail

InteractiveRunner::InteractiveRunner(const sandbox::Sandbox& sb, const Compiler& compiler, const CodeProblem& problem)
    : sb_(sb), protocol_(problem.interactor_protocol), flags_(problem.validator_flags) {
  if (problem.interactor_files.empty()) {
    error_ = "unsupported: interactive problem without interactor";
    if (problem.format == ProblemFormat::kCodeforces)
      error_ += " (open-r1/codeforces rows carry none; pass one with `crucible grade code --interactor FILE`)";
    return;
  }
  Language lang = language_from_path(problem.interactor_files.front().name).value_or(Language::kCpp);
  interactor_ = compiler.compile(lang, problem.interactor_files);
  if (!interactor_.ok) error_ = "interactor does not compile: " + interactor_.error;
}

void InteractiveRunner::run_test(const CompileResult& solution, const std::string& input, const std::string& answer,
                                 const sandbox::Limits& limits, const Checker* checker, TestResult* out) const {
  using sandbox::RunStatus;
  TestResult& tr = *out;
  if (!start_test(&tr, error_)) return;
  auto grader_error = [&tr](const std::string& why) { set_grader_error(&tr, why); };
  const bool kattis = protocol_ == InteractorProtocol::kKattis;

  HostDir dir("interactive");
  if (!dir.ok()) return grader_error(dir.error());
  // testlib: output.txt (the interactor's log for the checker). Kattis: the feedback directory
  // (judgemessage.txt, ...). Both are bound writable into the interactor's box only.
  const std::string tout_path = dir.path() + "/output.txt";
  const std::string feedback_path = dir.path() + "/feedback";
  std::string err;
  if (kattis) {
    if (::mkdir(feedback_path.c_str(), 0777) != 0 || ::chmod(feedback_path.c_str(), 0777) != 0)
      return grader_error("mkdir " + feedback_path + ": " + std::strerror(errno));
  } else if (!make_shared_file(tout_path, &err)) {
    return grader_error(err);
  }

  // s2i: solution stdout -> interactor stdin; i2s: interactor stdout -> solution stdin.
  int s2i[2] = {-1, -1}, i2s[2] = {-1, -1};
  if (::pipe2(s2i, O_CLOEXEC) != 0 || ::pipe2(i2s, O_CLOEXEC) != 0) {
    std::string e = std::strerror(errno);
    for (int* fd : {&s2i[0], &s2i[1], &i2s[0], &i2s[1]}) close_fd(*fd);
    return grader_error("pipe: " + e);
  }

  sandbox::RunSpec sspec;
  program_spec(solution, &sspec);
  sspec.stdin_fd = i2s[0];
  sspec.stdout_fd = s2i[1];

  sandbox::RunSpec ispec;
  sandbox::RunSpec probe;
  std::vector<std::string> iargs;
  if (kattis) {
    iargs = {"input.txt", "answer.txt", "/box/feedback/"};
    iargs.insert(iargs.end(), flags_.begin(), flags_.end());
  } else {
    iargs = {"input.txt", "output.txt", "answer.txt"};
  }
  program_spec(interactor_, &probe, iargs);
  // SIGPIPE ignored (inherited through exec): writing to a solution that has exited fails instead
  // of killing the interactor, which then reaches its own verdict (usually unexpected EOF).
  ispec.argv = {"/bin/sh", "-c", "trap '' PIPE; exec \"$0\" \"$@\""};
  ispec.argv.insert(ispec.argv.end(), probe.argv.begin(), probe.argv.end());
  ispec.files = probe.files;
  ispec.files.push_back({"input.txt", input, false});
  ispec.files.push_back({"answer.txt", answer, false});
  if (kattis) ispec.binds.push_back({feedback_path, "/box/feedback", true});
  else ispec.binds.push_back({tout_path, "/box/output.txt", true});
  ispec.stdin_fd = s2i[0];
  ispec.stdout_fd = i2s[1];

  sandbox::Limits ilim;
  ilim.cpu_ms = limits.wall_ms + 1000;
  ilim.wall_ms = limits.wall_ms + 2000;
  ilim.memory_bytes = std::max<int64_t>(limits.memory_bytes, 1ll << 30);
  ilim.output_bytes = 16ll << 20;
  ilim.processes = 4;
  ilim.file_bytes = std::max<int64_t>(64ll << 20, static_cast<int64_t>(input.size() + answer.size()) + (16ll << 20));
  ilim.open_files = 64;

  // Each side's pipe ends are closed here as soon as its box is gone (run() returned), so the
  // other side reads EOF / gets EPIPE instead of waiting on our copies. `finished` records which
  // side ended first (Kattis: a validator that rejected first decides, whatever followed).
  std::atomic<int> finished{0};
  int interactor_rank = 0;
  sandbox::RunResult irr;
  std::thread interactor_thread;
  try {
    interactor_thread = std::thread([&] {
      irr = sb_.run(ispec, ilim);
      interactor_rank = ++finished;
      close_fd(s2i[0]);
      close_fd(i2s[1]);
    });
  } catch (const std::system_error& e) {
    for (int* fd : {&s2i[0], &s2i[1], &i2s[0], &i2s[1]}) close_fd(*fd);
    return grader_error(std::string("cannot start the interactor thread: ") + e.what());
  }
  sandbox::RunResult srr = sb_.run(sspec, limits);
  const int solution_rank = ++finished;
  close_fd(i2s[0]);
  close_fd(s2i[1]);
  interactor_thread.join();
  const bool interactor_first = interactor_rank < solution_rank;

  tr.time_ms = srr.cpu_ms;
  tr.memory_bytes = srr.peak_rss_bytes;
  std::string tout, imsg;
  if (kattis) {
    imsg = one_line(read_file(feedback_path + "/judgemessage.txt", 4096));
    if (imsg.empty()) imsg = one_line(irr.stderr_data);
  } else {
    tout = read_file(tout_path, static_cast<size_t>(ilim.file_bytes));
    imsg = one_line(irr.stderr_data);
    if (imsg.empty()) imsg = one_line(tout);
  }
  imsg = clip(imsg);
  const char* who = kattis ? "output validator" : "interactor";

  if (srr.status == RunStatus::internal) return grader_error("sandbox (solution): " + srr.reason);
  if (irr.status == RunStatus::internal) return grader_error(std::string("sandbox (") + who + "): " + irr.reason);
  const InteractorOutcome io = interactor_outcome(protocol_, irr);
  auto judge_error = [&] {
    if (io.exit_code >= 0 && (irr.status == RunStatus::ok || irr.status == RunStatus::runtime_error))
      return grader_error(!kattis && io.exit_code == 3
                              ? "interactor failed (exit 3): " + imsg
                              : std::string(who) + " exit code " + std::to_string(io.exit_code) + ": " + imsg);
    return grader_error(std::string(who) + " " + sandbox::to_string(irr.status) + ": " + irr.reason +
                        (imsg.empty() ? "" : " [" + imsg + "]"));
  };
  // testlib FAIL (exit 3) and any Kattis judge error come first: the judge is broken.
  if (io.kind == InteractorOutcome::kJudgeError && (io.judge_error_first || kattis)) return judge_error();
  // Kattis: a validator that exited first with wrong answer decides, even if its early exit then
  // made the submission crash or time out.
  if (kattis && io.kind == InteractorOutcome::kWrong && interactor_first) {
    tr.verdict = Verdict::kWrong;
    tr.message = imsg;
    return;
  }
  // The solution's own failure wins over whatever the interactor concluded from it. testlib: a
  // solution killed by SIGPIPE had written after the interactor closed its input, so the
  // interactor's verdict is the one that counts.
  const bool sigpipe = !kattis && srr.status == RunStatus::signaled && srr.signal == SIGPIPE;
  if (srr.status != RunStatus::ok && !sigpipe) {
    tr.verdict = contestant_verdict(srr, limits);
    tr.message = contestant_message(srr);
    if (!imsg.empty()) tr.message += std::string(" [") + who + ": " + imsg + "]";
    return;
  }
  if (io.kind == InteractorOutcome::kJudgeError) return judge_error();
  tr.message = imsg;
  switch (io.kind) {
    case InteractorOutcome::kAccepted: {
      if (kattis || !external_checker(checker)) {
        tr.score = 1;
        tr.verdict = Verdict::kCorrect;
        return;
      }
      CheckResult cr = checker->check(input, tout, answer);
      tr.message = cr.message;
      if (cr.failed) return grader_error(cr.message);
      tr.score = cr.score;
      tr.verdict = cr.score >= 1.0 ? Verdict::kCorrect : (cr.score > 0 ? Verdict::kPartial : Verdict::kWrong);
      return;
    }
    case InteractorOutcome::kWrong:
      tr.verdict = Verdict::kWrong;
      return;
    case InteractorOutcome::kPresentation:
      tr.verdict = Verdict::kWrong;
      tr.message = "presentation error: " + imsg;
      return;
    case InteractorOutcome::kPoints: {
      double v = 0;
      if (!first_number(irr.stderr_data, &v) && !first_number(tout, &v))
        return grader_error("interactor gave points (exit 7) without a number: " + imsg);
      tr.score = std::max(0.0, std::min(1.0, v));
      tr.verdict = tr.score >= 1.0 ? Verdict::kCorrect : (tr.score > 0 ? Verdict::kPartial : Verdict::kWrong);
      return;
    }
    case InteractorOutcome::kJudgeError:
      return judge_error();
  }
}

}  // namespace crucible::code
