#include "harness/metrics.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

namespace crucible {

const MetricValue* Metrics::find(const std::string& name) const {
  for (const auto& [k, v] : values)
    if (k == name) return &v;
  return nullptr;
}

std::vector<int> metric_ks(int n) {
  std::vector<int> ks;
  for (long k = 1; k <= n; k *= 2) ks.push_back(static_cast<int>(k));
  return ks;
}

MetricValue mean_and_stderr(const std::vector<double>& xs) {
  MeanSe m = mean_se(xs);
  return {m.mean, m.se};
}

MajorityVote majority_vote(const std::vector<SampleOutcome>& samples, int k, const Grader& grader) {
  struct Class {
    std::string rep;
    bool correct;
    int votes;
  };
  std::vector<Class> classes;
  int limit = std::min<int>(k, static_cast<int>(samples.size()));
  for (int i = 0; i < limit; ++i) {
    const auto& s = samples[i];
    if (s.verdict == Verdict::kNoAnswer || s.extracted.empty()) continue;
    bool placed = false;
    for (auto& c : classes) {
      if (c.rep == s.extracted || grader.same_answer(c.rep, s.extracted)) {
        ++c.votes;
        placed = true;
        break;
      }
    }
    if (!placed) classes.push_back({s.extracted, s.correct, 1});
  }
  MajorityVote v;
  const Class* best = nullptr;
  for (const auto& c : classes)
    if (!best || c.votes > best->votes) best = &c;  // strict '>' keeps the first on ties
  if (best) {
    v.has_winner = true;
    v.answer = best->rep;
    v.correct = best->correct;
    v.votes = best->votes;
  }
  return v;
}

Metrics compute_metrics(const std::vector<ProblemOutcome>& problems, int n, const Grader& grader) {
  Metrics m;
  m.n = n;
  std::vector<int> ks = metric_ks(n);
  std::vector<double> avg_scores;
  std::vector<std::vector<double>> pass_scores(ks.size()), maj_scores(ks.size());

  for (const auto& p : problems) {
    std::vector<SampleOutcome> s;
    for (const auto& x : p.samples)
      if (x.sample >= 0 && x.sample < n) s.push_back(x);
    std::sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.sample < b.sample; });
    s.erase(std::unique(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.sample == b.sample; }),
            s.end());
    if (static_cast<int>(s.size()) < n || n <= 0) {
      m.incomplete.push_back(p.id);
      continue;
    }
    int c = 0;
    for (const auto& x : s) {
      c += x.correct ? 1 : 0;
      ++m.verdict_counts[verdict_name(x.verdict)];
    }
    m.num_samples += s.size();
    ++m.num_problems;
    avg_scores.push_back(static_cast<double>(c) / n);
    for (size_t i = 0; i < ks.size(); ++i) {
      pass_scores[i].push_back(pass_at_k(n, c, ks[i]));
      maj_scores[i].push_back(majority_vote(s, ks[i], grader).correct ? 1.0 : 0.0);
    }
    ProblemSummary ps;
    ps.id = p.id;
    ps.n = n;
    ps.correct = c;
    ps.avg = static_cast<double>(c) / n;
    MajorityVote mv = majority_vote(s, n, grader);
    if (mv.has_winner) ps.majority_answer = mv.answer;
    m.per_problem.push_back(std::move(ps));
  }
  m.values.emplace_back("avg@" + std::to_string(n), mean_and_stderr(avg_scores));
  for (size_t i = 0; i < ks.size(); ++i)
    m.values.emplace_back("pass@" + std::to_string(ks[i]), mean_and_stderr(pass_scores[i]));
  for (size_t i = 0; i < ks.size(); ++i)
    m.values.emplace_back("maj@" + std::to_string(ks[i]), mean_and_stderr(maj_scores[i]));
  return m;
}

json metrics_to_json(const Metrics& m, const std::string& task, const std::string& model) {
  json metrics = json::object();
  // No scored problem -> null values (not a misleading 0).
  for (const auto& [k, v] : m.values)
    metrics[k] = m.num_problems ? json{{"value", v.value}, {"stderr", v.stderr_}}
                                : json{{"value", nullptr}, {"stderr", nullptr}};
  json per = json::array();
  for (const auto& p : m.per_problem) {
    per.push_back({{"id", p.id},
                   {"n", p.n},
                   {"correct", p.correct},
                   {"avg", p.avg},
                   {"majority_answer", p.majority_answer ? json(*p.majority_answer) : json(nullptr)}});
  }
  json verdicts = json::object();
  for (const auto& [k, v] : m.verdict_counts) verdicts[k] = v;
  return json{{"task", task},
              {"model", model},
              {"n", m.n},
              {"metrics", metrics},
              {"per_problem", per},
              {"num_problems", m.num_problems},
              {"num_samples", m.num_samples},
              {"verdict_counts", verdicts},
              {"complete", m.incomplete.empty()},
              {"incomplete_problems", m.incomplete}};
}

std::string format_summary(const Metrics& m, const std::string& task, const std::string& model) {
  std::ostringstream os;
  os << fmt::format("{:<10} {}\n", "task", task);
  os << fmt::format("{:<10} {}\n", "model", model);
  os << fmt::format("{:<10} {}{}\n", "problems", m.num_problems,
                    m.incomplete.empty() ? ""
                                         : fmt::format("  ({} incomplete, not scored)", m.incomplete.size()));
  os << fmt::format("{:<10} {} ({} per problem)\n", "samples", m.num_samples, m.n);
  os << fmt::format("{:-<34}\n", "");
  os << fmt::format("{:<10} {:>9}   {:>9}\n", "metric", "value %", "stderr %");
  if (m.num_problems == 0) os << "(no problem has all " << m.n << " samples yet: no metrics)\n";
  for (const auto& [k, v] : m.values) {
    if (m.num_problems == 0) break;
    os << fmt::format("{:<10} {:>9.2f} ± {:>8.2f}\n", k, 100.0 * v.value, 100.0 * v.stderr_);
  }
  if (!m.verdict_counts.empty()) {
    os << "verdicts  ";
    bool first = true;
    for (const auto& [k, v] : m.verdict_counts) {
      os << (first ? " " : ", ") << k << "=" << v;
      first = false;
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace crucible
