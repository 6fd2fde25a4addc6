#include "tasks/code/kattis_time_limit.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tasks/code/judge.h"
#include "tasks/code/problem_formats.h"

namespace crucible::code {
namespace fs = std::filesystem;
namespace {

bool slurp(const fs::path& p, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool write_atomic(const fs::path& path, const std::string& data) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::string tmp = path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) return false;
    out << data;
    if (!out) return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

double number_or(const std::string& v, double dflt) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  return (end && end != v.c_str() && *end == '\0' && std::isfinite(x) && x > 0) ? x : dflt;
}

}  // namespace

int64_t kattis_time_limit_ms(int64_t slowest_ms, double multiplier, bool legacy, double resolution_s) {
  double exact_s = static_cast<double>(slowest_ms) * multiplier / 1000.0;
  if (legacy) {
    // problemtools (legacy): timelim = max(1, int(0.5 + exact)) whole seconds.
    int64_t s = static_cast<int64_t>(0.5 + exact_s);
    return std::max<int64_t>(1, s) * 1000;
  }
  if (!(resolution_s > 0)) resolution_s = 1.0;
  double steps = std::ceil(exact_s / resolution_s - 1e-9);
  double s = std::max(1.0, steps) * resolution_s;
  return static_cast<int64_t>(std::llround(s * 1000));
}

nlohmann::json KattisTimeLimit::to_json() const {
  return {{"time_limit_ms", time_limit_ms}, {"slowest_ms", slowest_ms},
          {"slowest_submission", slowest_submission}, {"format", format},
          {"multiplier", multiplier}, {"resolution_s", resolution_s},
          {"cache_hit", cache_hit}, {"key", key}, {"submissions", submissions}};
}

Result<KattisTimeLimit> derive_kattis_time_limit(const sandbox::Sandbox& sb, const std::string& dir,
                                                 const KattisTimeLimitOptions& opt) {
  fs::path root(dir);
  KattisTimeLimit r;
  std::string yaml;
  if (fs::exists(root / "problem.yaml")) slurp(root / "problem.yaml", &yaml);
  double legacy_mult = 5, ac_to_tl = 2, resolution = 1;
  for (auto& [k, v] : read_problem_yaml(yaml)) {
    if (k == "problem_format_version" && v != "legacy") r.format = v;
    if (k == "limits.time_multiplier") legacy_mult = number_or(v, legacy_mult);
    if (k == "limits.time_multipliers.ac_to_time_limit") ac_to_tl = number_or(v, ac_to_tl);
    if (k == "limits.time_resolution") resolution = number_or(v, resolution);
  }
  const bool legacy = r.format == "legacy";
  r.multiplier = legacy ? legacy_mult : ac_to_tl;
  r.resolution_s = legacy ? 1.0 : resolution;

  // Accepted submissions (single files in a known language, filtered).
  std::vector<fs::path> subs;
  std::error_code ec;
  fs::path acc = root / "submissions" / "accepted";
  if (fs::is_directory(acc, ec))
    for (auto& e : fs::recursive_directory_iterator(acc, ec)) {
      if (!e.is_regular_file()) continue;
      auto lang = language_from_path(e.path().string());
      if (!lang) continue;
      if (!opt.languages.empty() &&
          std::find(opt.languages.begin(), opt.languages.end(), *lang) == opt.languages.end())
        continue;
      subs.push_back(e.path());
    }
  std::sort(subs.begin(), subs.end());
  if (subs.empty()) return Status::not_found(dir + ": no accepted submission to derive the time limit from");

  LoadOptions lo;
  lo.time_limit_override_ms = opt.cap_ms;
  lo.include_samples = true;
  auto prob = load_kattis_problem(dir, lo);
  if (!prob.is_ok()) return prob.status();

  // Cache key.
  std::string keysrc = "crucible-kattis-tl-v1\n" + yaml + "\n" + std::to_string(opt.cap_ms) + "\n";
  for (Language l : opt.languages) keysrc += std::string(language_name(l)) + ",";
  for (Language l : {Language::kCpp, Language::kC, Language::kPython}) keysrc += compiler_version(l) + "\n";
  for (auto& t : prob->tests) {
    auto in = test_input(t);
    auto ans = test_answer(t);
    if (!in.is_ok()) return in.status();
    if (!ans.is_ok()) return ans.status();
    keysrc += t.name + "\n" + sha256_hex(*in) + sha256_hex(*ans) + "\n";
  }
  std::vector<std::string> sources(subs.size());
  for (size_t i = 0; i < subs.size(); ++i) {
    if (!slurp(subs[i], &sources[i])) return Status::io(subs[i].string() + ": cannot read");
    keysrc += fs::relative(subs[i], root).string() + "\n" + sha256_hex(sources[i]) + "\n";
  }
  r.key = sha256_hex(keysrc);
  fs::path cache = fs::path(opt.cache_dir.empty() ? default_cache_dir() : opt.cache_dir) /
                   ("kattis-tl-" + r.key + ".json");
  if (opt.use_cache) {
    std::string text;
    if (slurp(cache, &text)) {
      json j = json::parse(text, nullptr, false);
      if (j.is_object() && j.value("time_limit_ms", int64_t{0}) > 0) {
        r.time_limit_ms = j["time_limit_ms"].get<int64_t>();
        r.slowest_ms = j.value("slowest_ms", int64_t{0});
        r.slowest_submission = j.value("slowest_submission", std::string());
        r.submissions = j.value("submissions", json::array());
        r.cache_hit = true;
        return r;
      }
    }
  }

  JudgeOptions jo;
  jo.workers = opt.workers;
  jo.compile = opt.compile;
  for (size_t i = 0; i < subs.size(); ++i) {
    Language lang = *language_from_path(subs[i].string());
    std::string name = fs::relative(subs[i], root).string();
    JudgeResult jr = judge_submission(sb, *prob, sources[i], lang, jo);
    if (jr.verdict != Verdict::kCorrect) {
      std::string where;
      for (auto& t : jr.tests)
        if (!t.skipped && t.verdict != Verdict::kCorrect) {
          where = " on test " + t.name;
          break;
        }
      return Status::invalid(dir + ": accepted submission " + name + " got " + verdict_name(jr.verdict) + where +
                             " (measured with a " + std::to_string(opt.cap_ms) + " ms cap)" +
                             (jr.message.empty() ? "" : ": " + jr.message.substr(0, 300)));
    }
    int64_t mx = 0;
    for (auto& t : jr.tests) mx = std::max(mx, t.time_ms);
    r.submissions.push_back({{"name", name}, {"language", language_name(lang)}, {"max_ms", mx}});
    if (mx >= r.slowest_ms) {
      r.slowest_ms = mx;
      r.slowest_submission = name;
    }
  }
  r.time_limit_ms = kattis_time_limit_ms(r.slowest_ms, r.multiplier, legacy, r.resolution_s);
  if (opt.use_cache) write_atomic(cache, r.to_json().dump() + "\n");
  return r;
}

}  // namespace crucible::code
