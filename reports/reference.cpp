#include "reports/reference.h"

#include <fmt/format.h>

#include "core/jsonl.h"

namespace crucible::reports {
namespace {

Result<ReferenceEntry> parse_entry(const json& e, const std::string& where) {
  if (!e.is_object()) return Status::parse(where + ": expected an object");
  ReferenceEntry r;
  if (!e.contains("model") || !e["model"].is_string()) return Status::parse(where + ": \"model\" must be a string");
  if (!e.contains("benchmark") || !e["benchmark"].is_string())
    return Status::parse(where + ": \"benchmark\" must be a string");
  if (!e.contains("value") || !e["value"].is_number()) return Status::parse(where + ": \"value\" must be a number");
  r.model = e["model"].get<std::string>();
  r.benchmark = e["benchmark"].get<std::string>();
  r.value = e["value"].get<double>();
  if (r.value < 0 || r.value > 100) return Status::parse(where + ": \"value\" is a percentage in [0, 100]");
  if (e.contains("metric") && e["metric"].is_string()) r.metric = e["metric"].get<std::string>();
  if (r.metric.rfind("avg@", 0) == 0) r.metric = "avg@n";
  if (e.contains("stderr") && e["stderr"].is_number()) r.se = e["stderr"].get<double>();
  if (e.contains("source") && e["source"].is_string()) r.source = e["source"].get<std::string>();
  return r;
}

}  // namespace

Result<std::vector<ReferenceEntry>> load_references(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.status();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::parse(path + ": invalid JSON");
  if (j.is_object() && j.contains("references")) j = j["references"];
  if (!j.is_array()) return Status::parse(path + ": expected an array of reference entries");
  std::vector<ReferenceEntry> out;
  for (size_t i = 0; i < j.size(); ++i) {
    auto e = parse_entry(j[i], fmt::format("{}: entry {}", path, i));
    if (!e) return e.status();
    out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace crucible::reports
