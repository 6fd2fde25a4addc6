// bench_sandbox_run: set-up to tear-down time of one sandboxed run (Sandbox::run), for /bin/true
// and for a tiny C program compiled here with gcc; then what a memory bomb costs before its
// verdict (CPU time of touching the memory, in and out of the sandbox). Prints Markdown.
//   bench_sandbox_run [N=200]
#include <spawn.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "sandbox/sandbox.h"

extern char** environ;

using namespace crucible::sandbox;

using crucible::bench::ms_since;
using crucible::bench::cpu_ms_total;

namespace {

struct Stats {
  double median, p90, mean, min;
  double cpu;  // CPU ms per run: this process + the box processes (load-independent cost)
  int failures;
};

Stats measure(const Sandbox& sb, const RunSpec& spec, const Limits& lim, int n) {
  std::vector<double> ms;
  int failures = 0;
  for (int i = 0; i < 5; ++i) sb.run(spec, lim);  // warm-up (page cache, seccomp build, cgroup layout)
  double c0 = cpu_ms_total();
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    RunResult r = sb.run(spec, lim);
    auto t1 = std::chrono::steady_clock::now();
    if (!r.ok()) {
      if (failures++ == 0) std::fprintf(stderr, "run failed: %s\n", r.to_json().dump().c_str());
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  double cpu = (cpu_ms_total() - c0) / n;
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double v : ms) sum += v;
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 9 / 10)], sum / ms.size(), ms.front(), cpu, failures};
}

// The floor any sandbox pays on this machine right now: posix_spawn + wait of /bin/true.
Stats measure_spawn(int n) {
  std::vector<double> ms;
  char* av[] = {const_cast<char*>("/bin/true"), nullptr};
  double c0 = cpu_ms_total();
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    pid_t p;
    int st = 0;
    if (posix_spawn(&p, "/bin/true", nullptr, nullptr, av, environ) == 0) waitpid(p, &st, 0);
    ms.push_back(ms_since(t0));
  }
  double cpu = (cpu_ms_total() - c0) / n;
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double v : ms) sum += v;
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 9 / 10)], sum / ms.size(), ms.front(), cpu, 0};
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  if (n <= 0) n = 200;
  char tmpl[] = "/tmp/crucible_bench_sandbox_XXXXXX";
  if (!mkdtemp(tmpl)) { std::perror("mkdtemp"); return 1; }
  std::string dir = tmpl;
  ::chmod(dir.c_str(), 0755);
  std::ofstream(dir + "/tiny.c") << "#include <stdio.h>\nint main(void){int a,b;if(scanf(\"%d %d\",&a,&b)!=2)return 1;"
                                    "printf(\"%d\\n\",a+b);return 0;}\n";
  std::string cc = "gcc -O2 -o " + dir + "/tiny " + dir + "/tiny.c";
  bool have_tiny = std::system(cc.c_str()) == 0;
  // The memory bomb: touches argv[1] MiB (default 3 GiB, i.e. until killed) one page at a time.
  std::ofstream(dir + "/bomb.c") << "#include <stdlib.h>\nint main(int c,char**v){size_t n=(size_t)(c>1?atoi(v[1]):3072)<<20;"
                                    "char*p=malloc(n);if(!p)return 3;for(size_t i=0;i<n;i+=4096)p[i]=1;return p[n/2]==1?0:1;}\n";
  std::string cb = "gcc -O2 -o " + dir + "/bomb " + dir + "/bomb.c";
  bool have_bomb = std::system(cb.c_str()) == 0;

  Sandbox sb;
  Limits lim;
  lim.cpu_ms = 1000;
  lim.wall_ms = 5000;
  RunSpec t;
  t.argv = {"/bin/true"};
  RunSpec c;
  c.argv = {"/prog/tiny"};
  c.stdin_data = "2 3\n";
  c.binds.push_back({dir, "/prog", false});

  RunResult probe = sb.run(t, lim);
  Stats base = measure_spawn(n);
  Stats st = measure(sb, t, lim, n);
  Stats sc{};
  if (have_tiny) sc = measure(sb, c, lim, n);

  std::printf("### Sandbox run latency (set-up to tear-down, %d runs each, %u CPUs, accounting: %s)\n\n", n,
              std::thread::hardware_concurrency(), probe.accounting.c_str());
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("| program | median ms | p90 ms | mean ms | min ms | CPU ms/run | failures |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  std::printf("| baseline: posix_spawn /bin/true, no sandbox | %.2f | %.2f | %.2f | %.2f | %.2f | - |\n", base.median,
              base.p90, base.mean, base.min, base.cpu);
  std::printf("| /bin/true | %.2f | %.2f | %.2f | %.2f | %.2f | %d |\n", st.median, st.p90, st.mean, st.min, st.cpu,
              st.failures);
  if (have_tiny)
    std::printf("| tiny C (a+b, stdin/stdout) | %.2f | %.2f | %.2f | %.2f | %.2f | %d |\n", sc.median, sc.p90, sc.mean,
                sc.min, sc.cpu, sc.failures);
  else
    std::printf("| tiny C | (gcc unavailable) | | | | |\n");
  std::printf("\nLoad average during the run: %.2f. CPU ms/run = user+sys of this process (its background\n"
              "thread included) and the box processes (kernel work done in kworkers, e.g. network-namespace\n"
              "clean-up, is not included). Target: median <= 5 ms on an idle 2-core machine (isolate: ~17 ms).\n",
              load[0]);

  if (have_bomb) {
    // CPU until the verdict, with a CPU limit far away: the cost of reaching the memory limit.
    std::printf("\n### Memory bomb (touches 3 GiB one page at a time; CPU limit 10 s; median of 3)\n\n");
    std::printf("| memory limit | status | CPU ms to the verdict | peak MiB | CPU ms to touch as much outside the sandbox |\n");
    std::printf("|---:|---|---:|---:|---:|\n");
    for (int64_t mib : {64, 256}) {
      Limits bl;
      bl.cpu_ms = 10000;
      bl.wall_ms = 60000;
      bl.memory_bytes = mib << 20;
      RunSpec b;
      b.argv = {"/prog/bomb"};
      b.binds.push_back({dir, "/prog", false});
      std::vector<double> in, out;
      RunResult last;
      for (int i = 0; i < 3; ++i) {
        last = sb.run(b, bl);
        in.push_back(static_cast<double>(last.cpu_ms));
        // the same touching, unsandboxed: a child's CPU time
        std::string arg = std::to_string(mib);
        char* av[] = {const_cast<char*>("bomb"), arg.data(), nullptr};
        std::string path = dir + "/bomb";
        pid_t p;
        int st = 0;
        struct rusage ru {};
        if (posix_spawn(&p, path.c_str(), nullptr, nullptr, av, environ) == 0) wait4(p, &st, 0, &ru);
        out.push_back((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
      }
      std::sort(in.begin(), in.end());
      std::sort(out.begin(), out.end());
      std::printf("| %lld MiB | %s | %.0f | %.0f | %.0f |\n", static_cast<long long>(mib), to_string(last.status), in[1],
                  last.peak_rss_bytes / 1048576.0, out[1]);
    }
  }
  std::string rm = "rm -rf " + dir;
  return std::system(rm.c_str()) == 0 && st.failures == 0 ? 0 : 1;
}
