// Sandbox::run: the parent side (plans, box inits started ahead, cgroup, monitoring, verdict) and
// the box side (mount tree, init, program). See sandbox/README.md for the design.
//
// The box side runs after a clone() of a possibly multi-threaded process, in the caller's own
// memory when it is root (CLONE_VM), so it uses only raw system calls and data prepared by the
// parent (no allocation, no locks, no errno).
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
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

constexpr unsigned kBoxUid = 1000;      // uid/gid of the program inside the box
constexpr const char* kStage = "/tmp";  // where the root is assembled (in the box's mount ns)

// ---------------------------------------------------------------------------------------------
// Raw system calls for the box side. The box init shares the caller's memory (CLONE_VM), and so
// its thread-local storage: the box side must not write errno, take locks or allocate, so it
// enters the kernel directly. Results are -errno on failure.
#if defined(__x86_64__)
constexpr bool kShareMemory = true;

inline long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#else
// Elsewhere the box init is a copy of the caller (no CLONE_VM), so glibc's errno is its own.
constexpr bool kShareMemory = false;

inline long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long r = ::syscall(n, a, b, c, d, e, f);
  return r == -1 ? -errno : r;
}
#endif

}  // namespace
}  // namespace crucible::sandbox

#if defined(__x86_64__)
// clone(flags, stack) running fn(arg) on `stack_top` in the child, which then exits with its
// result; returns the child's pid or -errno (glibc's clone() would write errno on failure).
extern "C" long crucible_sandbox_clone(unsigned long flags, void* stack_top, int (*fn)(void*), void* arg);
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".type crucible_sandbox_clone,@function\n"
    "crucible_sandbox_clone:\n"
    "  endbr64\n"
    "  andq $-16, %rsi\n"
    "  subq $16, %rsi\n"
    "  movq %rcx, 8(%rsi)\n"
    "  movq %rdx, 0(%rsi)\n"
    "  xorl %edx, %edx\n"
    "  xorl %r10d, %r10d\n"
    "  xorl %r8d, %r8d\n"
    "  movl $56, %eax\n"  // SYS_clone(flags, newsp, parent_tid, child_tid, tls)
    "  syscall\n"
    "  testq %rax, %rax\n"
    "  jnz 1f\n"
    "  xorl %ebp, %ebp\n"
    "  popq %rax\n"
    "  popq %rdi\n"
    "  callq *%rax\n"
    "  movl %eax, %edi\n"
    "  movl $60, %eax\n"  // SYS_exit
    "  syscall\n"
    "  hlt\n"
    "1:\n"
    "  ret\n"
    ".size crucible_sandbox_clone, .-crucible_sandbox_clone\n");
#endif

namespace crucible::sandbox {
namespace {

struct kernel_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
constexpr uint64_t kAttrRdonly = 0x1, kAttrNosuid = 0x2, kAttrNodev = 0x4, kAttrNoexec = 0x8;
constexpr unsigned kAtRecursive = 0x8000, kAtEmptyPath = 0x1000;
constexpr unsigned kOpenTreeClone = 1, kMoveMountFEmptyPath = 0x4;

// One step of assembling the box's file system.
struct Op {
  enum Kind { kSkip, kTmpfs, kMkdir, kSymlink, kMknod, kBind, kOpenTree, kMove, kWrite, kProc, kSetAttrs, kClearRootRo,
               kRootRo } kind;
  const char* a = nullptr;      // path (target)
  const char* b = nullptr;      // bind source / symlink target / tmpfs options
  const char* data = nullptr;   // kWrite contents
  size_t len = 0;
  int fd = -1;                  // kOpenTree/kMove: index of the detached tree among the run's descriptors
  unsigned mode = 0;            // kMkdir/kMknod/kWrite mode (the box init's umask is 0)
  uint64_t attrs = 0;           // kBind/kOpenTree/kSetAttrs: mount attributes to set (recursively)
  bool optional = false;        // failure is not fatal
};

struct Strings {
  std::deque<std::string> list;  // stable storage for every C string the box side reads
  const char* str(std::string s) { list.push_back(std::move(s)); return list.back().c_str(); }
};

// The part of the root every box of an option set shares, built once: skeleton (directories,
// symlinks, mount points, /etc files), read-only system binds, /dev nodes, /proc. Runs in the
// box's mount namespace on the stage tmpfs, before pivot_root.
struct SystemPlan : Strings {
  std::vector<Op> ops;
  std::vector<const char*> readonly_fallback;  // kSetAttrs on kernels < 5.12: remount these
};

// The part of one run: /box and /tmp, files, the caller's binds, the program. Runs after
// pivot_root. Its descriptors arrive with it: stdin, stdout, stderr, the cgroup files, then one
// detached mount tree per bind.
struct RunPlan : Strings {
  static constexpr int kMaxFds = 64;
  std::vector<Op> early_ops;  // box inits started for this run only: open the binds' trees first
  std::vector<Op> ops;
  std::vector<const char*> argv, envp;
  std::vector<const char*> exec_paths;  // candidates for argv[0]
  const char* workdir = "/box";
  const std::vector<sock_filter>* seccomp = nullptr;
  struct rlimit rl_stack {}, rl_nofile {}, rl_fsize {}, rl_nproc {}, rl_cpu {}, rl_as {};
  bool set_as = false;
  int n_cgroup = 0;        // cgroup files among the descriptors (after stdio)
  int fds[kMaxFds] = {};   // box side: the received descriptors
};

// What the box side reports to the parent, in memory shared with it (the box's Arena,
// MAP_SHARED), read once the box init has been reaped.
struct Shared {
  volatile int32_t ready;        // the run's set-up finished, the program is being started
  volatile int32_t setup_error;  // a set-up step failed: `where`, `err`
  volatile int32_t exec_error;   // execve failed for every candidate: `exec_errno`
  volatile int32_t main_exit;    // the main program ended: `wstatus`, `ru`, `init_self`
  int32_t err;
  int32_t exec_errno;
  int32_t wstatus;
  struct rusage ru;              // the main program, with the children it reaped
  struct rusage init_self;       // the box init alone (the rlimit fallback subtracts it)
  char where[160];
};

// What a box init is started with (in its Arena).
struct BoxCtx {
  const SystemPlan* sys = nullptr;
  bool share_memory = false;
  bool setgroups = true;
  int sock = -1;                 // the init's end of the socket to the parent
  Shared* shared = nullptr;
  char* program_stack_top = nullptr;
  RunPlan* run = nullptr;        // set when the run arrives (or at start: a box for one run)
  int last_cap = 63;             // /proc/sys/kernel/cap_last_cap
};

// Memory for one box, mapped and pre-faulted once, recycled: the stacks of its init and of the
// program (until it execs), its BoxCtx and Shared report. MAP_SHARED, so that a box init that is a
// copy of the caller (no CLONE_VM) still reports into it.
struct Arena {
  char* base = nullptr;
  size_t size = 0;
  char* init_stack_top = nullptr;
  char* program_stack_top = nullptr;
  BoxCtx* ctx = nullptr;
  Shared* shared = nullptr;

  static Arena* acquire() {
    {
      std::lock_guard<std::mutex> lk(free_mu());
      static pid_t owner = 0;
      if (owner != ::getpid()) {  // a forked child must not share the parent's (MAP_SHARED) arenas
        free_list().clear();
        owner = ::getpid();
      }
      if (!free_list().empty()) {
        Arena* a = free_list().back();
        free_list().pop_back();
        return a;
      }
    }
    auto* a = new Arena();
    if (!a->base) { delete a; return nullptr; }
    return a;
  }
  static void release(Arena* a) {  // the box init and the program must be dead
    if (!a) return;
    std::lock_guard<std::mutex> lk(free_mu());
    if (free_list().size() < 16) free_list().push_back(a); else delete a;
  }

 private:
  static std::mutex& free_mu() { static auto* m = new std::mutex(); return *m; }
  static std::vector<Arena*>& free_list() { static auto* v = new std::vector<Arena*>(); return *v; }
  Arena() {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t stack = 128 * 1024;
    static_assert(sizeof(BoxCtx) + sizeof(Shared) <= 4096, "fits a page");
    size = page + stack + page + stack + page;  // guard, program stack, guard, init stack, ctx+report
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED) return;
    base = static_cast<char*>(m);
    ::mprotect(base, page, PROT_NONE);
    program_stack_top = base + page + stack;
    ::mprotect(program_stack_top, page, PROT_NONE);
    init_stack_top = program_stack_top + page + stack;
    ctx = new (init_stack_top) BoxCtx();
    shared = reinterpret_cast<Shared*>(init_stack_top + ((sizeof(BoxCtx) + 63) & ~size_t{63}));
  }
  ~Arena() {
    if (base) ::munmap(base, size);
  }
};

// ---------------------------------------------------------------------------------------------
// Box side: raw system calls and data prepared by the parent only, until the parent side below.

[[noreturn]] void box_exit(int code) {
  for (;;) sys(SYS_exit, code);
}

void copy_where(char* dst, size_t cap, const char* a, const char* b) {
  size_t i = 0;
  for (const char* p = a; p && *p && i + 1 < cap; ++p) dst[i++] = *p;
  if (b && *b && i + 2 < cap) { dst[i++] = ' '; for (const char* p = b; *p && i + 1 < cap; ++p) dst[i++] = *p; }
  dst[i] = 0;
}

// A failed set-up step: reported to the parent (err is -errno from sys()), then exit.
[[noreturn]] void die(Shared& sh, const char* what, long err, const char* detail = nullptr) {
  sh.err = static_cast<int32_t>(err < 0 ? -err : err);
  copy_where(sh.where, sizeof sh.where, what, detail);
  sh.setup_error = 1;
  box_exit(111);
}

inline void check(Shared& sh, long r, const char* what, const char* detail = nullptr) {
  if (r < 0) die(sh, what, r, detail);
}

long do_mount(const char* src, const char* target, const char* type, unsigned long flags, const void* data) {
  return sys(SYS_mount, reinterpret_cast<long>(src), reinterpret_cast<long>(target), reinterpret_cast<long>(type),
             static_cast<long>(flags), reinterpret_cast<long>(data));
}

// Bind remount with the flags of `attrs` (kernels without mount_setattr; not recursive).
long remount_bind(const char* path, uint64_t attrs) {
  unsigned long flags = MS_REMOUNT | MS_BIND;
  if (attrs & kAttrRdonly) flags |= MS_RDONLY;
  if (attrs & kAttrNosuid) flags |= MS_NOSUID;
  if (attrs & kAttrNodev) flags |= MS_NODEV;
  if (attrs & kAttrNoexec) flags |= MS_NOEXEC;
  if (do_mount(nullptr, path, nullptr, flags, nullptr) == 0) return 0;
  // Again keeping the locked flags (nosuid/nodev/noexec) the source mount may carry.
  return do_mount(nullptr, path, nullptr, flags | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

long setattr(int dirfd, const char* path, unsigned flags, uint64_t set, uint64_t clr) {
  kernel_mount_attr a{set, clr, 0, 0};
  return sys(SYS_mount_setattr, dirfd, reinterpret_cast<long>(path), flags, reinterpret_cast<long>(&a), sizeof a);
}

void run_ops(Shared& sh, const std::vector<Op>& ops, const int* fds, const std::vector<const char*>* fallback) {
  for (const Op& op : ops) {
    long r = 0;
    switch (op.kind) {
      case Op::kSkip:
        break;
      case Op::kTmpfs:
        check(sh, do_mount("tmpfs", op.a, "tmpfs", MS_NOSUID | MS_NODEV, op.b), "mount tmpfs", op.a);
        break;
      case Op::kMkdir:
        r = sys(SYS_mkdirat, AT_FDCWD, reinterpret_cast<long>(op.a), op.mode);
        if (r < 0 && r != -EEXIST) die(sh, "mkdir", r, op.a);
        break;
      case Op::kSymlink:
        r = sys(SYS_symlinkat, reinterpret_cast<long>(op.b), AT_FDCWD, reinterpret_cast<long>(op.a));
        if (r < 0 && r != -EEXIST) die(sh, "symlink", r, op.a);
        break;
      case Op::kMknod:  // an empty file to bind a file over
        r = sys(SYS_mknodat, AT_FDCWD, reinterpret_cast<long>(op.a), S_IFREG | op.mode, 0);
        if (r < 0 && r != -EEXIST && !op.optional) die(sh, "create mount point", r, op.a);
        break;
      case Op::kBind:
        r = do_mount(op.b, op.a, nullptr, MS_BIND | MS_REC, nullptr);
        if (r < 0) { if (op.optional) continue; die(sh, "bind mount", r, op.a); }
        if (op.attrs && setattr(AT_FDCWD, op.a, kAtRecursive, op.attrs, 0) < 0)
          check(sh, remount_bind(op.a, op.attrs), "set bind flags", op.a);
        break;
      case Op::kOpenTree: {  // a detached copy of a host tree, opened as the box user
        long fd = sys(SYS_open_tree, AT_FDCWD, reinterpret_cast<long>(op.b), kOpenTreeClone | O_CLOEXEC | kAtRecursive);
        check(sh, fd, "open bind source", op.b);
        check(sh, setattr(static_cast<int>(fd), "", kAtEmptyPath | kAtRecursive, op.attrs, 0), "set bind flags", op.b);
        const_cast<int*>(fds)[op.fd] = static_cast<int>(fd);
        break;
      }
      case Op::kMove:  // a detached tree (kOpenTree, or cloned by the parent), flags already set
        r = sys(SYS_move_mount, fds[op.fd], reinterpret_cast<long>(""), AT_FDCWD, reinterpret_cast<long>(op.a),
                kMoveMountFEmptyPath);
        check(sh, r, "bind mount", op.a);
        break;
      case Op::kWrite: {
        long fd = sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>(op.a), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                      op.mode);
        if (fd < 0) die(sh, "create box file", fd, op.a);
        size_t off = 0;
        while (off < op.len) {
          long n = sys(SYS_write, fd, reinterpret_cast<long>(op.data + off), static_cast<long>(op.len - off));
          if (n == -EINTR) continue;
          if (n < 0) die(sh, "write box file", n, op.a);
          off += static_cast<size_t>(n);
        }
        sys(SYS_close, fd);
        break;
      }
      case Op::kProc:
        // hidepid=2: a process sees only the /proc/<pid> directories it may ptrace, so the program
        // (uid 1000, no capabilities) cannot see the init (/proc/1: the caller's memory, argv and
        // environment). Never retried without the option: no /proc beats a leaking one.
        r = do_mount("proc", op.a, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2");
        if (r < 0 && !op.optional) die(sh, "mount proc", r, op.a);
        break;
      case Op::kSetAttrs:  // the whole tree at `a`
        if (setattr(AT_FDCWD, op.a, kAtRecursive, op.attrs, 0) < 0) {
          for (const char* path : *fallback) {  // kernels < 5.12: every mount on its own
            r = remount_bind(path, op.attrs);
            if (r < 0 && r != -EINVAL) die(sh, "make the root read-only", r, path);  // EINVAL: not a mount
          }
        }
        break;
      case Op::kRootRo:  // the root mount alone
        if (setattr(AT_FDCWD, op.a, 0, op.attrs, 0) < 0) check(sh, remount_bind(op.a, op.attrs), "read-only root", op.a);
        break;
      case Op::kClearRootRo:  // the root tmpfs stays writable until the run's mount points exist
        if (setattr(AT_FDCWD, op.a, 0, 0, kAttrRdonly) < 0)
          check(sh, do_mount(nullptr, op.a, nullptr, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, nullptr),
                "remount the root writable", op.a);
        break;
    }
  }
}

// The program: pid 2 of the box, started posix_spawn-style (CLONE_VM|CLONE_VFORK) by the init,
// so it runs in the init's memory (the caller's, when shared) until execve.
int run_program(void* arg) {
  BoxCtx& c = *static_cast<BoxCtx*>(arg);
  RunPlan& p = *c.run;
  Shared& sh = *c.shared;
  // Join the run's cgroup(s): from here on everything the program does is charged to it.
  for (int i = 0; i < p.n_cgroup; ++i) {
    long r = sys(SYS_write, p.fds[3 + i], reinterpret_cast<long>("0"), 1);
    if (r != 1) die(sh, "join the run's cgroup", r < 0 ? r : -EIO);
  }
  if (p.n_cgroup) sys(SYS_unshare, CLONE_NEWCGROUP);  // /proc/self/cgroup shows "/"
  // Capabilities (the bounding set is empty already, see box_main): the ids, then the rest.
  check(sh, sys(SYS_setresgid, kBoxUid, kBoxUid, kBoxUid), "setresgid");
  check(sh, sys(SYS_setresuid, kBoxUid, kBoxUid, kBoxUid), "setresuid");
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  check(sh, sys(SYS_capset, reinterpret_cast<long>(&hdr), reinterpret_cast<long>(data)), "capset");
  auto limit = [&](int resource, const struct rlimit& rl, const char* what) {
    check(sh, sys(SYS_prlimit64, 0, resource, reinterpret_cast<long>(&rl), 0), what);
  };
  limit(RLIMIT_STACK, p.rl_stack, "RLIMIT_STACK");
  limit(RLIMIT_NOFILE, p.rl_nofile, "RLIMIT_NOFILE");
  limit(RLIMIT_FSIZE, p.rl_fsize, "RLIMIT_FSIZE");
  limit(RLIMIT_CPU, p.rl_cpu, "RLIMIT_CPU");
  if (p.rl_nproc.rlim_cur) limit(RLIMIT_NPROC, p.rl_nproc, "RLIMIT_NPROC");
  if (p.set_as) limit(RLIMIT_AS, p.rl_as, "RLIMIT_AS");
  check(sh, sys(SYS_chdir, reinterpret_cast<long>(p.workdir)), "chdir", p.workdir);
  // stdio at 0..2 (sources below 3 are moved up first so that none is overwritten), then every
  // other descriptor closed.
  int src[3] = {p.fds[0], p.fds[1], p.fds[2]};
  for (int& fd : src) {
    if (fd >= 3) continue;
    long r = sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3);
    check(sh, r, "dup stdio");
    fd = static_cast<int>(r);
  }
  for (int i = 0; i < 3; ++i) check(sh, sys(SYS_dup3, src[i], i, 0), "dup stdio");
  sys(SYS_close_range, 3, ~0u, 0);
  const uint64_t none = 0;  // the init blocks every signal; the program starts with none blocked
  sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, sizeof none);
  if (p.seccomp) {
    sock_fprog prog{static_cast<unsigned short>(p.seccomp->size()), const_cast<sock_filter*>(p.seccomp->data())};
    check(sh, sys(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, reinterpret_cast<long>(&prog), 0, 0), "seccomp");
  }
  long err = -ENOENT;
  for (const char* path : p.exec_paths) {
    long r = sys(SYS_execve, reinterpret_cast<long>(path), reinterpret_cast<long>(p.argv.data()),
                 reinterpret_cast<long>(p.envp.data()));
    if (r != -ENOENT && r != -ENOTDIR) err = r;
  }
  sh.exec_errno = static_cast<int32_t>(-err);
  sh.exec_error = 1;
  box_exit(127);
}

// The box's init (PID 1 of its PID namespace). When the caller is root it runs in the caller's
// memory (CLONE_VM: no page-table copy, no copy-on-write faults on either side) but with its own
// file table, credentials and namespaces; it never runs the caller's code. It is started ahead of
// its run when it can be (see BoxPool): the namespaces and the system part of the root are made,
// then it waits for the run on its socket.
int box_main(void* arg) {
  BoxCtx& c = *static_cast<BoxCtx*>(arg);
  Shared& sh = *c.shared;
  // The caller's signal handlers must never run here (they would run on the caller's data).
  const uint64_t all = ~0ull;
  sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&all), 0, sizeof all);
  // Every inherited descriptor but the socket goes at once: a copy of another run's pipe would
  // keep that run's output open.
  if (c.sock > 0) sys(SYS_close_range, 0, static_cast<unsigned>(c.sock) - 1, 0);
  sys(SYS_close_range, static_cast<unsigned>(c.sock) + 1, ~0u, 0);
  sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  // What needs no uid map is done while the parent writes the maps: the network, IPC and UTS
  // namespaces (a network namespace costs more than the rest of the clone), mounts private.
  check(sh, sys(SYS_unshare, CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare net, ipc, uts namespaces");
  check(sh, do_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make / private");
  char go = 0;
  long n;
  do n = sys(SYS_read, c.sock, reinterpret_cast<long>(&go), 1); while (n == -EINTR);
  if (n != 1) box_exit(112);  // the parent went away or failed
  if (!c.share_memory) sys(SYS_prctl, PR_SET_DUMPABLE, 0);  // a private copy of the caller's memory
  // File access as the box user (fsuid/fsgid); the effective ids stay those of the caller, so
  // the program (which becomes uid 1000) does not own the init's /proc/1 files.
  if (c.setgroups) check(sh, sys(SYS_setgroups, 0, 0), "setgroups");
  sys(SYS_setfsgid, kBoxUid);
  if (sys(SYS_setfsgid, kBoxUid) != kBoxUid) die(sh, "setfsgid", -EPERM);
  sys(SYS_setfsuid, kBoxUid);
  if (sys(SYS_setfsuid, kBoxUid) != kBoxUid) die(sh, "setfsuid", -EPERM);
  const long umask = sys(SYS_umask, 0);
  if (c.run) run_ops(sh, c.run->early_ops, c.run->fds, nullptr);  // before the stage hides /tmp
  run_ops(sh, c.sys->ops, nullptr, &c.sys->readonly_fallback);
  check(sh, sys(SYS_chdir, reinterpret_cast<long>(kStage)), "chdir new root");
  check(sh, sys(SYS_pivot_root, reinterpret_cast<long>("."), reinterpret_cast<long>(".")), "pivot_root");
  check(sh, sys(SYS_umount2, reinterpret_cast<long>("."), MNT_DETACH), "detach old root");
  check(sh, sys(SYS_chdir, reinterpret_cast<long>("/")), "chdir /");
  sys(SYS_sethostname, reinterpret_cast<long>("box"), 3);
  sys(SYS_setdomainname, reinterpret_cast<long>("box"), 3);
  // What the program inherits and needs no run for (done before the run when started ahead): a
  // session of our own (no controlling terminal), an empty capability bounding set (we keep our
  // effective capabilities; CAP_SETPCAP is needed to drop), no_new_privs, no core dumps.
  check(sh, sys(SYS_setsid), "setsid");
  for (int cap = 0; cap <= c.last_cap; ++cap) check(sh, sys(SYS_prctl, PR_CAPBSET_DROP, cap), "drop the bounding set");
  check(sh, sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
  const struct rlimit zero {0, 0};
  check(sh, sys(SYS_prlimit64, 0, RLIMIT_CORE, reinterpret_cast<long>(&zero), 0), "RLIMIT_CORE");

  // The run: its plan (in memory the parent shares) and its descriptors.
  RunPlan* run = nullptr;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * RunPlan::kMaxFds)];
  iovec iov{&run, sizeof run};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  do n = sys(SYS_recvmsg, c.sock, reinterpret_cast<long>(&msg), MSG_CMSG_CLOEXEC); while (n == -EINTR);
  if (n != static_cast<long>(sizeof run) || !run) box_exit(112);
  c.run = run;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
    size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(cm);
    for (size_t i = 0; i < count && i < RunPlan::kMaxFds; ++i) {
      int fd;
      __builtin_memcpy(&fd, data + i * sizeof(int), sizeof fd);
      run->fds[i] = fd;
    }
  }
  sys(SYS_close, c.sock);
  run_ops(sh, run->ops, run->fds, nullptr);
  sys(SYS_umask, umask);
  sh.ready = 1;

  // posix_spawn-style: the program shares our memory until it execs (no page-table copy);
  // we are suspended meanwhile (CLONE_VFORK).
#if defined(__x86_64__)
  long child = crucible_sandbox_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, c.program_stack_top, run_program, &c);
#else
  long child = ::clone(run_program, c.program_stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
  if (child < 0) child = -errno;
#endif
  if (child < 0) die(sh, "start the program", child);
  sys(SYS_close_range, 0, ~0u, 0);  // our copies of stdio: the pipes see EOF when the program ends
  for (;;) {
    int st = 0;
    struct rusage ru {};
    long w = sys(SYS_wait4, -1, reinterpret_cast<long>(&st), __WALL, reinterpret_cast<long>(&ru));
    if (w == -EINTR) continue;
    if (w < 0) box_exit(113);
    if (w == child) {
      sh.wstatus = st;
      sh.ru = ru;
      sys(SYS_getrusage, RUSAGE_SELF, reinterpret_cast<long>(&sh.init_self));
      sh.main_exit = 1;
      box_exit(0);  // the kernel kills whatever is left in the namespace
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parent side.

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string errno_text(int e) { return e ? std::string(std::strerror(e)) : std::string(); }

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

bool under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// mkdir -p of `path` (absolute, inside the box, prefixed with `prefix`) as ops, for the
// directories not yet made.
void mkdirs(Strings& s, std::vector<Op>& ops, std::vector<std::string>& made, const std::string& prefix,
            const std::string& path, bool include_last) {
  size_t pos = 1;
  while (true) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos && !include_last) break;
    std::string dir = path.substr(0, next);
    pos = next == std::string::npos ? path.size() : next + 1;
    if (!dir.empty() && dir != "/" && std::find(made.begin(), made.end(), dir) == made.end()) {
      made.push_back(dir);
      Op op{Op::kMkdir};
      op.a = s.str(prefix + dir);
      op.mode = 0755;
      ops.push_back(op);
    }
    if (next == std::string::npos) break;
  }
}

const char* const kDevs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};

// The SystemPlan of an option set, built once (paths only; the box side runs it).
const SystemPlan* system_plan(const SandboxOptions& o) {
  static std::mutex mu;
  static std::deque<std::pair<std::vector<std::string>, SystemPlan>> cache;
  std::lock_guard<std::mutex> lk(mu);
  std::vector<std::string> key = o.system_dirs;
  key.insert(key.end(), o.etc_files.begin(), o.etc_files.end());
  for (auto& [k, v] : cache) if (k == key) return &v;
  cache.emplace_back(key, SystemPlan());
  SystemPlan& P = cache.back().second;
  const std::string S = kStage;
  std::vector<std::string> made;
  auto add = [&](Op op) { P.ops.push_back(op); };
  {
    Op t{Op::kTmpfs};
    t.a = kStage;
    t.b = "size=4m,nr_inodes=4096,mode=755";
    add(t);
  }
  P.readonly_fallback.push_back(kStage);
  for (const char* d : {"/proc", "/dev", "/etc", "/box", "/tmp"}) mkdirs(P, P.ops, made, S, d, true);
  struct Entry {
    std::string path, source;
    HostPath host;
  };
  std::vector<Entry> entries;
  for (auto& path : key) {
    Entry e{path, path, inspect(path)};
    if (e.host.kind == HostPath::kMissing) continue;
    if (e.host.kind != HostPath::kLink) {
      if (char* real = ::realpath(path.c_str(), nullptr)) {
        e.source = real;
        std::free(real);
      }
      // Hidden under the stage tmpfs once it is mounted (system directories never live there).
      if (under(e.source, kStage)) continue;
    }
    entries.push_back(e);
  }
  for (auto& e : entries) {
    mkdirs(P, P.ops, made, S, e.path, false);
    if (e.host.kind == HostPath::kLink) {
      Op o{Op::kSymlink};
      o.a = P.str(S + e.path);
      o.b = P.str(e.host.link);
      add(o);
    } else if (e.host.kind == HostPath::kDir) {
      mkdirs(P, P.ops, made, S, e.path, true);
    } else {
      Op o{Op::kMknod};
      o.a = P.str(S + e.path);
      o.mode = 0644;
      o.optional = true;
      add(o);
    }
  }
  // /etc/passwd, /etc/group and /etc/hosts naming the box user and host only
  static constexpr const char* kEtcFiles[][2] = {
      {"/etc/passwd", "root:x:0:0::/:/bin/sh\nbox:x:1000:1000:box:/box:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"},
      {"/etc/group", "root:x:0:\nbox:x:1000:\nnogroup:x:65534:\n"},
      {"/etc/hosts", "127.0.0.1 localhost box\n::1 localhost\n"}};
  for (const auto& [path, contents] : kEtcFiles) {
    Op o{Op::kWrite};
    o.a = P.str(S + path);
    o.data = contents;
    o.len = std::strlen(contents);
    o.mode = 0644;
    add(o);
  }
  for (const char* d : kDevs) {
    Op o{Op::kMknod};
    o.a = P.str(S + d);
    o.mode = 0666;
    o.optional = true;
    add(o);
  }
  for (auto [name, target] : {std::pair<const char*, const char*>{"/dev/fd", "/proc/self/fd"},
                              {"/dev/stdin", "/proc/self/fd/0"}, {"/dev/stdout", "/proc/self/fd/1"},
                              {"/dev/stderr", "/proc/self/fd/2"}}) {
    Op o{Op::kSymlink};
    o.a = P.str(S + name);
    o.b = target;
    add(o);
  }
  // the system binds, then the whole tree read-only, nosuid, nodev at once
  for (auto& e : entries) {
    if (e.host.kind == HostPath::kLink) continue;
    Op o{Op::kBind};
    o.a = P.str(S + e.path);
    o.b = P.str(e.source);
    o.optional = true;
    add(o);
    P.readonly_fallback.push_back(o.a);
  }
  {
    Op ro{Op::kSetAttrs};
    ro.a = kStage;
    ro.attrs = kAttrRdonly | kAttrNosuid | kAttrNodev;
    add(ro);
    Op rw{Op::kClearRootRo};  // until the run's mount points are made (the run sets it again)
    rw.a = kStage;
    add(rw);
  }
  // /dev nodes (device nodes need dev; writable like any /dev), /proc of the box's PID namespace
  for (const char* d : kDevs) {
    Op o{Op::kBind};
    o.a = P.str(S + d);
    o.b = d;
    o.attrs = kAttrNosuid | kAttrNoexec;
    o.optional = true;
    add(o);
  }
  {
    Op o{Op::kProc};
    o.a = P.str(S + "/proc");
    o.optional = true;
    add(o);
  }
  return &P;
}

int last_cap() {
  static const int v = [] {
    int fd = ::open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 63;
    char buf[16] = {};
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    int c = n > 0 ? std::atoi(buf) : 0;
    return c > 0 && c < 64 ? c : 63;
  }();
  return v;
}

bool valid_box_path(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.find("/../") != std::string::npos || p.find('\0') != std::string::npos) return false;
  if (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0) return false;
  return true;
}

RunResult internal_error(std::string why) {
  RunResult r;
  r.status = RunStatus::internal;
  r.reason = std::move(why);
  return r;
}

// A box init, started and waiting for its run.
struct Box {
  long pid = -1;
  int pidfd = -1;
  int ns_fd = -1;   // its mount namespace (see Finisher)
  int sock = -1;    // the parent's end of its socket
  Arena* arena = nullptr;
};

// A descriptor of the box's mount namespace, taken right after clone.
int mount_ns_fd(int pidfd, long pid) {
  if (pidfd >= 0) {
    int fd = ::ioctl(pidfd, _IO(0xFF, 3), 0);  // PIDFD_GET_MNT_NAMESPACE (kernel >= 6.11)
    if (fd >= 0) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      return fd;
    }
  }
  return ::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
}

// Kills and reaps a box init that will not get (or did not finish) its run.
void discard(Box& b) {
  if (b.pid > 0) {
    ::kill(static_cast<pid_t>(b.pid), SIGKILL);
    int st;
    while (::waitpid(static_cast<pid_t>(b.pid), &st, __WALL) < 0 && errno == EINTR) {}
  }
  for (int fd : {b.pidfd, b.ns_fd, b.sock}) if (fd >= 0) ::close(fd);
  Arena::release(b.arena);
  b = Box();
}

// Starts a box init: clone into new user, PID and mount namespaces (the init makes the rest),
// uid/gid maps, then "go". It builds the system part of its root and waits for its run.
bool start_box(const SystemPlan* sys_plan, const SandboxOptions& opt, bool root, bool share_memory, RunPlan* run,
               Box* out, std::string* why) {
  Box b;
  b.arena = Arena::acquire();
  if (!b.arena) { *why = "mmap of the box stacks failed: " + errno_text(errno); return false; }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    *why = "socketpair: " + errno_text(errno);
    Arena::release(b.arena);
    return false;
  }
  b.sock = sv[0];
  BoxCtx& c = *b.arena->ctx;
  c = BoxCtx();
  c.sys = sys_plan;
  c.share_memory = share_memory;
  c.setgroups = root;
  c.sock = sv[1];
  c.shared = b.arena->shared;
  c.program_stack_top = b.arena->program_stack_top;
  c.last_cap = last_cap();
  c.run = run;
  std::memset(static_cast<void*>(c.shared), 0, sizeof(Shared));
  // No exit signal: a waitpid(-1) elsewhere in the caller does not see (and reap) box inits.
  int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS;  // net, ipc, uts: the init unshares them
  if (share_memory) flags |= CLONE_VM;
  b.pid = ::clone(box_main, b.arena->init_stack_top, flags | CLONE_PIDFD, &c, &b.pidfd);
  if (b.pid < 0 && errno == EINVAL) {  // kernels < 5.2: no CLONE_PIDFD
    b.pidfd = -1;
    b.pid = ::clone(box_main, b.arena->init_stack_top, flags, &c);
    if (b.pid > 0) b.pidfd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(b.pid), 0));
  }
  int e = errno;
  ::close(sv[1]);
  if (b.pid < 0) {
    *why = "clone(user, pid, mount namespaces): " + errno_text(e) +
           " (user namespaces disabled? see sysctl user.max_user_namespaces)";
    ::close(b.sock);
    Arena::release(b.arena);
    return false;
  }
  b.ns_fd = mount_ns_fd(b.pidfd, b.pid);
  // uid/gid maps: box uid 1000 <-> host_uid (root) or our own uid.
  std::string uid_line = std::to_string(kBoxUid) + " " + std::to_string(root ? opt.host_uid : ::geteuid()) + " 1";
  std::string gid_line = std::to_string(kBoxUid) + " " + std::to_string(root ? opt.host_gid : ::getegid()) + " 1";
  std::string base = "/proc/" + std::to_string(b.pid) + "/";
  auto put = [&](const std::string& file, const std::string& v) {
    int fd = ::open((base + file).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = ::write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size()) ? 0 : errno;
    ::close(fd);
    return err;
  };
  const char* step = nullptr;
  if (!root && (e = put("setgroups", "deny")) != 0) step = "write setgroups";
  else if ((e = put("uid_map", uid_line)) != 0) step = "write uid_map";
  else if ((e = put("gid_map", gid_line)) != 0) step = "write gid_map";
  else if (::write(b.sock, "g", 1) != 1) { e = errno; step = "box socket"; }
  if (step) {
    Arena* arena = b.arena;
    b.arena = nullptr;
    discard(b);  // dead and reaped: its report is final
    Shared& sh = *c.shared;
    *why = sh.setup_error ? std::string("box setup failed: ") + sh.where + (sh.err ? ": " + errno_text(sh.err) : "")
                          : std::string(step) + ": " + errno_text(e);
    Arena::release(arena);
    return false;
  }
  *out = b;
  return true;
}

// Background work of a process, on one thread: box inits started ahead of their runs (their
// namespaces and system root cost more than the rest of a run, a good part of it waiting for RCU
// grace periods), and the end of finished runs. Dropping the last reference to a box's mount
// namespace waits for a grace period before its mounts are freed; the parent holds one while the
// box runs, so the init's exit does not wait, and drops it here, then releases the run's cgroup
// (whose /box and /tmp pages are uncharged only then). No process is left in that namespace and
// the reference is a descriptor of this process only, so nothing can enter it meanwhile.
class Background {
 public:
  static Background& get() {
    static Background* b = new Background();  // never destroyed: its thread may outlive main()
    return *b;
  }

  // A started box for (plan, uid, gid), if one is waiting. Takes note that more are wanted.
  bool take(const SystemPlan* plan, const SandboxOptions& opt, Box* out) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!start_locked()) return false;
    Key k{plan, opt.host_uid, opt.host_gid};
    bool found = false;
    for (size_t i = 0; i < ready_.size(); ++i) {
      if (!(ready_[i].first == k)) continue;
      *out = ready_[i].second;
      ready_.erase(ready_.begin() + static_cast<long>(i));
      found = true;
      break;
    }
    auto it = std::find_if(wanted_.begin(), wanted_.end(), [&](const Want& w) { return w.key == k; });
    if (it == wanted_.end()) {
      if (wanted_.size() >= kMaxKeys) wanted_.erase(wanted_.begin());
      wanted_.push_back({k, opt, 1});
    } else {
      ++it->uses;
      std::rotate(it, it + 1, wanted_.end());  // most recent last
    }
    cv_.notify_all();
    return found;
  }

  void finish_later(int ns_fd, detail::CgroupSlot* slot, Arena* arena) {
    std::unique_lock<std::mutex> lk(mu_);
    if (start_locked()) {
      done_.push_back({ns_fd, slot, arena});
      cv_.notify_all();
      return;
    }
    lk.unlock();
    finish({ns_fd, slot, arena});
  }

 private:
  struct Key {
    const SystemPlan* plan;
    unsigned uid, gid;
    bool operator==(const Key& o) const { return plan == o.plan && uid == o.uid && gid == o.gid; }
  };
  struct Want {
    Key key;
    SandboxOptions opt;
    int uses;  // boxes are started ahead from the second run on (not for a one-off run)
  };
  struct Done {
    int ns_fd;
    detail::CgroupSlot* slot;
    Arena* arena;
  };
  static constexpr size_t kMaxKeys = 4;   // option sets kept warm
  static constexpr size_t kPerKey = 1;    // started boxes waiting per option set

  static void finish(const Done& d) {
    if (d.ns_fd >= 0) ::close(d.ns_fd);
    detail::release_slot(d.slot);
    Arena::release(d.arena);
  }

  bool start_locked() {
    if (pid_ == ::getpid()) return thread_ok_;
    // First use, or a forked child: the thread and the boxes belong to the parent.
    for (auto& r : ready_) for (int fd : {r.second.pidfd, r.second.ns_fd, r.second.sock}) if (fd >= 0) ::close(fd);
    ready_.clear();
    done_.clear();
    busy_ = false;
    if (pid_ == 0) std::atexit([] { Background::get().at_exit(); });
    pid_ = ::getpid();
    try {
      std::thread([this] { loop(); }).detach();
      thread_ok_ = true;
    } catch (...) {
      thread_ok_ = false;
    }
    return thread_ok_;
  }

  const Want* missing_locked() const {
    for (auto it = wanted_.rbegin(); it != wanted_.rend(); ++it) {
      if (it->uses < 2) continue;
      size_t have = 0;
      for (auto& r : ready_) have += r.first == it->key;
      if (have < kPerKey) return &*it;
    }
    return nullptr;
  }

  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    const pid_t mine = ::getpid();
    for (;;) {
      cv_.wait(lk, [&] { return pid_ != mine || stopping_ || !done_.empty() || missing_locked(); });
      if (pid_ != mine) return;
      if (!done_.empty()) {
        Done d = done_.front();
        done_.pop_front();
        busy_ = true;
        lk.unlock();
        finish(d);
        lk.lock();
        busy_ = false;
        idle_.notify_all();
        continue;
      }
      if (stopping_) {
        idle_.notify_all();
        cv_.wait(lk, [&] { return !done_.empty() || pid_ != mine; });
        continue;
      }
      const Want w = *missing_locked();
      busy_ = true;
      lk.unlock();
      Box b;
      std::string why;
      bool ok = start_box(w.key.plan, w.opt, ::geteuid() == 0, true, nullptr, &b, &why);
      lk.lock();
      busy_ = false;
      if (ok) ready_.push_back({w.key, b});
      else wanted_.erase(std::remove_if(wanted_.begin(), wanted_.end(), [&](const Want& x) { return x.key == w.key; }),
                         wanted_.end());  // the run reports the failure itself
      idle_.notify_all();
    }
  }

  // At exit: finished runs are closed (their cgroups removed by the pool), waiting boxes killed.
  void at_exit() {
    std::unique_lock<std::mutex> lk(mu_);
    if (pid_ != ::getpid() || !thread_ok_) return;
    stopping_ = true;
    cv_.notify_all();
    idle_.wait(lk, [&] { return done_.empty() && !busy_; });
    std::vector<Box> boxes;
    for (auto& r : ready_) boxes.push_back(r.second);
    ready_.clear();
    lk.unlock();
    for (auto& b : boxes) discard(b);
  }

  std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::vector<std::pair<Key, Box>> ready_;
  std::vector<Want> wanted_;
  std::deque<Done> done_;
  bool busy_ = false, stopping_ = false, thread_ok_ = false;
  pid_t pid_ = 0;  // the process whose thread serves this
};

}  // namespace

Sandbox::Sandbox(SandboxOptions options) : opt_(std::move(options)) {}

RunResult Sandbox::run(const RunSpec& spec, const Limits& limits) const {
  if (spec.argv.empty()) return internal_error("invalid run spec: empty argv");
  if (limits.cpu_ms <= 0 || limits.wall_ms <= 0 || limits.memory_bytes <= 0)
    return internal_error("invalid limits: cpu_ms, wall_ms and memory_bytes must be positive");
  if (!valid_box_path(spec.workdir)) return internal_error("invalid workdir: " + spec.workdir);

  const bool root = ::geteuid() == 0;
  // Non-root callers: the init is a copy (fork) and makes itself non-dumpable, which a shared
  // memory would impose on the caller; and it is started for its run only.
  const bool share_memory = kShareMemory && root;
  const SystemPlan* sys_plan = system_plan(opt_);
  RunPlan plan;

  // ---- descriptors the box gets: stdin, stdout, stderr, cgroup files, bind trees
  std::vector<int> fds;
  std::vector<int> owned;  // ours to close once sent
  int out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
  auto close_owned = [&] {
    for (int fd : owned) ::close(fd);
    owned.clear();
  };
  auto fail = [&](std::string why) {
    close_owned();
    for (int fd : {out_p[0], err_p[0]}) if (fd >= 0) ::close(fd);
    return internal_error(std::move(why));
  };

  // ---- the run's part of the file system
  const int64_t fs_bytes = std::max<int64_t>(limits.file_bytes, 1 << 20);
  int64_t files_total = 0;
  for (auto& f : spec.files) files_total += static_cast<int64_t>(f.contents.size());
  std::vector<std::string> made = {"/proc", "/dev", "/etc", "/box", "/tmp"};  // exist already
  {
    Op box{Op::kTmpfs};
    box.a = "/box";
    box.b = plan.str("size=" + std::to_string(fs_bytes + files_total + (1 << 20)) + ",mode=755");
    plan.ops.push_back(box);
    Op tmp{Op::kTmpfs};
    tmp.a = "/tmp";
    tmp.b = plan.str("size=" + std::to_string(fs_bytes) + ",mode=1777");
    plan.ops.push_back(tmp);
  }
  std::vector<std::pair<std::string, size_t>> written;  // box file -> its op (a later one replaces it)
  for (auto& f : spec.files) {
    std::string path = "/box/" + f.path;
    if (f.path.empty() || f.path[0] == '/' || !valid_box_path(path))
      return internal_error("invalid box file path: " + f.path);
    for (auto& [p, i] : written) if (p == path) plan.ops[i].kind = Op::kSkip;
    mkdirs(plan, plan.ops, made, "", path, false);
    Op o{Op::kWrite};
    o.a = plan.str(path);
    o.data = f.contents.data();
    o.len = f.contents.size();
    o.mode = f.executable ? 0755 : 0644;
    written.push_back({path, plan.ops.size()});
    plan.ops.push_back(o);
  }
  // The caller's binds: each a detached copy of the host tree (open_tree), moved into place by
  // the box init. Root callers clone it here, in our mount namespace, for boxes started ahead;
  // others may not (it needs CAP_SYS_ADMIN), and their box init clones it in its own namespace
  // as the box user before it mounts anything.
  std::vector<std::pair<int, const Bind*>> bind_trees;
  for (auto& b : spec.binds) {
    if (b.host.empty() || b.host[0] != '/') return fail("bind host path must be absolute: " + b.host);
    if (!valid_box_path(b.box) || b.box == "/") return fail("invalid bind box path: " + b.box);
    struct stat st;
    if (::stat(b.host.c_str(), &st) != 0) return fail("bind source " + b.host + ": " + errno_text(errno));
    const uint64_t attrs = b.writable ? (kAttrNosuid | kAttrNodev) : (kAttrRdonly | kAttrNosuid | kAttrNodev);
    int tree = -1;
    if (share_memory) {
      tree = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, b.host.c_str(), kOpenTreeClone | O_CLOEXEC | kAtRecursive));
      if (tree < 0) return fail("bind source " + b.host + ": open_tree: " + errno_text(errno));
      owned.push_back(tree);
      kernel_mount_attr a{attrs, 0, 0, 0};
      if (syscall(SYS_mount_setattr, tree, "", kAtEmptyPath | kAtRecursive, &a, sizeof a) != 0)
        return fail("bind " + b.host + ": mount_setattr: " + errno_text(errno));
    } else {
      Op o{Op::kOpenTree};
      o.b = plan.str(b.host);
      o.attrs = attrs;
      plan.early_ops.push_back(o);
    }
    bind_trees.push_back({tree, &b});
    if (S_ISDIR(st.st_mode)) {
      mkdirs(plan, plan.ops, made, "", b.box, true);
    } else {
      mkdirs(plan, plan.ops, made, "", b.box, false);
      Op o{Op::kMknod};
      o.a = plan.str(b.box);
      o.mode = 0644;
      plan.ops.push_back(o);
    }
  }
  // the root read-only again (its mount points exist now), then the binds
  {
    Op ro{Op::kRootRo};
    ro.a = "/";
    ro.attrs = kAttrRdonly | kAttrNosuid | kAttrNodev;
    plan.ops.push_back(ro);
  }
  const size_t move_ops_at = plan.ops.size();
  for (size_t i = 0; i < bind_trees.size(); ++i) {
    Op o{Op::kMove};
    o.a = plan.str(bind_trees[i].second->box);
    plan.ops.push_back(o);
  }

  // ---- program: argv, env, PATH candidates
  for (auto& a : spec.argv) plan.argv.push_back(plan.str(a));
  plan.argv.push_back(nullptr);
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/box", "TMPDIR=/tmp"};
  for (auto& kv : spec.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return fail("invalid env entry (want K=V): " + kv);
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
  // RLIMIT_NPROC counts the processes of the box user; a non-root caller's init is one of them.
  if (limits.processes > 0) plan.rl_nproc = {lim(limits.processes + (root ? 0 : 1)), lim(limits.processes + (root ? 0 : 1))};
  if (!have_cg) {
    plan.set_as = true;
    plan.rl_as = {lim(limits.memory_bytes), lim(limits.memory_bytes)};
  }
  if (opt_.seccomp) {
    const auto& sp = detail::seccomp_program();
    if (!sp.filter) { cg.destroy(); return fail("seccomp filter unavailable: " + sp.error); }
    plan.seccomp = sp.filter;
  }

  // ---- stdio
  int stdin_fd = -1;
  if (spec.stdout_fd < 0) {
    if (::pipe2(out_p, O_CLOEXEC) != 0) { cg.destroy(); return fail("pipe: " + errno_text(errno)); }
    owned.push_back(out_p[1]);
  }
  if (spec.stderr_fd < 0) {
    if (::pipe2(err_p, O_CLOEXEC) != 0) { cg.destroy(); return fail("pipe: " + errno_text(errno)); }
    owned.push_back(err_p[1]);
  }
  if (spec.stdin_fd >= 0) {
    stdin_fd = spec.stdin_fd;
  } else if (!spec.stdin_file.empty()) {
    stdin_fd = ::open(spec.stdin_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (stdin_fd < 0) { int e = errno; cg.destroy(); return fail("stdin file " + spec.stdin_file + ": " + errno_text(e)); }
    owned.push_back(stdin_fd);
  } else {
    stdin_fd = memfd_create("stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (stdin_fd < 0) { int e = errno; cg.destroy(); return fail("memfd_create: " + errno_text(e)); }
    owned.push_back(stdin_fd);
    size_t off = 0;
    while (off < spec.stdin_data.size()) {
      ssize_t n = ::write(stdin_fd, spec.stdin_data.data() + off, spec.stdin_data.size() - off);
      if (n < 0) { if (errno == EINTR) continue; int e = errno; cg.destroy(); return fail("stdin: " + errno_text(e)); }
      off += static_cast<size_t>(n);
    }
    if (off) ::lseek(stdin_fd, 0, SEEK_SET);
    fcntl(stdin_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  }
  fds = {stdin_fd, spec.stdout_fd >= 0 ? spec.stdout_fd : out_p[1], spec.stderr_fd >= 0 ? spec.stderr_fd : err_p[1]};
  if (have_cg) {
    plan.n_cgroup = static_cast<int>(cg.procs_fds().size());
    fds.insert(fds.end(), cg.procs_fds().begin(), cg.procs_fds().end());
  }
  if (fds.size() + bind_trees.size() > static_cast<size_t>(RunPlan::kMaxFds)) { cg.destroy(); return fail("too many binds"); }
  for (size_t i = 0, early = 0, first = fds.size(); i < bind_trees.size(); ++i) {
    const int index = static_cast<int>(first + i);
    plan.ops[move_ops_at + i].fd = index;
    if (bind_trees[i].first < 0) plan.early_ops[early++].fd = index;  // opened by the box init
    else fds.push_back(bind_trees[i].first);
  }

  // ---- the box: one started ahead (root callers), else one started now
  Box box;
  if (!(share_memory && Background::get().take(sys_plan, opt_, &box))) {
    std::string why;
    if (!start_box(sys_plan, opt_, root, share_memory, &plan, &box, &why)) {
      cg.destroy();
      return fail(why);
    }
  }
  Shared* sh = box.arena->shared;
  bool reaped = false;
  int init_status = 0;
  struct rusage init_ru {};
  auto kill_box = [&] {
    ::kill(static_cast<pid_t>(box.pid), SIGKILL);
    cg.kill_all();
  };
  auto reap = [&] {
    if (reaped) return;
    while (::wait4(static_cast<pid_t>(box.pid), &init_status, __WALL, &init_ru) < 0 && errno == EINTR) {}
    reaped = true;
  };
  auto end_box = [&] {  // the box is reaped: the rest off the critical path
    if (box.pidfd >= 0) ::close(box.pidfd);
    if (box.sock >= 0) ::close(box.sock);
    Background::get().finish_later(box.ns_fd, cg.release_later(), box.arena);
    box = Box();
  };

  // ---- the run: its plan and descriptors to the box init
  {
    RunPlan* ptr = &plan;
    iovec iov{&ptr, sizeof ptr};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
    ssize_t n;
    while ((n = ::sendmsg(box.sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
    int e = errno;
    close_owned();
    if (n != static_cast<ssize_t>(sizeof ptr)) {
      kill_box();
      reap();
      std::string why = sh->setup_error ? std::string("box setup failed: ") + sh->where +
                                              (sh->err ? ": " + errno_text(sh->err) : "")
                                        : "box socket: " + errno_text(e);
      end_box();
      for (int fd : {out_p[0], err_p[0]}) if (fd >= 0) ::close(fd);
      RunResult r = internal_error(why);
      r.accounting = res.accounting;
      return r;
    }
  }
  const int64_t t0 = now_us();

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
  const int64_t cpu_limit_ns = limits.cpu_ms * 1000000;
  int64_t cpu_used = 0, cpu_read_us = t0;
  while (true) {
    const int64_t now = now_us();
    if (have_cg && now - cpu_read_us >= 5000) {  // not at every wake-up: a short run never reads it
      cpu_used = std::max<int64_t>(cg.cpu_ns(), 0);
      cpu_read_us = now;
    }
    int64_t el_ms = (now - t0) / 1000;
    if (el_ms >= limits.wall_ms) { killed = Killed::wall; kill_box(); break; }
    int timeout = static_cast<int>(limits.wall_ms - el_ms);
    if (have_cg) {
      if (cpu_used >= cpu_limit_ns) { killed = Killed::cpu; kill_box(); break; }
      int64_t rem_ms = (cpu_limit_ns - cpu_used) / 1000000;
      timeout = std::min<int64_t>(timeout, std::clamp<int64_t>(rem_ms / 2, 5, 100));
    }
    pollfd pf[3];
    int n = 0;
    if (box.pidfd >= 0) pf[n++] = {box.pidfd, POLLIN, 0};
    int idx[2] = {-1, -1};
    for (int i = 0; i < 2; ++i) if (outs[i] >= 0) { idx[i] = n; pf[n++] = {outs[i], POLLIN, 0}; }
    if (box.pidfd < 0) timeout = std::min(timeout, 2);
    int r = ::poll(pf, n, timeout);
    if (r < 0 && errno != EINTR) { kill_box(); break; }
    for (int i = 0; i < 2; ++i)
      if (idx[i] >= 0 && (pf[idx[i]].revents & (POLLIN | POLLHUP | POLLERR)))
        if (!drain(i)) { ::close(outs[i]); outs[i] = -1; }
    if (killed != Killed::none) break;
    if (box.pidfd >= 0 ? (pf[0].revents & POLLIN) != 0 : false) break;
    if (box.pidfd < 0) {
      pid_t w = ::wait4(static_cast<pid_t>(box.pid), &init_status, WNOHANG | __WALL, &init_ru);
      if (w == box.pid) { reaped = true; break; }
    }
  }
  reap();
  const int64_t t1 = now_us();
  for (int i = 0; i < 2; ++i) if (outs[i] >= 0) { drain(i); ::close(outs[i]); }  // what the dead tree left

  // ---- collect (every box process is dead: the Shared report is final)
  const bool ready = sh->ready, setup_error = sh->setup_error, exec_error = sh->exec_error,
             main_exit = sh->main_exit;
  auto ms = [](const timeval& tv) { return static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000; };
  res.wall_ms = (t1 - t0) / 1000;
  if (have_cg) {
    res.cpu_ms = std::max<int64_t>(cg.cpu_ns(), 0) / 1000000;
    res.peak_rss_bytes = std::max<int64_t>(cg.peak_bytes(), 0);
  } else {
    // The init's rusage includes every process it reaped; its own time is left out.
    int64_t total = ms(init_ru.ru_utime) + ms(init_ru.ru_stime);
    if (main_exit) total -= ms(sh->init_self.ru_utime) + ms(sh->init_self.ru_stime);
    res.cpu_ms = std::max<int64_t>(total, 0);
    res.peak_rss_bytes = main_exit ? static_cast<int64_t>(sh->ru.ru_maxrss) * 1024 : 0;
  }
  const bool oom = have_cg && cg.oom_killed();
  if (main_exit) {
    int st = sh->wstatus;
    if (WIFEXITED(st)) res.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) res.signal = WTERMSIG(st);
  }
  std::string where = sh->where;
  if (sh->err) where += ": " + errno_text(sh->err);
  const int exec_errno = sh->exec_errno;
  end_box();

  auto set = [&](RunStatus s, std::string why) { res.status = s; res.reason = std::move(why); };
  const bool clean_exit = main_exit && res.exit_code == 0 && killed == Killed::none;
  const std::string mem_reason = "memory limit of " + std::to_string(limits.memory_bytes) + " bytes exceeded";
  const std::string fallback_note = have_cg ? "" : " [accounting: rlimit fallback, cgroups unavailable: " + cg_why + "]";
  if (killed == Killed::wall && !ready && !setup_error) {
    set(RunStatus::internal, "box set-up did not finish within the wall-clock limit (" + std::to_string(limits.wall_ms) + " ms)");
  } else if (oom && !setup_error && !clean_exit) {
    // An OOM kill in the box is the memory limit even when the CPU or wall limit fired next.
    std::string how = main_exit ? (res.signal ? "the program was killed by signal " + std::to_string(res.signal)
                                              : "the program exited with code " + std::to_string(res.exit_code))
                                : "the box was OOM-killed";
    set(RunStatus::memory_limit, mem_reason + " (" + how + ")");
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
    set(RunStatus::internal, "box setup failed: " + where);
    res.exit_code = -1;
    res.signal = 0;
  } else if (exec_error) {
    set(RunStatus::runtime_error, "cannot execute " + spec.argv[0] + ": " + errno_text(exec_errno));
    res.exit_code = 127;
  } else if (!main_exit) {
    set(RunStatus::internal, "box init died unexpectedly (status " + std::to_string(init_status) + ")");
  } else if (res.signal) {
    int s = res.signal;
    std::string name = sigabbrev_np(s) ? std::string("SIG") + sigabbrev_np(s) : std::to_string(s);
    if (s == SIGSYS) set(RunStatus::security, "killed by SIGSYS: forbidden system call (the filter refuses " +
                                                 std::string(detail::seccomp_summary()) + ")");
    else if (s == SIGXCPU) set(RunStatus::time_limit, "CPU time limit (SIGXCPU)");
    else if (s == SIGXFSZ) set(RunStatus::output_limit, "file size limit of " + std::to_string(limits.file_bytes) + " bytes exceeded (SIGXFSZ)");
    else if (s == SIGKILL && res.cpu_ms >= limits.cpu_ms) set(RunStatus::time_limit, "CPU time limit (RLIMIT_CPU)");
    else set(RunStatus::signaled, "killed by signal " + name + " (" + strsignal(s) + ")");
  } else if (res.exit_code != 0) {
    set(RunStatus::runtime_error, "exit code " + std::to_string(res.exit_code));
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
