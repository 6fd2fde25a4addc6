// GRPO math: advantages and every loss variant against values worked out by hand, metrics, and
// a gradient check (autograd vs central finite differences in fp64).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "train/grpo_loss.h"

using namespace crucible::train;

namespace {

auto f64() { return torch::TensorOptions().dtype(torch::kFloat64); }

std::vector<double> vec(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// The worked example (B = 2 completions, T = 3):
//   logp = [[-1.0, -0.5, -2.0], [-0.3, -1.5, -0.7]]
//   old  = [[-1.3, -0.5, -1.5], [-0.3, -1.0, -0.9]]   ratio = exp(logp - old)
//        -> [[e^0.3 = 1.3498588, 1, e^-0.5 = 0.6065307], [1, e^-0.5 = 0.6065307, e^0.2 = 1.2214028]]
//   ref  = [[-1.0, -0.7, -2.0], [-0.5, -1.5, -0.7]]   ref - logp = [[0, -0.2, 0], [-0.2, 0, 0]]
//        k3 = e^x - x - 1: k3(-0.2) = 0.8187308 + 0.2 - 1 = 0.0187308, k3(0) = 0
//   A = [1, -2], epsilon_low 0.2, epsilon_high 0.28 (ratio clamped to [0.8, 1.28]), beta 0.1
//   mask = [[1, 1, 1], [1, 1, 0]]
// Policy term -min(r A, clamp(r) A):
//   seq 0 (A = 1):  t0 r = 1.3499 > 1.28 -> -1.28 (high-clipped); t1 -1; t2 -0.6065307 (r < 0.8 but A > 0: not clipped)
//   seq 1 (A = -2): t0 2; t1 r = 0.6065 < 0.8 -> min(-1.2131, -1.6) = -1.6 -> 1.6 (low-clipped); t2 2.4428055 (masked)
// Per-token loss l = policy + 0.1 k3:
//   seq 0: [-1.28, -0.99812692469, -0.60653065971]   sum over mask -2.88465758440
//   seq 1: [2.00187307531, 1.6, 2.44280551632]         sum over mask  3.60187307531
//   total 0.71721549090 over 5 tokens
struct Example {
  torch::Tensor logp, old, ref, adv, mask;
  Example() {
    logp = torch::tensor({-1.0, -0.5, -2.0, -0.3, -1.5, -0.7}, f64()).view({2, 3}).requires_grad_(true);
    old = torch::tensor({-1.3, -0.5, -1.5, -0.3, -1.0, -0.9}, f64()).view({2, 3});
    ref = torch::tensor({-1.0, -0.7, -2.0, -0.5, -1.5, -0.7}, f64()).view({2, 3});
    adv = torch::tensor({1.0, -2.0}, f64());
    mask = torch::tensor({1, 1, 1, 1, 1, 0}, torch::kInt64).view({2, 3});
  }
  GrpoLossInputs inputs() const {
    GrpoLossInputs in;
    in.logps = logp;
    in.old_logps = old;
    in.ref_logps = ref;
    in.advantages = adv;
    in.completion_mask = mask;
    return in;
  }
};

GrpoLossConfig config(GrpoLossKind kind) {
  GrpoLossConfig c;
  c.loss_type = kind;
  c.epsilon_low = 0.2;
  c.epsilon_high = 0.28;
  c.beta = 0.1;
  c.max_completion_length = 4;
  return c;
}

}  // namespace

TEST(GrpoAdvantages, GroupBatchNone) {
  // Group 1: [1, 0, 0, 1] mean 0.5, unbiased std sqrt((4 x 0.25) / 3) = 0.5773503;
  // group 2: [2, 2, 2, 2] mean 2, std 0.
  torch::Tensor r = torch::tensor({1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0}, f64());
  auto g = compute_advantages(r, 4, ScaleRewardsKind::kGroup);
  const double a = 0.8658754297607016;  // 0.5 / (0.5773502692 + 1e-4)
  std::vector<double> want = {a, -a, -a, a, 0, 0, 0, 0};
  auto got = vec(g.advantages);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
  EXPECT_NEAR(vec(g.std)[0], std::sqrt(1.0 / 3.0), 1e-15);
  EXPECT_EQ(vec(g.group_mean), (std::vector<double>{0.5, 0.5, 0.5, 0.5, 2, 2, 2, 2}));
  EXPECT_EQ(vec(g.is_std_zero.to(torch::kFloat64)), (std::vector<double>{0, 0, 0, 0, 1, 1, 1, 1}));

  // Batch: std over all 8 rewards (mean 1.25): sum of squares 5.5, unbiased var 5.5 / 7.
  auto b = compute_advantages(r, 4, ScaleRewardsKind::kBatch);
  const double ab = 0.5640124456324701;  // 0.5 / (sqrt(5.5 / 7) = 0.8864053 + 1e-4)
  got = vec(b.advantages);
  std::vector<double> want_b = {ab, -ab, -ab, ab, 0, 0, 0, 0};
  for (size_t i = 0; i < want_b.size(); ++i) EXPECT_NEAR(got[i], want_b[i], 1e-12) << i;
  EXPECT_NEAR(vec(b.std)[5], 0.8864052604279183, 1e-15);

  auto n = compute_advantages(r, 4, ScaleRewardsKind::kNone);
  EXPECT_EQ(vec(n.advantages), (std::vector<double>{0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0}));

  // Unscorable (NaN) rewards: left out of mean / std, advantage 0. [1, NaN, 0, 0.5]: mean 0.5,
  // std sqrt((0.25 + 0.25 + 0) / 2) = 0.5.
  auto nan = compute_advantages(torch::tensor({1.0, std::nan(""), 0.0, 0.5}, f64()), 4, ScaleRewardsKind::kGroup);
  got = vec(nan.advantages);
  EXPECT_NEAR(got[0], 0.5 / 0.5001, 1e-12);
  EXPECT_EQ(got[1], 0.0);
  EXPECT_NEAR(got[2], -0.5 / 0.5001, 1e-12);
  EXPECT_EQ(got[3], 0.0);
  EXPECT_ANY_THROW(compute_advantages(torch::tensor({1.0, 2.0, 3.0}, f64()), 2, ScaleRewardsKind::kGroup));
}

TEST(GrpoLoss, PerTokenLossByHand) {
  Example ex;
  auto out = grpo_loss(ex.inputs(), config(GrpoLossKind::kBnpo));
  std::vector<double> want = {-1.28, -0.9981269246922018, -0.6065306597126334,
                              2.001873075307798, 1.6, 2.4428055163203397};
  auto got = vec(out.per_token_loss);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
}

TEST(GrpoLoss, EveryLossTypeByHand) {
  Example ex;
  // grpo: mean over sequences of the per-sequence token mean: (-2.8846576 / 3 + 3.6018731 / 2) / 2.
  EXPECT_NEAR(grpo_loss(ex.inputs(), config(GrpoLossKind::kGrpo)).loss.item<double>(), 0.41969200475947693, 1e-12);
  // bnpo: all tokens / token count: 0.7172155 / 5.
  EXPECT_NEAR(grpo_loss(ex.inputs(), config(GrpoLossKind::kBnpo)).loss.item<double>(), 0.14344309818059253, 1e-12);
  // dr_grpo: / (B x max_completion_length) = / (2 x 4).
  EXPECT_NEAR(grpo_loss(ex.inputs(), config(GrpoLossKind::kDrGrpo)).loss.item<double>(), 0.08965193636287033, 1e-12);
  // dapo: / (global tokens / processes). This micro-batch is one of several: 10 tokens in the
  // global batch -> 0.7172155 / 10; with 2 processes -> / 5.
  GrpoLossConfig d = config(GrpoLossKind::kDapo);
  d.num_items_in_batch = 10;
  EXPECT_NEAR(grpo_loss(ex.inputs(), d).loss.item<double>(), 0.07172154909029627, 1e-12);
  d.num_processes = 2;
  EXPECT_NEAR(grpo_loss(ex.inputs(), d).loss.item<double>(), 0.14344309818059253, 1e-12);
  // dapo without a global count: the micro-batch's own 5 tokens.
  EXPECT_NEAR(grpo_loss(ex.inputs(), config(GrpoLossKind::kDapo)).loss.item<double>(), 0.14344309818059253, 1e-12);
  // grpo / bnpo / dr_grpo divide by the accumulation steps.
  GrpoLossConfig acc = config(GrpoLossKind::kGrpo);
  acc.gradient_accumulation_steps = 2;
  EXPECT_NEAR(grpo_loss(ex.inputs(), acc).loss.item<double>(), 0.41969200475947693 / 2, 1e-12);
  // beta = 0: no KL term: seq 0 sums to -1.28 - 1 - 0.6065307, seq 1 to 2 + 1.6; bnpo over 5 tokens.
  GrpoLossConfig nokl = config(GrpoLossKind::kBnpo);
  nokl.beta = 0;
  GrpoLossInputs in = ex.inputs();
  in.ref_logps = torch::Tensor();
  EXPECT_NEAR(grpo_loss(in, nokl).loss.item<double>(), (-1.28 - 1.0 - 0.6065306597126334 + 2.0 + 1.6) / 5, 1e-12);
}

TEST(GrpoLoss, MaskTruncatedCompletions) {
  Example ex;
  GrpoLossInputs in = ex.inputs();
  in.is_truncated = torch::tensor({false, true});
  GrpoLossConfig c = config(GrpoLossKind::kBnpo);
  // Off: the flag is ignored.
  EXPECT_NEAR(grpo_loss(in, c).loss.item<double>(), 0.14344309818059253, 1e-12);
  // On: sequence 1 leaves the loss: -2.8846576 / 3.
  c.mask_truncated_completions = true;
  auto out = grpo_loss(in, c);
  EXPECT_NEAR(out.loss.item<double>(), -0.9615525281349452, 1e-12);
  EXPECT_EQ(out.metrics.loss_tokens, 3.0);
  torch::Tensor m = mask_truncated_completions(ex.mask, in.is_truncated);
  EXPECT_EQ(count_loss_tokens(m), 3.0);
}

TEST(GrpoLoss, MetricsByHand) {
  Example ex;
  GrpoLossInputs in = ex.inputs();
  in.logits = torch::zeros({2, 3, 2}, f64());  // uniform over 2 tokens: entropy ln 2 everywhere
  auto m = grpo_loss(in, config(GrpoLossKind::kDapo)).metrics;
  EXPECT_DOUBLE_EQ(m.clip_ratio_low_mean, 0.2);      // seq 1 t1 of 5 tokens
  EXPECT_DOUBLE_EQ(m.clip_ratio_high_mean, 0.2);     // seq 0 t0
  EXPECT_DOUBLE_EQ(m.clip_ratio_region_mean, 0.4);
  EXPECT_DOUBLE_EQ(m.clip_ratio_low_min, 0.0);       // per-sequence low means [0, 1/2]
  EXPECT_DOUBLE_EQ(m.clip_ratio_high_max, 1.0 / 3.0);  // per-sequence high means [1/3, 0]
  EXPECT_NEAR(m.kl, 0.007492301231192755, 1e-15);    // 2 x 0.0187308 / 5
  EXPECT_NEAR(m.entropy, std::log(2.0), 1e-15);
  EXPECT_EQ(m.loss_tokens, 5.0);
  GrpoLossConfig nokl = config(GrpoLossKind::kDapo);
  nokl.beta = 0;
  auto m0 = grpo_loss(ex.inputs(), nokl).metrics;
  EXPECT_TRUE(std::isnan(m0.kl));
  EXPECT_TRUE(std::isnan(m0.entropy));
}

TEST(GrpoLoss, OnPolicyRatioIsOne) {
  // No old log-probs (num_iterations = 1): ratio 1, loss = -A per token, gradient -A / tokens.
  Example ex;
  GrpoLossInputs in = ex.inputs();
  in.old_logps = torch::Tensor();
  GrpoLossConfig c = config(GrpoLossKind::kBnpo);
  c.beta = 0;
  in.ref_logps = torch::Tensor();
  auto out = grpo_loss(in, c);
  EXPECT_NEAR(out.loss.item<double>(), (3 * -1.0 + 2 * 2.0) / 5, 1e-15);
  out.loss.backward();
  std::vector<double> want = {-0.2, -0.2, -0.2, 0.4, 0.4, 0.0};
  auto got = vec(ex.logp.grad());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-15) << i;
}

TEST(GrpoLoss, GradientMatchesFiniteDifferences) {
  for (GrpoLossKind kind : {GrpoLossKind::kDapo, GrpoLossKind::kGrpo}) {
    Example ex;
    GrpoLossConfig c = config(kind);
    c.num_items_in_batch = 7;
    auto out = grpo_loss(ex.inputs(), c);
    out.loss.backward();
    auto analytic = vec(ex.logp.grad());
    const double h = 1e-6;
    torch::Tensor base = ex.logp.detach().clone();
    for (int64_t i = 0; i < 6; ++i) {
      auto eval = [&](double delta) {
        torch::Tensor p = base.clone();
        p.view({-1})[i] += delta;
        GrpoLossInputs in = ex.inputs();
        in.logps = p;
        return grpo_loss(in, c).loss.item<double>();
      };
      double fd = (eval(h) - eval(-h)) / (2 * h);
      EXPECT_NEAR(analytic[static_cast<size_t>(i)], fd, 1e-8) << grpo_loss_name(kind) << " token " << i;
    }
    // Clipped tokens carry no policy gradient, only the KL term's: seq 0 t0 (high-clipped, k3' = 0).
    EXPECT_NEAR(analytic[0], 0.0, 1e-15);
  }
}

TEST(GrpoLoss, SelectiveLogSoftmaxAndEntropy) {
  torch::Tensor logits = torch::tensor({0.0, std::log(2.0), 0.0}, f64()).view({1, 1, 3});
  torch::Tensor ids = torch::tensor({1}, torch::kInt64).view({1, 1});
  EXPECT_NEAR(selective_log_softmax(logits, ids).item<double>(), std::log(0.5), 1e-15);  // 2 / (1 + 2 + 1)
  // Temperature 2: exp(logits / 2) = [1, sqrt 2, 1].
  EXPECT_NEAR(selective_log_softmax(logits, ids, 2.0).item<double>(), std::log(std::sqrt(2.0) / (2 + std::sqrt(2.0))),
              1e-15);
  // Entropy of [1/4, 1/2, 1/4]: 1.5 ln 2.
  EXPECT_NEAR(token_entropy(logits).item<double>(), 1.5 * std::log(2.0), 1e-15);
}
