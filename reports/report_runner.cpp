#include "reports/report_runner.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/jsonl.h"
#include "reports/diff.h"
#include "reports/gate.h"
#include "reports/html_report.h"
#include "reports/json_report.h"
#include "reports/junit_report.h"
#include "reports/markdown_report.h"
#include "reports/reference.h"

namespace fs = std::filesystem;

namespace crucible::reports {
namespace {

constexpr int kExitRegression = 1;
constexpr int kExitError = 2;

Status write_outputs(const ReportOptions& opt, const Leaderboard& lb, const GateReport* gate,
                     const std::string& markdown) {
  std::error_code ec;
  fs::create_directories(opt.out, ec);
  if (ec) return Status::io(opt.out + ": cannot create: " + ec.message());
  HtmlOptions html;
  html.samples_per_problem = opt.samples_per_problem;
  html.max_completion_chars = opt.max_completion_chars;
  const std::pair<const char*, std::string> files[] = {
      {"leaderboard.md", markdown},
      {"leaderboard.json", leaderboard_to_json(lb, gate).dump(2) + "\n"},
      {"junit.xml", render_junit(lb, gate)},
      {"leaderboard.html", render_html(lb, gate, html)},
  };
  for (const auto& [name, text] : files) {
    Status st = write_file_atomic((fs::path(opt.out) / name).string(), text);
    if (!st) return st;
  }
  return Status::ok();
}

void append_step_summary(const std::string& markdown, std::ostream& err) {
  const char* path = std::getenv("GITHUB_STEP_SUMMARY");
  if (!path || !*path) return;
  std::ofstream f(path, std::ios::app | std::ios::binary);
  if (!f || !(f << markdown << "\n")) err << "warning: cannot append to GITHUB_STEP_SUMMARY (" << path << ")\n";
}

void print_problems(const Leaderboard& lb, std::ostream& err) {
  for (const auto& s : lb.skipped) err << "warning: skipped " << s.dir << ": " << s.reason << "\n";
  for (const auto& w : lb.warnings) err << "warning: " << w << "\n";
}

}  // namespace

int run_report(const ReportOptions& opt, std::ostream& out, std::ostream& err) {
  if (opt.runs.empty() || opt.out.empty()) {
    err << "error: --runs and --out are required\n";
    return kExitError;
  }
  if (!opt.baseline.empty() && !opt.max_drop) {
    err << "error: --baseline needs --max-drop POINTS\n";
    return kExitError;
  }
  std::vector<ReferenceEntry> refs;
  if (!opt.reference.empty()) {
    auto r = load_references(opt.reference);
    if (!r) {
      err << "error: --reference: " << r.status().message() << "\n";
      return kExitError;
    }
    refs = std::move(*r);
  }
  std::optional<Baseline> baseline;
  if (!opt.baseline.empty()) {
    auto b = load_baseline(opt.baseline);
    if (!b) {
      err << "error: --baseline: " << b.status().message() << "\n";
      return kExitError;
    }
    baseline = std::move(*b);
  }
  LoadedRuns loaded = load_runs(opt.runs);
  Leaderboard lb = build_leaderboard(loaded, refs);
  lb.title = opt.title;
  GateReport gate;
  if (baseline) gate = apply_gate(lb, *baseline, *opt.max_drop);
  print_problems(lb, err);
  std::string markdown = render_markdown(lb, &gate);
  if (Status st = write_outputs(opt, lb, &gate, markdown); !st) {
    err << "error: " << st.message() << "\n";
    return kExitError;
  }
  if (opt.step_summary) append_step_summary(markdown, err);
  out << fmt::format("wrote {}/leaderboard.{{md,html,json}} and junit.xml: {} run(s), {} model(s), {} benchmark(s)",
                     opt.out, loaded.runs.size(), lb.measured_rows(), lb.benchmarks.size());
  if (!lb.skipped.empty()) out << fmt::format(", {} skipped", lb.skipped.size());
  out << "\n";
  if (loaded.runs.empty()) {
    err << "error: no valid run directory found\n";
    return kExitError;
  }
  if (!gate.enabled) return 0;
  for (const auto& r : gate.results)
    if (r.failed) err << "REGRESSION " << gate_message(r, gate.max_drop) << "\n";
  if (gate.failed()) return kExitRegression;
  out << fmt::format("gate passed: no avg@n drop above {:.1f} pts vs {}\n", gate.max_drop, gate.baseline_path);
  return 0;
}

int run_diff(const std::string& a, const std::string& b, std::ostream& out, std::ostream& err) {
  LoadedRuns ra = load_runs({a}), rb = load_runs({b});
  Leaderboard la = build_leaderboard(ra, {}), lbb = build_leaderboard(rb, {});
  print_problems(la, err);
  print_problems(lbb, err);
  if (ra.runs.empty() || rb.runs.empty()) {
    err << "error: no valid run in " << (ra.runs.empty() ? a : b) << "\n";
    return kExitError;
  }
  std::vector<std::string> notes;
  auto diffs = diff_leaderboards(la, lbb, &notes);
  out << "A: " << a << "\nB: " << b << "\n\n" << render_diff(diffs);
  for (const auto& n : notes) out << "note: " << n << "\n";
  if (diffs.empty()) {
    err << "error: A and B have no benchmark in common\n";
    return kExitError;
  }
  return 0;
}

}  // namespace crucible::reports
