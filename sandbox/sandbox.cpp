// Sandbox::run: the parent side (plan, clone, uid maps, cgroup, monitoring, verdict) and the box
// side (mount tree, init, program). See sandbox/README.md for the design.
//
// The box side runs after a raw clone() of a possibly multi-threaded process, so it uses only
// system calls and data prepared by the parent before clone() (no allocation, no locks).
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "sandbox/internal.h"

namespace crucible::sandbox {

using detail::RunCgroup;

const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::ok: return "ok";
    case RunStatus::time_limit: return "time_limit";
    case RunStatus::wall_limit: return "wall_limit";
    case RunStatus::memory_limit: return "memory_limit";
    case RunStatus::output_limit: return "output_limit";
    case RunStatus::runtime_error: return "runtime_error";
    case RunStatus::signaled: return "signaled";
    case RunStatus::security: return "security";
    case RunStatus::internal: return "internal";
  }
  return "internal";
}

nlohmann::json RunResult::to_json() const {
  nlohmann::json j;
  j["status"] = to_string(status);
  j["exit_code"] = exit_code;
  j["signal"] = signal;
  j["cpu_ms"] = cpu_ms;
  j["wall_ms"] = wall_ms;
  j["peak_rss_bytes"] = peak_rss_bytes;
  // Program output may be arbitrary bytes; invalid UTF-8 is replaced so the JSON stays valid.
  auto text = [](const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  j["stdout"] = nlohmann::json::parse(text(stdout_data));
  j["stderr"] = nlohmann::json::parse(text(stderr_data));
  j["stdout_truncated"] = stdout_truncated;
  j["stderr_truncated"] = stderr_truncated;
  j["reason"] = reason;
  j["accounting"] = accounting;
  return j;
}

namespace {

constexpr unsigned kBoxUid = 1000;   // uid/gid inside the box
constexpr const char* kStage = "/tmp";  // where the new root is assembled (in the box's mount ns)

// Box -> parent messages on the status pipe (each write < PIPE_BUF, hence atomic).
enum MsgKind : int32_t { kReady = 1, kSetupError = 2, kExecError = 3, kMainExit = 4 };
struct Msg {
  int32_t kind = 0;
  int32_t err = 0;
  int32_t wstatus = 0;
  int32_t pad = 0;
  struct rusage ru {};
  char where[160] = {};
};
static_assert(sizeof(Msg) < PIPE_BUF, "atomic pipe writes");

struct kernel_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
constexpr uint64_t kAttrRdonly = 0x1, kAttrNosuid = 0x2, kAttrNodev = 0x4, kAttrNoexec = 0x8;
constexpr unsigned kAtRecursive = 0x8000;

// One step of assembling the box's file system, prepared by the parent.
struct Op {
  enum Kind { kOpen, kTmpfs, kMkdir, kSymlink, kTouch, kBind, kWrite, kProc, kRootReadOnly } kind;
  const char* a = nullptr;      // path (target)
  const char* b = nullptr;      // source path / symlink target / tmpfs options
  const char* data = nullptr;   // kWrite contents
  size_t len = 0;
  int slot = -1;                // kOpen: slot to fill; kBind: slot of the source
  unsigned mode = 0;            // kMkdir/kWrite/kTouch mode
  uint64_t attrs = 0;           // kBind: mount attributes to set (recursive)
  bool optional = false;        // failure is not fatal
};

struct Plan {
  std::deque<std::string> strings;     // storage for every C string the box side uses
  std::vector<Op> ops;
  std::vector<int> slots;              // kOpen results (O_PATH fds)
  std::vector<const char*> argv, envp;
  std::vector<const char*> exec_paths; // candidates for argv[0]
  const char* workdir = "/box";
  bool setgroups = true;
  const std::vector<sock_filter>* seccomp = nullptr;
  struct rlimit rl_stack {}, rl_nofile {}, rl_fsize {}, rl_nproc {}, rl_cpu {}, rl_as {};
  bool set_as = false;
  int fd_stdin = -1, fd_stdout = -1, fd_stderr = -1, fd_status = -1, fd_sync = -1;
  std::vector<char> program_stack = std::vector<char>(256 * 1024);  // for the vfork-style clone

  const char* str(std::string s) { strings.push_back(std::move(s)); return strings.back().c_str(); }
  void add(Op op) { ops.push_back(op); }
  int slot() { slots.push_back(-1); return static_cast<int>(slots.size()) - 1; }
};

// ---------------------------------------------------------------------------------------------
// Box side. Only async-signal-safe code below until the end of the anonymous namespace part.

void copy_where(char* dst, size_t cap, const char* a, const char* b) {
  size_t i = 0;
  for (const char* p = a; p && *p && i + 1 < cap; ++p) dst[i++] = *p;
  if (b && *b && i + 2 < cap) { dst[i++] = ' '; for (const char* p = b; *p && i + 1 < cap; ++p) dst[i++] = *p; }
  dst[i] = 0;
}

void send_msg(int fd, int32_t kind, int32_t err, const char* what, const char* detail) {
  Msg m;
  m.kind = kind;
  m.err = err;
  copy_where(m.where, sizeof m.where, what, detail);
  ssize_t r = ::write(fd, &m, sizeof m);
  (void)r;
}

[[noreturn]] void die(const Plan& p, const char* what, const char* detail = nullptr) {
  send_msg(p.fd_status, kSetupError, errno, what, detail);
  _exit(111);
}

void fd_path(char* buf, int fd) {  // "/proc/self/fd/<fd>"
  const char* pre = "/proc/self/fd/";
  size_t i = 0;
  while (pre[i]) { buf[i] = pre[i]; ++i; }
  char tmp[16];
  int n = 0;
  do { tmp[n++] = static_cast<char>('0' + fd % 10); fd /= 10; } while (fd);
  while (n) buf[i++] = tmp[--n];
  buf[i] = 0;
}

int set_attrs(const char* path, uint64_t attrs, bool recursive) {
  kernel_mount_attr a{attrs, 0, 0, 0};
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? kAtRecursive : 0u, &a, sizeof a) == 0) return 0;
  // Older kernels (< 5.12): remount the bind (not recursive), keeping locked flags.
  unsigned long flags = MS_REMOUNT | MS_BIND;
  if (attrs & kAttrRdonly) flags |= MS_RDONLY;
  if (attrs & kAttrNosuid) flags |= MS_NOSUID;
  if (attrs & kAttrNodev) flags |= MS_NODEV;
  if (attrs & kAttrNoexec) flags |= MS_NOEXEC;
  if (::mount(nullptr, path, nullptr, flags, nullptr) == 0) return 0;
  // Try again keeping locked flags (nosuid/nodev/noexec) the source mount may carry.
  return ::mount(nullptr, path, nullptr, flags | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

void assemble_root(Plan& p) {
  char buf[64];
  for (const Op& op : p.ops) {
    switch (op.kind) {
      case Op::kOpen: {
        int fd = ::open(op.b, O_PATH | O_CLOEXEC);
        if (fd < 0) { if (op.optional) continue; die(p, "open bind source", op.b); }
        p.slots[op.slot] = fd;
        break;
      }
      case Op::kTmpfs:
        if (::mount("tmpfs", op.a, "tmpfs", MS_NOSUID | MS_NODEV, op.b) != 0) die(p, "mount tmpfs", op.a);
        break;
      case Op::kMkdir:
        if (::mkdir(op.a, op.mode) != 0 && errno != EEXIST) die(p, "mkdir", op.a);
        ::chmod(op.a, op.mode);
        break;
      case Op::kSymlink:
        if (::symlink(op.b, op.a) != 0 && errno != EEXIST) die(p, "symlink", op.a);
        break;
      case Op::kTouch: {
        int fd = ::open(op.a, O_WRONLY | O_CREAT | O_CLOEXEC, op.mode ? op.mode : 0644);
        if (fd < 0) { if (op.optional) continue; die(p, "create mount point", op.a); }
        ::close(fd);
        break;
      }
      case Op::kBind: {
        int src = p.slots[op.slot];
        if (src < 0) continue;  // optional source missing
        fd_path(buf, src);
        if (::mount(buf, op.a, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
          if (op.optional) continue;
          die(p, "bind mount", op.a);
        }
        if (op.attrs && set_attrs(op.a, op.attrs, true) != 0) die(p, "make bind read-only", op.a);
        break;
      }
      case Op::kWrite: {
        int fd = ::open(op.a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, op.mode);
        if (fd < 0) die(p, "create box file", op.a);
        size_t off = 0;
        while (off < op.len) {
          ssize_t n = ::write(fd, op.data + off, op.len - off);
          if (n < 0) { if (errno == EINTR) continue; die(p, "write box file", op.a); }
          off += static_cast<size_t>(n);
        }
        ::fchmod(fd, op.mode);
        ::close(fd);
        break;
      }
      case Op::kProc:
        if (::mount("proc", op.a, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0 && !op.optional)
          die(p, "mount proc", op.a);
        break;
      case Op::kRootReadOnly:
        if (set_attrs(op.a, kAttrRdonly | kAttrNosuid | kAttrNodev, false) != 0) die(p, "read-only root", op.a);
        break;
    }
  }
}

void move_fd(int from, int to) {  // dup2 keeping CLOEXEC off (the caller decides)
  if (from != to) ::dup2(from, to);
}

[[noreturn]] void run_program(Plan& p) {
  // fds: 0..2 the program's stdio, 3 the status pipe (close-on-exec).
  ::setsid();
  // Capabilities: drop the bounding set (needs CAP_SETPCAP, so first), then everything else.
  for (int c = 0; c <= 63; ++c) prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capset, &hdr, data) != 0) die(p, "capset");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(p, "no_new_privs");
  struct rlimit zero {0, 0};
  setrlimit(RLIMIT_CORE, &zero);
  if (setrlimit(RLIMIT_STACK, &p.rl_stack) != 0) die(p, "RLIMIT_STACK");
  if (setrlimit(RLIMIT_NOFILE, &p.rl_nofile) != 0) die(p, "RLIMIT_NOFILE");
  if (setrlimit(RLIMIT_FSIZE, &p.rl_fsize) != 0) die(p, "RLIMIT_FSIZE");
  if (setrlimit(RLIMIT_CPU, &p.rl_cpu) != 0) die(p, "RLIMIT_CPU");
  if (p.rl_nproc.rlim_cur && setrlimit(RLIMIT_NPROC, &p.rl_nproc) != 0) die(p, "RLIMIT_NPROC");
  if (p.set_as && setrlimit(RLIMIT_AS, &p.rl_as) != 0) die(p, "RLIMIT_AS");
  if (::chdir(p.workdir) != 0) die(p, "chdir", p.workdir);
  if (p.seccomp) {
    sock_fprog prog{static_cast<unsigned short>(p.seccomp->size()), const_cast<sock_filter*>(p.seccomp->data())};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) die(p, "seccomp");
  }
  int err = ENOENT;
  for (const char* path : p.exec_paths) {
    ::execve(path, const_cast<char* const*>(p.argv.data()), const_cast<char* const*>(p.envp.data()));
    if (errno != ENOENT && errno != ENOTDIR) err = errno;
  }
  send_msg(3, kExecError, err, "execve", p.argv[0]);
  _exit(127);
}

// The box's init (PID 1 of the new PID namespace).
[[noreturn]] void box_main(Plan& p) {
  // Gather our fds at 0..4, close every other inherited descriptor.
  int tmp[5] = {p.fd_stdin, p.fd_stdout, p.fd_stderr, p.fd_status, p.fd_sync};
  for (int& fd : tmp) fd = fcntl(fd, F_DUPFD_CLOEXEC, 16);
  for (int i = 0; i < 5; ++i) move_fd(tmp[i], i);
  syscall(SYS_close_range, 5u, ~0u, 0u);
  fcntl(3, F_SETFD, FD_CLOEXEC);
  fcntl(4, F_SETFD, FD_CLOEXEC);
  p.fd_status = 3;
  p.fd_sync = 4;

  char go = 0;
  if (::read(4, &go, 1) != 1) _exit(112);  // the parent went away or failed
  ::close(4);
  // Raw system calls: glibc's set*id() wrappers broadcast to the threads the parent had (and
  // wait for them forever in this single-threaded copy).
  if (p.setgroups && syscall(SYS_setgroups, 0, nullptr) != 0) die(p, "setgroups");
  if (syscall(SYS_setresgid, kBoxUid, kBoxUid, kBoxUid) != 0) die(p, "setresgid");
  if (syscall(SYS_setresuid, kBoxUid, kBoxUid, kBoxUid) != 0) die(p, "setresuid");
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die(p, "make / private");
  assemble_root(p);
  if (::chdir(kStage) != 0) die(p, "chdir new root");
  if (syscall(SYS_pivot_root, ".", ".") != 0) die(p, "pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) die(p, "detach old root");
  if (::chdir("/") != 0) die(p, "chdir /");
  for (int fd : p.slots) if (fd >= 0) ::close(fd);
  ::sethostname("box", 3);
  ::setdomainname("box", 3);

  {
    Msg m;  // READY carries the CPU time of the set-up, which the parent leaves out of cpu_ms
    m.kind = kReady;
    syscall(SYS_getrusage, RUSAGE_SELF, &m.ru);
    ssize_t r = ::write(3, &m, sizeof m);
    (void)r;
  }

  // posix_spawn-style: the program shares our memory until it execs (no page-table copy);
  // we are suspended meanwhile (CLONE_VFORK), so it may use our data but not our stack.
  char* stack_top = p.program_stack.data() + p.program_stack.size();
  int child = ::clone([](void* arg) -> int { run_program(*static_cast<Plan*>(arg)); }, stack_top,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &p);
  if (child < 0) die(p, "fork program");
  ::close(0);
  ::close(1);
  ::close(2);
  for (;;) {
    int st = 0;
    struct rusage ru {};
    pid_t w = ::wait4(-1, &st, __WALL, &ru);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(113);
    }
    if (w == child) {
      Msg m;
      m.kind = kMainExit;
      m.wstatus = st;
      m.ru = ru;
      ssize_t r = ::write(3, &m, sizeof m);
      (void)r;
      _exit(0);  // the kernel kills whatever is left in the namespace
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parent side.

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct HostPath {
  enum Kind { kMissing, kDir, kFile, kLink } kind = kMissing;
  std::string link;
};

HostPath inspect(const std::string& path) {
  HostPath h;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return h;
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return h;
    h.kind = HostPath::kLink;
    h.link.assign(buf, n);
  } else if (S_ISDIR(st.st_mode)) {
    h.kind = HostPath::kDir;
  } else {
    h.kind = HostPath::kFile;
  }
  return h;
}

// The system part of the root, computed once per option set (paths only; cheap to copy).
struct SystemLayout {
  std::vector<std::pair<std::string, HostPath>> entries;  // absolute path -> what it is
};

const SystemLayout& system_layout(const SandboxOptions& o) {
  static std::mutex mu;
  static std::vector<std::pair<std::vector<std::string>, SystemLayout>> cache;
  std::lock_guard<std::mutex> lk(mu);
  std::vector<std::string> key = o.system_dirs;
  key.insert(key.end(), o.etc_files.begin(), o.etc_files.end());
  for (auto& [k, v] : cache) if (k == key) return v;
  SystemLayout L;
  for (auto& path : key) {
    HostPath h = inspect(path);
    if (h.kind != HostPath::kMissing) L.entries.push_back({path, h});
  }
  cache.push_back({key, L});
  return cache.back().second;
}

bool valid_box_path(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.find("/../") != std::string::npos || p.find('\0') != std::string::npos) return false;
  if (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0) return false;
  return true;
}

// mkdir -p of `path` (absolute, inside the box) as ops, for the directories not yet made.
void mkdirs(Plan& plan, std::vector<std::string>& made, const std::string& path, bool include_last) {
  size_t pos = 1;
  while (true) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos && !include_last) break;
    std::string dir = path.substr(0, next);
    pos = next == std::string::npos ? path.size() : next + 1;
    if (!dir.empty() && dir != "/" && std::find(made.begin(), made.end(), dir) == made.end()) {
      made.push_back(dir);
      Op op{Op::kMkdir};
      op.a = plan.str(std::string(kStage) + dir);
      op.mode = 0755;
      plan.add(op);
    }
    if (next == std::string::npos) break;
  }
}

std::string errno_text(int e) { return e ? std::string(std::strerror(e)) : std::string(); }

RunResult internal_error(std::string why) {
  RunResult r;
  r.status = RunStatus::internal;
  r.reason = std::move(why);
  return r;
}

}  // namespace

Sandbox::Sandbox(SandboxOptions options) : opt_(std::move(options)) {}

RunResult Sandbox::run(const RunSpec& spec, const Limits& limits) const {
  if (spec.argv.empty()) return internal_error("invalid run spec: empty argv");
  if (limits.cpu_ms <= 0 || limits.wall_ms <= 0 || limits.memory_bytes <= 0)
    return internal_error("invalid limits: cpu_ms, wall_ms and memory_bytes must be positive");
  if (!valid_box_path(spec.workdir)) return internal_error("invalid workdir: " + spec.workdir);

  Plan plan;
  const bool root = ::geteuid() == 0;
  plan.setgroups = root;

  // ---- file system plan
  std::vector<std::string> made;  // box paths already created
  const std::string S = kStage;
  int64_t files_total = 0;
  for (auto& f : spec.files) files_total += static_cast<int64_t>(f.contents.size());
  const int64_t fs_bytes = std::max<int64_t>(limits.file_bytes, 1 << 20);
  {
    Op t{Op::kTmpfs};
    t.a = kStage;
    t.b = "size=4m,nr_inodes=4096,mode=755";
    // Open every bind source first: the tmpfs hides /tmp, where sources may live.
    std::vector<std::pair<int, const std::pair<std::string, HostPath>*>> sys_slots;
    const SystemLayout& L = system_layout(opt_);
    for (auto& e : L.entries) {
      if (e.second.kind == HostPath::kLink) continue;
      Op o{Op::kOpen};
      o.b = plan.str(e.first);
      o.slot = plan.slot();
      o.optional = true;
      plan.add(o);
      sys_slots.push_back({o.slot, &e});
    }
    static const char* const kDevs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};
    std::vector<int> dev_slots;
    for (const char* d : kDevs) {
      Op o{Op::kOpen};
      o.b = d;
      o.slot = plan.slot();
      o.optional = true;
      plan.add(o);
      dev_slots.push_back(o.slot);
    }
    std::vector<std::pair<int, HostPath>> user_slots;
    for (auto& b : spec.binds) {
      if (b.host.empty() || b.host[0] != '/') return internal_error("bind host path must be absolute: " + b.host);
      if (!valid_box_path(b.box) || b.box == "/") return internal_error("invalid bind box path: " + b.box);
      HostPath h = inspect(b.host);
      struct stat st;
      if (::stat(b.host.c_str(), &st) != 0) return internal_error("bind source " + b.host + ": " + errno_text(errno));
      h.kind = S_ISDIR(st.st_mode) ? HostPath::kDir : HostPath::kFile;
      Op o{Op::kOpen};
      o.b = plan.str(b.host);
      o.slot = plan.slot();
      plan.add(o);
      user_slots.push_back({o.slot, h});
    }
    plan.add(t);
    for (const char* d : {"/proc", "/dev", "/etc", "/box", "/tmp"}) mkdirs(plan, made, d, true);
    // system dirs and files
    for (auto& e : L.entries) {
      const std::string& path = e.first;
      mkdirs(plan, made, path, false);
      if (e.second.kind == HostPath::kLink) {
        Op o{Op::kSymlink};
        o.a = plan.str(S + path);
        o.b = plan.str(e.second.link);
        plan.add(o);
        continue;
      }
      int slot = -1;
      for (auto& [s, p] : sys_slots) if (p == &e) slot = s;
      if (e.second.kind == HostPath::kDir) {
        mkdirs(plan, made, path, true);
      } else {
        Op o{Op::kTouch};
        o.a = plan.str(S + path);
        o.optional = true;
        plan.add(o);
      }
      Op o{Op::kBind};
      o.a = plan.str(S + path);
      o.slot = slot;
      o.attrs = kAttrRdonly | kAttrNosuid | kAttrNodev;
      o.optional = true;
      plan.add(o);
    }
    // /etc/passwd, /etc/group and /etc/hosts naming the box user and host only
    static constexpr const char* kEtcFiles[][2] = {
        {"/etc/passwd", "root:x:0:0::/:/bin/sh\nbox:x:1000:1000:box:/box:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"},
        {"/etc/group", "root:x:0:\nbox:x:1000:\nnogroup:x:65534:\n"},
        {"/etc/hosts", "127.0.0.1 localhost box\n::1 localhost\n"}};
    for (const auto& [path, contents] : kEtcFiles) {
      Op o{Op::kWrite};
      o.a = plan.str(S + path);
      o.data = plan.str(contents);
      o.len = std::strlen(o.data);
      o.mode = 0644;
      plan.add(o);
    }
    // /dev
    for (size_t i = 0; i < dev_slots.size(); ++i) {
      Op touch{Op::kTouch};
      touch.a = plan.str(S + kDevs[i]);
      touch.mode = 0666;
      touch.optional = true;
      plan.add(touch);
      Op o{Op::kBind};
      o.a = touch.a;
      o.slot = dev_slots[i];
      o.attrs = kAttrNosuid | kAttrNoexec;
      o.optional = true;
      plan.add(o);
    }
    for (auto [name, target] : {std::pair<const char*, const char*>{"/dev/fd", "/proc/self/fd"},
                                {"/dev/stdin", "/proc/self/fd/0"}, {"/dev/stdout", "/proc/self/fd/1"},
                                {"/dev/stderr", "/proc/self/fd/2"}}) {
      Op o{Op::kSymlink};
      o.a = plan.str(S + name);
      o.b = target;
      plan.add(o);
    }
    // /proc for the new PID namespace
    {
      Op o{Op::kProc};
      o.a = plan.str(S + "/proc");
      o.optional = true;
      plan.add(o);
    }
    // /box and /tmp
    {
      Op box{Op::kTmpfs};
      box.a = plan.str(S + "/box");
      box.b = plan.str("size=" + std::to_string(fs_bytes + files_total + (1 << 20)) + ",mode=755");
      plan.add(box);
      Op tmp{Op::kTmpfs};
      tmp.a = plan.str(S + "/tmp");
      tmp.b = plan.str("size=" + std::to_string(fs_bytes) + ",mode=1777");
      plan.add(tmp);
    }
    for (auto& f : spec.files) {
      std::string path = "/box/" + f.path;
      if (f.path.empty() || f.path[0] == '/' || !valid_box_path(path))
        return internal_error("invalid box file path: " + f.path);
      mkdirs(plan, made, path, false);
      Op o{Op::kWrite};
      o.a = plan.str(S + path);
      o.data = f.contents.data();
      o.len = f.contents.size();
      o.mode = f.executable ? 0755 : 0644;
      plan.add(o);
    }
    for (size_t i = 0; i < spec.binds.size(); ++i) {
      const Bind& b = spec.binds[i];
      if (user_slots[i].second.kind == HostPath::kDir) {
        mkdirs(plan, made, b.box, true);
      } else {
        mkdirs(plan, made, b.box, false);
        Op touch{Op::kTouch};
        touch.a = plan.str(S + b.box);
        plan.add(touch);
      }
      Op o{Op::kBind};
      o.a = plan.str(S + b.box);
      o.slot = user_slots[i].first;
      o.attrs = b.writable ? (kAttrNosuid | kAttrNodev) : (kAttrRdonly | kAttrNosuid | kAttrNodev);
      plan.add(o);
    }
    Op ro{Op::kRootReadOnly};
    ro.a = kStage;
    plan.add(ro);
  }

  // ---- program: argv, env, PATH candidates
  for (auto& a : spec.argv) plan.argv.push_back(plan.str(a));
  plan.argv.push_back(nullptr);
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/box", "TMPDIR=/tmp"};
  for (auto& kv : spec.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return internal_error("invalid env entry (want K=V): " + kv);
    std::string key = kv.substr(0, eq + 1);
    env.erase(std::remove_if(env.begin(), env.end(), [&](const std::string& e) { return e.compare(0, key.size(), key) == 0; }),
              env.end());
    env.push_back(kv);
  }
  std::string path_var;
  for (auto& e : env) {
    plan.envp.push_back(plan.str(e));
    if (e.compare(0, 5, "PATH=") == 0) path_var = e.substr(5);
  }
  plan.envp.push_back(nullptr);
  const std::string& a0 = spec.argv[0];
  if (a0.find('/') != std::string::npos) {
    plan.exec_paths.push_back(plan.argv[0]);
  } else {
    size_t pos = 0;
    while (pos <= path_var.size()) {
      size_t c = path_var.find(':', pos);
      std::string dir = path_var.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
      if (dir.empty()) dir = ".";
      plan.exec_paths.push_back(plan.str(dir + "/" + a0));
      if (c == std::string::npos) break;
      pos = c + 1;
    }
  }
  plan.workdir = plan.str(spec.workdir);

  // ---- cgroup and limits
  RunResult res;
  RunCgroup cg;
  std::string cg_why = "disabled by SandboxOptions::use_cgroups";
  bool have_cg = opt_.use_cgroups && cg.create(limits, &cg_why);
  res.accounting = have_cg ? (cg.mode() == RunCgroup::Mode::v1 ? "cgroup-v1" : "cgroup-v2") : "rlimit";
  auto lim = [](int64_t v) { return static_cast<rlim_t>(v); };
  int64_t stack = limits.stack_bytes > 0 ? limits.stack_bytes : limits.memory_bytes;
  plan.rl_stack = {lim(stack), lim(stack)};
  plan.rl_nofile = {lim(std::max<int64_t>(limits.open_files, 4)), lim(std::max<int64_t>(limits.open_files, 4))};
  plan.rl_fsize = {lim(limits.file_bytes > 0 ? limits.file_bytes : RLIM_INFINITY),
                   lim(limits.file_bytes > 0 ? limits.file_bytes : RLIM_INFINITY)};
  // RLIMIT_CPU is a per-process backstop (the cgroup poll is the real limit): whole seconds.
  int64_t cpu_s = (limits.cpu_ms + 999) / 1000 + (have_cg ? 1 : 0);
  plan.rl_cpu = {lim(cpu_s), lim(cpu_s + 1)};
  if (limits.processes > 0) plan.rl_nproc = {lim(limits.processes), lim(limits.processes)};
  if (!have_cg) {
    plan.set_as = true;
    plan.rl_as = {lim(limits.memory_bytes), lim(limits.memory_bytes)};
  }
  if (opt_.seccomp) {
    const auto& sp = detail::seccomp_program();
    if (!sp.filter) return internal_error("seccomp filter unavailable: " + sp.error);
    plan.seccomp = sp.filter;
  }

  // ---- descriptors
  int status_p[2], sync_p[2], out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
  int stdin_fd = -1;
  bool own_stdin = false;
  auto close_all = [&] {
    for (int fd : {status_p[0], status_p[1], sync_p[0], sync_p[1], out_p[0], out_p[1], err_p[0], err_p[1]})
      if (fd >= 0) ::close(fd);
    if (own_stdin && stdin_fd >= 0) ::close(stdin_fd);
    status_p[0] = status_p[1] = sync_p[0] = sync_p[1] = out_p[0] = out_p[1] = err_p[0] = err_p[1] = -1;
    stdin_fd = -1;
  };
  status_p[0] = status_p[1] = sync_p[0] = sync_p[1] = -1;
  if (::pipe2(status_p, O_CLOEXEC) != 0 || ::pipe2(sync_p, O_CLOEXEC) != 0) {
    close_all();
    return internal_error("pipe: " + errno_text(errno));
  }
  if (spec.stdout_fd < 0 && ::pipe2(out_p, O_CLOEXEC) != 0) { close_all(); return internal_error("pipe: " + errno_text(errno)); }
  if (spec.stderr_fd < 0 && ::pipe2(err_p, O_CLOEXEC) != 0) { close_all(); return internal_error("pipe: " + errno_text(errno)); }
  if (spec.stdin_fd >= 0) {
    stdin_fd = spec.stdin_fd;
  } else if (!spec.stdin_file.empty()) {
    stdin_fd = ::open(spec.stdin_file.c_str(), O_RDONLY | O_CLOEXEC);
    own_stdin = true;
    if (stdin_fd < 0) { int e = errno; close_all(); return internal_error("stdin file " + spec.stdin_file + ": " + errno_text(e)); }
  } else {
    stdin_fd = memfd_create("stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    own_stdin = true;
    if (stdin_fd < 0) { int e = errno; close_all(); return internal_error("memfd_create: " + errno_text(e)); }
    size_t off = 0;
    while (off < spec.stdin_data.size()) {
      ssize_t n = ::write(stdin_fd, spec.stdin_data.data() + off, spec.stdin_data.size() - off);
      if (n < 0) { if (errno == EINTR) continue; int e = errno; close_all(); return internal_error("stdin: " + errno_text(e)); }
      off += static_cast<size_t>(n);
    }
    ::lseek(stdin_fd, 0, SEEK_SET);
    fcntl(stdin_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  }
  plan.fd_stdin = stdin_fd;
  plan.fd_stdout = spec.stdout_fd >= 0 ? spec.stdout_fd : out_p[1];
  plan.fd_stderr = spec.stderr_fd >= 0 ? spec.stderr_fd : err_p[1];
  plan.fd_status = status_p[1];
  plan.fd_sync = sync_p[0];

  // ---- clone
  const long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
  long pid = syscall(SYS_clone, flags, nullptr, nullptr, nullptr, 0);
  if (pid == 0) box_main(plan);
  if (pid < 0) {
    int e = errno;
    close_all();
    return internal_error("clone(user, pid, mount, net, ipc, uts namespaces): " + errno_text(e) +
                          " (user namespaces disabled? see sysctl user.max_user_namespaces)");
  }
  // Close the box's ends in the parent.
  for (int* fd : {&status_p[1], &sync_p[0], &out_p[1], &err_p[1]}) if (*fd >= 0) { ::close(*fd); *fd = -1; }
  if (own_stdin) { ::close(stdin_fd); stdin_fd = -1; own_stdin = false; }

  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  bool reaped = false;
  int init_status = 0;
  struct rusage init_ru {};
  auto kill_box = [&] {
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    cg.kill_all();
  };
  auto reap = [&] {
    if (reaped) return;
    while (::wait4(static_cast<pid_t>(pid), &init_status, __WALL, &init_ru) < 0 && errno == EINTR) {}
    reaped = true;
  };
  auto finish_internal = [&](std::string why) {
    kill_box();
    reap();
    if (pidfd >= 0) ::close(pidfd);
    close_all();
    cg.destroy();
    RunResult r = internal_error(std::move(why));
    r.accounting = res.accounting;
    return r;
  };

  // uid/gid maps: box uid 1000 <-> host_uid (root) or our own uid.
  {
    std::string uid_line = std::to_string(kBoxUid) + " " + std::to_string(root ? opt_.host_uid : ::geteuid()) + " 1";
    std::string gid_line = std::to_string(kBoxUid) + " " + std::to_string(root ? opt_.host_gid : ::getegid()) + " 1";
    std::string base = "/proc/" + std::to_string(pid) + "/";
    auto put = [&](const std::string& file, const std::string& v) {
      int fd = ::open((base + file).c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return errno;
      int e = ::write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size()) ? 0 : errno;
      ::close(fd);
      return e;
    };
    int e = 0;
    if (!root && (e = put("setgroups", "deny")) != 0) return finish_internal("write setgroups: " + errno_text(e));
    if ((e = put("uid_map", uid_line)) != 0) return finish_internal("write uid_map: " + errno_text(e));
    if ((e = put("gid_map", gid_line)) != 0) return finish_internal("write gid_map: " + errno_text(e));
  }
  // The box joins its cgroup before it does anything: its set-up CPU is reported in READY and
  // subtracted; the files it writes into /box are charged to it (peak_rss_bytes includes them).
  if (have_cg) {
    std::string why;
    if (!cg.attach(static_cast<pid_t>(pid), &why)) return finish_internal("cgroup: " + why);
  }
  const int64_t t0 = now_us();
  if (::write(sync_p[1], "g", 1) != 1) return finish_internal("sync pipe: " + errno_text(errno));
  ::close(sync_p[1]);
  sync_p[1] = -1;
  auto describe = [](const Msg& m) {
    std::string s = m.where;
    if (m.err) s += ": " + errno_text(m.err);
    return s;
  };
  bool ready = false, main_exit = false, exec_error = false, setup_error = false;
  int64_t setup_cpu_ns = 0;
  Msg final_msg, err_msg;
  fcntl(status_p[0], F_SETFL, O_NONBLOCK);
  auto read_msgs = [&]() -> bool {  // false at EOF
    for (;;) {
      Msg m;
      ssize_t n = ::read(status_p[0], &m, sizeof m);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) return false;
      if (n != static_cast<ssize_t>(sizeof m)) return true;  // EAGAIN (writes are atomic)
      if (m.kind == kReady) {
        ready = true;
        setup_cpu_ns = (m.ru.ru_utime.tv_sec + m.ru.ru_stime.tv_sec) * 1000000000ll +
                       (m.ru.ru_utime.tv_usec + m.ru.ru_stime.tv_usec) * 1000ll;
      }
      if (m.kind == kMainExit) { main_exit = true; final_msg = m; }
      if (m.kind == kExecError) { exec_error = true; err_msg = m; }
      if (m.kind == kSetupError) { setup_error = true; err_msg = m; }
    }
  };

  // ---- monitor: output, wall clock, CPU
  enum class Killed { none, wall, cpu, output } killed = Killed::none;
  std::string* bufs[2] = {&res.stdout_data, &res.stderr_data};
  bool* truncs[2] = {&res.stdout_truncated, &res.stderr_truncated};
  int outs[2] = {out_p[0], err_p[0]};
  for (int fd : outs) if (fd >= 0) fcntl(fd, F_SETFL, O_NONBLOCK);
  const size_t cap = static_cast<size_t>(std::max<int64_t>(limits.output_bytes, 0));
  auto drain = [&](int i) -> bool {  // false at EOF
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(outs[i], buf, sizeof buf);
      if (n > 0) {
        std::string& b = *bufs[i];
        size_t room = b.size() < cap ? cap - b.size() : 0;
        b.append(buf, std::min(static_cast<size_t>(n), room));
        if (static_cast<size_t>(n) > room) {
          *truncs[i] = true;
          if (killed == Killed::none) { killed = Killed::output; kill_box(); }
        }
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return true;  // EAGAIN
    }
  };
  int64_t cpu_limit_ns = limits.cpu_ms * 1000000;
  while (true) {
    int64_t el_ms = (now_us() - t0) / 1000;
    if (el_ms >= limits.wall_ms) { killed = Killed::wall; kill_box(); break; }
    int timeout = static_cast<int>(limits.wall_ms - el_ms);
    if (have_cg) {
      int64_t used = cg.cpu_ns();
      if (used >= cpu_limit_ns) { killed = Killed::cpu; kill_box(); break; }
      int64_t rem_ms = (cpu_limit_ns - used) / 1000000;
      timeout = std::min<int64_t>(timeout, std::clamp<int64_t>(rem_ms / 2, 5, 100));
    }
    pollfd pf[4];
    int n = 0;
    if (pidfd >= 0) pf[n++] = {pidfd, POLLIN, 0};
    int status_idx = -1;
    if (status_p[0] >= 0) { status_idx = n; pf[n++] = {status_p[0], POLLIN, 0}; }
    int idx[2] = {-1, -1};
    for (int i = 0; i < 2; ++i) if (outs[i] >= 0) { idx[i] = n; pf[n++] = {outs[i], POLLIN, 0}; }
    if (pidfd < 0) timeout = std::min(timeout, 2);
    int r = ::poll(pf, n, timeout);
    if (r < 0 && errno != EINTR) { kill_box(); break; }
    for (int i = 0; i < 2; ++i)
      if (idx[i] >= 0 && (pf[idx[i]].revents & (POLLIN | POLLHUP | POLLERR)))
        if (!drain(i)) { ::close(outs[i]); outs[i] = -1; if (i == 0) out_p[0] = -1; else err_p[0] = -1; }
    if (status_idx >= 0 && (pf[status_idx].revents & (POLLIN | POLLHUP | POLLERR)))
      if (!read_msgs()) { ::close(status_p[0]); status_p[0] = -1; }
    if (killed != Killed::none) break;
    if (pidfd >= 0 ? (pf[0].revents & POLLIN) != 0 : false) break;
    if (pidfd < 0) {
      pid_t w = ::wait4(static_cast<pid_t>(pid), &init_status, WNOHANG | __WALL, &init_ru);
      if (w == pid) { reaped = true; break; }
    }
  }
  reap();
  const int64_t t1 = now_us();
  if (pidfd >= 0) ::close(pidfd);
  for (int i = 0; i < 2; ++i) if (outs[i] >= 0) drain(i);  // what the dead tree left in the pipes

  // ---- collect
  if (status_p[0] >= 0) read_msgs();  // every writer is dead
  close_all();
  res.wall_ms = (t1 - t0) / 1000;
  if (have_cg) {
    int64_t ns = cg.cpu_ns();
    res.cpu_ms = ns >= 0 ? std::max<int64_t>(ns - setup_cpu_ns, 0) / 1000000 : 0;
    res.peak_rss_bytes = std::max<int64_t>(cg.peak_bytes(), 0);
  }
  if (!have_cg || res.cpu_ms == 0) {
    auto ms = [](const timeval& tv) { return static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000; };
    res.cpu_ms = std::max(res.cpu_ms, ms(init_ru.ru_utime) + ms(init_ru.ru_stime));
  }
  if (!have_cg) {
    int64_t kb = std::max<int64_t>(init_ru.ru_maxrss, main_exit ? final_msg.ru.ru_maxrss : 0);
    res.peak_rss_bytes = kb * 1024;
  }
  const bool oom = have_cg && cg.oom_killed();
  cg.destroy();

  auto set = [&](RunStatus s, std::string why) { res.status = s; res.reason = std::move(why); };
  if (main_exit) {
    int st = final_msg.wstatus;
    if (WIFEXITED(st)) res.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) res.signal = WTERMSIG(st);
  }
  const std::string fallback_note = have_cg ? "" : " [accounting: rlimit fallback, cgroups unavailable: " + cg_why + "]";
  if (killed == Killed::wall && !ready && !setup_error) {
    set(RunStatus::internal, "box set-up did not finish within the wall-clock limit (" + std::to_string(limits.wall_ms) + " ms)");
  } else if (killed == Killed::wall) {
    set(RunStatus::wall_limit, "wall-clock time " + std::to_string(res.wall_ms) + " ms exceeded the limit of " +
                                   std::to_string(limits.wall_ms) + " ms");
  } else if (killed == Killed::cpu || (res.cpu_ms > limits.cpu_ms && !setup_error)) {
    set(RunStatus::time_limit, "CPU time " + std::to_string(res.cpu_ms) + " ms exceeded the limit of " +
                                   std::to_string(limits.cpu_ms) + " ms");
  } else if (killed == Killed::output) {
    set(RunStatus::output_limit, std::string(res.stdout_truncated ? "stdout" : "stderr") + " exceeded " +
                                     std::to_string(limits.output_bytes) + " bytes");
  } else if (setup_error) {
    set(RunStatus::internal, "box setup failed: " + describe(err_msg));
  } else if (exec_error) {
    set(RunStatus::runtime_error, "cannot execute " + spec.argv[0] + ": " + errno_text(err_msg.err));
    res.exit_code = 127;
  } else if (!main_exit) {
    if (oom) set(RunStatus::memory_limit, "memory limit of " + std::to_string(limits.memory_bytes) + " bytes exceeded (the box was OOM-killed)");
    else set(RunStatus::internal, "box init died unexpectedly (status " + std::to_string(init_status) + ")");
  } else if (res.signal) {
    int s = res.signal;
    std::string name = sigabbrev_np(s) ? std::string("SIG") + sigabbrev_np(s) : std::to_string(s);
    if (s == SIGSYS) set(RunStatus::security, "killed by SIGSYS: forbidden system call (the filter refuses " +
                                                 std::string(detail::seccomp_summary()) + ")");
    else if (s == SIGXCPU) set(RunStatus::time_limit, "CPU time limit (SIGXCPU)");
    else if (s == SIGXFSZ) set(RunStatus::output_limit, "file size limit of " + std::to_string(limits.file_bytes) + " bytes exceeded (SIGXFSZ)");
    else if (oom) set(RunStatus::memory_limit, "memory limit of " + std::to_string(limits.memory_bytes) + " bytes exceeded (killed by " + name + ")");
    else if (s == SIGKILL && res.cpu_ms >= limits.cpu_ms) set(RunStatus::time_limit, "CPU time limit (RLIMIT_CPU)");
    else set(RunStatus::signaled, "killed by signal " + name + " (" + strsignal(s) + ")");
  } else if (res.exit_code != 0) {
    if (oom) set(RunStatus::memory_limit, "memory limit of " + std::to_string(limits.memory_bytes) + " bytes exceeded (exit code " + std::to_string(res.exit_code) + " after an OOM kill)");
    else set(RunStatus::runtime_error, "exit code " + std::to_string(res.exit_code));
  } else {
    res.status = RunStatus::ok;
  }
  if (res.status != RunStatus::ok) res.reason += fallback_note;
  return res;
}

nlohmann::json Sandbox::probe() {
  nlohmann::json j;
  j["cgroup"] = detail::cgroup_support();
  const auto& sp = detail::seccomp_program();
  j["seccomp"] = sp.filter ? "ok" : sp.error;
  Sandbox sb;
  RunSpec spec;
  spec.argv = {"/bin/true"};
  RunResult r = sb.run(spec, Limits{});
  j["namespaces"] = r.status == RunStatus::ok;
  j["accounting"] = r.accounting;
  if (!r.ok()) j["reason"] = r.reason;
  return j;
}

// ---- units

int64_t parse_duration_ms(const std::string& s) {
  if (s.empty()) return -1;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno || end == s.c_str() || v < 0) return -1;
  std::string unit(end);
  double mult;
  if (unit.empty() || unit == "s") mult = 1000;
  else if (unit == "ms") mult = 1;
  else if (unit == "us") mult = 0.001;
  else if (unit == "m" || unit == "min") mult = 60000;
  else return -1;
  return static_cast<int64_t>(v * mult + 0.5);
}

int64_t parse_size_bytes(const std::string& s) {
  if (s.empty()) return -1;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno || end == s.c_str() || v < 0) return -1;
  std::string unit(end);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();            // MB -> M, B -> ""
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();          // MI(B) -> M
  double mult;
  if (unit.empty()) mult = 1;
  else if (unit == "K") mult = 1024.0;
  else if (unit == "M") mult = 1024.0 * 1024;
  else if (unit == "G") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T") mult = 1024.0 * 1024 * 1024 * 1024;
  else return -1;
  return static_cast<int64_t>(v * mult + 0.5);
}

}  // namespace crucible::sandbox
