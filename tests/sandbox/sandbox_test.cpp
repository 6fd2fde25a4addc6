// Tests of crucible_sandbox: basic runs, every status, and the security suite. A probe program
// (probe_program.h) is compiled with the system gcc at test time and bound read-only at /probe.
#include "sandbox/sandbox.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "tests/sandbox/probe_program.h"

namespace fs = std::filesystem;
using namespace crucible::sandbox;

namespace crucible::sandbox {
// gtest prints statuses by name.
void PrintTo(RunStatus s, std::ostream* os) { *os << to_string(s); }
}  // namespace crucible::sandbox

namespace {

struct Env {
  std::string dir;        // host dir holding the probe binary (bound at /probe); shared, cached
  std::string scratch;    // per-process host dir for test files; removed at the end
  std::string skip;       // non-empty: why the suite cannot run here
};

// The probe is compiled once per source version into /tmp/crucible_sandbox_probe_<hash> and reused
// by every test process (ctest runs each test in its own process).
const Env& env() {
  static Env e = [] {
    Env e;
    std::string src = crucible::sandbox::testing::kProbeSource;
    e.dir = "/tmp/crucible_sandbox_probe_" + std::to_string(std::hash<std::string>{}(src) % 1000000007ull);
    char tmpl[] = "/tmp/crucible_sandbox_test_XXXXXX";
    if (!mkdtemp(tmpl)) { e.skip = "mkdtemp failed"; return e; }
    e.scratch = tmpl;
    ::chmod(e.scratch.c_str(), 0755);
    if (!fs::exists(e.dir + "/probe")) {
      fs::create_directories(e.dir);
      ::chmod(e.dir.c_str(), 0755);
      std::string c = e.scratch + "/probe.c";
      std::ofstream(c) << src;
      std::string tmp = e.dir + "/probe.tmp." + std::to_string(::getpid());
      std::string cmd = "gcc -O1 -pthread -o " + tmp + " " + c + " 2>&1";
      if (std::system(cmd.c_str()) != 0) { e.skip = "gcc could not build the probe program"; return e; }
      ::chmod(tmp.c_str(), 0755);
      fs::rename(tmp, e.dir + "/probe");  // atomic: concurrent test processes see all or nothing
    }
    auto probe = Sandbox::probe();
    if (!probe.value("namespaces", false))
      e.skip = "sandbox unavailable on this machine: " + probe.value("reason", std::string("?"));
    return e;
  }();
  return e;
}

#define REQUIRE_SANDBOX()                                        \
  do {                                                           \
    if (!env().skip.empty()) GTEST_SKIP() << env().skip;         \
  } while (0)

RunSpec probe(std::vector<std::string> args) {
  RunSpec s;
  s.argv = {"/probe/probe"};
  for (auto& a : args) s.argv.push_back(a);
  s.binds.push_back({env().dir, "/probe", false});
  return s;
}

Limits generous() {
  Limits l;
  l.cpu_ms = 2000;
  l.wall_ms = 10000;
  l.memory_bytes = 128ll << 20;
  return l;
}

std::string describe(const RunResult& r) { return r.to_json().dump(); }

// Each test process runs its boxes under its own host uid, so boxes that other test binaries
// (the code graders, run in parallel by ctest) start under the default uid 60000 don't count.
unsigned test_uid() { return 61000 + static_cast<unsigned>(::getpid()) % 4000; }
SandboxOptions test_options() {
  SandboxOptions o;
  o.host_uid = o.host_gid = test_uid();
  return o;
}

// Host processes running as this test's box uid: must be none after every run.
std::vector<int> box_processes_on_host() {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream st(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    while (std::getline(st, line)) {
      if (line.rfind("Uid:", 0) == 0) {
        std::istringstream in(line.substr(4));
        int ruid = -1;
        in >> ruid;
        if (ruid == static_cast<int>(test_uid())) out.push_back(std::atoi(e->d_name));
        break;
      }
    }
  }
  closedir(d);
  return out;
}

void expect_host_clean() {
  if (::geteuid() != 0) return;
  // Zombies being reaped may linger for a moment.
  for (int i = 0; i < 50 && !box_processes_on_host().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(box_processes_on_host().empty()) << "box processes survived the run";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Basics and statuses

TEST(Sandbox, RunsTrue) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  RunSpec s;
  s.argv = {"true"};  // found through PATH
  auto r = sb.run(s, generous());
  EXPECT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.reason.empty());
}

TEST(Sandbox, StdinStdoutStderr) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto s = probe({"upper"});
  s.stdin_data = "hello, box\n";
  auto r = sb.run(s, generous());
  ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_EQ(r.stdout_data, "HELLO, BOX\n");
  EXPECT_EQ(r.stderr_data, "err");
  EXPECT_GT(r.peak_rss_bytes, 0);
  EXPECT_GE(r.wall_ms, 0);
}

TEST(Sandbox, LargeStdinAndStdinFile) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto s = probe({"upper"});
  s.stdin_data = std::string(3 << 20, 'a');
  auto r = sb.run(s, generous());
  ASSERT_EQ(r.status, RunStatus::ok) << r.reason;
  EXPECT_EQ(r.stdout_data, std::string(3 << 20, 'A'));

  std::string f = env().scratch + "/input.txt";
  std::ofstream(f) << "from file";
  auto s2 = probe({"upper"});
  s2.stdin_file = f;
  auto r2 = sb.run(s2, generous());
  ASSERT_EQ(r2.status, RunStatus::ok) << r2.reason;
  EXPECT_EQ(r2.stdout_data, "FROM FILE");
}

TEST(Sandbox, FilesEnvAndWorkdir) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto s = probe({"cat", "sub/data.txt"});
  s.files.push_back({"sub/data.txt", "payload", false});
  auto r = sb.run(s, generous());
  ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_EQ(r.stdout_data, "payload");

  auto e = probe({"env", "FOO"});
  e.env = {"FOO=bar"};
  auto r2 = sb.run(e, generous());
  ASSERT_EQ(r2.status, RunStatus::ok) << describe(r2);
  EXPECT_EQ(r2.stdout_data, "bar");
}

TEST(Sandbox, ShellScriptAndExecutableFile) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  RunSpec s;
  s.argv = {"./run.sh"};
  s.files.push_back({"run.sh", "#!/bin/sh\necho script $(id -u)\n", true});
  Limits l = generous();
  l.processes = 4;
  auto r = sb.run(s, l);
  ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_EQ(r.stdout_data, "script 1000\n");
}

TEST(Sandbox, ExitCodeIsRuntimeError) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto r = sb.run(probe({"exit", "3"}), generous());
  EXPECT_EQ(r.status, RunStatus::runtime_error) << describe(r);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.reason.empty());
}

TEST(Sandbox, MissingCommandIsRuntimeError) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  RunSpec s;
  s.argv = {"/no/such/binary"};
  auto r = sb.run(s, generous());
  EXPECT_EQ(r.status, RunStatus::runtime_error) << describe(r);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.reason.find("No such file"), std::string::npos) << r.reason;
}

TEST(Sandbox, SignalsAreSignaled) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto r = sb.run(probe({"abort"}), generous());
  EXPECT_EQ(r.status, RunStatus::signaled) << describe(r);
  EXPECT_EQ(r.signal, SIGABRT);
  auto r2 = sb.run(probe({"segv"}), generous());
  EXPECT_EQ(r2.status, RunStatus::signaled) << describe(r2);
  EXPECT_EQ(r2.signal, SIGSEGV);
  EXPECT_NE(r2.reason.find("SIGSEGV"), std::string::npos) << r2.reason;
}

TEST(Sandbox, InvalidSpecIsInternal) {
  Sandbox sb(test_options());
  RunSpec s;
  auto r = sb.run(s, generous());
  EXPECT_EQ(r.status, RunStatus::internal);
  EXPECT_FALSE(r.reason.empty());
  RunSpec s2;
  s2.argv = {"true"};
  s2.binds.push_back({"/definitely/not/here", "/x", false});
  auto r2 = sb.run(s2, generous());
  EXPECT_EQ(r2.status, RunStatus::internal);
  EXPECT_NE(r2.reason.find("/definitely/not/here"), std::string::npos) << r2.reason;
}

TEST(Sandbox, JsonHasEveryField) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto r = sb.run(probe({"hello"}), generous());
  auto j = r.to_json();
  for (const char* k : {"status", "exit_code", "signal", "cpu_ms", "wall_ms", "peak_rss_bytes", "stdout", "stderr",
                        "stdout_truncated", "stderr_truncated", "reason", "accounting"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["stdout"], "hello\n");
  r.stdout_data = "\xff\xfe bad utf8";
  EXPECT_NO_THROW(r.to_json().dump());
}

TEST(Sandbox, Units) {
  EXPECT_EQ(parse_duration_ms("500ms"), 500);
  EXPECT_EQ(parse_duration_ms("1s"), 1000);
  EXPECT_EQ(parse_duration_ms("1.5s"), 1500);
  EXPECT_EQ(parse_duration_ms("2"), 2000);
  EXPECT_EQ(parse_duration_ms("1m"), 60000);
  EXPECT_EQ(parse_duration_ms("abc"), -1);
  EXPECT_EQ(parse_duration_ms("1h"), -1);
  EXPECT_EQ(parse_size_bytes("256M"), 256ll << 20);
  EXPECT_EQ(parse_size_bytes("1G"), 1ll << 30);
  EXPECT_EQ(parse_size_bytes("512K"), 512ll << 10);
  EXPECT_EQ(parse_size_bytes("64MB"), 64ll << 20);
  EXPECT_EQ(parse_size_bytes("64MiB"), 64ll << 20);
  EXPECT_EQ(parse_size_bytes("1000"), 1000);
  EXPECT_EQ(parse_size_bytes("1000B"), 1000);
  EXPECT_EQ(parse_size_bytes("12X"), -1);
  EXPECT_EQ(parse_size_bytes(""), -1);
}

TEST(Sandbox, ConcurrentRuns) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto s = probe({"upper"});
        s.stdin_data = "t" + std::to_string(t) + "i" + std::to_string(i);
        auto r = sb.run(s, generous());
        std::string want = "T" + std::to_string(t) + "I" + std::to_string(i);
        if (r.ok() && r.stdout_data == want) ++ok;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 20);
  expect_host_clean();
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(SandboxLimits, CpuSpinIsTimeLimit) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.cpu_ms = 500;
  auto r = sb.run(probe({"spin"}), l);
  EXPECT_EQ(r.status, RunStatus::time_limit) << describe(r);
  EXPECT_GE(r.cpu_ms, 500);
  EXPECT_LT(r.cpu_ms, 2000);
  EXPECT_FALSE(r.reason.empty());
  expect_host_clean();
}

TEST(SandboxLimits, SleepIsWallLimit) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.wall_ms = 500;
  auto r = sb.run(probe({"sleep"}), l);
  EXPECT_EQ(r.status, RunStatus::wall_limit) << describe(r);
  EXPECT_GE(r.wall_ms, 500);
  EXPECT_LT(r.cpu_ms, 200);
  expect_host_clean();
}

// A memory bomb must end as memory_limit, not time_limit, under a 1 s CPU limit: the OOM kill
// has to come long before the CPU budget is spent (cgroup v1 included: no swap, no reclaim loop).
TEST(SandboxLimits, MemoryBombIsMemoryLimit) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.memory_bytes = 64ll << 20;
  l.cpu_ms = 1000;
  for (const char* bomb : {"membomb", "bigvec"}) {  // 1 MiB chunks; one 3 GiB allocation filled in order
    auto r = sb.run(probe({bomb}), l);
    if (r.accounting == "rlimit") GTEST_SKIP() << "no memory cgroup (the rlimit fallback fails allocations instead)";
    EXPECT_EQ(r.status, RunStatus::memory_limit) << bomb << ": " << describe(r);
    EXPECT_FALSE(r.reason.empty());
    if (r.accounting != "rlimit") {
      EXPECT_GE(r.peak_rss_bytes, l.memory_bytes - (l.memory_bytes >> 4)) << describe(r);
    }
  }
  expect_host_clean();
}

// A child process killed by the OOM killer is the memory limit too, whatever the parent does next.
TEST(SandboxLimits, OomKilledChildIsMemoryLimit) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.memory_bytes = 64ll << 20;
  l.cpu_ms = 1000;
  l.processes = 4;
  auto r = sb.run(probe({"forkmem"}), l);
  if (r.accounting == "rlimit") GTEST_SKIP() << "no memory cgroup";
  EXPECT_EQ(r.status, RunStatus::memory_limit) << describe(r);
  expect_host_clean();
}

TEST(SandboxLimits, StackOverflowIsSignaled) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.stack_bytes = 8ll << 20;
  auto r = sb.run(probe({"stack"}), l);
  EXPECT_EQ(r.status, RunStatus::signaled) << describe(r);
  EXPECT_EQ(r.signal, SIGSEGV);
}

TEST(SandboxLimits, InfiniteOutputIsOutputLimit) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.output_bytes = 1 << 20;
  auto r = sb.run(probe({"output"}), l);
  EXPECT_EQ(r.status, RunStatus::output_limit) << r.reason;
  EXPECT_EQ(r.stdout_data.size(), static_cast<size_t>(1 << 20));
  EXPECT_TRUE(r.stdout_truncated);
  expect_host_clean();
}

TEST(SandboxLimits, DiskFillIsOutputLimit) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.file_bytes = 1 << 20;
  auto r = sb.run(probe({"diskfill"}), l);
  EXPECT_EQ(r.status, RunStatus::output_limit) << describe(r);
  EXPECT_NE(r.reason.find("SIGXFSZ"), std::string::npos) << r.reason;
}

TEST(SandboxLimits, ForkBombIsContained) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.processes = 16;
  l.cpu_ms = 1000;
  l.wall_ms = 2000;
  auto r = sb.run(probe({"forkbomb"}), l);
  EXPECT_NE(r.status, RunStatus::ok) << describe(r);
  EXPECT_NE(r.status, RunStatus::internal) << describe(r);
  expect_host_clean();
  EXPECT_EQ(std::system("true"), 0) << "the host can still fork";
}

TEST(SandboxLimits, ThreadsCpuIsSummed) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.processes = 100;
  l.cpu_ms = 1000;
  l.wall_ms = 10000;
  auto r = sb.run(probe({"threads", "64"}), l);
  EXPECT_EQ(r.status, RunStatus::time_limit) << describe(r);
  EXPECT_GE(r.cpu_ms, 1000);
  // cpuacct sums every thread: with 2 idle cores cpu_ms ~ 2 x wall_ms, but a loaded machine
  // gives no such guarantee, so the ratio is only recorded.
  RecordProperty("cpu_ms", static_cast<int>(r.cpu_ms));
  RecordProperty("wall_ms", static_cast<int>(r.wall_ms));
  expect_host_clean();
}

TEST(SandboxLimits, ProcessLimitRefusesThreads) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.processes = 4;
  auto r = sb.run(probe({"threads", "64"}), l);
  EXPECT_EQ(r.status, RunStatus::runtime_error) << describe(r);
  EXPECT_EQ(r.exit_code, 4);
}

// ---------------------------------------------------------------------------------------------
// Security suite

TEST(SandboxSecurity, NoNetworkToHostLoopback) {
  REQUIRE_SANDBOX();
  int srv = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(srv, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(srv, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(srv, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  Sandbox sb(test_options());
  auto r = sb.run(probe({"connect", std::to_string(port)}), generous());
  EXPECT_EQ(r.status, RunStatus::runtime_error) << describe(r);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_LT(::accept(srv, nullptr, nullptr), 0) << "the box reached the host's loopback server";
  ::close(srv);
}

TEST(SandboxSecurity, CannotReadHostSecret) {
  REQUIRE_SANDBOX();
  std::string dir = env().scratch + "/secretdir";
  fs::create_directories(dir);
  std::string secret = dir + "/secret.txt";
  std::ofstream(secret) << "TOPSECRET";
  ::chmod(secret.c_str(), 0644);
  Sandbox sb(test_options());
  for (const std::string& path : {secret, std::string("/proc/1/root") + secret, std::string("/root/.bashrc")}) {
    auto r = sb.run(probe({"cat", path}), generous());
    EXPECT_EQ(r.stdout_data.find("TOPSECRET"), std::string::npos) << path;
    EXPECT_EQ(r.status, RunStatus::runtime_error) << path << ": " << describe(r);
  }
}

TEST(SandboxSecurity, CannotWriteOutsideTheBox) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  std::string host_target = env().scratch + "/evil";
  auto r = sb.run(probe({"write", "/usr/evil", "/etc/evil", "/evil", "/probe/evil", "/proc/evil", host_target}),
                  generous());
  EXPECT_EQ(r.status, RunStatus::runtime_error) << describe(r);
  EXPECT_FALSE(fs::exists("/usr/evil"));
  EXPECT_FALSE(fs::exists("/etc/evil"));
  EXPECT_FALSE(fs::exists(host_target));
}

TEST(SandboxSecurity, WritableBindWorks) {
  REQUIRE_SANDBOX();
  std::string out = env().scratch + "/out";
  fs::create_directories(out);
  ::chmod(out.c_str(), 0777);
  Sandbox sb(test_options());
  auto s = probe({"write", "/out/result.txt"});
  s.binds.push_back({out, "/out", true});
  auto r = sb.run(s, generous());
  EXPECT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_TRUE(fs::exists(out + "/result.txt"));
}

TEST(SandboxSecurity, NothingSurvivesForTheNextRun) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto r1 = sb.run(probe({"leave"}), generous());
  ASSERT_EQ(r1.status, RunStatus::ok) << describe(r1);
  auto r2 = sb.run(probe({"check_left"}), generous());
  EXPECT_EQ(r2.status, RunStatus::ok) << "a file left by the previous run is visible: " << describe(r2);
}

// Every run gets fresh namespaces even though boxes are started ahead: a counter of the network
// namespace one run raises is back at zero in the next.
TEST(SandboxSecurity, NetworkNamespaceIsFreshEachRun) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  for (int i = 0; i < 3; ++i) {
    auto r = sb.run(probe({"netcount"}), generous());
    ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
    EXPECT_EQ(r.stdout_data, "OutNoRoutes=0\n") << "run " << i;
  }
}

TEST(SandboxSecurity, OrphansAreKilled) {
  REQUIRE_SANDBOX();
  std::string markers = env().scratch + "/markers";
  fs::create_directories(markers);
  ::chmod(markers.c_str(), 0777);
  Sandbox sb(test_options());
  auto s = probe({"orphan", "/markers"});
  s.binds.push_back({markers, "/markers", true});
  Limits l = generous();
  l.processes = 8;
  auto r = sb.run(s, l);
  EXPECT_EQ(r.status, RunStatus::ok) << describe(r);
  expect_host_clean();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_FALSE(fs::exists(markers + "/orphan_alive")) << "a double-forked orphan outlived the run";
}

TEST(SandboxSecurity, KillMinusOneSparesTheHost) {
  REQUIRE_SANDBOX();
  pid_t host_child = ::fork();
  if (host_child == 0) {
    ::pause();
    _exit(0);
  }
  ASSERT_GT(host_child, 0);
  Sandbox sb(test_options());
  Limits l = generous();
  l.processes = 8;
  auto r = sb.run(probe({"killall"}), l);
  EXPECT_NE(r.status, RunStatus::internal) << describe(r);
  int st = 0;
  EXPECT_EQ(::waitpid(host_child, &st, WNOHANG), 0) << "a host process was killed by the box";
  ::kill(host_child, SIGKILL);
  ::waitpid(host_child, &st, 0);
}

TEST(SandboxSecurity, PtraceIsRefused) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto r = sb.run(probe({"ptrace"}), generous());
  EXPECT_EQ(r.status, RunStatus::security) << describe(r);
  EXPECT_EQ(r.signal, SIGSYS);
  EXPECT_EQ(r.stdout_data.find("ptrace=0"), std::string::npos);
}

TEST(SandboxSecurity, UnshareAndMountAreRefused) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  for (const char* what : {"unshare", "mount"}) {
    auto r = sb.run(probe({what}), generous());
    EXPECT_EQ(r.status, RunStatus::security) << what << ": " << describe(r);
  }
}

TEST(SandboxSecurity, HostProcessesAreInvisible) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto r = sb.run(probe({"procsnoop"}), generous());
  ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
  // Only the program itself shows: no host process, and not even the box's init (PID 1, which
  // runs in this process's memory: /proc is mounted hidepid=2).
  EXPECT_NE(r.stdout_data.rfind("1:", 0), 0u) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find(":/probe/probe"), std::string::npos) << r.stdout_data;  // its own entry
  EXPECT_EQ(r.stdout_data.find("test_sandbox"), std::string::npos) << r.stdout_data;
  auto pos = r.stdout_data.find("count=");
  ASSERT_NE(pos, std::string::npos) << r.stdout_data;
  EXPECT_LE(std::atoi(r.stdout_data.c_str() + pos + 6), 3) << r.stdout_data;
}

TEST(SandboxSecurity, RunsAsUnprivilegedUser) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  RunSpec s;
  s.argv = {"/bin/sh", "-c", "id -u; cat /proc/self/status | grep -E '^Cap(Eff|Prm|Bnd)'; cat /proc/self/uid_map"};
  Limits l = generous();
  l.processes = 4;
  auto r = sb.run(s, l);
  ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_EQ(r.stdout_data.rfind("1000\n", 0), 0u) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("CapEff:\t0000000000000000"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("CapBnd:\t0000000000000000"), std::string::npos) << r.stdout_data;
}

TEST(SandboxSecurity, InteractorThatNeverFlushesHitsWallLimit) {
  REQUIRE_SANDBOX();
  // Two boxes wired by pipes: a -> b and b -> a. a's query sits in its stdio buffer forever.
  int ab[2], ba[2];
  ASSERT_EQ(::pipe2(ab, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(ba, O_CLOEXEC), 0);
  Sandbox sb(test_options());
  Limits l = generous();
  l.wall_ms = 1000;
  RunResult ra, rb;
  auto sa = probe({"noflush"});
  sa.stdin_fd = ba[0];
  sa.stdout_fd = ab[1];
  auto sbs = probe({"answer"});
  sbs.stdin_fd = ab[0];
  sbs.stdout_fd = ba[1];
  std::thread ta([&] { ra = sb.run(sa, l); });
  std::thread tb([&] { rb = sb.run(sbs, l); });
  ta.join();
  tb.join();
  for (int fd : {ab[0], ab[1], ba[0], ba[1]}) ::close(fd);
  EXPECT_EQ(ra.status, RunStatus::wall_limit) << describe(ra);
  EXPECT_EQ(rb.status, RunStatus::wall_limit) << describe(rb);
  expect_host_clean();
}

// Run by NoCgroupsLeftBehind in a child process (the test binary itself): a few boxes, then exit.
TEST(SandboxHelper, RunBoxesThenExit) {
  if (!std::getenv("CRUCIBLE_SANDBOX_TEST_HELPER")) GTEST_SKIP() << "helper for NoCgroupsLeftBehind";
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  Limits l = generous();
  l.memory_bytes = 64ll << 20;
  EXPECT_EQ(sb.run(probe({"hello"}), l).status, RunStatus::ok);
  EXPECT_NE(sb.run(probe({"membomb"}), l).status, RunStatus::internal);
  EXPECT_EQ(sb.run(probe({"hello"}), l).status, RunStatus::ok);
}

namespace {
// Our per-run cgroup directories ("crucible-sb-<pid>-N") in every hierarchy under /sys/fs/cgroup.
std::vector<std::string> run_cgroups_of(pid_t pid) {
  std::vector<std::string> out;
  std::string mine = "crucible-sb-" + std::to_string(pid) + "-";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator("/sys/fs/cgroup", fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) { it.disable_recursion_pending(); continue; }
    if (it->path().filename().string().rfind(mine, 0) == 0) {
      out.push_back(it->path().string());
      it.disable_recursion_pending();
    } else if (it.depth() >= 4) {
      it.disable_recursion_pending();
    }
  }
  return out;
}
}  // namespace

// Per-run cgroups are reused from a pool while the process lives: idle ones hold no task, their
// number is bounded, and a process that exits removes all of them.
TEST(SandboxSecurity, NoCgroupsLeftBehind) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  ASSERT_EQ(sb.run(probe({"hello"}), generous()).status, RunStatus::ok);
  auto mine = run_cgroups_of(::getpid());
  EXPECT_LE(mine.size(), 3u * 8u);
  for (auto& d : mine) {
    std::ifstream procs(d + "/cgroup.procs");
    std::string any;
    EXPECT_FALSE(static_cast<bool>(procs >> any)) << d << " still holds task " << any;
  }
  // A child process (this binary, running only the helper above) leaves nothing when it exits.
  std::vector<std::string> env_strings = {"CRUCIBLE_SANDBOX_TEST_HELPER=1"};
  for (char** e = environ; *e; ++e) env_strings.push_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string filter = "--gtest_filter=SandboxHelper.RunBoxesThenExit";
  char* argv[] = {const_cast<char*>("test_sandbox"), filter.data(), nullptr};
  pid_t child = ::fork();
  if (child == 0) {
    ::execve("/proc/self/exe", argv, envp.data());
    _exit(127);
  }
  ASSERT_GT(child, 0);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "helper failed, status " << st;
  EXPECT_TRUE(run_cgroups_of(child).empty()) << run_cgroups_of(child).front();
}

// The box init runs as the caller's user with the caller's memory: the program (uid 1000) must
// not own, open, read or signal it.
TEST(SandboxSecurity, InitProcessIsOutOfReach) {
  REQUIRE_SANDBOX();
  Sandbox sb(test_options());
  auto r = sb.run(probe({"initproc"}), generous());
  ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_NE(r.stdout_data.find("reached=0"), std::string::npos) << r.stdout_data;
  if (::geteuid() == 0) {  // non-root callers: the init has the program's host uid (signals are dropped)
    EXPECT_NE(r.stdout_data.find("signals=0"), std::string::npos) << r.stdout_data;
  }
}

// Run by CallerArgvAndEnvironmentStayHidden in a child process (this binary) whose argv and
// environment hold a secret: a boxed program reads every /proc/<pid>/{cmdline,environ,maps,mem,...}
// it can see (the box init shares this process's memory) and must not find it.
TEST(SandboxHelper, ProcShowsNoCallerSecret) {
  const char* secret = std::getenv("CRUCIBLE_SANDBOX_SECRET_HELPER");
  if (!secret) GTEST_SKIP() << "helper for CallerArgvAndEnvironmentStayHidden";
  REQUIRE_SANDBOX();
  std::ifstream cmdline("/proc/self/cmdline"), environ_file("/proc/self/environ");
  std::string own_args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  std::string own_env((std::istreambuf_iterator<char>(environ_file)), std::istreambuf_iterator<char>());
  ASSERT_NE(own_args.find(secret), std::string::npos) << "the secret is not on this process's command line";
  ASSERT_NE(own_env.find(secret), std::string::npos) << "the secret is not in this process's environment";
  Sandbox sb(test_options());
  Limits l = generous();
  for (int run = 0; run < 2; ++run) {  // a box started for its run, then one started ahead
    auto r = sb.run(probe({"procdump"}), l);
    ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
    // The dump works: the program reads its own files.
    EXPECT_NE(r.stdout_data.find("== /proc/self/cmdline\n/probe/probe"), std::string::npos) << r.stdout_data.substr(0, 2000);
    EXPECT_EQ(r.stdout_data.find(secret), std::string::npos) << "secret visible in the box";
    EXPECT_EQ(r.stderr_data.find(secret), std::string::npos) << "secret visible in the box";
    EXPECT_EQ(r.stdout_data.find("== /proc/1/"), std::string::npos) << "the init's /proc entry is visible";
  }
}

TEST(SandboxSecurity, CallerArgvAndEnvironmentStayHidden) {
  REQUIRE_SANDBOX();
  std::string secret = "crucible-secret-" + std::to_string(::getpid()) + "-" +
                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  std::vector<std::string> env_strings = {"CRUCIBLE_SANDBOX_SECRET_HELPER=" + secret, "OPENAI_API_KEY=" + secret};
  for (char** e = environ; *e; ++e) env_strings.push_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string filter = "--gtest_filter=SandboxHelper.ProcShowsNoCallerSecret";
  std::string key = "--api-key=" + secret;  // as a CLI secret would sit in argv
  char* argv[] = {const_cast<char*>("test_sandbox"), filter.data(), key.data(), nullptr};
  pid_t child = ::fork();
  if (child == 0) {
    ::execve("/proc/self/exe", argv, envp.data());
    _exit(127);
  }
  ASSERT_GT(child, 0);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "the helper found the secret or failed (status " << st
                                                      << "; run it with --gtest_filter=SandboxHelper.* to see)";
}

namespace {
volatile sig_atomic_t g_usr1_seen = 0;
}  // namespace

// The caller's signal handlers never run on behalf of the box (its init shares the caller's
// memory when the caller is root).
TEST(SandboxSecurity, CallerSignalHandlersNeverRunForTheBox) {
  REQUIRE_SANDBOX();
  struct sigaction sa {}, old {};
  sa.sa_handler = [](int) { g_usr1_seen = 1; };
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  Sandbox sb(test_options());
  RunSpec s;
  s.argv = {"/bin/sh", "-c", "kill -USR1 1; kill -USR1 -1; kill -TERM 1; true"};
  Limits l = generous();
  l.processes = 4;
  auto r = sb.run(s, l);
  ::sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_EQ(g_usr1_seen, 0) << "a handler of the test process ran";
  expect_host_clean();
}

// The program gets stdin, stdout and stderr and no other descriptor of the caller, and its
// cgroup path is hidden (a cgroup namespace rooted at its own cgroup).
TEST(SandboxSecurity, OnlyStdioAndNoCgroupPath) {
  REQUIRE_SANDBOX();
  int extra = ::open("/dev/null", O_RDONLY);  // not O_CLOEXEC: must not reach the box either
  ASSERT_GE(extra, 0);
  Sandbox sb(test_options());
  auto r = sb.run(probe({"fds"}), generous());
  ::close(extra);
  ASSERT_EQ(r.status, RunStatus::ok) << describe(r);
  EXPECT_EQ(r.stdout_data, "0 1 2 ");
  auto c = sb.run(probe({"cat", "/proc/self/cgroup"}), generous());
  ASSERT_EQ(c.status, RunStatus::ok) << describe(c);
  EXPECT_EQ(c.stdout_data.find("crucible-sb"), std::string::npos) << c.stdout_data;
}

TEST(SandboxSecurity, RlimitFallbackStillLimits) {
  REQUIRE_SANDBOX();
  SandboxOptions o = test_options();
  o.use_cgroups = false;
  Sandbox sb(o);
  auto ok = sb.run(probe({"hello"}), generous());
  EXPECT_EQ(ok.status, RunStatus::ok) << describe(ok);
  EXPECT_EQ(ok.accounting, "rlimit");
  Limits l = generous();
  l.cpu_ms = 500;
  auto r = sb.run(probe({"spin"}), l);
  EXPECT_EQ(r.status, RunStatus::time_limit) << describe(r);
  l = generous();
  l.memory_bytes = 64ll << 20;
  auto m = sb.run(probe({"membomb"}), l);
  EXPECT_NE(m.status, RunStatus::ok) << describe(m);
  EXPECT_EQ(m.exit_code, 3) << describe(m);  // malloc failed under RLIMIT_AS
}

// Removes this process's scratch directory once the suite is done (the probe stays cached).
class CleanupEnv : public ::testing::Environment {
 public:
  void TearDown() override {
    if (!env().scratch.empty()) {
      std::error_code ec;
      fs::remove_all(env().scratch, ec);
    }
  }
};
static ::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new CleanupEnv);
