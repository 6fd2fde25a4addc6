// Benchmark metrics, matching lighteval / Open-R1 definitions so numbers are comparable.
//   avg@n  : mean over problems of c/n (what Open-R1 reports as "pass@1 with n samples")
//   pass@k : unbiased estimator 1 - C(n-c,k)/C(n,k), computed as a product (no big binomials)
//   maj@k  : majority vote over the first k samples' extracted answers, grouped into
//            equivalence classes with Grader::same_answer; ties -> the class seen first;
//            samples without an answer do not vote; correct iff the winning class is correct
//   stderr : sample standard deviation of the per-problem scores / sqrt(#problems)
// k runs over 1, 2, 4, 8, ... <= n. Values are fractions in [0,1].
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/statistics.h"
#include "tasks/grader.h"

namespace crucible {

using json = nlohmann::json;

struct SampleOutcome {
  int sample = 0;          // sample index within its problem
  bool correct = false;
  Verdict verdict = Verdict::kNoAnswer;
  std::string extracted;   // "" or verdict no_answer -> does not vote in maj@k
};

struct ProblemOutcome {
  std::string id;
  std::vector<SampleOutcome> samples;  // any order; metrics sort by sample index
};

struct MetricValue {
  double value = 0;
  double stderr_ = 0;
};

struct ProblemSummary {
  std::string id;
  int n = 0;
  int correct = 0;
  double avg = 0;
  std::optional<std::string> majority_answer;  // maj@n winner's representative answer
};

struct MajorityVote {
  bool has_winner = false;
  std::string answer;   // representative (first-seen) answer of the winning class
  bool correct = false;
  int votes = 0;
};

struct Metrics {
  int n = 0;                                             // samples per problem
  std::vector<std::pair<std::string, MetricValue>> values;  // ordered: avg@n, pass@k..., maj@k...
  std::vector<ProblemSummary> per_problem;
  size_t num_problems = 0;   // problems with all n samples (the ones scored)
  size_t num_samples = 0;    // samples scored
  std::map<std::string, int> verdict_counts;
  std::vector<std::string> incomplete;  // problems with fewer than n samples (not scored)

  const MetricValue* find(const std::string& name) const;
};

// pass_at_k(n, c, k): core/statistics.h.
// The k values reported for n samples: 1, 2, 4, ... <= n.
std::vector<int> metric_ks(int n);
// Mean and standard error (sample std, ddof=1, / sqrt(size); 0 for fewer than 2 values).
MetricValue mean_and_stderr(const std::vector<double>& xs);
// Majority vote over samples[0..k) (samples must be in sample order).
MajorityVote majority_vote(const std::vector<SampleOutcome>& samples, int k, const Grader& grader);

// Metrics over the problems that have samples 0..n-1 (samples with index >= n are ignored;
// problems missing some are listed in `incomplete` and not scored).
Metrics compute_metrics(const std::vector<ProblemOutcome>& problems, int n, const Grader& grader);

// results.json: {"task","model","n","metrics":{"avg@N":{"value","stderr"},...},"per_problem":[...],
//                "num_problems","num_samples","verdict_counts","complete","incomplete_problems"}
json metrics_to_json(const Metrics& m, const std::string& task, const std::string& model);

// Human summary (percentages).
std::string format_summary(const Metrics& m, const std::string& task, const std::string& model);

}  // namespace crucible
