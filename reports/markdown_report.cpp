#include "reports/markdown_report.h"

#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "reports/cell_format.h"
#include "reports/escape.h"

namespace crucible::reports {
namespace {

std::string row_label(const Row& r) {
  std::string s = md_escape(r.model);
  if (!r.revision.empty()) s += " `" + sanitize_utf8(r.revision) + "`";
  if (!r.variant.empty()) s += " [" + md_escape(r.variant) + "]";
  if (r.reference) s += " *(reference)*";
  return s;
}

std::string cell_text(const Leaderboard& lb, const Row& row, const Cell* c) {
  if (!c) return "–";
  const Metric* avg = c->avg();
  std::string s;
  if (avg) {
    std::string v = fmt_points(avg->value);
    s = lb.is_best(row, c->benchmark) ? "**" + v + "**" : v;
    if (avg->has_se()) s += fmt::format(" ± {:.1f}", avg->se);
  }
  std::string detail = cell_detail(*c);
  if (!detail.empty()) s += " <sub>(" + detail + ")</sub>";
  std::string extras;
  for (const auto& [k, v] : cell_extras(*c)) extras += (extras.empty() ? "" : " · ") + k + " " + v;
  if (!extras.empty()) s += (s.empty() ? "" : "<br>") + std::string("<sub>") + md_escape(extras) + "</sub>";
  if (row.reference && !c->source.empty()) s += "<br><sub>" + md_escape(c->source) + "</sub>";
  return s.empty() ? "–" : s;
}

void table(std::ostringstream& os, const Leaderboard& lb) {
  os << "| Model |";
  for (const auto& b : lb.benchmarks) os << " " << md_escape(b) << " |";
  os << "\n|---|";
  for (size_t i = 0; i < lb.benchmarks.size(); ++i) os << "---|";
  os << "\n";
  for (const auto& row : lb.rows) {
    os << "| " << row_label(row) << " |";
    for (const auto& b : lb.benchmarks) os << " " << cell_text(lb, row, row.cell(b)) << " |";
    os << "\n";
  }
  os << "\nScores are avg@n ± standard error over problems, in percentage points; **bold** = best "
        "measured model per benchmark; *(reference)* rows are published numbers, not measured here.\n";
}

void gate_section(std::ostringstream& os, const GateReport& g) {
  os << fmt::format("\n### Regression gate: {}\n\nBaseline `{}`, max drop {:.1f} pts (avg@n).\n\n",
                    g.failed() ? "FAILED" : "passed", sanitize_utf8(g.baseline_path), g.max_drop);
  if (!g.results.empty()) {
    os << "| Model | Benchmark | Baseline | Current | Change | 2σ | Status |\n|---|---|---|---|---|---|---|\n";
    for (const auto& r : g.results) {
      std::string status = r.failed ? (r.within_noise ? "**FAIL** (within noise)" : "**FAIL**")
                                    : (r.drop > 0 ? "ok (drop within max)" : "ok");
      os << fmt::format("| {} | {} | {:.1f} | {:.1f} | {:+.1f} | {} | {} |\n", md_escape(r.row),
                        md_escape(r.benchmark), r.baseline, r.current, std::fabs(r.drop) < 0.05 ? 0.0 : -r.drop,
                        r.noise_known ? fmt::format("{:.1f}", r.two_sigma) : "–", status);
    }
  }
  for (const auto& m : g.missing) os << "- in the baseline, not in this report: " << md_escape(m) << "\n";
  for (const auto& a : g.added) os << "- new (no baseline): " << md_escape(a) << "\n";
}

void notes_section(std::ostringstream& os, const Leaderboard& lb) {
  if (!lb.skipped.empty()) {
    os << "\n### Skipped run directories\n\n";
    for (const auto& s : lb.skipped) os << "- `" << sanitize_utf8(s.dir) << "`: " << md_escape(s.reason) << "\n";
  }
  if (!lb.warnings.empty()) {
    os << "\n### Warnings\n\n";
    for (const auto& w : lb.warnings) os << "- " << md_escape(w) << "\n";
  }
}

}  // namespace

std::string render_markdown(const Leaderboard& lb, const GateReport* gate) {
  std::ostringstream os;
  os << "## " << md_escape(lb.title) << "\n\n";
  if (lb.rows.empty()) os << "_No valid runs._\n";
  else table(os, lb);
  if (gate && gate->enabled) gate_section(os, *gate);
  notes_section(os, lb);
  os << "\n<sub>Generated " << lb.generated << " by crucible " << CRUCIBLE_VERSION << ".</sub>\n";
  return os.str();
}

}  // namespace crucible::reports
