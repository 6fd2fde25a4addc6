// bench_judge_overhead: what judging costs on top of the solution's own work. A project-generated
// batch problem with 100 tests whose C++ solution burns a fixed amount of CPU per test (~WORK_MS);
// the same binary is run natively (posix_spawn, stdin from the test file, CPU from wait4) and
// judged with judge_submission (one worker: tests one after another, compile cached, built-in
// token checker). Overhead = (judge wall - native CPU) / native CPU; median over REPS.
//   bench_judge_overhead [REPS=5] [WORK_MS=30]
// Prints a Markdown block for docs/PERFORMANCE.md.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "sandbox/sandbox.h"
#include "tasks/code/compiler.h"
#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"

extern char** environ;

using namespace crucible;
using namespace crucible::code;
namespace fs = std::filesystem;

using crucible::bench::median;
using crucible::bench::ms_since;
using crucible::bench::cpu_ms_total;

namespace {

constexpr int kTests = 100;

// The solution's work, mirrored here to write the answers: xorshift64 `iters` times from `seed`.
const char* kSolution = R"(#include <cstdio>
#include <cstdint>
int main() {
  unsigned long long seed, iters;
  if (scanf("%llu %llu", &seed, &iters) != 2) return 1;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1, acc = 0;
  for (unsigned long long i = 0; i < iters; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    acc += x >> 61;
  }
  printf("%llu %llu\n", (unsigned long long)x, (unsigned long long)acc);
}
)";

std::string expected(uint64_t seed, uint64_t iters) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1, acc = 0;
  for (uint64_t i = 0; i < iters; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    acc += x >> 61;
  }
  return std::to_string(x) + " " + std::to_string(acc) + "\n";
}

void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

struct Native {
  double cpu_ms = 0, wall_ms = 0;
};

// Runs `bin` natively with stdin from `input`, stdout/stderr to /dev/null.
Native run_native(const std::string& bin, const std::string& input) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, input.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  char* av[] = {const_cast<char*>(bin.c_str()), nullptr};
  Native n;
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid;
  if (posix_spawn(&pid, bin.c_str(), &fa, nullptr, av, environ) == 0) {
    int st = 0;
    struct rusage ru {};
    wait4(pid, &st, 0, &ru);
    n.cpu_ms = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
  }
  n.wall_ms = ms_since(t0);
  posix_spawn_file_actions_destroy(&fa);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  double work_ms = argc > 2 ? std::max(1.0, std::atof(argv[2])) : 30.0;
  auto probe = sandbox::Sandbox::probe();
  if (!probe.value("namespaces", false)) {
    std::fprintf(stderr, "sandbox unavailable: %s\n", probe.dump().c_str());
    return 1;
  }
  fs::path dir = fs::temp_directory_path() / ("crucible-bench-judge-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  sandbox::Sandbox sb;
  CompileOptions co;
  co.cache_dir = (dir / "cache").string();
  Compiler compiler(sb, co);
  CompileResult bin = compiler.compile(Language::kCpp, {{"main.cpp", kSolution, true}});
  if (!bin.ok) {
    std::fprintf(stderr, "compile failed: %s\n", bin.error.c_str());
    return 1;
  }
  std::string native_bin = (dir / "prog").string();
  write(native_bin, bin.binary);
  ::chmod(native_bin.c_str(), 0755);

  // Calibrate iterations to ~work_ms of CPU natively (median of 5 runs, twice).
  uint64_t iters = 20'000'000;
  for (int round = 0; round < 2; ++round) {
    write(dir / "calib.in", "1 " + std::to_string(iters) + "\n");
    std::vector<double> c;
    for (int i = 0; i < 5; ++i) c.push_back(run_native(native_bin, (dir / "calib.in").string()).cpu_ms);
    double m = std::max(0.5, median(c));
    iters = static_cast<uint64_t>(iters * work_ms / m);
  }

  // The package: 100 tests, each ~work_ms.
  fs::path pkg = dir / "pkg";
  write(pkg / "problem.yaml", "name: judge overhead bench\n");
  for (int t = 0; t < kTests; ++t) {
    char name[16];
    std::snprintf(name, sizeof name, "%03d", t);
    write(pkg / "data" / "secret" / (std::string(name) + ".in"), std::to_string(t + 1) + " " + std::to_string(iters) + "\n");
    write(pkg / "data" / "secret" / (std::string(name) + ".ans"), expected(t + 1, iters));
  }
  LoadOptions lo;
  lo.time_limit_override_ms = 2000;
  auto prob = load_problem_dir(pkg.string(), lo);
  if (!prob.is_ok()) {
    std::fprintf(stderr, "%s\n", prob.status().message().c_str());
    return 1;
  }
  JudgeOptions jo;
  jo.workers = 1;
  jo.compile = co;
  JudgeResult warm = judge_submission(sb, *prob, kSolution, Language::kCpp, jo);  // warm-up
  if (warm.verdict != Verdict::kCorrect) {
    std::fprintf(stderr, "warm-up judged %s: %s\n", verdict_name(warm.verdict), warm.to_json().dump().substr(0, 600).c_str());
    return 1;
  }

  std::vector<double> overhead, overhead_cpu, judge_wall, judge_cpu, native_cpu, native_wall, box_cpu, judge2_wall,
      sandbox_wall;
  // The same 100 runs straight through Sandbox::run (no judge): what the sandbox alone costs.
  std::vector<std::string> inputs;
  for (auto& t : prob->tests) inputs.push_back(*test_input(t));
  sandbox::Limits lim;
  lim.cpu_ms = 2000;
  lim.wall_ms = 7000;
  lim.memory_bytes = prob->memory_bytes;
  for (int r = 0; r < reps; ++r) {
    Native sum;
    for (auto& t : prob->tests) {
      Native n = run_native(native_bin, t.input_path);
      sum.cpu_ms += n.cpu_ms;
      sum.wall_ms += n.wall_ms;
    }
    double c0 = cpu_ms_total();
    auto t0 = std::chrono::steady_clock::now();
    JudgeResult jr = judge_submission(sb, *prob, kSolution, Language::kCpp, jo);
    double jw = ms_since(t0);
    double jc = cpu_ms_total() - c0;
    if (jr.verdict != Verdict::kCorrect) {
      std::fprintf(stderr, "rep %d judged %s\n", r, verdict_name(jr.verdict));
      return 1;
    }
    auto t2 = std::chrono::steady_clock::now();
    for (auto& in : inputs) {
      sandbox::RunSpec spec;
      program_spec(bin, &spec);
      spec.stdin_data = in;
      sb.run(spec, lim);
    }
    sandbox_wall.push_back(ms_since(t2));
    double bc = 0;
    for (auto& t : jr.tests) bc += t.time_ms;
    JudgeOptions j2 = jo;
    j2.workers = 2;
    auto t1 = std::chrono::steady_clock::now();
    judge_submission(sb, *prob, kSolution, Language::kCpp, j2);
    judge2_wall.push_back(ms_since(t1));
    judge_wall.push_back(jw);
    judge_cpu.push_back(jc);
    overhead_cpu.push_back(100.0 * (jc - sum.cpu_ms) / sum.cpu_ms);
    native_cpu.push_back(sum.cpu_ms);
    native_wall.push_back(sum.wall_ms);
    box_cpu.push_back(bc);
    overhead.push_back(100.0 * (jw - sum.cpu_ms) / sum.cpu_ms);
    std::fprintf(stderr, "rep %d: judge %.0f ms (CPU %.0f), native CPU %.0f ms (wall %.0f), box CPU %.0f ms -> %+.1f%% wall, %+.1f%% CPU\n",
                 r, jw, jc, sum.cpu_ms, sum.wall_ms, bc, overhead.back(), overhead_cpu.back());
  }
  double oh = median(overhead), jw = median(judge_wall), nc = median(native_cpu);
  std::printf("| metric (100 tests, 1 worker, median of %d) | value |\n|---|---:|\n", reps);
  std::printf("| solution CPU per test, native | %.1f ms |\n", nc / kTests);
  std::printf("| native run wall, 100 tests (spawn + wait) | %.0f ms |\n", median(native_wall));
  std::printf("| judge wall, 100 tests | %.0f ms |\n", jw);
  std::printf("| solution CPU as the sandbox reports it, 100 tests | %.0f ms |\n", median(box_cpu));
  std::printf("| judge wall per test beyond the solution's CPU | %.2f ms |\n", (jw - nc) / kTests);
  std::printf("| **overhead = (judge wall - native CPU) / native CPU** | **%+.1f%%** (best rep %+.1f%%) |\n", oh,
              *std::min_element(overhead.begin(), overhead.end()));
  std::printf("| judge CPU (judge process + boxes), 100 tests | %.0f ms |\n", median(judge_cpu));
  std::printf("| overhead in CPU = (judge CPU - native CPU) / native CPU | %+.1f%% |\n", median(overhead_cpu));
  std::printf("| load inflation of the native runs (native wall / native CPU - 1) | %+.1f%% |\n",
              100.0 * (median(native_wall) / nc - 1));
  std::printf("| the same 100 runs through Sandbox::run alone, wall | %.0f ms |\n", median(sandbox_wall));
  std::printf("| judge wall beyond the bare sandbox runs, per test | %.2f ms |\n", (jw - median(sandbox_wall)) / kTests);
  std::printf("| judge wall with 2 workers | %.0f ms |\n", median(judge2_wall));
  double la[3] = {0, 0, 0};
  if (getloadavg(la, 3) > 0) std::printf("\nLoad average at the end: %.2f\n", la[0]);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
