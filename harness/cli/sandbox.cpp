// `crucible sandbox run`: run one command in Crucible's sandbox (the one that judges code) and
// print the RunResult as JSON. `crucible sandbox probe`: report what this machine supports.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "harness/cli/commands.h"
#include "sandbox/sandbox.h"

namespace crucible::cli {
namespace {

constexpr int kExitUsage = 2;

struct SandboxArgs {
  std::string time = "1s", wall, memory = "256M", output = "64M", file = "64M", stack;
  int64_t processes = 1;
  int64_t open_files = 64;
  std::vector<std::string> dirs, env, cmd;
  std::string stdin_file;
  bool no_stdin = false;
  bool pretty = false;
};

int run_sandbox(const SandboxArgs& a) {
  using namespace crucible::sandbox;
  auto bad = [](const std::string& what) {
    std::cerr << "crucible sandbox run: " << what << " (see --help)\n";
    return kExitUsage;
  };
  if (a.cmd.empty()) return bad("no command given after --");
  Limits lim;
  if ((lim.cpu_ms = parse_duration_ms(a.time)) <= 0) return bad("bad --time-limit '" + a.time + "'");
  if (a.wall.empty()) lim.wall_ms = lim.cpu_ms * 3 + 1000;
  else if ((lim.wall_ms = parse_duration_ms(a.wall)) <= 0) return bad("bad --wall-limit '" + a.wall + "'");
  if ((lim.memory_bytes = parse_size_bytes(a.memory)) <= 0) return bad("bad --memory-limit '" + a.memory + "'");
  if ((lim.output_bytes = parse_size_bytes(a.output)) < 0) return bad("bad --output-limit '" + a.output + "'");
  if ((lim.file_bytes = parse_size_bytes(a.file)) < 0) return bad("bad --file-limit '" + a.file + "'");
  if (!a.stack.empty() && (lim.stack_bytes = parse_size_bytes(a.stack)) <= 0) return bad("bad --stack-limit '" + a.stack + "'");
  if (a.processes < 1) return bad("--processes must be >= 1");
  lim.processes = a.processes;
  lim.open_files = a.open_files;

  RunSpec spec;
  spec.argv = a.cmd;
  spec.env = a.env;
  for (const auto& d : a.dirs) {
    // host:box[:rw|:ro]
    Bind b;
    std::string s = d;
    if (s.size() > 3 && (s.compare(s.size() - 3, 3, ":rw") == 0 || s.compare(s.size() - 3, 3, ":ro") == 0)) {
      b.writable = s.compare(s.size() - 3, 3, ":rw") == 0;
      s.resize(s.size() - 3);
    }
    auto colon = s.find(':');
    b.host = s.substr(0, colon);
    b.box = colon == std::string::npos ? b.host : s.substr(colon + 1);
    if (b.host.empty() || b.host[0] != '/' || b.box.empty() || b.box[0] != '/')
      return bad("bad --dir '" + d + "' (want /host/path[:/box/path][:rw])");
    spec.binds.push_back(b);
  }
  if (!a.stdin_file.empty()) spec.stdin_file = a.stdin_file;
  else if (!a.no_stdin) spec.stdin_fd = STDIN_FILENO;  // the program reads our stdin directly

  Sandbox sb;
  RunResult r = sb.run(spec, lim);
  std::cout << r.to_json().dump(a.pretty ? 2 : -1) << "\n";
  return r.ok() ? 0 : 1;
}

void setup(CLI::App& root, int& exit_code) {
  CLI::App* sb = root.add_subcommand(
      "sandbox", "Run programs in Crucible's sandbox (namespaces + cgroups + seccomp), as the code graders do.");
  sb->require_subcommand(1);

  auto args = std::make_shared<SandboxArgs>();
  CLI::App* run = sb->add_subcommand(
      "run",
      "Run CMD in a fresh sandbox and print the result as JSON: status (ok, time_limit, wall_limit,\n"
      "memory_limit, output_limit, runtime_error, signaled, security, internal), exit_code, signal,\n"
      "cpu_ms, wall_ms, peak_rss_bytes, stdout, stderr (captured up to --output-limit; *_truncated\n"
      "flags), reason, accounting. The program sees a read-only /usr, /bin, /lib*, an empty writable\n"
      "/box (its cwd) and /tmp, no network, uid 1000. Our stdin is passed through to it.\n"
      "Exit status: 0 when the status is ok, 1 for any other status, 2 for bad usage.\n"
      "Units: durations 500ms, 1s, 1.5s, 2m (bare number = seconds); sizes 512K, 256M, 1G (binary\n"
      "multiples; bare number = bytes).\n"
      "Example: crucible sandbox run --time-limit 1s --memory-limit 256M --dir /tmp/sol:/sol -- /sol/a.out");
  run->add_option("-t,--time-limit", args->time, "CPU time limit, all threads and processes summed")->capture_default_str();
  run->add_option("-w,--wall-limit", args->wall, "wall-clock limit (default: 3 x time limit + 1s)");
  run->add_option("-m,--memory-limit", args->memory, "memory limit of the whole process tree")->capture_default_str();
  run->add_option("--output-limit", args->output, "cap on captured stdout and on stderr, each")->capture_default_str();
  run->add_option("-p,--processes", args->processes, "processes + threads allowed at once")->capture_default_str();
  run->add_option("--file-limit", args->file, "largest file the program may write; also the size of /box and /tmp")->capture_default_str();
  run->add_option("--stack-limit", args->stack, "stack size limit (default: the memory limit)");
  run->add_option("--open-files", args->open_files, "RLIMIT_NOFILE")->capture_default_str();
  run->add_option("-d,--dir", args->dirs,
                  "bind a host path into the box: /host[:/box][:rw] (read-only unless :rw; a writable dir "
                  "must be writable by host uid 60000)")
      ->allow_extra_args(false);
  run->add_option("-e,--env", args->env, "environment variable K=V (added to PATH, HOME=/box, TMPDIR=/tmp)")
      ->allow_extra_args(false);
  run->add_option("-i,--stdin", args->stdin_file, "file to use as the program's stdin instead of ours");
  run->add_flag("--no-stdin", args->no_stdin, "give the program an empty stdin");
  run->add_flag("--pretty", args->pretty, "indent the JSON");
  run->add_option("cmd", args->cmd, "the command and its arguments (after --)")->required();
  run->callback([args, &exit_code] { exit_code = run_sandbox(*args); });

  CLI::App* probe = sb->add_subcommand("probe", "Check namespaces, cgroups and seccomp on this machine; print JSON.");
  probe->callback([&exit_code] {
    auto j = crucible::sandbox::Sandbox::probe();
    std::cout << j.dump(2) << "\n";
    exit_code = j.value("namespaces", false) ? 0 : 1;
  });
}

Register reg("sandbox", setup);

}  // namespace
}  // namespace crucible::cli
