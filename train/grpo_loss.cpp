#include "train/grpo_loss.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace crucible::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double masked_mean(const at::Tensor& x, const at::Tensor& m) {
  double n = m.sum().item<double>();
  if (n <= 0) return kNaN;
  return (x * m).sum().item<double>() / n;
}

// min / max over sequences of the per-sequence masked mean, skipping sequences without tokens.
std::pair<double, double> seq_min_max(const at::Tensor& x, const at::Tensor& m) {
  at::Tensor n = m.sum(-1);
  at::Tensor mean = (x * m).sum(-1) / n.clamp_min(1.0);
  at::Tensor keep = n > 0;
  if (keep.sum().item<int64_t>() == 0) return {kNaN, kNaN};
  at::Tensor v = mean.masked_select(keep);
  return {v.min().item<double>(), v.max().item<double>()};
}

}  // namespace

AdvantageResult compute_advantages(const at::Tensor& rewards, int64_t num_generations, ScaleRewardsKind scale) {
  TORCH_CHECK(rewards.dim() == 1, "compute_advantages: rewards must be [B], got ", rewards.sizes());
  TORCH_CHECK(num_generations >= 1, "compute_advantages: num_generations must be >= 1");
  TORCH_CHECK(rewards.size(0) % num_generations == 0, "compute_advantages: B = ", rewards.size(0),
              " is not a multiple of num_generations = ", num_generations);
  at::Tensor r = rewards.is_floating_point() ? rewards : rewards.to(at::kDouble);
  const int64_t G = num_generations;
  at::Tensor valid = r.isnan().logical_not();
  at::Tensor vf = valid.to(r.scalar_type());
  at::Tensor r0 = at::where(valid, r, at::zeros_like(r));

  at::Tensor gv = vf.view({-1, G});
  at::Tensor gr = r0.view({-1, G});
  at::Tensor count = gv.sum(1);                                   // [Ng]
  at::Tensor mean = gr.sum(1) / count.clamp_min(1.0);            // [Ng]
  at::Tensor dev = (gr - mean.unsqueeze(1)) * gv;
  at::Tensor var = (dev * dev).sum(1) / (count - 1).clamp_min(1.0);
  at::Tensor group_std = at::where(count >= 2, var.sqrt(), at::zeros_like(var));
  at::Tensor mean_b = mean.repeat_interleave(G);
  at::Tensor std_b;
  if (scale == ScaleRewardsKind::kBatch) {
    double n = vf.sum().item<double>();
    double m = n > 0 ? r0.sum().item<double>() / n : 0.0;
    double v = n >= 2 ? ((r0 - m) * vf).pow(2).sum().item<double>() / (n - 1) : 0.0;
    std_b = at::full_like(r, std::sqrt(v));
  } else {
    std_b = group_std.repeat_interleave(G);
  }
  at::Tensor adv = at::where(valid, r0 - mean_b, at::zeros_like(r));
  if (scale != ScaleRewardsKind::kNone) adv = adv / (std_b + 1e-4);
  AdvantageResult out;
  out.advantages = adv;
  out.group_mean = mean_b;
  out.std = std_b;
  out.is_std_zero = at::isclose(std_b, at::zeros_like(std_b));
  return out;
}

at::Tensor mask_truncated_completions(const at::Tensor& mask, const at::Tensor& is_truncated) {
  TORCH_CHECK(mask.dim() == 2 && is_truncated.dim() == 1 && is_truncated.size(0) == mask.size(0),
              "mask_truncated_completions: mask [B,T] and is_truncated [B] expected");
  at::Tensor keep = is_truncated.to(at::kBool).logical_not().unsqueeze(1).to(mask.scalar_type());
  return mask * keep;
}

double count_loss_tokens(const at::Tensor& mask) { return mask.sum().item<double>(); }

at::Tensor selective_log_softmax(const at::Tensor& logits, const at::Tensor& ids, double temperature) {
  TORCH_CHECK(logits.dim() == 3 && ids.dim() == 2 && logits.size(0) == ids.size(0) && logits.size(1) == ids.size(1),
              "selective_log_softmax: logits [B,T,V] and ids [B,T] expected");
  at::Tensor l = temperature == 1.0 ? logits : logits / temperature;
  return at::log_softmax(l, -1).gather(-1, ids.to(at::kLong).unsqueeze(-1)).squeeze(-1);
}

at::Tensor token_entropy(const at::Tensor& logits) {
  at::Tensor lp = at::log_softmax(logits, -1);
  return -(lp.exp() * lp).sum(-1);
}

GrpoLossOutput grpo_loss(const GrpoLossInputs& in, const GrpoLossConfig& cfg) {
  const at::Tensor& logp = in.logps;
  TORCH_CHECK(logp.defined() && logp.dim() == 2, "grpo_loss: logps must be [B,T]");
  const int64_t B = logp.size(0);
  TORCH_CHECK(in.completion_mask.defined() && in.completion_mask.sizes() == logp.sizes(),
              "grpo_loss: completion_mask must be [B,T] like logps");
  TORCH_CHECK(in.advantages.defined() && in.advantages.dim() == 1 && in.advantages.size(0) == B,
              "grpo_loss: advantages must be [B]");
  TORCH_CHECK(!in.old_logps.defined() || in.old_logps.sizes() == logp.sizes(), "grpo_loss: old_logps must be [B,T]");
  TORCH_CHECK(cfg.beta == 0.0 || (in.ref_logps.defined() && in.ref_logps.sizes() == logp.sizes()),
              "grpo_loss: beta != 0 needs ref_logps [B,T]");

  at::Tensor mask = in.completion_mask.to(logp.scalar_type());
  if (cfg.mask_truncated_completions && in.is_truncated.defined()) mask = mask_truncated_completions(mask, in.is_truncated);
  at::Tensor adv = in.advantages.to(logp.scalar_type()).unsqueeze(1);  // [B,1]
  at::Tensor old = in.old_logps.defined() ? in.old_logps.to(logp.scalar_type()) : logp.detach();

  at::Tensor ratio = at::exp(logp - old);
  at::Tensor ratio_clipped = at::clamp(ratio, 1.0 - cfg.epsilon_low, 1.0 + cfg.epsilon_high);
  at::Tensor ratio1 = cfg.delta ? at::clamp_max(ratio, *cfg.delta) : ratio;
  at::Tensor per_token = -at::minimum(ratio1 * adv, ratio_clipped * adv);
  at::Tensor kl;
  if (cfg.beta != 0.0) {
    at::Tensor d = in.ref_logps.to(logp.scalar_type()) - logp;
    kl = at::exp(d) - d - 1.0;
    per_token = per_token + cfg.beta * kl;
  }

  const double accum = static_cast<double>(std::max<int64_t>(1, cfg.gradient_accumulation_steps));
  at::Tensor masked = per_token * mask;
  at::Tensor loss;
  switch (cfg.loss_type) {
    case GrpoLossKind::kGrpo:
      loss = (masked.sum(-1) / mask.sum(-1).clamp_min(1.0)).mean() / accum;
      break;
    case GrpoLossKind::kBnpo:
      loss = masked.sum() / mask.sum().clamp_min(1.0) / accum;
      break;
    case GrpoLossKind::kDrGrpo:
      TORCH_CHECK(cfg.max_completion_length > 0, "grpo_loss: dr_grpo needs max_completion_length > 0");
      loss = masked.sum() / static_cast<double>(B * cfg.max_completion_length) / accum;
      break;
    case GrpoLossKind::kDapo: {
      double items = cfg.num_items_in_batch > 0 ? cfg.num_items_in_batch : std::max(1.0, count_loss_tokens(mask));
      double normalizer = items / static_cast<double>(std::max<int64_t>(1, cfg.num_processes));
      loss = masked.sum() / normalizer;
      break;
    }
  }

  GrpoLossOutput out;
  out.loss = loss;
  out.per_token_loss = per_token;
  out.mask = mask;
  {
    at::NoGradGuard no_grad;
    at::Tensor m = mask.detach().to(at::kDouble);
    at::Tensor r = ratio.detach();
    at::Tensor low = ((r < 1.0 - cfg.epsilon_low) & (adv < 0)).to(at::kDouble);
    at::Tensor high = ((r > 1.0 + cfg.epsilon_high) & (adv > 0)).to(at::kDouble);
    at::Tensor region = ((low + high) > 0).to(at::kDouble);
    GrpoMetrics& mt = out.metrics;
    mt.loss_tokens = m.sum().item<double>();
    mt.kl = kl.defined() ? masked_mean(kl.detach().to(at::kDouble), m) : kNaN;
    mt.entropy = in.logits.defined() ? masked_mean(token_entropy(in.logits.detach()).to(at::kDouble), m) : kNaN;
    mt.clip_ratio_low_mean = masked_mean(low, m);
    mt.clip_ratio_high_mean = masked_mean(high, m);
    mt.clip_ratio_region_mean = masked_mean(region, m);
    mt.clip_ratio_low_min = seq_min_max(low, m).first;
    mt.clip_ratio_high_max = seq_min_max(high, m).second;
  }
  return out;
}

}  // namespace crucible::train
