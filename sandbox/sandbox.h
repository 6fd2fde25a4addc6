// crucible_sandbox: run one untrusted program in a fresh, isolated, resource-limited process tree.
//
// One Sandbox::run() = clone() into new user, PID, mount, network, IPC and UTS namespaces; a
// tmpfs root holding read-only binds of the system directories (/usr, /bin, /lib*, /sbin, a few
// /etc files), a fresh /proc, a minimal /dev, an empty writable /box (the working directory) and
// /tmp; an unprivileged uid (1000 inside, Options::host_uid outside); rlimits; a cgroup (v2, or
// v1 memory+pids+cpuacct) for memory, process count and CPU accounting; a seccomp filter. The
// whole tree is killed when the main program exits or a limit is hit, and nothing it wrote
// survives the run (except through binds marked writable). Thread-safe: run() may be called
// concurrently from many threads. Never throws for the program's behaviour: everything is a
// RunResult status. A process that uses it keeps a background thread that starts the next box's
// namespaces ahead of its run and finishes runs off their critical path, a few idle cgroups and
// one waiting box per option set. See sandbox/README.md for the design and its fallbacks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crucible::sandbox {

// Every limit carries its unit in its name. 0 means "no limit" only where said.
struct Limits {
  int64_t cpu_ms = 1000;                      // CPU time, summed over all threads and processes
  int64_t wall_ms = 3000;                     // wall-clock time from start to the end of the run
  int64_t memory_bytes = 256ll << 20;         // peak memory of the whole tree (cgroup), else RLIMIT_AS
  int64_t output_bytes = 64ll << 20;          // captured stdout and stderr, each; beyond: output_limit
  int64_t processes = 1;                      // processes + threads the program may have at once
  int64_t file_bytes = 64ll << 20;            // largest file it may write (RLIMIT_FSIZE); also the
                                              // size of each of the /box and /tmp tmpfs mounts
  int64_t stack_bytes = 0;                    // RLIMIT_STACK; 0 = same as memory_bytes
  int64_t open_files = 64;                    // RLIMIT_NOFILE
};

// A directory (or file) of the host made visible in the box. Read-only unless writable; a
// writable bind must be writable by Options::host_uid on the host (e.g. mode 0777).
struct Bind {
  std::string host;                           // absolute host path
  std::string box;                            // absolute path inside the box
  bool writable = false;
};

// A file written into the box before the program starts (path relative to /box).
struct BoxFile {
  std::string path;
  std::string contents;
  bool executable = false;
};

struct RunSpec {
  std::vector<std::string> argv;              // argv[0] without '/' is searched in PATH
  std::vector<std::string> env;               // "K=V", added over PATH, HOME=/box, TMPDIR=/tmp
  std::string stdin_data;                     // the program's stdin (default: empty)
  std::string stdin_file;                     // or a host file opened by the caller's uid
  int stdin_fd = -1;                          // or an fd of the caller, passed as is (not closed)
  int stdout_fd = -1;                         // >=0: stdout goes there instead of being captured
  int stderr_fd = -1;                         // >=0: stderr goes there instead of being captured
  std::vector<BoxFile> files;                 // written into /box first
  std::vector<Bind> binds;                    // extra binds (host:box[:rw])
  std::string workdir = "/box";               // cwd of the program
};

enum class RunStatus {
  ok,             // exited with code 0 within every limit
  time_limit,     // CPU time over Limits::cpu_ms
  wall_limit,     // wall-clock time over Limits::wall_ms
  memory_limit,   // memory cgroup limit hit (OOM kill), or allocation refused under RLIMIT_AS
  output_limit,   // captured stdout/stderr over Limits::output_bytes, or a file over file_bytes
  runtime_error,  // exited with a non-zero code (or the command could not be executed)
  signaled,       // killed by a signal (SIGSEGV, SIGABRT, ...) not attributable to a limit
  security,       // killed by the seccomp filter (SIGSYS) for a forbidden system call
  internal,       // the sandbox itself failed; `reason` says why
};
const char* to_string(RunStatus s);

struct RunResult {
  RunStatus status = RunStatus::internal;
  int exit_code = -1;                         // when exited normally, else -1
  int signal = 0;                             // terminating signal of the main process, else 0
  int64_t cpu_ms = 0;                         // user + system, all threads and processes
  int64_t wall_ms = 0;
  int64_t peak_rss_bytes = 0;                 // cgroup peak (memory.peak / max_usage), else ru_maxrss
  std::string stdout_data;                    // captured (at most Limits::output_bytes)
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  std::string reason;                         // set for every status other than ok
  std::string accounting;                     // "cgroup-v2", "cgroup-v1" or "rlimit" (the fallback)

  bool ok() const { return status == RunStatus::ok; }
  nlohmann::json to_json() const;             // {"status","exit_code",...,"stdout","stderr",...}
};

struct SandboxOptions {
  unsigned host_uid = 60000;                  // uid/gid the box runs as on the host when we are root
  unsigned host_gid = 60000;                  // (non-root callers: their own uid/gid)
  bool use_cgroups = true;                    // false: force the rlimit fallback
  bool seccomp = true;
  // Host directories bound read-only at the same path (symlinks such as /bin -> usr/bin are
  // recreated as symlinks). Missing ones are skipped.
  std::vector<std::string> system_dirs = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32",
                                          "/libx32", "/etc/alternatives"};
  std::vector<std::string> etc_files = {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                                        "/etc/localtime", "/etc/nsswitch.conf"};
};

class Sandbox {
 public:
  Sandbox() : Sandbox(SandboxOptions{}) {}
  explicit Sandbox(SandboxOptions options);
  RunResult run(const RunSpec& spec, const Limits& limits) const;
  // What this machine offers: {"namespaces": bool, "cgroup": "v1"/"v2"/"none", "reason": ...}.
  static nlohmann::json probe();

 private:
  SandboxOptions opt_;
};

// Units for the CLI and configs: durations "500ms", "1s", "1.5s", "2m", bare number = seconds;
// sizes "512K", "256M", "1G" (binary multiples; KB/MB/GB/KiB/MiB/GiB accepted), bare = bytes.
// Return -1 when malformed.
int64_t parse_duration_ms(const std::string& s);
int64_t parse_size_bytes(const std::string& s);

}  // namespace crucible::sandbox
