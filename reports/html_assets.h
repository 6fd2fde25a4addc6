// The static CSS and JavaScript inlined into leaderboard.html.
#pragma once

namespace crucible::reports {

extern const char* const kReportCss;
extern const char* const kReportJs;

}  // namespace crucible::reports
