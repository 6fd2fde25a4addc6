// Subcommand registry for the `crucible` binary. Each harness/cli/<cmd>.cpp registers itself with
//   static crucible::cli::Register reg("grade", [](CLI::App& root, int& exit_code) { ... });
// The setup function adds its subcommand to `root`; its callback sets `exit_code`.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace crucible::cli {

using Setup = std::function<void(CLI::App& root, int& exit_code)>;

struct Command {
  std::string name;
  Setup setup;
};

std::vector<Command>& registry();

struct Register {
  Register(std::string name, Setup setup) { registry().push_back({std::move(name), std::move(setup)}); }
};

}  // namespace crucible::cli
