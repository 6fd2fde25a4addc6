// `crucible`: evaluate reasoning models on math and code benchmarks with trustworthy graders.
#include <algorithm>
#include <iostream>

#include "harness/cli/commands.h"

namespace crucible::cli {
std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace crucible::cli

int main(int argc, char** argv) {
  CLI::App app{
      "crucible: score models on AIME, MATH, IOI and CodeForces with sandboxed graders, and\n"
      "reuse the same graders as rewards for training. Run `crucible <command> --help` for details."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("crucible ") + CRUCIBLE_VERSION);
  int exit_code = 0;
  auto& reg = crucible::cli::registry();
  std::sort(reg.begin(), reg.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (auto& c : reg) c.setup(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help / --version exit 0; every usage error exits 2 (bad input), as the commands do.
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
