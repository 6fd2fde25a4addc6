#include "tasks/code/code_grader.h"

namespace crucible::code {

CodeGrader::CodeGrader(CodeGraderOptions opt) : opt_(std::move(opt)), sb_(opt_.sandbox) {}

Grade grade_from_judge(const JudgeResult& r, const std::string& extracted) {
  Grade g;
  g.verdict = r.verdict;
  g.score = r.score;
  g.correct = r.verdict == Verdict::kCorrect;
  g.extracted = extracted;
  g.details = r.to_json();
  return g;
}

Result<std::shared_ptr<const CodeProblem>> CodeGrader::problem_for(const Problem& p) const {
  const json& m = p.meta;
  std::string key;
  if (m.contains("problem_dir") && m["problem_dir"].is_string()) key = "dir:" + m["problem_dir"].get<std::string>();
  else if (m.contains("ioi_row")) key = "ioi:" + m.value("tests_dir", std::string()) + ":" + m["ioi_row"].dump();
  else key = "cf:" + p.id + ":" + std::to_string(std::hash<std::string>{}(m.dump()));
  // A per-problem time limit (a dataset field, or a derived Kattis limit) overrides the package's.
  LoadOptions lo = opt_.load;
  if (m.contains("time_limit_ms") && m["time_limit_ms"].is_number() && m["time_limit_ms"].get<double>() > 0) {
    lo.time_limit_override_ms = static_cast<int64_t>(m["time_limit_ms"].get<double>());
    key += "#tl=" + std::to_string(lo.time_limit_override_ms);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
  }
  Result<CodeProblem> r = Status::invalid("problem " + p.id + ": meta has no problem_dir, codeforces row or ioi_row");
  if (m.contains("problem_dir") && m["problem_dir"].is_string()) r = load_problem_dir(m["problem_dir"].get<std::string>(), lo);
  else if (m.contains("ioi_row")) r = load_ioi_row(m["ioi_row"], m.value("tests_dir", std::string()), lo);
  else if (m.contains("codeforces_row")) r = load_codeforces_row(m["codeforces_row"], lo);
  else if (m.contains("official_tests")) r = load_codeforces_row(m, lo);
  if (!r.is_ok()) return r.status();
  auto sp = std::make_shared<const CodeProblem>(std::move(r).value());
  std::lock_guard<std::mutex> lock(mu_);
  cache_[key] = sp;
  return sp;
}

Grade CodeGrader::grade_source(const Problem& problem, const std::string& source, Language lang) const {
  Grade g;
  try {
    auto cp = problem_for(problem);
    if (!cp.is_ok()) {
      g.verdict = Verdict::kGraderError;
      g.extracted = source;
      g.details["error"] = cp.status().message();
      return g;
    }
    JudgeResult jr = judge_submission(sb_, **cp, source, lang, opt_.judge);
    g = grade_from_judge(jr, source);
    g.details["language"] = language_name(lang);
    if ((*cp)->format != ProblemFormat::kCms) g.details["reward_mode"] = cf_reward_name(opt_.judge.cf_reward);
  } catch (const std::exception& e) {
    g = Grade{};
    g.verdict = Verdict::kGraderError;
    g.extracted = source;
    g.details["error"] = std::string("internal: ") + e.what();
  }
  return g;
}

Grade CodeGrader::grade(const Problem& problem, std::string_view completion) const {
  Language lang = opt_.language;
  if (problem.meta.contains("language") && problem.meta["language"].is_string())
    lang = language_from_name(problem.meta["language"].get<std::string>()).value_or(lang);
  auto code = extract_code(completion, lang);
  if (!code) {
    Grade g;
    g.verdict = Verdict::kNoAnswer;  // Open-R1: no code block -> reward 0
    g.details["error"] = std::string("no ```") + language_name(lang) + " code block after the last </think>";
    return g;
  }
  Grade g = grade_source(problem, code->code, lang);
  g.details["extraction"] = code->fallback ? "bare_fence" : "language_fence";
  return g;
}

}  // namespace crucible::code
