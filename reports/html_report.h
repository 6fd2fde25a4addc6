// leaderboard.html: one self-contained page (inline CSS, a small inline script, inline SVG; no
// network): the sortable leaderboard table, a bar chart per benchmark with ±stderr, pass@k curves,
// IOI points / solve counts when present, and a per-run, per-problem drill-down of the samples.
// Sorting: click a header, or open the page with #sort=<column>[:asc|:desc] (column = "model" or a
// benchmark name); the table then carries data-sorted="<column>:<dir>".
#pragma once
#include <cstddef>
#include <string>

#include "reports/gate.h"
#include "reports/leaderboard_model.h"

namespace crucible::reports {

struct HtmlOptions {
  int samples_per_problem = 8;          // 0 = all
  size_t max_completion_chars = 20000;  // text kept per completion; 0 = all
  size_t visible_chars = 1500;          // shown before the "show all" toggle
};

std::string render_html(const Leaderboard& lb, const GateReport* gate, const HtmlOptions& opt);

}  // namespace crucible::reports
