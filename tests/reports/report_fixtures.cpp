#include "report_fixtures.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace crucible::reports::testing {
namespace {

double pass_k(int n, int c, int k) {
  if (n - c < k) return 1.0;
  double prod = 1.0;
  for (int i = n - c + 1; i <= n; ++i) prod *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - prod;
}

json mean_se(const std::vector<double>& xs) {
  double m = 0;
  for (double x : xs) m += x;
  m /= xs.size();
  double ss = 0;
  for (double x : xs) ss += (x - m) * (x - m);
  double se = xs.size() > 1 ? std::sqrt(ss / (xs.size() - 1)) / std::sqrt(static_cast<double>(xs.size())) : 0;
  return {{"value", m}, {"stderr", se}};
}

json results_for(const FakeRun& run) {
  int n = static_cast<int>(run.problems.front().correct.size());
  std::vector<double> avgs;
  std::vector<std::vector<double>> passes;
  std::vector<int> ks;
  for (int k = 1; k <= n; k *= 2) ks.push_back(k);
  passes.resize(ks.size());
  json per = json::array();
  std::vector<double> maj;
  for (const auto& p : run.problems) {
    int c = 0;
    for (bool b : p.correct) c += b;
    avgs.push_back(static_cast<double>(c) / n);
    for (size_t i = 0; i < ks.size(); ++i) passes[i].push_back(pass_k(n, c, ks[i]));
    maj.push_back(2 * c > n ? 1.0 : 0.0);
    json e = {{"id", p.id}, {"n", n}, {"correct", c}, {"avg", static_cast<double>(c) / n},
              {"majority_answer", c > 0 ? json("42") : json("7")}};
    if (run.per_problem_extra.contains(p.id)) e.update(run.per_problem_extra[p.id]);
    per.push_back(e);
  }
  json metrics = json::object();
  metrics["avg@" + std::to_string(n)] = mean_se(avgs);
  for (size_t i = 0; i < ks.size(); ++i) metrics["pass@" + std::to_string(ks[i])] = mean_se(passes[i]);
  metrics["maj@" + std::to_string(n)] = mean_se(maj);
  return {{"task", run.task},         {"model", run.model},
          {"n", n},                   {"metrics", metrics},
          {"per_problem", per},       {"num_problems", run.problems.size()},
          {"num_samples", n * run.problems.size()}, {"verdict_counts", json::object()},
          {"complete", true},         {"incomplete_problems", json::array()}};
}

}  // namespace

fs::path fresh_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "_" + info->name() : "x";
  fs::path d = fs::temp_directory_path() / ("crucible_reports_" + std::to_string(::getpid())) / test / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

fs::path write_run(const fs::path& dir, const FakeRun& run) {
  fs::create_directories(dir);
  int n = static_cast<int>(run.problems.front().correct.size());
  json rj = {{"model", run.model},
             {"backend", "replay"},
             {"url", ""},
             {"task", run.task},
             {"data_path", "data/" + run.task + ".jsonl"},
             {"data_sha256", "abc123"},
             {"grader", "math"},
             {"prompt_sha256", "feed"},
             {"sampling",
              {{"n", n}, {"temperature", run.temperature}, {"top_p", 0.95}, {"top_k", -1},
               {"max_tokens", 32768}, {"seed", run.seed}, {"stop", json::array()}}},
             {"crucible_version", "0.1.0"},
             {"created", "2025-01-01T00:00:00Z"}};
  if (!run.revision.empty()) rj["model_revision"] = run.revision;
  std::ofstream(dir / "run.json") << rj.dump(2);
  if (run.write_samples) {
    std::ofstream s(dir / "samples.jsonl");
    for (const auto& p : run.problems)
      for (size_t i = 0; i < p.correct.size(); ++i) {
        bool ok = p.correct[i];
        json grade = {{"score", ok ? 1.0 : 0.0}, {"correct", ok}, {"verdict", ok ? "correct" : "wrong"},
                      {"extracted", ok ? "42" : "7"}, {"details", json::object()}};
        json line = {{"problem_id", p.id}, {"sample", i}, {"completion", run.completion},
                     {"finish_reason", "stop"}, {"tokens", 10}, {"prompt_tokens", 5},
                     {"grade", grade}, {"latency_s", 0.5}};
        s << line.dump() << "\n";
      }
  }
  std::ofstream(dir / "results.json") << results_for(run).dump(2);
  return dir;
}

std::vector<FakeProblem> problems_with(int n, const std::vector<int>& correct_counts, const std::string& prefix) {
  std::vector<FakeProblem> out;
  for (size_t i = 0; i < correct_counts.size(); ++i) {
    FakeProblem p{prefix + std::to_string(i), std::vector<bool>(n, false)};
    for (int k = 0; k < correct_counts[i] && k < n; ++k) p.correct[k] = true;
    out.push_back(p);
  }
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run_command(const std::string& cmd, std::string* output) {
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return -1;
  char buf[4096];
  size_t got;
  output->clear();
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) output->append(buf, got);
  int st = ::pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace crucible::reports::testing
