// junit.xml: one <testcase classname="<model label>" name="<benchmark>"> per measured model x
// benchmark; <failure type="regression"> when the gate failed it, <skipped> when the model was not
// evaluated on that benchmark. Reference rows are not test cases.
#pragma once
#include <string>

#include "reports/gate.h"
#include "reports/leaderboard_model.h"

namespace crucible::reports {

std::string render_junit(const Leaderboard& lb, const GateReport* gate);

}  // namespace crucible::reports
