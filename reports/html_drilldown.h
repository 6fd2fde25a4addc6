// The per-run, per-problem drill-down section of leaderboard.html.
#pragma once
#include <string>

#include "reports/html_report.h"
#include "reports/leaderboard_model.h"

namespace crucible::reports {

// <details class="run"> for one measured cell: per problem a <details class="problem"> with the
// prompt (or the problem id), and each shown sample's verdict, extracted answer, completion
// (escaped, long text behind a toggle) and test results / grader details when present.
std::string render_drilldown(const Row& row, const Cell& cell, const HtmlOptions& opt);

}  // namespace crucible::reports
