// Subcommand registry for the `crucible` binary. Each harness/cli/<cmd>.cpp registers itself with
//   static crucible::cli::Register reg("grade", [](CLI::App& root, int& exit_code) { ... });
// The setup function adds its subcommand to `root`; its callback sets `exit_code`.
#pragma once
#include <fstream>
#include <functional>
#include <iostream>
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

// The subcommand `name` of `parent`, created with `description` (and requiring a subcommand of its
// own) by whichever file asks first: lets `grade math` and `grade code` live in separate files.
inline CLI::App* subcommand_group(CLI::App& parent, const std::string& name, const std::string& description) {
  for (CLI::App* sub : parent.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == name) return sub;
  CLI::App* g = parent.add_subcommand(name, description);
  g->require_subcommand(1);
  return g;
}

// The "grade" group shared by the grader commands.
inline CLI::App* grade_group(CLI::App& root) {
  return subcommand_group(
      root, "grade", "Grade model outputs with Crucible's graders (the same code that scores evaluations).");
}

// The input stream of a command that reads `--input FILE` or standard input ("" or "-"): opens
// FILE into `file` and returns it, or nullptr when it cannot be opened; `name` names it in errors.
inline std::istream* open_input(const std::string& path, std::ifstream& file, std::string* name) {
  if (path.empty() || path == "-") {
    *name = "stdin";
    return &std::cin;
  }
  *name = path;
  file.open(path, std::ios::binary);
  return file ? &file : nullptr;
}

struct Register {
  Register(std::string name, Setup setup) { registry().push_back({std::move(name), std::move(setup)}); }
};

}  // namespace crucible::cli
