#include "train/rewards/reward_registry.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "tasks/task_registry.h"
#include "train/rewards/code_rewards.h"
#include "train/rewards/format_rewards.h"
#include "train/rewards/math_rewards.h"
#include "train/rewards/quality_rewards.h"

namespace crucible::train {

namespace {

using Factory = std::function<Result<std::unique_ptr<RewardFunction>>(const RewardParams&)>;

Result<std::shared_ptr<const Grader>> math_grader(const RewardParams& p) {
  if (p.default_grader) return p.default_grader;
  const TaskSpec* spec = TaskRegistry::global().find("math");
  if (!spec || !spec->make_grader) return Status::internal("the built-in task 'math' is not registered");
  return spec->make_grader();
}

MathRewardOptions math_options(const RewardParams& p, std::shared_ptr<const Grader> g) {
  MathRewardOptions o;
  o.default_grader = std::move(g);
  o.threads = std::max<size_t>(1, p.grading_threads);
  return o;
}

template <typename T>
Result<std::unique_ptr<RewardFunction>> wrap(Result<T> r) {
  if (!r.is_ok()) return r.status();
  return std::unique_ptr<RewardFunction>(new T(std::move(r).value()));
}

Result<std::unique_ptr<RewardFunction>> code_reward(CodeRewardKind kind, const RewardParams& p) {
  CodeRewardOptions o;
  o.grader = p.code_grader;
  o.language = p.args.code_language;
  o.scoring_mode = p.args.code_eval_scoring_mode;
  o.parallel = static_cast<size_t>(std::max<int64_t>(1, p.args.parallel_code_exec_per_proc));
  o.test_batch_size = p.args.code_eval_test_batch_size;
  auto r = CodeReward::create(kind, o);
  if (!r.is_ok()) return r.status();
  return std::unique_ptr<RewardFunction>(std::move(r).value());
}

const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> r = {
      {"accuracy",
       [](const RewardParams& p) -> Result<std::unique_ptr<RewardFunction>> {
         auto g = math_grader(p);
         if (!g.is_ok()) return g.status();
         return std::unique_ptr<RewardFunction>(new AccuracyReward(math_options(p, *g)));
       }},
      {"length",
       [](const RewardParams& p) -> Result<std::unique_ptr<RewardFunction>> {
         auto g = math_grader(p);
         if (!g.is_ok()) return g.status();
         return std::unique_ptr<RewardFunction>(new LengthReward(math_options(p, *g)));
       }},
      {"cosine",
       [](const RewardParams& p) -> Result<std::unique_ptr<RewardFunction>> {
         auto g = math_grader(p);
         if (!g.is_ok()) return g.status();
         CosineParams c;
         c.min_value_wrong = p.args.cosine_min_value_wrong;
         c.max_value_wrong = p.args.cosine_max_value_wrong;
         c.min_value_correct = p.args.cosine_min_value_correct;
         c.max_value_correct = p.args.cosine_max_value_correct;
         c.max_len = p.args.cosine_max_len;
         if (c.max_len < 1) return Status::invalid("cosine: cosine_max_len must be >= 1");
         return std::unique_ptr<RewardFunction>(new CosineReward(math_options(p, *g), c));
       }},
      {"format", [](const RewardParams&) -> Result<std::unique_ptr<RewardFunction>> {
         return std::unique_ptr<RewardFunction>(new FormatReward());
       }},
      {"tag_count", [](const RewardParams&) -> Result<std::unique_ptr<RewardFunction>> {
         return std::unique_ptr<RewardFunction>(new TagCountReward());
       }},
      {"reasoning_steps", [](const RewardParams&) -> Result<std::unique_ptr<RewardFunction>> {
         return std::unique_ptr<RewardFunction>(new ReasoningStepsReward());
       }},
      {"code_format", [](const RewardParams& p) -> Result<std::unique_ptr<RewardFunction>> {
         return std::unique_ptr<RewardFunction>(new CodeFormatReward(p.args.code_language));
       }},
      {"repetition_penalty", [](const RewardParams& p) {
         return wrap(RepetitionPenaltyReward::create(p.args.repetition_n_grams, p.args.repetition_max_penalty));
       }},
      {"soft_overlong_punishment", [](const RewardParams& p) {
         return wrap(SoftOverlongPunishmentReward::create(p.args.max_completion_len, p.args.soft_punish_cache));
       }},
      {"code", [](const RewardParams& p) { return code_reward(CodeRewardKind::kCode, p); }},
      {"binary_code", [](const RewardParams& p) { return code_reward(CodeRewardKind::kBinaryCode, p); }},
      {"cf_code", [](const RewardParams& p) { return code_reward(CodeRewardKind::kCfCode, p); }},
      {"ioi_code", [](const RewardParams& p) { return code_reward(CodeRewardKind::kIoiCode, p); }},
  };
  return r;
}

}  // namespace

std::vector<std::string> reward_names() {
  std::vector<std::string> n;
  for (const auto& [name, f] : registry()) n.push_back(name);
  return n;  // std::map: sorted
}

Result<std::unique_ptr<RewardFunction>> make_reward(const std::string& name, const RewardParams& params) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : reward_names()) known += (known.empty() ? "" : ", ") + n;
    return Status::invalid("unknown reward function '" + name + "'; known: " + known);
  }
  auto r = it->second(params);
  if (!r.is_ok()) return Status::invalid("reward '" + name + "': " + r.status().message());
  return r;
}

double weighted_reward_sum(const std::vector<double>& values, const std::vector<double>& weights) {
  double sum = 0;
  bool any = false;
  for (size_t f = 0; f < values.size(); ++f) {
    if (std::isnan(values[f])) continue;
    sum += (f < weights.size() ? weights[f] : 1.0) * values[f];
    any = true;
  }
  return any ? sum : std::numeric_limits<double>::quiet_NaN();
}

Result<RewardSet> RewardSet::create(const RewardParams& params) {
  const auto& names = params.args.reward_funcs;
  if (names.empty()) return Status::invalid("reward_funcs is empty");
  if (!params.args.reward_weights.empty() && params.args.reward_weights.size() != names.size())
    return Status::invalid("reward_weights has " + std::to_string(params.args.reward_weights.size()) +
                           " weights for " + std::to_string(names.size()) + " reward_funcs");
  RewardSet s;
  for (const auto& n : names) {
    auto f = make_reward(n, params);
    if (!f.is_ok()) return f.status();
    s.functions_.push_back(std::shared_ptr<const RewardFunction>(std::move(f).value()));
  }
  s.weights_ = params.args.reward_weights.empty() ? std::vector<double>(names.size(), 1.0) : params.args.reward_weights;
  return s;
}

std::vector<std::string> RewardSet::names() const {
  std::vector<std::string> n;
  for (const auto& f : functions_) n.push_back(f->name());
  return n;
}

RewardSet::Scores RewardSet::score(const std::vector<RewardInput>& batch) const {
  Scores s;
  s.names = names();
  for (const auto& f : functions_) {
    s.per_function.push_back(f->score(batch));
    if (s.per_function.back().size() != batch.size())
      throw std::logic_error("reward '" + f->name() + "' returned a wrong number of values");
  }
  s.total.resize(batch.size());
  std::vector<double> row(functions_.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    for (size_t f = 0; f < functions_.size(); ++f) row[f] = s.per_function[f][i];
    s.total[i] = weighted_reward_sum(row, weights_);
  }
  return s;
}

}  // namespace crucible::train
