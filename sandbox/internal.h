// Internals of crucible_sandbox shared between its .cpp files (not part of the public API).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

struct sock_filter;

namespace crucible::sandbox::detail {

// ---- cgroups (cgroup.cpp) -------------------------------------------------------------------
// The per-run cgroup: one v2 cgroup, or one directory per v1 hierarchy (memory, pids, cpuacct).
// Directories are reused from a per-process pool (creating and removing cgroups costs more
// than the rest of a run's accounting): counters that cannot be reset are read as differences
// from the value left by the previous run, the peak is reset on release, and a cgroup that
// still holds memory charges after its run is removed instead of being reused.
struct CgroupSlot;
class RunCgroup {
 public:
  enum class Mode { none, v1, v2 };
  RunCgroup() = default;
  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;
  ~RunCgroup() { destroy(); }

  // Takes a cgroup from the pool (or creates one) and writes the limits. On failure returns
  // false with *why set and leaves nothing behind; the caller falls back to rlimits.
  bool create(const Limits& limits, std::string* why);
  // Open v1 "tasks" / v2 "cgroup.procs" files (O_WRONLY): the program joins by writing "0" to
  // each while it is still a single thread.
  const std::vector<int>& procs_fds() const;
  Mode mode() const { return mode_; }
  int64_t cpu_ns() const;        // CPU used since create(); -1 when unknown
  int64_t peak_bytes() const;    // peak memory since create(); -1 when unknown
  bool oom_killed() const;       // the memory controller killed something since create()
  void kill_all() const;         // v2 cgroup.kill where available (v1: no-op)
  void destroy();                // back to the pool, or removed (all tasks must be dead)
  // Hands the cgroup over to release_slot() later (e.g. on another thread); this object then
  // owns nothing.
  CgroupSlot* release_later();

 private:
  Mode mode_ = Mode::none;
  CgroupSlot* slot_ = nullptr;
};

// destroy() for a cgroup given up by release_later(); null is ignored.
void release_slot(CgroupSlot* slot);

// Which cgroup flavour this process can use (computed once): "v1", "v2" or "none: <why>".
std::string cgroup_support();

// ---- seccomp (seccomp.cpp) ------------------------------------------------------------------
// The BPF program of the box's filter, built once with libseccomp and exported; empty with
// *error set when libseccomp failed.
struct SeccompProgram {
  std::vector<sock_filter>* filter = nullptr;
  std::string error;
};
const SeccompProgram& seccomp_program();
// Human-readable list of what the filter refuses (for reasons and docs).
const char* seccomp_summary();

}  // namespace crucible::sandbox::detail
