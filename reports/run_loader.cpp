#include "reports/run_loader.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

#include <fmt/format.h>

#include "core/jsonl.h"

namespace fs = std::filesystem;

namespace crucible::reports {
namespace {

bool has_run_files(const fs::path& dir) {
  std::error_code ec;
  for (const char* f : {"run.json", "results.json", "samples.jsonl"})
    if (fs::exists(dir / f, ec)) return true;
  return false;
}

void find_below(const fs::path& dir, int depth, std::vector<std::string>* out) {
  if (depth <= 0) return;
  std::error_code ec;
  std::vector<fs::path> subdirs;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) subdirs.push_back(it->path());
  std::sort(subdirs.begin(), subdirs.end());
  for (const auto& d : subdirs) {
    if (has_run_files(d)) out->push_back(d.string());
    else find_below(d, depth - 1, out);
  }
}

std::string text_of(const json& j) {
  if (j.is_null()) return "";
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

std::string str_field(const json& obj, std::initializer_list<const char*> keys) {
  if (!obj.is_object()) return "";
  for (const char* k : keys) {
    auto it = obj.find(k);
    if (it != obj.end() && !it->is_null()) return text_of(*it);
  }
  return "";
}

Result<json> read_json_object(const std::string& path) {
  auto text = read_file(path);
  if (!text) return Status::not_found(path + ": missing or unreadable");
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::parse(path + ": invalid JSON (partial write?)");
  if (!j.is_object()) return Status::parse(path + ": expected a JSON object");
  return j;
}

// Compact "T=0.6 top_p=0.95 max_tokens=32768" from the sampling object.
std::string sampling_label(const json& s) {
  std::string out;
  auto add = [&](const char* key, const char* name) {
    if (!s.is_object() || !s.contains(key) || s[key].is_null()) return;
    if (!out.empty()) out += ' ';
    out += fmt::format("{}={}", name, text_of(s[key]));
  };
  add("temperature", "T");
  add("top_p", "top_p");
  add("top_k", "top_k");
  add("max_tokens", "max_tokens");
  return out;
}

std::string config_key_of(const json& run) {
  json s = run.value("sampling", json::object());
  if (s.is_object()) {
    s.erase("n");
    s.erase("seed");
  }
  // run_store writes data {path, sha256} and prompt {mode, sha256, ...}; flat names are accepted too.
  std::string data = str_field(run.value("data", json::object()), {"sha256"});
  if (data.empty()) data = str_field(run, {"data_sha256"});
  std::string prompt = str_field(run.value("prompt", json::object()), {"sha256"});
  if (prompt.empty()) prompt = str_field(run, {"prompt_sha256", "prompt_template_hash", "prompt_hash"});
  json key = {{"data", data},
              {"prompt", prompt},
              {"grader", str_field(run, {"grader"})},
              {"sampling", s}};
  return key.dump();
}

Result<SampleRecord> parse_sample(const json& j) {
  SampleRecord s;
  if (!j.contains("problem_id")) return Status::parse("no problem_id");
  s.problem_id = text_of(j["problem_id"]);
  if (!j.contains("sample") || !j["sample"].is_number_integer()) return Status::parse("no integer sample");
  s.sample = j["sample"].get<int>();
  s.prompt = str_field(j, {"prompt"});
  s.completion = str_field(j, {"completion"});
  s.finish_reason = str_field(j, {"finish_reason"});
  const json& g = j.contains("grade") ? j["grade"] : json();
  if (!g.is_object()) return Status::parse("no grade object");
  s.correct = g.value("correct", false);
  s.score = g.contains("score") && g["score"].is_number() ? g["score"].get<double>() : (s.correct ? 1.0 : 0.0);
  s.verdict = str_field(g, {"verdict"});
  s.extracted = str_field(g, {"extracted"});
  if (g.contains("details") && !g["details"].is_null()) s.details = g["details"];
  return s;
}

void load_samples(RunRecord* r) {
  std::string path = r->dir + "/samples.jsonl";
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  bool torn = false;
  auto recs = read_jsonl_tolerant(path, &torn);
  if (!recs) {
    r->notes.push_back("samples.jsonl unreadable, drill-down unavailable: " + recs.status().message());
    return;
  }
  if (torn) r->notes.push_back("samples.jsonl: torn last line ignored");
  size_t bad = 0;
  for (const auto& rec : *recs) {
    auto s = parse_sample(rec.value);
    if (s) r->samples.push_back(std::move(*s));
    else ++bad;
  }
  if (bad) r->notes.push_back(fmt::format("samples.jsonl: {} malformed sample line(s) ignored", bad));
  r->has_samples = true;
}

}  // namespace

std::vector<std::string> discover_run_dirs(const std::string& path, std::vector<SkippedRun>* skipped) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    skipped->push_back({path, "not a directory"});
    return out;
  }
  if (has_run_files(path)) return {path};
  find_below(path, 3, &out);
  if (out.empty()) skipped->push_back({path, "no run directories (run.json / results.json) found"});
  return out;
}

Result<RunRecord> load_run(const std::string& dir) {
  RunRecord r;
  r.dir = dir;
  auto run = read_json_object(dir + "/run.json");
  if (!run) return run.status();
  auto results = read_json_object(dir + "/results.json");
  if (!results) return results.status();
  r.run = std::move(*run);
  r.results = std::move(*results);
  if (!r.results.contains("metrics") || !r.results["metrics"].is_object())
    return Status::parse(dir + "/results.json: no \"metrics\" object");
  r.model = str_field(r.run, {"model"});
  if (r.model.empty()) r.model = str_field(r.results, {"model"});
  r.task = str_field(r.run, {"task"});
  if (r.task.empty()) r.task = str_field(r.results, {"task"});
  if (r.model.empty() || r.task.empty())
    return Status::parse(dir + ": run.json/results.json name no model or no task");
  r.revision = str_field(r.run, {"model_revision", "revision"});
  r.created = str_field(r.run, {"created"});
  const json& sampling = r.run.contains("sampling") ? r.run["sampling"] : json();
  if (sampling.is_object() && sampling.contains("seed")) r.seed = text_of(sampling["seed"]);
  r.config_key = config_key_of(r.run);
  r.config_label = sampling_label(sampling);
  if (r.results.value("complete", true) == false) {
    size_t k = r.results.contains("incomplete_problems") && r.results["incomplete_problems"].is_array()
                   ? r.results["incomplete_problems"].size()
                   : 0;
    r.notes.push_back(fmt::format("results.json marks the run incomplete ({} problem(s) not scored)", k));
  }
  load_samples(&r);
  return r;
}

LoadedRuns load_runs(const std::vector<std::string>& paths) {
  LoadedRuns out;
  std::set<std::string> seen;
  for (const auto& p : paths) {
    for (const auto& dir : discover_run_dirs(p, &out.skipped)) {
      std::error_code ec;
      std::string canon = fs::weakly_canonical(dir, ec).string();
      if (!seen.insert(ec ? dir : canon).second) continue;
      auto r = load_run(dir);
      if (r) out.runs.push_back(std::move(*r));
      else out.skipped.push_back({dir, r.status().message()});
    }
  }
  return out;
}

}  // namespace crucible::reports
