// cgroup support for the sandbox: per-run cgroups for memory limit/peak, process count and CPU
// accounting. cgroup v1 (memory + pids + cpuacct hierarchies, as in hybrid/legacy hosts) and v2
// (unified) are supported; the layout is discovered once from /proc/self/mountinfo and
// /proc/self/cgroup. Per-run cgroups are created next to (v1: below) our own cgroup and removed
// after the run.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
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

int64_t read_int(const std::string& path) {
  std::string s = read_file(path);
  if (s.empty()) return -1;
  return std::strtoll(s.c_str(), nullptr, 10);
}

int64_t read_key(const std::string& path, const char* key) {
  std::istringstream in(read_file(path));
  std::string k;
  long long v;
  while (in >> k >> v) if (k == key) return v;
  return -1;
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

bool RunCgroup::create(const Limits& limits, std::string* why) {
  const Layout& L = layout();
  sweep_once(L);
  std::string name = unique_name();
  std::string mem = std::to_string(limits.memory_bytes);
  std::string pids = limits.processes > 0 ? std::to_string(limits.processes + 1) : "max";  // +1: box init
  int err = 0;
  auto fail = [&](const std::string& what) {
    *why = what + ": " + std::strerror(err);
    destroy();
    return false;
  };
  if (L.v1) {
    mode_ = Mode::v1;
    mem_dir_ = L.v1_memory + "/" + name;
    pids_dir_ = L.v1_pids + "/" + name;
    cpu_dir_ = L.v1_cpuacct + "/" + name;
    for (auto* d : {&mem_dir_, &pids_dir_, &cpu_dir_}) {
      bool seen = false;
      for (auto& x : dirs_) seen |= (x == *d);
      if (seen) continue;  // co-mounted hierarchies share a directory
      if (::mkdir(d->c_str(), 0755) != 0) { err = errno; return fail("mkdir " + *d); }
      dirs_.push_back(*d);
    }
    if (limits.memory_bytes > 0) {
      if (!write_file(mem_dir_ + "/memory.limit_in_bytes", mem, &err)) return fail("memory.limit_in_bytes");
      if (exists(mem_dir_ + "/memory.memsw.limit_in_bytes") &&
          !write_file(mem_dir_ + "/memory.memsw.limit_in_bytes", mem, &err))
        return fail("memory.memsw.limit_in_bytes");
    }
    if (!write_file(pids_dir_ + "/pids.max", pids, &err)) return fail("pids.max");
    cpu_fd_ = ::open((cpu_dir_ + "/cpuacct.usage").c_str(), O_RDONLY | O_CLOEXEC);
    if (cpu_fd_ < 0) { err = errno; return fail("cpuacct.usage"); }
    return true;
  }
  if (L.v2) {
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
    if (g_v2_parent.empty()) { *why = "cgroup v2 unusable: " + g_v2_error; return false; }
    mode_ = Mode::v2;
    mem_dir_ = pids_dir_ = cpu_dir_ = g_v2_parent + "/" + name;
    if (::mkdir(mem_dir_.c_str(), 0755) != 0) { err = errno; return fail("mkdir " + mem_dir_); }
    dirs_.push_back(mem_dir_);
    if (limits.memory_bytes > 0) {
      if (!write_file(mem_dir_ + "/memory.max", mem, &err)) return fail("memory.max");
      write_file(mem_dir_ + "/memory.swap.max", "0");
    }
    if (!write_file(mem_dir_ + "/pids.max", pids, &err)) return fail("pids.max");
    cpu_fd_ = ::open((mem_dir_ + "/cpu.stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (cpu_fd_ < 0) { err = errno; return fail("cpu.stat"); }
    return true;
  }
  *why = L.why;
  return false;
}

bool RunCgroup::attach(pid_t pid, std::string* why) {
  std::string p = std::to_string(pid);
  for (auto& d : dirs_) {
    int err = 0;
    if (!write_file(d + "/cgroup.procs", p, &err)) {
      *why = "attach to " + d + ": " + std::strerror(err);
      return false;
    }
  }
  return true;
}

int64_t RunCgroup::cpu_ns() const {
  if (cpu_fd_ < 0) return -1;
  char buf[1024];
  ssize_t n = ::pread(cpu_fd_, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  if (mode_ == Mode::v1) return std::strtoll(buf, nullptr, 10);
  const char* p = std::strstr(buf, "usage_usec ");
  if (!p) return -1;
  return std::strtoll(p + 11, nullptr, 10) * 1000;
}

int64_t RunCgroup::peak_bytes() const {
  if (mode_ == Mode::v1) return read_int(mem_dir_ + "/memory.max_usage_in_bytes");
  if (mode_ == Mode::v2) {
    int64_t v = read_int(mem_dir_ + "/memory.peak");
    return v >= 0 ? v : read_int(mem_dir_ + "/memory.current");
  }
  return -1;
}

bool RunCgroup::oom_killed() const {
  if (mode_ == Mode::v1) {
    int64_t k = read_key(mem_dir_ + "/memory.oom_control", "oom_kill");
    if (k > 0) return true;
    int64_t f = read_int(mem_dir_ + "/memory.failcnt");
    return k < 0 && f > 0;
  }
  if (mode_ == Mode::v2) {
    std::string ev = mem_dir_ + "/memory.events";
    return read_key(ev, "oom_kill") > 0 || read_key(ev, "oom") > 0;
  }
  return false;
}

void RunCgroup::kill_all() const {
  if (mode_ == Mode::v2) write_file(mem_dir_ + "/cgroup.kill", "1");
}

void RunCgroup::destroy() {
  if (cpu_fd_ >= 0) { ::close(cpu_fd_); cpu_fd_ = -1; }
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    // Tasks may take a moment to leave after the last process was reaped.
    for (int attempt = 0; attempt < 200; ++attempt) {
      if (::rmdir(it->c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) break;
      if (attempt == 100) kill_all();
      std::this_thread::sleep_for(std::chrono::microseconds(attempt < 20 ? 100 : 2000));
    }
  }
  dirs_.clear();
  mode_ = Mode::none;
}

}  // namespace crucible::sandbox::detail
