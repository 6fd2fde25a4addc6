#include "harness/eval_runner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <unordered_map>

#include "harness/progress.h"

namespace crucible {

namespace {

using Clock = std::chrono::steady_clock;

struct Job {
  size_t problem_index;
  int first_sample;
  int n;
};

struct Pending {
  Job job;
  Clock::time_point submitted;
  std::future<Result<std::vector<Completion>>> fut;
};

struct GradeWork {
  Job job;
  double latency_s;
  std::vector<Completion> completions;
};

SampleOutcome outcome_of(int sample, const Grade& g) {
  SampleOutcome o;
  o.sample = sample;
  o.correct = g.correct;
  o.verdict = g.verdict;
  o.extracted = g.extracted;
  return o;
}

}  // namespace

uint64_t request_seed(uint64_t base, size_t problem_index, int first_sample) {
  return base + static_cast<uint64_t>(problem_index) * 1000u + static_cast<uint64_t>(first_sample);
}

Result<EvalReport> run_eval(const Task& task, Backend& backend, RunStore& store, const EvalOptions& options) {
  const int n = options.params.n;
  if (n < 1) return Status::invalid("n must be >= 1");
  if (!task.grader) return Status::invalid("task '" + task.name + "' has no grader");
  const Grader& grader = *task.grader;
  EvalReport report;
  report.total_samples = task.problems.size() * static_cast<size_t>(n);

  std::unordered_map<std::string, size_t> index_of;
  for (size_t i = 0; i < task.problems.size(); ++i) index_of[task.problems[i].id] = i;

  // What the store already has.
  std::vector<ProblemOutcome> outcomes(task.problems.size());
  std::vector<std::vector<bool>> have(task.problems.size(), std::vector<bool>(n, false));
  size_t resumed_correct = 0;
  for (size_t i = 0; i < task.problems.size(); ++i) outcomes[i].id = task.problems[i].id;
  for (const auto& s : store.existing()) {
    auto it = index_of.find(s.problem_id);
    if (it == index_of.end() || s.sample >= n) continue;
    have[it->second][s.sample] = true;
    outcomes[it->second].samples.push_back(outcome_of(s.sample, s.grade));
    ++report.resumed_samples;
    resumed_correct += s.grade.correct ? 1 : 0;
  }

  // One job per contiguous missing range.
  std::deque<Job> todo;
  for (size_t i = 0; i < task.problems.size(); ++i) {
    int s = 0;
    while (s < n) {
      if (have[i][s]) {
        ++s;
        continue;
      }
      int e = s;
      while (e < n && !have[i][e]) ++e;
      todo.push_back({i, s, e - s});
      s = e;
    }
  }

  std::unique_ptr<Progress> progress;
  if (options.progress)
    progress = std::make_unique<Progress>(report.total_samples, report.resumed_samples, resumed_correct,
                                          options.progress_stream, options.progress_tty, task.name);
  if (progress && report.resumed_samples > 0)
    progress->message("resuming " + store.dir() + ": " + std::to_string(report.resumed_samples) + " of " +
                      std::to_string(report.total_samples) + " samples already stored" +
                      (store.torn_tail_dropped() ? " (a torn last line was dropped)" : ""));

  // Grading pool.
  std::mutex mu;  // guards outcomes, report.new_samples, fatal, queue
  std::condition_variable cv;
  std::deque<GradeWork> queue;
  std::deque<StoredSample> kept;  // new samples, kept for Task::aggregate (guarded by mu)
  bool closing = false;
  Status fatal;
  auto grade_one = [&](GradeWork& w) {
    const Problem& prob = task.problems[w.job.problem_index];
    for (size_t k = 0; k < w.completions.size(); ++k) {
      const Completion& c = w.completions[k];
      StoredSample s;
      s.problem_id = prob.id;
      s.sample = w.job.first_sample + static_cast<int>(k);
      s.completion = c.text;
      s.finish_reason = c.finish_reason;
      s.completion_tokens = c.completion_tokens;
      s.prompt_tokens = c.prompt_tokens;
      s.latency_s = w.latency_s;
      try {
        s.grade = grader.grade(prob, c.text);
      } catch (const std::exception& e) {
        s.grade = Grade{};
        s.grade.verdict = Verdict::kGraderError;
        s.grade.details = {{"error", std::string("grader threw: ") + e.what()}};
      }
      Status st = store.append(s);
      std::lock_guard<std::mutex> lock(mu);
      if (!st) {
        if (fatal.is_ok()) fatal = st;
        return;
      }
      outcomes[w.job.problem_index].samples.push_back(outcome_of(s.sample, s.grade));
      if (task.aggregate) kept.push_back(s);
      ++report.new_samples;
      if (progress) progress->add(1, s.grade.correct ? 1 : 0);
    }
  };
  int threads = options.grade_threads > 0
                    ? options.grade_threads
                    : static_cast<int>(std::min(8u, std::max(1u, std::thread::hardware_concurrency())));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (;;) {
        GradeWork w;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return closing || !queue.empty(); });
          if (queue.empty()) return;
          w = std::move(queue.front());
          queue.pop_front();
          if (!fatal.is_ok()) continue;
        }
        grade_one(w);
      }
    });
  }

  auto make_request = [&](const Job& j) {
    const Problem& p = task.problems[j.problem_index];
    GenerationRequest r;
    r.problem_id = p.id;
    r.first_sample = j.first_sample;
    RenderedPrompt rp = task.prompt.render(p);
    r.chat = rp.chat;
    for (auto& [role, content] : rp.messages) r.messages.push_back({role, content});
    r.prompt = std::move(rp.prompt);
    r.params = options.params;
    r.params.n = j.n;
    if (options.params.seed) r.params.seed = request_seed(*options.params.seed, j.problem_index, j.first_sample);
    return r;
  };

  std::list<Pending> pending;
  auto top_up = [&] {
    while (!todo.empty() && (options.max_in_flight == 0 || pending.size() < options.max_in_flight)) {
      Job j = todo.front();
      todo.pop_front();
      Pending p{j, Clock::now(), backend.submit(make_request(j))};
      pending.push_back(std::move(p));
    }
  };
  top_up();
  bool stop = false;
  while (!pending.empty() && !stop) {
    bool any = false;
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        ++it;
        continue;
      }
      any = true;
      Result<std::vector<Completion>> res = it->fut.get();
      double latency = std::chrono::duration<double>(Clock::now() - it->submitted).count();
      const Job job = it->job;
      it = pending.erase(it);
      const std::string& pid = task.problems[job.problem_index].id;
      if (!res) {
        EvalError e{pid, job.first_sample, job.n, res.status().message()};
        if (progress) {
          progress->message("error: problem '" + pid + "' samples " + std::to_string(job.first_sample) + ".." +
                            std::to_string(job.first_sample + job.n - 1) + ": " + e.message);
        }
        report.errors.push_back(std::move(e));
        continue;
      }
      std::vector<Completion> comps = std::move(*res);
      if (static_cast<int>(comps.size()) != job.n) {
        std::string msg = "backend returned " + std::to_string(comps.size()) + " completions, asked for " +
                          std::to_string(job.n);
        if (progress) progress->message("error: problem '" + pid + "': " + msg);
        report.errors.push_back({pid, job.first_sample, job.n, msg});
        if (static_cast<int>(comps.size()) > job.n) comps.resize(job.n);
        if (comps.empty()) continue;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!fatal.is_ok()) {
          stop = true;
          break;
        }
        queue.push_back({job, latency, std::move(comps)});
      }
      cv.notify_one();
    }
    top_up();
    if (!any && !pending.empty()) pending.front().fut.wait_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    closing = true;
  }
  cv.notify_all();
  for (auto& t : pool) t.join();
  if (!fatal.is_ok() || stop) {
    backend.cancel_all();
    if (progress) progress->finish();
    return fatal.is_ok() ? Status::internal("eval stopped") : fatal;
  }
  if (progress) progress->finish();

  report.missing_samples = report.total_samples - report.resumed_samples - report.new_samples;
  report.metrics = compute_metrics(outcomes, n, grader);
  json aggregated;
  if (task.aggregate) {
    // Task-level scores over the complete problems' samples (stored ones, then new ones).
    std::set<std::string> incomplete(report.metrics.incomplete.begin(), report.metrics.incomplete.end());
    std::vector<GradedSample> graded;
    auto add = [&](const StoredSample& s) {
      auto it = index_of.find(s.problem_id);
      if (it == index_of.end() || s.sample >= n || incomplete.count(s.problem_id)) return;
      graded.push_back({it->second, s.sample, &s.grade, s.completion_tokens, s.completion.size()});
    };
    for (const auto& s : store.existing()) add(s);
    for (const auto& s : kept) add(s);
    aggregated = task.aggregate(task.problems, graded);
    if (aggregated.is_object() && aggregated.contains("metrics") && aggregated["metrics"].is_object())
      for (auto& [k, v] : aggregated["metrics"].items())
        report.metrics.values.emplace_back(k, MetricValue{v.value("value", 0.0), v.value("stderr", 0.0)});
  }
  report.results = metrics_to_json(report.metrics, task.name, options.model);
  if (aggregated.is_object())
    for (auto& [k, v] : aggregated.items())
      if (k != "metrics") report.results[k] = v;
  json errs = json::array();
  for (const auto& e : report.errors)
    errs.push_back({{"problem_id", e.problem_id}, {"first_sample", e.first_sample}, {"n", e.n}, {"message", e.message}});
  report.results["errors"] = errs;
  report.results["missing_samples"] = report.missing_samples;
  report.results["grader"] = grader.name();
  if (auto s = store.write_results(report.results); !s) return s;
  return report;
}

}  // namespace crucible
