#include "reports/html_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "reports/cell_format.h"
#include "reports/escape.h"
#include "reports/html_assets.h"
#include "reports/html_drilldown.h"
#include "reports/svg_chart.h"

namespace crucible::reports {
namespace {

std::string attr(const std::string& s) { return html_escape(s); }

std::string model_cell(const Row& r) {
  std::string s = "<td data-value=\"" + attr(r.key) + "\">" + html_escape(r.model);
  if (!r.revision.empty()) s += " <code>" + html_escape(r.revision) + "</code>";
  if (!r.variant.empty()) s += " <span class=\"muted\">[" + html_escape(r.variant) + "]</span>";
  if (r.reference) s += " <span class=\"badge\">(reference)</span>";
  return s + "</td>";
}

std::string score_cell(const Leaderboard& lb, const Row& row, const std::string& bench, const GateReport* gate) {
  const Cell* c = row.cell(bench);
  if (!c) return "<td class=\"num missing\" data-value=\"\">–</td>";
  const Metric* avg = c->avg();
  bool best = lb.is_best(row, bench);
  std::string s = fmt::format("<td class=\"num{}\" data-value=\"{}\">", best ? " best" : "",
                              avg ? fmt::format("{:.6f}", avg->value) : "");
  if (avg) {
    s += "<span class=\"score\">" + fmt_points(avg->value) + "</span>";
    if (avg->has_se()) s += fmt::format(" ± {:.1f}", avg->se);
  }
  std::string detail = cell_detail(*c);
  if (!detail.empty()) s += " <span class=\"extras\">(" + html_escape(detail) + ")</span>";
  std::string extras;
  for (const auto& [k, v] : cell_extras(*c)) extras += (extras.empty() ? "" : " · ") + k + " " + v;
  if (!extras.empty()) s += "<div class=\"extras\">" + html_escape(extras) + "</div>";
  if (row.reference && !c->source.empty()) s += "<div class=\"extras\">" + html_escape(c->source) + "</div>";
  if (const GateResult* g = gate && gate->enabled ? gate->find(row.key, bench) : nullptr)
    s += fmt::format("<div class=\"extras {}\">{:+.1f} vs baseline{}</div>", g->failed ? "fail" : "ok", std::fabs(g->drop) < 0.05 ? 0.0 : -g->drop,
                     g->failed ? " (FAIL)" : "");
  return s + "</td>";
}

void table(std::ostringstream& os, const Leaderboard& lb, const GateReport* gate) {
  os << "<table id=\"leaderboard\"><thead><tr><th data-key=\"model\" data-type=\"text\">Model</th>";
  for (const auto& b : lb.benchmarks)
    os << "<th data-key=\"" << attr(b) << "\" data-type=\"number\">" << html_escape(b) << "</th>";
  os << "</tr></thead>";
  for (bool reference : {false, true}) {
    os << "<tbody class=\"" << (reference ? "reference" : "measured") << "\">";
    for (const auto& row : lb.rows) {
      if (row.reference != reference) continue;
      os << "<tr class=\"" << (reference ? "reference" : "measured") << "\" data-model=\"" << attr(row.key) << "\">"
         << model_cell(row);
      for (const auto& b : lb.benchmarks) os << score_cell(lb, row, b, gate);
      os << "</tr>";
    }
    os << "</tbody>";
  }
  os << "</table><p class=\"muted\">avg@n ± standard error over problems, percentage points. Bold = best measured "
        "model per benchmark. Reference rows are published numbers, not measured here. Click a header to sort.</p>";
}

std::vector<Bar> bars_for(const Leaderboard& lb, const std::string& bench) {
  std::vector<Bar> bars;
  size_t i = 0;
  for (const auto& row : lb.rows) {
    size_t color = i++;
    const Cell* c = row.cell(bench);
    if (!c || !c->avg()) continue;
    bars.push_back({row.key, c->avg()->value, c->avg()->se, row.reference, lb.is_best(row, bench),
                    row.reference ? "#9498a0" : chart_color(color)});
  }
  return bars;
}

std::vector<Series> curves_for(const Leaderboard& lb, const std::string& bench) {
  std::vector<Series> out;
  size_t i = 0;
  for (const auto& row : lb.rows) {
    size_t color = i++;
    const Cell* c = row.cell(bench);
    if (row.reference || !c) continue;
    Series s{row.key, chart_color(color), {}};
    for (const auto& p : pass_curve(*c)) s.points.emplace_back(p.k, p.value);
    if (s.points.size() >= 2) out.push_back(std::move(s));
  }
  return out;
}

void charts(std::ostringstream& os, const Leaderboard& lb) {
  os << "<h2 id=\"charts\">Scores</h2>";
  for (const auto& b : lb.benchmarks) {
    auto bars = bars_for(lb, b);
    if (!bars.empty()) os << bar_chart_svg(b + ": avg@n ± stderr (%)", b, bars);
  }
  bool any = false;
  for (const auto& b : lb.benchmarks) {
    auto curves = curves_for(lb, b);
    if (curves.empty()) continue;
    if (!any) os << "<h2 id=\"passk\">pass@k</h2>";
    any = true;
    os << pass_at_k_svg(b + ": pass@k vs k", b, curves);
  }
}

bool has_code_results(const Leaderboard& lb, const std::string& bench) {
  for (const auto& row : lb.rows)
    if (const Cell* c = row.cell(bench); c && !row.reference && (c->points_total() || c->solved_count())) return true;
  return false;
}

std::string problem_result_cell(const ProblemResult& p) {
  std::string s;
  if (p.points) {
    s += fmt::format("{:g}", *p.points);
    if (p.max_points) s += fmt::format("/{:g}", *p.max_points);
    for (const auto& t : p.subtasks)
      s += "<div class=\"extras\">" + html_escape(t.name) + fmt::format(" {:g}/{:g}", t.points, t.max_points) + "</div>";
  }
  if (p.solved) s += *p.solved ? " <span class=\"ok\">✓</span>" : " <span class=\"fail\">✗</span>";
  return s.empty() ? "–" : s;
}

void code_results(std::ostringstream& os, const Leaderboard& lb, const std::string& bench) {
  std::vector<std::string> ids;
  for (const auto& row : lb.rows)
    if (const Cell* c = row.cell(bench); c && !row.reference)
      for (const auto& p : c->problems)
        if (std::find(ids.begin(), ids.end(), p.id) == ids.end()) ids.push_back(p.id);
  os << "<h3>" << html_escape(bench) << "</h3><table class=\"code-results\" data-benchmark=\"" << attr(bench)
     << "\"><thead><tr><th>Model</th><th>Total</th>";
  for (const auto& id : ids) os << "<th>" << html_escape(id) << "</th>";
  os << "</tr></thead><tbody>";
  for (const auto& row : lb.rows) {
    const Cell* c = row.cell(bench);
    if (!c || row.reference) continue;
    os << "<tr><td>" << html_escape(row.key) << "</td><td>" << html_escape(cell_detail(*c)) << "</td>";
    for (const auto& id : ids) {
      auto it = std::find_if(c->problems.begin(), c->problems.end(), [&](const ProblemResult& p) { return p.id == id; });
      os << "<td>" << (it == c->problems.end() ? "–" : problem_result_cell(*it)) << "</td>";
    }
    os << "</tr>";
  }
  os << "</tbody></table>";
}

void notes(std::ostringstream& os, const Leaderboard& lb, const GateReport* gate) {
  if (gate && gate->enabled) {
    os << "<h2 id=\"gate\">Regression gate: <span class=\"" << (gate->failed() ? "fail\">FAILED" : "ok\">passed")
       << "</span></h2><p class=\"muted\">baseline " << html_escape(gate->baseline_path)
       << fmt::format(", max drop {:.1f} pts on avg@n", gate->max_drop) << "</p><ul class=\"notes gate\">";
    for (const auto& r : gate->results)
      os << "<li class=\"" << (r.failed ? "fail" : "ok") << "\">" << (r.failed ? "FAIL " : "ok ")
         << html_escape(gate_message(r, gate->max_drop)) << "</li>";
    for (const auto& m : gate->missing) os << "<li>in the baseline, not in this report: " << html_escape(m) << "</li>";
    for (const auto& a : gate->added) os << "<li>new (no baseline): " << html_escape(a) << "</li>";
    os << "</ul>";
  }
  if (!lb.skipped.empty()) {
    os << "<h2 id=\"skipped\">Skipped run directories</h2><ul class=\"notes skipped\">";
    for (const auto& s : lb.skipped)
      os << "<li><code>" << html_escape(s.dir) << "</code>: " << html_escape(s.reason) << "</li>";
    os << "</ul>";
  }
  if (!lb.warnings.empty()) {
    os << "<h2 id=\"warnings\">Warnings</h2><ul class=\"notes warnings\">";
    for (const auto& w : lb.warnings) os << "<li>" << html_escape(w) << "</li>";
    os << "</ul>";
  }
}

}  // namespace

std::string render_html(const Leaderboard& lb, const GateReport* gate, const HtmlOptions& opt) {
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
     << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
     << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
     << "<title>" << html_escape(lb.title) << "</title><style>" << kReportCss << "</style></head><body>";
  os << "<h1>" << html_escape(lb.title) << "</h1><div class=\"meta\">generated " << html_escape(lb.generated)
     << " by crucible " << CRUCIBLE_VERSION << fmt::format(" · {} models · {} benchmarks", lb.measured_rows(), lb.benchmarks.size())
     << "</div>";
  if (lb.rows.empty()) os << "<p><b>No valid runs.</b></p>";
  else table(os, lb, gate);
  notes(os, lb, gate);
  if (!lb.rows.empty()) charts(os, lb);
  bool code_header = false;
  for (const auto& b : lb.benchmarks) {
    if (!has_code_results(lb, b)) continue;
    if (!code_header) os << "<h2 id=\"code-results\">Per-problem points and solves</h2>";
    code_header = true;
    code_results(os, lb, b);
  }
  os << "<h2 id=\"drilldown\">Runs: per-problem drill-down</h2>";
  for (const auto& row : lb.rows)
    if (!row.reference)
      for (const auto& [bench, cell] : row.cells) os << render_drilldown(row, cell, opt);
  os << "<script>" << kReportJs << "</script></body></html>\n";
  return os.str();
}

}  // namespace crucible::reports
