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
// One cgroup (v2) or one cgroup per v1 hierarchy (memory, pids, cpuacct) for one run.
class RunCgroup {
 public:
  enum class Mode { none, v1, v2 };
  RunCgroup() = default;
  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;
  ~RunCgroup() { destroy(); }

  // Creates the cgroup(s) and writes the limits. On failure returns false with *why set and
  // leaves nothing behind; the caller falls back to rlimits.
  bool create(const Limits& limits, std::string* why);
  bool attach(pid_t pid, std::string* why);
  Mode mode() const { return mode_; }
  int64_t cpu_ns() const;        // -1 when unknown
  int64_t peak_bytes() const;    // -1 when unknown
  bool oom_killed() const;       // the memory controller killed or refused something
  void kill_all() const;         // v2 cgroup.kill where available (v1: no-op)
  void destroy();                // removes the directories (all tasks must be dead)

 private:
  Mode mode_ = Mode::none;
  std::vector<std::string> dirs_;   // created directories, removed in reverse order
  std::string mem_dir_, pids_dir_, cpu_dir_;
  int cpu_fd_ = -1;                 // cpuacct.usage (v1) or cpu.stat (v2), kept open for polling
};

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
