// `crucible report`: leaderboard (md, html, json, junit) from run directories, optional baseline
// gate; `crucible report diff RUN_A RUN_B`: per-problem changes between two runs.
#include <iostream>
#include <memory>

#include "harness/cli/commands.h"
#include "reports/report_runner.h"

namespace {

void setup_report(CLI::App& root, int& exit_code) {
  auto opt = std::make_shared<crucible::reports::ReportOptions>();
  auto max_drop = std::make_shared<double>(0);
  CLI::App* cmd = root.add_subcommand(
      "report",
      "Leaderboard from run directories: OUT/leaderboard.md (also appended to $GITHUB_STEP_SUMMARY), "
      "leaderboard.html (self-contained), leaderboard.json, junit.xml. Exit 1 when --baseline/--max-drop "
      "finds a regression, 2 on error.");
  cmd->add_option("--runs", opt->runs, "run directories, or parents of run directories")
      ->expected(1, -1)
      ->type_name("DIR");
  cmd->add_option("--out", opt->out, "output directory")->type_name("DIR");
  cmd->add_option("--reference", opt->reference, "JSON file of published reference numbers")->type_name("FILE");
  cmd->add_option("--baseline", opt->baseline, "previous leaderboard.json or {\"model/benchmark\": points} map")
      ->type_name("FILE");
  auto* drop = cmd->add_option("--max-drop", *max_drop,
                               "with --baseline: fail (exit 1) when avg@n drops by more than POINTS")
      ->type_name("POINTS");
  cmd->add_option("--title", opt->title, "report title");
  cmd->add_option("--samples-per-problem", opt->samples_per_problem,
                  "HTML drill-down: samples shown per problem (0 = all)")
      ->capture_default_str();
  cmd->add_option("--max-completion-chars", opt->max_completion_chars,
                  "HTML drill-down: bytes of each completion kept (0 = all)")
      ->capture_default_str();
  cmd->add_flag("!--no-step-summary", opt->step_summary, "do not append to $GITHUB_STEP_SUMMARY");

  auto diff_a = std::make_shared<std::string>();
  auto diff_b = std::make_shared<std::string>();
  CLI::App* diff = cmd->add_subcommand("diff", "per-problem changes between two runs (or parents of runs)");
  diff->add_option("RUN_A", *diff_a, "run directory A")->required();
  diff->add_option("RUN_B", *diff_b, "run directory B")->required();
  diff->callback([diff_a, diff_b, &exit_code] {
    exit_code = crucible::reports::run_diff(*diff_a, *diff_b, std::cout, std::cerr);
  });

  cmd->callback([cmd, diff, opt, max_drop, drop, &exit_code] {
    if (diff->parsed()) return;
    if (drop->count() > 0) opt->max_drop = *max_drop;
    exit_code = crucible::reports::run_report(*opt, std::cout, std::cerr);
  });
}

crucible::cli::Register reg("report", setup_report);

}  // namespace
