#include "backends/replay_backend.h"

#include "core/jsonl.h"

namespace crucible {

namespace {

Completion make_completion(const json& row, std::string text) {
  Completion c;
  c.text = std::move(text);
  c.finish_reason = "stop";
  if (row.contains("finish_reason") && row["finish_reason"].is_string())
    c.finish_reason = row["finish_reason"].get<std::string>();
  if (row.contains("tokens") && row["tokens"].is_number_integer()) c.completion_tokens = row["tokens"].get<int>();
  if (row.contains("prompt_tokens") && row["prompt_tokens"].is_number_integer())
    c.prompt_tokens = row["prompt_tokens"].get<int>();
  return c;
}

bool id_text(const json& v, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return true;
  }
  if (v.is_number_integer()) {
    *out = v.dump();
    return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<ReplayBackend>> ReplayBackend::load(const std::string& path) {
  bool torn = false;
  auto recs = read_jsonl_tolerant(path, &torn);
  if (!recs) return recs.status();
  std::unique_ptr<ReplayBackend> b(new ReplayBackend());
  b->path_ = path;
  if (recs->empty()) return Status::invalid(path + ": replay file has no rows (or does not exist)");
  for (const auto& r : *recs) {
    const json& row = r.value;
    const std::string where = path + ":" + std::to_string(r.line) + ": ";
    std::string id;
    const char* id_key = row.contains("problem_id") ? "problem_id" : row.contains("id") ? "id" : nullptr;
    if (!id_key || !id_text(row[id_key], &id))
      return Status::invalid(where + "replay row needs a string 'problem_id' or 'id'");
    auto& slots = b->data_[id];
    if (row.contains("sample")) {
      if (!row["sample"].is_number_integer() || row["sample"].get<long long>() < 0 ||
          row["sample"].get<long long>() > 1000000)
        return Status::invalid(where + "'sample' must be a non-negative integer");
      if (!row.contains("completion") || !row["completion"].is_string())
        return Status::invalid(where + "row with 'sample' needs a string 'completion'");
      size_t idx = row["sample"].get<size_t>();
      if (slots.size() <= idx) slots.resize(idx + 1);
      if (!slots[idx])  // duplicates keep the first
        slots[idx] = std::make_unique<Completion>(make_completion(row, row["completion"].get<std::string>()));
    } else if (row.contains("completions")) {
      if (!row["completions"].is_array())
        return Status::invalid(where + "'completions' must be a list of strings");
      for (const auto& c : row["completions"]) {
        if (!c.is_string()) return Status::invalid(where + "'completions' must be a list of strings");
        slots.push_back(std::make_unique<Completion>(make_completion(json::object(), c.get<std::string>())));
      }
    } else if (row.contains("completion")) {
      if (!row["completion"].is_string()) return Status::invalid(where + "'completion' must be a string");
      slots.push_back(std::make_unique<Completion>(make_completion(row, row["completion"].get<std::string>())));
    } else {
      return Status::invalid(where + "replay row needs 'completion' (string) or 'completions' (list)");
    }
  }
  return b;
}

size_t ReplayBackend::available(const std::string& problem_id) const {
  auto it = data_.find(problem_id);
  if (it == data_.end()) return 0;
  size_t n = 0;
  while (n < it->second.size() && it->second[n]) ++n;
  return n;
}

std::future<Result<std::vector<Completion>>> ReplayBackend::submit(GenerationRequest request) {
  std::promise<Result<std::vector<Completion>>> p;
  auto fut = p.get_future();
  auto it = data_.find(request.problem_id);
  if (it == data_.end()) {
    p.set_value(Status::not_found(path_ + ": no recorded completions for problem '" + request.problem_id + "'"));
    return fut;
  }
  std::vector<Completion> out;
  const auto& slots = it->second;
  for (int i = 0; i < request.params.n; ++i) {
    size_t idx = static_cast<size_t>(request.first_sample + i);
    if (idx >= slots.size() || !slots[idx]) {
      p.set_value(Status::not_found(path_ + ": problem '" + request.problem_id + "' has no recorded sample " +
                                    std::to_string(idx) + " (" + std::to_string(available(request.problem_id)) +
                                    " recorded from 0; asked for " + std::to_string(request.first_sample) + ".." +
                                    std::to_string(request.first_sample + request.params.n - 1) + ")"));
      return fut;
    }
    out.push_back(*slots[idx]);
  }
  p.set_value(std::move(out));
  return fut;
}

}  // namespace crucible
