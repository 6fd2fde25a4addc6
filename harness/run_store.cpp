#include "harness/run_store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

namespace crucible {

namespace fs = std::filesystem;

namespace {

std::string to_hex(const unsigned char* d, unsigned n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    s.push_back(k[d[i] >> 4]);
    s.push_back(k[d[i] & 15]);
  }
  return s;
}

std::string now_utc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json sampling_json(const SamplingParams& p, bool with_n) {
  json j{{"temperature", p.temperature},
         {"top_p", p.top_p},
         {"top_k", p.top_k},
         {"max_tokens", p.max_tokens},
         {"seed", p.seed ? json(*p.seed) : json(nullptr)},
         {"stop", p.stop}};
  if (with_n) j["n"] = p.n;
  return j;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(md, len);
}

Result<std::string> sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io(path + ": cannot open for hashing");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), buf.size());
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  bool bad = in.bad();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  if (bad) return Status::io(path + ": read error while hashing");
  return to_hex(md, len);
}

Result<std::string> sha256_path(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return sha256_file(path);
  // A directory (code tasks: problem packages): sha256 over "relative path NUL file sha256 LF" of
  // every regular file, in path order.
  std::vector<std::string> files;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(std::filesystem::relative(it->path(), path, ec).string());
  if (ec) return Status::io(path + ": cannot list for hashing: " + ec.message());
  std::sort(files.begin(), files.end());
  std::string manifest;
  for (const auto& f : files) {
    auto h = sha256_file(path + "/" + f);
    if (!h) return h.status();
    manifest += f + std::string(1, '\0') + *h + "\n";
  }
  return sha256_hex(manifest);
}

json RunInfo::identity_json() const {
  return json{{"task", task},
              {"model", model},
              {"data_sha256", data_sha256},
              {"grader", grader},
              {"prompt_sha256", prompt_sha256},
              {"sampling", sampling_json(sampling, /*with_n=*/false)}};
}

json RunInfo::to_json() const {
  return json{{"task", task},
              {"model", model},
              {"backend", backend},
              {"url", url},
              {"data", {{"path", data_path}, {"sha256", data_sha256}, {"num_problems", num_problems}}},
              {"grader", grader},
              {"sampling", sampling_json(sampling, /*with_n=*/true)},
              {"prompt",
               {{"mode", prompt_mode},
                {"sha256", prompt_sha256},
                {"template", prompt_template},
                {"system_prompt", system_prompt}}}};
}

json StoredSample::to_json() const {
  return json{{"problem_id", problem_id},
              {"sample", sample},
              {"completion", completion},
              {"finish_reason", finish_reason},
              {"tokens", completion_tokens >= 0 ? json(completion_tokens) : json(nullptr)},
              {"prompt_tokens", prompt_tokens >= 0 ? json(prompt_tokens) : json(nullptr)},
              {"grade", grade.to_json()},
              {"latency_s", latency_s}};
}

Result<Grade> grade_from_json(const json& j) {
  if (!j.is_object()) return Status::parse("grade is not an object");
  Grade g;
  if (!j.contains("verdict") || !j["verdict"].is_string() ||
      !verdict_from_name(j["verdict"].get<std::string>(), &g.verdict))
    return Status::parse("grade has no valid 'verdict'");
  if (!j.contains("correct") || !j["correct"].is_boolean())
    return Status::parse("grade has no boolean 'correct'");
  g.correct = j["correct"].get<bool>();
  if (j.contains("score") && j["score"].is_number()) g.score = j["score"].get<double>();
  if (j.contains("extracted") && j["extracted"].is_string()) g.extracted = j["extracted"].get<std::string>();
  if (j.contains("details")) g.details = j["details"];
  return g;
}

Result<StoredSample> StoredSample::from_json(const json& j, const std::string& where) {
  StoredSample s;
  if (!j.contains("problem_id") || !j["problem_id"].is_string())
    return Status::parse(where + ": missing string 'problem_id'");
  if (!j.contains("sample") || !j["sample"].is_number_integer() || j["sample"].get<long long>() < 0)
    return Status::parse(where + ": missing non-negative integer 'sample'");
  if (!j.contains("completion") || !j["completion"].is_string())
    return Status::parse(where + ": missing string 'completion'");
  s.problem_id = j["problem_id"].get<std::string>();
  s.sample = j["sample"].get<int>();
  s.completion = j["completion"].get<std::string>();
  if (j.contains("finish_reason") && j["finish_reason"].is_string())
    s.finish_reason = j["finish_reason"].get<std::string>();
  if (j.contains("tokens") && j["tokens"].is_number_integer()) s.completion_tokens = j["tokens"].get<int>();
  if (j.contains("prompt_tokens") && j["prompt_tokens"].is_number_integer())
    s.prompt_tokens = j["prompt_tokens"].get<int>();
  if (j.contains("latency_s") && j["latency_s"].is_number()) s.latency_s = j["latency_s"].get<double>();
  if (!j.contains("grade")) return Status::parse(where + ": missing 'grade'");
  auto g = grade_from_json(j["grade"]);
  if (!g) return Status::parse(where + ": " + g.status().message());
  s.grade = std::move(*g);
  return s;
}

Result<std::unique_ptr<RunStore>> RunStore::open(const std::string& dir, const RunInfo& info) {
  std::unique_ptr<RunStore> st(new RunStore());
  st->dir_ = dir;
  std::error_code ec;
  const std::string run_json = st->run_json_path();
  json record;
  if (fs::exists(run_json, ec)) {
    auto text = read_file(run_json);
    if (!text) return text.status();
    json old = json::parse(*text, nullptr, false);
    if (old.is_discarded() || !old.is_object() || !old.contains("identity"))
      return Status::invalid(run_json + ": not a valid crucible run.json; pick another --out directory");
    json want = info.identity_json();
    const json& have = old["identity"];
    std::string diffs;
    for (auto it = want.begin(); it != want.end(); ++it) {
      json h = have.contains(it.key()) ? have[it.key()] : json(nullptr);
      if (h != it.value()) {
        if (it.key() == "sampling" && h.is_object()) {
          for (auto s = it.value().begin(); s != it.value().end(); ++s) {
            json hv = h.contains(s.key()) ? h[s.key()] : json(nullptr);
            if (hv != s.value())
              diffs += "\n  sampling." + s.key() + ": stored " + hv.dump() + ", now " + s.value().dump();
          }
        } else {
          diffs += "\n  " + it.key() + ": stored " + h.dump() + ", now " + it.value().dump();
        }
      }
    }
    if (!diffs.empty())
      return Status::invalid(dir + " holds a different run (" + run_json + " differs:" + diffs +
                             ")\nresuming would mix samples; pick another --out directory (or delete this one)");
    st->resumed_ = true;
    record = old;
    record["updated"] = now_utc();
  } else {
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
      return Status::invalid(dir + ": exists and is not a directory; pick another --out");
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
      return Status::invalid(dir + ": directory is not empty and has no run.json; pick another --out");
    fs::create_directories(dir, ec);
    if (ec) return Status::io(dir + ": cannot create directory: " + ec.message());
    record["crucible_version"] = CRUCIBLE_VERSION;
    record["created"] = now_utc();
  }
  json details = info.to_json();
  for (auto it = details.begin(); it != details.end(); ++it) record[it.key()] = it.value();
  record["identity"] = info.identity_json();
  record["crucible_version_last"] = CRUCIBLE_VERSION;
  if (auto s = write_file_atomic(run_json, record.dump(2) + "\n"); !s) return s;

  // Existing samples (tolerant of a torn last line; duplicates keep the first).
  bool torn = false;
  auto recs = read_jsonl_tolerant(st->samples_path(), &torn);
  if (!recs) return recs.status();
  st->torn_ = torn;
  for (const auto& r : *recs) {
    auto s = StoredSample::from_json(r.value, st->samples_path() + ":" + std::to_string(r.line));
    if (!s) return s.status();
    if (!st->keys_.emplace(s->problem_id, s->sample).second) {
      ++st->duplicates_;
      continue;
    }
    st->existing_.push_back(std::move(*s));
  }
  if (auto s = st->appender_.open(st->samples_path()); !s) return s;
  return st;
}

bool RunStore::has(const std::string& problem_id, int sample) const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.count({problem_id, sample}) > 0;
}

Status RunStore::append(const StoredSample& s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!keys_.emplace(s.problem_id, s.sample).second) return Status::ok();
  }
  return appender_.append(s.to_json());
}

Status RunStore::write_results(const json& results) {
  return write_file_atomic(results_path(), results.dump(2) + "\n");
}

}  // namespace crucible
