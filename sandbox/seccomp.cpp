// The box's seccomp filter, built once with libseccomp and exported as a BPF program so that the
// forked child only has to call prctl(PR_SET_SECCOMP) (no allocation after clone()).
//
// Default: allow. Killed (SIGSYS -> status `security`): debugging other processes, kernel/module
// loading, mounts and namespace changes, keyrings, bpf, perf, io_uring, reboot/swap/clock and a
// few ancient privileged calls. Refused with EPERM (commonly probed by runtimes, harmless to
// refuse): personality() changes other than PER_LINUX/query, clone() with namespace flags.
// clone3 answers ENOSYS so that glibc falls back to clone(), whose flags the filter can inspect.
// Any non-native ABI (i386 via int 0x80, x32) kills the process.
#include <linux/filter.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sched.h>
#include <sys/personality.h>
#include <unistd.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "sandbox/internal.h"

namespace crucible::sandbox::detail {
namespace {

const char* const kKilled[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "query_module", "get_kernel_syms",
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "nfsservctl",
    "lookup_dcookie", "name_to_handle_at", "open_by_handle_at", "syslog", "vhangup",
    "uselib", "ioperm", "iopl", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "sethostname", "setdomainname", "userfaultfd", "fanotify_init", "landlock_create_ruleset",
    "mbind", "migrate_pages", "move_pages", "set_mempolicy",
};

std::vector<sock_filter>* build(std::string* error) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) { *error = "seccomp_init failed"; return nullptr; }
  auto fail = [&](const std::string& what, int rc) -> std::vector<sock_filter>* {
    *error = what + ": " + std::strerror(-rc);
    seccomp_release(ctx);
    return nullptr;
  };
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0) return fail("badarch", rc);
  for (const char* name : kKilled) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // unknown on this architecture
    rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0);
    if (rc < 0 && rc != -EDOM) return fail(std::string("rule ") + name, rc);
  }
  // personality: refuse the flags that weaken the process (no ASLR, executable data, page 0),
  // unless bit 31 is set (0xffffffff is the query that changes nothing).
  for (scmp_datum_t f : {scmp_datum_t(ADDR_NO_RANDOMIZE), scmp_datum_t(READ_IMPLIES_EXEC),
                         scmp_datum_t(MMAP_PAGE_ZERO), scmp_datum_t(ADDR_COMPAT_LAYOUT),
                         scmp_datum_t(ADDR_LIMIT_32BIT), scmp_datum_t(ADDR_LIMIT_3GB)}) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, f | 0x80000000u, f));
    if (rc < 0) return fail("rule personality", rc);
  }
  // clone with any namespace flag: EPERM.
  for (scmp_datum_t f : {scmp_datum_t(CLONE_NEWNS), scmp_datum_t(CLONE_NEWUTS), scmp_datum_t(CLONE_NEWIPC),
                         scmp_datum_t(CLONE_NEWUSER), scmp_datum_t(CLONE_NEWPID), scmp_datum_t(CLONE_NEWNET),
                         scmp_datum_t(CLONE_NEWCGROUP)}) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
    if (rc < 0) return fail("rule clone flags", rc);
  }
  // clone3 passes its flags in memory the filter cannot read: ENOSYS, glibc falls back to clone.
  rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc < 0 && rc != -EDOM) return fail("rule clone3", rc);

  // Export the BPF through a memfd and read it back.
  int fd = memfd_create("crucible-seccomp", MFD_CLOEXEC);
  if (fd < 0) return fail("memfd_create", -errno);
  rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) { ::close(fd); return fail("seccomp_export_bpf", rc); }
  off_t size = lseek(fd, 0, SEEK_END);
  auto* prog = new std::vector<sock_filter>(static_cast<size_t>(size) / sizeof(sock_filter));
  ssize_t n = pread(fd, prog->data(), prog->size() * sizeof(sock_filter), 0);
  ::close(fd);
  seccomp_release(ctx);
  if (n != static_cast<ssize_t>(prog->size() * sizeof(sock_filter)) || prog->empty()) {
    delete prog;
    *error = "reading the exported BPF failed";
    return nullptr;
  }
  return prog;
}

}  // namespace

const SeccompProgram& seccomp_program() {
  static SeccompProgram p;
  static std::once_flag once;
  std::call_once(once, [] { p.filter = build(&p.error); });
  return p;
}

const char* seccomp_summary() {
  return "ptrace, process_vm_*, mount/umount/pivot_root/chroot, unshare/setns, kexec, modules, bpf, "
         "perf_event_open, keyctl/add_key, io_uring, reboot, swapon/off, clock/time setting, "
         "userfaultfd, open_by_handle_at, syslog, iopl/ioperm, NUMA policy calls";
}

}  // namespace crucible::sandbox::detail
