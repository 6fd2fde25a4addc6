// Published reference numbers (--reference FILE): a JSON array of
//   {"model","benchmark","metric":"avg@n","value": <percentage points>,"stderr"?: <points>,"source": "..."}
// or an object {"references": [...]} with the same entries. They become rows marked "(reference)"
// and are never merged with measured rows, ranked, gated or counted as best.
#pragma once
#include <string>
#include <vector>

#include "core/status.h"
#include "reports/leaderboard_model.h"

namespace crucible::reports {

Result<std::vector<ReferenceEntry>> load_references(const std::string& path);

}  // namespace crucible::reports
