// leaderboard.json (schema "crucible.leaderboard/1", documented in docs/reports.md).
#pragma once
#include <nlohmann/json.hpp>

#include "reports/gate.h"
#include "reports/leaderboard_model.h"

namespace crucible::reports {

inline constexpr const char* kLeaderboardSchema = "crucible.leaderboard/1";

// `gate` may be null (no --baseline).
nlohmann::json leaderboard_to_json(const Leaderboard& lb, const GateReport* gate);

}  // namespace crucible::reports
