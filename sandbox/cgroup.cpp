// cgroup support for the sandbox: per-run cgroups for memory limit/peak, process count and CPU
// accounting. cgroup v1 (memory + pids + cpuacct hierarchies, as in hybrid/legacy hosts) and v2
// (unified) are supported; the layout is discovered once from /proc/self/mountinfo and
// /proc/self/cgroup. Per-run cgroups are created next to (v1: below) our own cgroup, kept in a
// per-process pool between runs and removed at exit.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "sandbox/internal.h"

namespace crucible::sandbox::detail {
namespace {

struct Layout {
  bool v1 = false, v2 = false;
  std::string v1_memory, v1_pids, v1_cpuacct;   // directories under which per-run cgroups go
  std::vector<std::string> v2_candidates;       // v2 parents to try, in order
  std::string why;                              // why neither is usable
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) { out.push_back(cur); cur.clear(); } else cur += c;
  }
  out.push_back(cur);
  return out;
}

bool write_file(const std::string& path, const std::string& value, int* err = nullptr) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) { if (err) *err = errno; return false; }
  ssize_t n = ::write(fd, value.data(), value.size());
  int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) { if (err) *err = e; return false; }
  return true;
}

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[4096];
  std::string out;
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
  ::close(fd);
  return out;
}

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

// Maps a cgroup path (from /proc/self/cgroup) to a directory, given the mount's root and point.
std::string join_mount(const std::string& mount_point, const std::string& mount_root,
                       const std::string& cg_path) {
  std::string rel = cg_path;
  if (mount_root != "/" && rel.compare(0, mount_root.size(), mount_root) == 0) rel = rel.substr(mount_root.size());
  if (rel == "/") rel.clear();
  return mount_point + rel;
}

Layout discover() {
  Layout L;
  // own cgroup paths: "hier:controllers:path"
  std::string self = read_file("/proc/self/cgroup");
  std::string v2_path;
  std::vector<std::pair<std::vector<std::string>, std::string>> v1_paths;
  for (auto& line : split(self, '\n')) {
    if (line.empty()) continue;
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && ctrls.empty()) v2_path = path;
    else v1_paths.push_back({split(ctrls, ','), path});
  }
  auto own_v1 = [&](const std::string& ctrl) -> std::string {
    for (auto& [cs, p] : v1_paths)
      for (auto& c : cs) if (c == ctrl) return p;
    return "/";
  };
  // mounts: "id parent maj:min root mountpoint opts ... - fstype source superopts"
  std::string mi = read_file("/proc/self/mountinfo");
  std::string v2_mp, v2_root;
  for (auto& line : split(mi, '\n')) {
    auto f = split(line, ' ');
    if (f.size() < 7) continue;
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); ++i) if (f[i] == "-") { dash = i; break; }
    if (!dash || dash + 3 > f.size() - 1 + 1) continue;
    if (dash + 1 >= f.size()) continue;
    const std::string& fstype = f[dash + 1];
    const std::string& root = f[3];
    const std::string& mp = f[4];
    if (fstype == "cgroup2") {
      if (v2_mp.empty() || mp == "/sys/fs/cgroup") { v2_mp = mp; v2_root = root; }
    } else if (fstype == "cgroup" && dash + 3 < f.size()) {
      for (auto& o : split(f[dash + 3], ',')) {
        if (o == "memory" && L.v1_memory.empty()) L.v1_memory = join_mount(mp, root, own_v1("memory"));
        if (o == "pids" && L.v1_pids.empty()) L.v1_pids = join_mount(mp, root, own_v1("pids"));
        if (o == "cpuacct" && L.v1_cpuacct.empty()) L.v1_cpuacct = join_mount(mp, root, own_v1("cpuacct"));
      }
    }
  }
  if (!L.v1_memory.empty() && !L.v1_pids.empty() && !L.v1_cpuacct.empty()) {
    L.v1 = true;
    return L;
  }
  if (!v2_mp.empty()) {
    std::string ctl = read_file(v2_mp + "/cgroup.controllers");
    if (ctl.find("memory") != std::string::npos && ctl.find("pids") != std::string::npos) {
      L.v2 = true;
      if (!v2_path.empty()) L.v2_candidates.push_back(join_mount(v2_mp, v2_root, v2_path));
      if (L.v2_candidates.empty() || L.v2_candidates[0] != v2_mp) L.v2_candidates.push_back(v2_mp);
      return L;
    }
    L.why = "cgroup v2 at " + v2_mp + " lacks the memory/pids controllers";
  } else {
    L.why = "no cgroup v1 memory+pids+cpuacct hierarchies and no cgroup v2 mount";
  }
  return L;
}

const Layout& layout() {
  static const Layout L = discover();
  return L;
}

std::atomic<uint64_t> g_seq{0};

std::string unique_name() {
  return "crucible-sb-" + std::to_string(::getpid()) + "-" + std::to_string(g_seq.fetch_add(1));
}

// v2: the parent under which per-run cgroups get memory+pids (decided on first use).
std::mutex g_v2_mu;
std::string g_v2_parent;
std::string g_v2_error;
bool g_v2_decided = false;

// Removes per-run cgroups left by crucible processes that died mid-run (name carries the pid).
void sweep_stale(const std::string& parent) {
  DIR* d = ::opendir(parent.c_str());
  if (!d) return;
  const std::string prefix = "crucible-sb-";
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    long pid = std::strtol(n.c_str() + prefix.size(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    ::rmdir((parent + "/" + n).c_str());  // fails harmlessly while tasks remain
  }
  ::closedir(d);
}

void sweep_once(const Layout& L) {
  static std::once_flag once;
  std::call_once(once, [&] {
    for (auto* p : {&L.v1_memory, &L.v1_pids, &L.v1_cpuacct}) if (!p->empty()) sweep_stale(*p);
    for (auto& p : L.v2_candidates) sweep_stale(p);
  });
}

}  // namespace

std::string cgroup_support() {
  const Layout& L = layout();
  if (L.v1) return "v1";
  if (L.v2) return "v2";
  return "none: " + L.why;
}


// ---- per-run cgroups, pooled ------------------------------------------------------------------

struct CgroupSlot {
  RunCgroup::Mode mode = RunCgroup::Mode::none;
  std::vector<std::string> dirs;        // distinct directories, in creation order
  std::string mem_dir, pids_dir;
  std::vector<int> procs_fds;           // v1 "tasks" / v2 "cgroup.procs" of each directory
  int cpu_fd = -1;                      // cpuacct.usage (v1) / cpu.stat (v2)
  int peak_fd = -1;                     // memory.max_usage_in_bytes (v1) / memory.peak (v2), O_RDWR
  int usage_fd = -1;                    // memory.usage_in_bytes (v1) / memory.current (v2)
  int events_fd = -1;                   // memory.oom_control (v1) / memory.events (v2)
  int failcnt_fd = -1;                  // memory.failcnt (v1)
  int kill_fd = -1;                     // cgroup.kill (v2, kernel >= 5.14)
  bool memsw = false;                   // v1 memory.memsw.limit_in_bytes exists
  int64_t mem_limit = -1;               // limits currently written (-1: none yet = unlimited)
  int64_t pids_limit = -2;
  // Values left by the previous runs: this run's figures are differences from them.
  int64_t cpu_base = 0, oom_base = 0, fail_base = 0;
};

namespace {

int64_t pread_int(int fd) {
  if (fd < 0) return -1;
  char buf[64];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  return std::strtoll(buf, nullptr, 10);
}

// "key value" lines of an open cgroup file (memory.events, memory.oom_control, cpu.stat).
int64_t pread_key(int fd, const char* key) {
  if (fd < 0) return -1;
  char buf[1024];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  size_t klen = std::strlen(key);
  for (const char* p = buf; *p;) {
    if (std::strncmp(p, key, klen) == 0 && p[klen] == ' ') return std::strtoll(p + klen + 1, nullptr, 10);
    const char* nl = std::strchr(p, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  return -1;
}

bool write_fd(int fd, const std::string& v) {
  return fd >= 0 && ::pwrite(fd, v.data(), v.size(), 0) == static_cast<ssize_t>(v.size());
}

int64_t slot_cpu_ns(const CgroupSlot& s) {
  if (s.mode == RunCgroup::Mode::v1) return pread_int(s.cpu_fd);
  int64_t us = pread_key(s.cpu_fd, "usage_usec");
  return us < 0 ? -1 : us * 1000;
}

int64_t slot_ooms(const CgroupSlot& s) {
  return pread_key(s.events_fd, "oom_kill");  // both memory.oom_control (v1) and memory.events (v2)
}

void close_slot_fds(CgroupSlot& s) {
  for (int fd : s.procs_fds) ::close(fd);
  s.procs_fds.clear();
  for (int* fd : {&s.cpu_fd, &s.peak_fd, &s.usage_fd, &s.events_fd, &s.failcnt_fd, &s.kill_fd})
    if (*fd >= 0) { ::close(*fd); *fd = -1; }
}

// Removes the directories (all tasks must be dead) and frees the slot.
void remove_slot(CgroupSlot* s) {
  close_slot_fds(*s);
  for (auto it = s->dirs.rbegin(); it != s->dirs.rend(); ++it) {
    // Tasks may take a moment to leave after the last process was reaped.
    for (int attempt = 0; attempt < 200; ++attempt) {
      if (::rmdir(it->c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) break;
      if (attempt == 100 && s->mode == RunCgroup::Mode::v2) write_file(*it + "/cgroup.kill", "1");
      std::this_thread::sleep_for(std::chrono::microseconds(attempt < 20 ? 100 : 2000));
    }
  }
  delete s;
}

// The pool of idle slots. Removed at exit; the ones of a process that died are swept by the next.
constexpr size_t kPoolMax = 8;
// A slot whose memory cgroup still holds more than this after its run (page cache first read by
// the box, kernel objects) is removed instead of reused, so that a run starts (almost) empty.
constexpr int64_t kReuseMaxBytes = 1 << 20;
std::mutex g_pool_mu;
std::vector<CgroupSlot*>* g_pool = nullptr;
pid_t g_pool_owner = 0;      // the process the pooled cgroups belong to (not a forked child)
bool g_pool_closed = false;  // at exit: slots released later are removed

void drain_pool_at_exit() {
  std::vector<CgroupSlot*> slots;
  {
    std::lock_guard<std::mutex> lk(g_pool_mu);
    g_pool_closed = true;
    if (!g_pool || g_pool_owner != ::getpid()) return;
    slots.swap(*g_pool);
  }
  for (auto* s : slots) remove_slot(s);
}

CgroupSlot* take_pooled(RunCgroup::Mode mode) {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (!g_pool) {
    g_pool = new std::vector<CgroupSlot*>();
    std::atexit(drain_pool_at_exit);
  }
  if (g_pool_owner != ::getpid()) {  // first use, or a forked child: the parent's stay the parent's
    g_pool->clear();
    g_pool_owner = ::getpid();
  }
  for (size_t i = g_pool->size(); i-- > 0;) {
    if ((*g_pool)[i]->mode != mode) continue;
    CgroupSlot* s = (*g_pool)[i];
    g_pool->erase(g_pool->begin() + static_cast<long>(i));
    return s;
  }
  return nullptr;
}

int open_ro(const std::string& p) { return ::open(p.c_str(), O_RDONLY | O_CLOEXEC); }

// A new slot: directories created, files opened, one-time settings written.
CgroupSlot* make_slot(const Layout& L, std::string* why) {
  auto* s = new CgroupSlot();
  std::string name = unique_name();
  int err = 0;
  auto fail = [&](const std::string& what) -> CgroupSlot* {
    *why = what + ": " + std::strerror(err);
    remove_slot(s);
    return nullptr;
  };
  auto open_w = [&](const std::string& p, int flags) {
    int fd = ::open(p.c_str(), flags | O_CLOEXEC);
    if (fd < 0) err = errno;
    return fd;
  };
  if (L.v1) {
    s->mode = RunCgroup::Mode::v1;
    s->mem_dir = L.v1_memory + "/" + name;
    s->pids_dir = L.v1_pids + "/" + name;
    std::string cpu_dir = L.v1_cpuacct + "/" + name;
    for (const std::string* d : {&s->mem_dir, &s->pids_dir, &cpu_dir}) {
      if (std::find(s->dirs.begin(), s->dirs.end(), *d) != s->dirs.end()) continue;  // co-mounted
      if (::mkdir(d->c_str(), 0755) != 0) { err = errno; return fail("mkdir " + *d); }
      s->dirs.push_back(*d);
    }
    // v1 "tasks": the program joins while it is a single thread, and moving one thread skips the
    // global thread-group lock that a cgroup.procs write takes (an RCU grace period each time).
    for (auto& d : s->dirs) {
      int fd = open_w(d + "/tasks", O_WRONLY);
      if (fd < 0) return fail("open " + d + "/tasks");
      s->procs_fds.push_back(fd);
    }
    if ((s->cpu_fd = open_ro(cpu_dir + "/cpuacct.usage")) < 0) { err = errno; return fail("cpuacct.usage"); }
    if ((s->peak_fd = open_w(s->mem_dir + "/memory.max_usage_in_bytes", O_RDWR)) < 0)
      return fail("memory.max_usage_in_bytes");
    s->usage_fd = open_ro(s->mem_dir + "/memory.usage_in_bytes");
    s->events_fd = open_ro(s->mem_dir + "/memory.oom_control");
    s->failcnt_fd = open_ro(s->mem_dir + "/memory.failcnt");
    s->memsw = exists(s->mem_dir + "/memory.memsw.limit_in_bytes");
    // v1 copies these from the parent cgroup: the box gets the OOM killer (not a frozen task
    // waiting for memory) and never trades its anonymous memory for swap.
    write_file(s->mem_dir + "/memory.oom_control", "0");
    write_file(s->mem_dir + "/memory.swappiness", "0");
    return s;
  }
  s->mode = RunCgroup::Mode::v2;
  {
    std::lock_guard<std::mutex> lk(g_v2_mu);
    if (!g_v2_decided) {
      g_v2_decided = true;
      for (auto& parent : L.v2_candidates) {
        std::string sc = read_file(parent + "/cgroup.subtree_control");
        if (sc.find("memory") == std::string::npos || sc.find("pids") == std::string::npos)
          write_file(parent + "/cgroup.subtree_control", "+memory +pids");
        write_file(parent + "/cgroup.subtree_control", "+cpu");  // optional
        std::string probe = parent + "/" + unique_name();
        if (::mkdir(probe.c_str(), 0755) != 0) {
          g_v2_error += "mkdir under " + parent + ": " + std::strerror(errno) + "; ";
          continue;
        }
        bool good = exists(probe + "/memory.max") && exists(probe + "/pids.max");
        ::rmdir(probe.c_str());
        if (good) { g_v2_parent = parent; break; }
        g_v2_error += parent + ": memory/pids controllers not delegated; ";
      }
    }
    if (g_v2_parent.empty()) {
      *why = "cgroup v2 unusable: " + g_v2_error;
      delete s;
      return nullptr;
    }
  }
  s->mem_dir = s->pids_dir = g_v2_parent + "/" + name;
  if (::mkdir(s->mem_dir.c_str(), 0755) != 0) { err = errno; return fail("mkdir " + s->mem_dir); }
  s->dirs.push_back(s->mem_dir);
  int fd = open_w(s->mem_dir + "/cgroup.procs", O_WRONLY);
  if (fd < 0) return fail("open cgroup.procs");
  s->procs_fds.push_back(fd);
  if ((s->cpu_fd = open_ro(s->mem_dir + "/cpu.stat")) < 0) { err = errno; return fail("cpu.stat"); }
  s->peak_fd = ::open((s->mem_dir + "/memory.peak").c_str(), O_RDWR | O_CLOEXEC);
  if (s->peak_fd < 0) s->peak_fd = open_ro(s->mem_dir + "/memory.peak");
  s->usage_fd = open_ro(s->mem_dir + "/memory.current");
  s->events_fd = open_ro(s->mem_dir + "/memory.events");
  s->kill_fd = ::open((s->mem_dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  write_file(s->mem_dir + "/memory.swap.max", "0");
  write_file(s->mem_dir + "/memory.oom.group", "1");  // an OOM kill takes the whole box
  return s;
}

// Writes the memory and process limits of this run where they differ from the slot's.
bool apply_limits(CgroupSlot& s, const Limits& limits, std::string* why) {
  int err = 0;
  auto put = [&](const std::string& file, const std::string& v) {
    if (write_file(s.mem_dir + "/" + file, v, &err)) return true;
    *why = file + ": " + std::strerror(err);
    return false;
  };
  const int64_t mem = limits.memory_bytes;
  if (mem != s.mem_limit) {
    std::string v = std::to_string(mem);
    if (s.mode == RunCgroup::Mode::v1) {
      // memsw >= limit at every step: raise memsw first, lower the limit first.
      bool raise = s.mem_limit >= 0 && mem > s.mem_limit;
      if (raise && s.memsw && !put("memory.memsw.limit_in_bytes", v)) return false;
      if (!put("memory.limit_in_bytes", v)) return false;
      if (!raise && s.memsw && !put("memory.memsw.limit_in_bytes", v)) return false;
    } else if (!put("memory.max", v)) {
      return false;
    }
    s.mem_limit = mem;
  }
  const int64_t pids = limits.processes > 0 ? limits.processes : -1;
  if (pids != s.pids_limit) {
    if (!write_file(s.pids_dir + "/pids.max", pids > 0 ? std::to_string(pids) : "max", &err)) {
      *why = std::string("pids.max: ") + std::strerror(err);
      return false;
    }
    s.pids_limit = pids;
  }
  return true;
}

}  // namespace

bool RunCgroup::create(const Limits& limits, std::string* why) {
  destroy();
  const Layout& L = layout();
  if (!L.v1 && !L.v2) { *why = L.why; return false; }
  sweep_once(L);
  const Mode want = L.v1 ? Mode::v1 : Mode::v2;
  CgroupSlot* s = take_pooled(want);
  if (!s && !(s = make_slot(L, why))) return false;
  if (!apply_limits(*s, limits, why)) {
    remove_slot(s);
    return false;
  }
  slot_ = s;
  mode_ = s->mode;
  return true;
}

const std::vector<int>& RunCgroup::procs_fds() const {
  static const std::vector<int> none;
  return slot_ ? slot_->procs_fds : none;
}

int64_t RunCgroup::cpu_ns() const {
  if (!slot_) return -1;
  int64_t v = slot_cpu_ns(*slot_);
  return v < 0 ? -1 : std::max<int64_t>(v - slot_->cpu_base, 0);
}

int64_t RunCgroup::peak_bytes() const {
  if (!slot_) return -1;
  int64_t v = pread_int(slot_->peak_fd);
  return v >= 0 ? v : pread_int(slot_->usage_fd);
}

bool RunCgroup::oom_killed() const {
  if (!slot_) return false;
  int64_t k = slot_ooms(*slot_);
  if (k >= 0) return k > slot_->oom_base;
  // Kernels without the oom_kill counter: the limit was hit at all.
  return pread_int(slot_->failcnt_fd) > slot_->fail_base;
}

void RunCgroup::kill_all() const {
  if (slot_ && slot_->kill_fd >= 0) write_fd(slot_->kill_fd, "1");
}

void RunCgroup::destroy() { release_slot(release_later()); }

CgroupSlot* RunCgroup::release_later() {
  CgroupSlot* s = slot_;
  slot_ = nullptr;
  mode_ = Mode::none;
  return s;
}

void release_slot(CgroupSlot* s) {
  if (!s) return;
  using Mode = RunCgroup::Mode;
  // Reusable only when (almost) nothing is still charged to it and its peak can be reset.
  int64_t usage = pread_int(s->usage_fd);
  bool reuse = usage >= 0 && usage <= kReuseMaxBytes;
  if (reuse) {
    s->cpu_base = slot_cpu_ns(*s);
    s->oom_base = std::max<int64_t>(slot_ooms(*s), 0);
    s->fail_base = std::max<int64_t>(pread_int(s->failcnt_fd), 0);
    // v1: max_usage_in_bytes := current usage; v2 (>= 6.12): the peak seen through this fd.
    reuse = s->cpu_base >= 0 && write_fd(s->peak_fd, s->mode == Mode::v1 ? "0" : "reset");
  }
  if (reuse) {
    std::lock_guard<std::mutex> lk(g_pool_mu);
    if (g_pool && !g_pool_closed && g_pool_owner == ::getpid() && g_pool->size() < kPoolMax) {
      g_pool->push_back(s);
      return;
    }
  }
  remove_slot(s);
}

}  // namespace crucible::sandbox::detail
