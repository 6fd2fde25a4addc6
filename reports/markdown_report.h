// leaderboard.md: a GitHub-flavoured Markdown table (ready for $GITHUB_STEP_SUMMARY), the gate
// outcome, skipped run directories and warnings.
#pragma once
#include <string>

#include "reports/gate.h"
#include "reports/leaderboard_model.h"

namespace crucible::reports {

// `gate` may be null.
std::string render_markdown(const Leaderboard& lb, const GateReport* gate);

}  // namespace crucible::reports
