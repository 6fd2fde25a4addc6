#include "tasks/dataset.h"

#include <cmath>
#include <unordered_map>

#include "core/jsonl.h"

namespace crucible {

namespace {

const std::vector<std::string> kStatementAliases = {"problem", "question", "Problem", "Question"};
const std::vector<std::string> kGoldAliases = {"answer", "Answer", "solution"};
const std::vector<std::string> kIdAliases = {"id", "ID", "unique_id", "problem_id"};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "|" : "") + ("'" + v[i] + "'");
  return s;
}

// Which field to read: the explicit one when given, else the first alias present.
// Returns "" when none is present.
std::string pick_field(const json& row, const std::string& explicit_name,
                       const std::vector<std::string>& aliases) {
  if (!explicit_name.empty()) return row.contains(explicit_name) ? explicit_name : "";
  for (const auto& a : aliases)
    if (row.contains(a) && !row[a].is_null()) return a;
  return "";
}

// Text of a scalar: strings as-is, integers without a decimal point, other numbers as JSON.
bool scalar_text(const json& v, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return true;
  }
  if (v.is_number_integer()) {
    *out = v.dump();
    return true;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
      *out = std::to_string(static_cast<long long>(d));
    } else {
      *out = v.dump();
    }
    return true;
  }
  return false;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

}  // namespace

Result<std::vector<Problem>> load_problems_jsonl(const std::string& path,
                                                 const DatasetOptions& options) {
  auto records = read_jsonl(path, /*allow_empty=*/true);
  if (!records) return records.status();
  if (records->empty())
    return Status::invalid(path + ": dataset is empty (no JSON rows); expected one problem per line");

  std::vector<Problem> problems;
  problems.reserve(records->size());
  std::unordered_map<std::string, size_t> id_line;
  for (const auto& rec : *records) {
    const json& row = rec.value;
    const std::string where = path + ":" + std::to_string(rec.line) + ": ";
    Problem p;

    std::string f_stmt = pick_field(row, options.field_problem, kStatementAliases);
    if (f_stmt.empty()) {
      return Status::invalid(where + "missing problem statement field (looked for " +
                             (options.field_problem.empty() ? join(kStatementAliases)
                                                            : "'" + options.field_problem + "'") +
                             "; use --field-problem to name it)");
    }
    if (!row[f_stmt].is_string())
      return Status::invalid(where + "field '" + f_stmt + "' must be a string, got " +
                             std::string(row[f_stmt].type_name()));
    p.statement = row[f_stmt].get<std::string>();
    if (blank(p.statement)) return Status::invalid(where + "field '" + f_stmt + "' is empty");

    std::string f_gold = pick_field(row, options.field_answer, kGoldAliases);
    if (f_gold.empty()) {
      return Status::invalid(where + "missing answer field (looked for " +
                             (options.field_answer.empty() ? join(kGoldAliases)
                                                           : "'" + options.field_answer + "'") +
                             "; use --field-answer to name it)");
    }
    if (!scalar_text(row[f_gold], &p.gold))
      return Status::invalid(where + "field '" + f_gold + "' must be a string or a number, got " +
                             std::string(row[f_gold].type_name()));
    if (blank(p.gold)) return Status::invalid(where + "field '" + f_gold + "' is empty");

    std::string f_id = pick_field(row, options.field_id, kIdAliases);
    if (f_id.empty()) {
      if (!options.field_id.empty())
        return Status::invalid(where + "missing id field '" + options.field_id + "'");
      p.id = "line-" + std::to_string(rec.line);
    } else {
      const json& v = row[f_id];
      if (!(v.is_string() || v.is_number_integer()) || !scalar_text(v, &p.id))
        return Status::invalid(where + "id field '" + f_id + "' must be a string or an integer, got " +
                               std::string(v.type_name()));
      if (blank(p.id)) return Status::invalid(where + "id field '" + f_id + "' is empty");
    }
    auto [it, inserted] = id_line.emplace(p.id, rec.line);
    if (!inserted)
      return Status::invalid(where + "duplicate problem id '" + p.id + "' (first seen at line " +
                             std::to_string(it->second) + ")");

    for (auto it2 = row.begin(); it2 != row.end(); ++it2) {
      const std::string& k = it2.key();
      if (k == f_stmt || k == f_gold || k == f_id) continue;
      p.meta[k] = it2.value();
    }
    problems.push_back(std::move(p));
  }
  return problems;
}

}  // namespace crucible
