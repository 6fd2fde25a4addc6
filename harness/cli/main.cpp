// `crucible`: evaluate reasoning models on math and code benchmarks with trustworthy graders.
//
// Two binaries are built from these sources. `crucible` carries every command except those that
// run a model in-process; `crucible-torch` is the same CLI plus LibTorch (harness/cli/torch/:
// train, demo, `eval --backend local`). Loading LibTorch costs ~0.6 s per process, so `crucible`
// hands a command that needs it to the `crucible-torch` beside it (execv, same arguments).
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>

#include "harness/cli/commands.h"

namespace crucible::cli {
std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace crucible::cli

#ifndef CRUCIBLE_WITH_TORCH
namespace {

// Commands that live only in crucible-torch; listed here so `crucible --help` shows them.
const struct {
  const char* name;
  const char* description;
} kTorchCommands[] = {
    {"train", "Train a model with SFT or GRPO (LibTorch; runs crucible-torch)"},
    {"demo", "R1 in miniature: SFT then GRPO of a tiny model on a CPU, evaluated and reported"},
};

bool needs_torch(int argc, char** argv) {
  if (argc < 2) return false;
  for (const auto& c : kTorchCommands)
    if (std::strcmp(argv[1], c.name) == 0) return true;
  if (std::strcmp(argv[1], "eval") != 0) return false;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--backend=local") == 0) return true;
    if (std::strcmp(argv[i], "--backend") == 0 && i + 1 < argc && std::strcmp(argv[i + 1], "local") == 0)
      return true;
  }
  return false;
}

// Replaces this process with crucible-torch from the same directory; returns only on failure.
int exec_torch_binary(char** argv) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    std::cerr << "crucible: cannot locate this binary (/proc/self/exe) to find crucible-torch\n";
    return 1;
  }
  self[n] = '\0';
  std::string path(self);
  path = path.substr(0, path.rfind('/') + 1) + "crucible-torch";
  execv(path.c_str(), argv);
  std::cerr << "crucible: '" << argv[1] << "' needs LibTorch, but " << path << " could not be run ("
            << std::strerror(errno) << "); build it with the rest of Crucible (scripts/build.sh)\n";
  return 1;
}

}  // namespace
#endif

int main(int argc, char** argv) {
#ifndef CRUCIBLE_WITH_TORCH
  if (needs_torch(argc, argv)) return exec_torch_binary(argv);
#endif
  CLI::App app{
      "crucible: score models on AIME, MATH, IOI and CodeForces with sandboxed graders, and\n"
      "reuse the same graders as rewards for training. Run `crucible <command> --help` for details."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("crucible ") + CRUCIBLE_VERSION);
  int exit_code = 0;
  auto& reg = crucible::cli::registry();
  std::sort(reg.begin(), reg.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (auto& c : reg) c.setup(app, exit_code);
#ifndef CRUCIBLE_WITH_TORCH
  for (const auto& c : kTorchCommands) app.add_subcommand(c.name, c.description)->allow_extras();
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help / --version exit 0; every usage error exits 2 (bad input), as the commands do.
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
