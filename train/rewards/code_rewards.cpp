#include "train/rewards/code_rewards.h"

#include <limits>

#include "train/rewards/parallel_for.h"

namespace crucible::train {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

Problem code_problem_from_verification_info(const Problem& p) {
  if (!p.meta.is_object() || !p.meta.contains("verification_info")) return p;
  json vi = p.meta["verification_info"];
  if (vi.is_string()) {  // datasets sometimes store it as a JSON string
    vi = json::parse(vi.get<std::string>(), nullptr, false);
    if (vi.is_discarded()) return p;
  }
  if (!vi.is_object()) return p;
  Problem out = p;
  json row = json::object();
  row["id"] = p.id.empty() ? std::string("verification_info") : p.id;
  json tests = vi.value("test_cases", json::array());
  if (tests.is_string()) tests = json::parse(tests.get<std::string>(), nullptr, false);
  row["official_tests"] = tests.is_array() ? tests : json::array();
  row["time_limit"] = vi.value("time_limit", 5.0);      // Open-R1's exec_timeout per test
  row["memory_limit"] = vi.value("memory_limit", 256.0);  // MB
  out.meta = json::object();
  out.meta["codeforces_row"] = row;
  if (vi.contains("language") && vi["language"].is_string()) out.meta["language"] = vi["language"];
  return out;
}

CodeReward::CodeReward(CodeRewardKind kind, CodeRewardOptions options) : kind_(kind), opt_(std::move(options)) {}

Result<std::unique_ptr<CodeReward>> CodeReward::create(CodeRewardKind kind, CodeRewardOptions o) {
  auto lang = code::language_from_name(kind == CodeRewardKind::kIoiCode ? "cpp" : o.language);
  if (!lang) return Status::invalid("code rewards: unsupported code_language '" + o.language + "' (python, cpp, c)");
  code::CfReward mode = code::CfReward::kPartial;
  if (kind == CodeRewardKind::kCfCode) {
    if (o.scoring_mode == "pass_fail") mode = code::CfReward::kPassFail;
    else if (o.scoring_mode != "partial" && o.scoring_mode != "weighted_sum")
      return Status::invalid("cf_code: code_eval_scoring_mode must be pass_fail, partial or weighted_sum");
  }
  o.grader.language = *lang;
  o.grader.judge.cf_reward = mode;
  o.grader.judge.workers = o.test_batch_size > 0 ? static_cast<int>(o.test_batch_size) : 0;
  if (o.parallel < 1) o.parallel = 1;
  std::unique_ptr<CodeReward> r(new CodeReward(kind, o));
  r->grader_ = std::make_unique<code::CodeGrader>(r->opt_.grader);
  return Result<std::unique_ptr<CodeReward>>(std::move(r));
}

std::string CodeReward::name() const {
  switch (kind_) {
    case CodeRewardKind::kCode: return "code";
    case CodeRewardKind::kBinaryCode: return "binary_code";
    case CodeRewardKind::kCfCode: return "cf_code";
    case CodeRewardKind::kIoiCode: return "ioi_code";
  }
  return "code";
}

double CodeReward::score_one(const RewardInput& in) const {
  if (!in.problem) return kNaN;
  Problem p = kind_ == CodeRewardKind::kCode || kind_ == CodeRewardKind::kBinaryCode
                  ? code_problem_from_verification_info(*in.problem)
                  : *in.problem;
  if (kind_ == CodeRewardKind::kIoiCode && !p.meta.contains("ioi_row") && !p.meta.contains("problem_dir")) return kNaN;
  if (kind_ == CodeRewardKind::kCfCode && !p.meta.contains("codeforces_row") && !p.meta.contains("official_tests"))
    return kNaN;
  Grade g = grader_->grade(p, in.completion);
  if (g.verdict == Verdict::kGraderError) return kNaN;
  switch (kind_) {
    case CodeRewardKind::kCode:
      return g.verdict == Verdict::kNoAnswer || g.verdict == Verdict::kCompileError ? 0.0 : g.score;
    case CodeRewardKind::kBinaryCode:
      return g.verdict != Verdict::kNoAnswer && g.verdict != Verdict::kCompileError && g.score > 0.99 ? 1.0 : 0.0;
    case CodeRewardKind::kIoiCode:
      return g.verdict == Verdict::kNoAnswer || g.verdict == Verdict::kCompileError ? 0.0 : g.score;
    case CodeRewardKind::kCfCode:
      if (g.verdict == Verdict::kNoAnswer) return -1.0;
      if (g.verdict == Verdict::kCompileError) return -0.1;
      if (opt_.scoring_mode == "weighted_sum") return (g.verdict == Verdict::kCorrect ? 1.0 : 0.0) + 0.1 * g.score;
      return g.score;
  }
  return kNaN;
}

std::vector<double> CodeReward::score(const std::vector<RewardInput>& batch) const {
  std::vector<double> out(batch.size(), kNaN);
  parallel_for(batch.size(), opt_.parallel, [&](size_t i) { out[i] = score_one(batch[i]); });
  return out;
}

}  // namespace crucible::train
