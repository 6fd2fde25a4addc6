#include "tasks/code/judge.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <thread>

#include "tasks/code/checker.h"
#include "tasks/code/communication_run.h"
#include "tasks/code/interactive_run.h"

namespace crucible::code {
namespace {

Verdict run_verdict(sandbox::RunStatus s) {
  switch (s) {
    case sandbox::RunStatus::ok: return Verdict::kCorrect;
    case sandbox::RunStatus::time_limit:
    case sandbox::RunStatus::wall_limit: return Verdict::kTimeLimit;
    case sandbox::RunStatus::memory_limit: return Verdict::kMemoryLimit;
    case sandbox::RunStatus::output_limit: return Verdict::kOutputLimit;
    case sandbox::RunStatus::runtime_error:
    case sandbox::RunStatus::signaled:
    case sandbox::RunStatus::security: return Verdict::kRuntimeError;
    case sandbox::RunStatus::internal: return Verdict::kGraderError;
  }
  return Verdict::kGraderError;
}

double round_to(double v, int digits) {
  double m = std::pow(10.0, std::max(0, std::min(digits, 9)));
  return std::round(v * m) / m;
}

}  // namespace

const char* cf_reward_name(CfReward r) {
  switch (r) {
    case CfReward::kPassFail: return "pass_fail";
    case CfReward::kPartial: return "partial";
    case CfReward::kWeightedSum: return "weighted_sum";
  }
  return "pass_fail";
}

bool cf_reward_from_name(const std::string& s, CfReward* out) {
  if (s == "pass_fail") *out = CfReward::kPassFail;
  else if (s == "partial") *out = CfReward::kPartial;
  else if (s == "weighted_sum") *out = CfReward::kWeightedSum;
  else return false;
  return true;
}

json JudgeResult::to_json() const {
  json j;
  j["verdict"] = verdict_name(verdict);
  j["score"] = score;
  j["points"] = points;
  j["max_points"] = max_points;
  j["compile_cache_hit"] = compile_cache_hit;
  if (!message.empty()) j["message"] = message;
  j["subtasks"] = json::array();
  for (auto& s : subtasks) {
    json st = {{"name", s.name}, {"points", s.points}, {"max_points", s.max_points},
               {"verdict", verdict_name(s.verdict)}, {"tests", json::array()}};
    for (size_t i : s.tests) st["tests"].push_back(tests[i].name);
    j["subtasks"].push_back(st);
  }
  j["tests"] = json::array();
  for (auto& t : tests) {
    json tj = {{"name", t.name}, {"verdict", t.skipped ? "skipped" : verdict_name(t.verdict)},
               {"time_ms", t.time_ms}, {"memory_bytes", t.memory_bytes}, {"score", t.score}};
    if (!t.message.empty()) tj["message"] = t.message;
    j["tests"].push_back(tj);
  }
  return j;
}

JudgeResult judge_submission(const sandbox::Sandbox& sb, const CodeProblem& problem,
                             const std::string& source, Language lang, const JudgeOptions& opt) {
  JudgeResult res;
  const bool ioi = problem.format == ProblemFormat::kCms && !problem.subtasks.empty();
  for (auto& s : problem.subtasks) res.max_points += s.points;
  if (!ioi) res.max_points = 1;

  if (problem.task_type == TaskType::kCommunication && !problem.grader_files.empty() && lang != Language::kCpp) {
    res.verdict = Verdict::kCompileError;
    res.message = "this task's stub needs a C++ solution";
    return res;
  }

  // Compile the solution (with the IOI grader when there is one).
  Compiler compiler(sb, opt.compile);
  std::vector<SourceFile> sources;
  std::vector<std::string> extra;
  if (!problem.grader_files.empty() && lang != Language::kPython) {
    if (lang != Language::kCpp) {
      res.verdict = Verdict::kCompileError;
      res.message = "this task's grader needs a C++ solution";
      return res;
    }
    sources = problem.grader_files;
    sources.push_back({(problem.code.empty() ? "solution" : problem.code) + ".cpp", source, true});
    extra.push_back("-DEVAL");
  } else {
    sources.push_back({lang == Language::kPython ? "main.py" : (lang == Language::kC ? "main.c" : "main.cpp"), source, true});
  }
  CompileResult comp = compiler.compile(lang, sources, extra);
  res.compile_cache_hit = comp.cache_hit;
  if (!comp.ok) {
    res.verdict = comp.internal_error ? Verdict::kGraderError : Verdict::kCompileError;
    res.message = comp.error;
    return res;
  }
  Checker checker(sb, compiler, problem.checker);
  if (!checker.error().empty()) {
    res.verdict = Verdict::kGraderError;
    res.message = checker.error();
    return res;
  }
  // Interactive / Communication: each test runs through the interactor's or the manager's runner.
  std::unique_ptr<InteractiveRunner> interactive;
  std::unique_ptr<CommunicationRunner> communication;
  if (problem.task_type == TaskType::kInteractive) interactive = std::make_unique<InteractiveRunner>(sb, compiler, problem);
  if (problem.task_type == TaskType::kCommunication) communication = std::make_unique<CommunicationRunner>(sb, compiler, problem);
  if ((interactive && !interactive->error().empty()) || (communication && !communication->error().empty())) {
    res.verdict = Verdict::kGraderError;
    res.message = interactive ? interactive->error() : communication->error();
    return res;
  }

  // Groups: IOI subtasks, or one pass/fail group over every test.
  std::vector<SubtaskResult> groups;
  if (ioi) {
    for (auto& s : problem.subtasks) groups.push_back({s.name, 0, s.points, s.tests, Verdict::kCorrect});
  } else {
    SubtaskResult all{"all", 0, 1, {}, Verdict::kCorrect};
    for (size_t i = 0; i < problem.tests.size(); ++i) all.tests.push_back(i);
    groups.push_back(all);
  }
  bool run_all = opt.all_tests || (!ioi && opt.cf_reward != CfReward::kPassFail);

  // Unique tests in group order (a shared test runs once), plus membership.
  std::vector<size_t> order;
  std::vector<std::vector<size_t>> member(problem.tests.size());
  std::vector<char> seen(problem.tests.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t t : groups[g].tests) {
      member[t].push_back(g);
      if (!seen[t]) { seen[t] = 1; order.push_back(t); }
    }
  res.tests.resize(problem.tests.size());
  for (size_t i = 0; i < problem.tests.size(); ++i) {
    res.tests[i].name = problem.tests[i].name;
    res.tests[i].skipped = true;
    res.tests[i].verdict = Verdict::kCorrect;
  }
  std::vector<std::atomic<bool>> dead(groups.size());
  for (auto& d : dead) d = false;

  sandbox::Limits lim;
  lim.cpu_ms = problem.time_limit_ms;
  lim.wall_ms = problem.time_limit_ms * 3 + 1000;
  lim.memory_bytes = problem.memory_bytes;
  lim.output_bytes = opt.output_bytes;
  lim.processes = std::max(1, opt.processes);
  lim.file_bytes = 64ll << 20;
  lim.stack_bytes = 0;

  auto run_test = [&](size_t ti) {
    TestResult& tr = res.tests[ti];
    tr.skipped = false;
    const TestCase& tc = problem.tests[ti];
    auto input = test_input(tc);
    auto answer = test_answer(tc);
    if (!input.is_ok() || !answer.is_ok()) {
      tr.verdict = Verdict::kGraderError;
      tr.message = !input.is_ok() ? input.status().message() : answer.status().message();
      return;
    }
    if (interactive) return interactive->run_test(comp, *input, *answer, lim, &checker, &tr);
    if (communication) return communication->run_test(comp, tc, *input, lim, &tr);
    sandbox::RunSpec spec;
    program_spec(comp, &spec);
    // Always from memory (a sealed memfd), never the host file: the box could reopen an fd of the
    // file through /proc/self/fd/0 and, were the file world-writable, rewrite the test data.
    spec.stdin_data = *input;
    sandbox::RunResult rr = sb.run(spec, lim);
    tr.time_ms = rr.cpu_ms;
    tr.memory_bytes = rr.peak_rss_bytes;
    tr.verdict = run_verdict(rr.status);
    // A memory cgroup that reclaims before its OOM kill can burn the CPU budget first: a run that
    // hit the time limit with its peak at the memory limit is a memory_limit.
    if (tr.verdict == Verdict::kTimeLimit && lim.memory_bytes > 0 &&
        rr.peak_rss_bytes >= lim.memory_bytes - (lim.memory_bytes >> 6))
      tr.verdict = Verdict::kMemoryLimit;
    if (rr.status != sandbox::RunStatus::ok) {
      tr.message = rr.reason;
      return;
    }
    CheckResult cr = checker.check(*input, rr.stdout_data, *answer);
    tr.message = cr.message;
    if (cr.failed) {
      tr.verdict = Verdict::kGraderError;
      return;
    }
    tr.score = cr.score;
    tr.verdict = cr.score >= 1.0 ? Verdict::kCorrect : (cr.score > 0 ? Verdict::kPartial : Verdict::kWrong);
  };

  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k; (k = next.fetch_add(1)) < order.size();) {
      size_t ti = order[k];
      if (!run_all) {
        bool all_dead = true;
        for (size_t g : member[ti]) all_dead = all_dead && dead[g].load();
        if (all_dead) continue;
      }
      run_test(ti);
      if (res.tests[ti].score <= 0)
        for (size_t g : member[ti]) dead[g] = true;
    }
  };
  int workers = opt.workers > 0 ? opt.workers : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  workers = std::max(1, std::min<int>(workers, static_cast<int>(order.size())));
  if (workers == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int i = 0; i < workers; ++i) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }

  // Scoring.
  Verdict first_bad = Verdict::kCorrect;
  bool grader_error = false;
  for (size_t ti : order) {
    const TestResult& t = res.tests[ti];
    if (t.skipped) continue;
    if (t.verdict == Verdict::kGraderError) {
      grader_error = true;
      if (res.message.empty()) res.message = "test " + t.name + ": " + t.message;
    }
    if (t.verdict != Verdict::kCorrect && first_bad == Verdict::kCorrect) first_bad = t.verdict;
  }
  for (auto& g : groups) {
    double mn = 1.0;
    Verdict gv = Verdict::kCorrect;
    for (size_t ti : g.tests) {
      const TestResult& t = res.tests[ti];
      if (t.skipped) continue;
      mn = std::min(mn, t.score);
      if (t.verdict != Verdict::kCorrect && gv == Verdict::kCorrect) gv = t.verdict;
    }
    bool any_skipped_zero = false;
    for (size_t ti : g.tests) any_skipped_zero = any_skipped_zero || (res.tests[ti].skipped && dead[&g - groups.data()]);
    if (any_skipped_zero) mn = std::min(mn, 0.0);
    g.points = ioi ? round_to(g.max_points * mn, problem.score_precision) : mn;
    g.verdict = gv;
  }
  res.subtasks = groups;

  if (grader_error) {
    res.verdict = Verdict::kGraderError;
    res.score = 0;
    return res;
  }
  if (ioi) {
    for (auto& g : groups) res.points += g.points;
    res.points = round_to(res.points, problem.score_precision);
    res.score = res.max_points > 0 ? std::min(1.0, res.points / res.max_points) : 0.0;
    if (res.max_points > 0 && res.points >= res.max_points - 1e-9) res.verdict = Verdict::kCorrect;
    else if (res.points > 0) res.verdict = Verdict::kPartial;
    else res.verdict = first_bad == Verdict::kCorrect ? Verdict::kWrong : first_bad;
  } else {
    size_t passed = 0, total = problem.tests.size();
    for (auto& t : res.tests) passed += (!t.skipped && t.score >= 1.0) ? 1 : 0;
    bool accepted = first_bad == Verdict::kCorrect && passed == total;
    double frac = total ? static_cast<double>(passed) / total : 0.0;
    res.verdict = accepted ? Verdict::kCorrect : first_bad;
    if (!accepted && res.verdict == Verdict::kCorrect) res.verdict = Verdict::kWrong;
    switch (opt.cf_reward) {
      case CfReward::kPassFail: res.score = accepted ? 1.0 : 0.0; break;
      case CfReward::kPartial: res.score = frac; break;
      case CfReward::kWeightedSum: res.score = std::min(1.0, (accepted ? 1.0 : 0.0) + 0.1 * frac); break;
    }
    res.points = accepted ? 1 : 0;
  }
  return res;
}

}  // namespace crucible::code
