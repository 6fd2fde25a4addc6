// GRPO math on tensors, as TRL's GRPOTrainer computes it (no model here: the trainer supplies
// log-probabilities). B = completions in the micro-batch (groups of num_generations consecutive
// completions of the same prompt), T = completion length (right-padded), V = vocabulary.
//
// Advantages (compute_advantages), rewards r [B] (the weighted reward sum, NaN = unscorable):
//   mean_g = mean of r over the sample's group of num_generations;
//   std    = "group": std over the group; "batch": std over all B rewards; "none": not used.
//   Both stds are unbiased (Bessel, n - 1), as torch.std in TRL.
//   A = r - mean_g, then A / (std + 1e-4) unless "none".
//   NaN rewards are left out of mean and std, and their advantage is 0 (no gradient from an
//   unscorable sample); a group with fewer than two scorable samples has std 0.
//
// Per-token loss (grpo_loss), logp / old / ref [B,T], mask [B,T] in {0,1}, A [B]:
//   ratio  = exp(logp - old)                (old = logp.detach() when not given: ratio 1, grad of logp)
//   ratio' = clamp(ratio, 1 - epsilon_low, 1 + epsilon_high); with delta: ratio_1 = min(ratio, delta)
//   l      = -min(ratio_1 A, ratio' A)  +  beta k3,   k3 = exp(ref - logp) - (ref - logp) - 1
// Aggregation over the mask (m):
//   grpo:    mean_b( sum_t l m / max(1, sum_t m) ) / gradient_accumulation_steps
//   bnpo:    sum l m / max(1, sum m) / gradient_accumulation_steps
//   dr_grpo: sum l m / (B x max_completion_length) / gradient_accumulation_steps
//   dapo:    sum l m / (num_items_in_batch / num_processes)
// dapo across accumulation: num_items_in_batch is the number of loss tokens in the whole
// generation batch - every micro-batch of the optimizer step, on every process (TRL gathers it
// once per generation batch). The caller counts it with count_loss_tokens() over the masks of all
// its micro-batches (after mask_truncated_completions) and sums it over processes; each micro-batch
// loss is then that batch's token sum divided by the global count, so the accumulated gradient is
// the token mean over the global batch (there is no extra division by the accumulation steps).
// When num_items_in_batch <= 0 the micro-batch's own token count is used (one micro-batch, one
// process). mask_truncated_completions zeroes the mask of completions that did not end in EOS.
//
// Metrics (TRL's names, single process): kl = masked mean of k3 (beta != 0); entropy = masked
// mean of the token entropy of `logits` (when given); clip_ratio/low_mean, high_mean, region_mean
// = masked token means of (ratio < 1 - eps_low and A < 0), (ratio > 1 + eps_high and A > 0) and
// their union; clip_ratio/low_min and high_max = min / max over sequences of the per-sequence
// masked means (sequences with no loss token skipped). NaN when undefined.
#pragma once
#include <cstdint>
#include <optional>

#include <ATen/core/Tensor.h>

#include "train/recipe.h"

namespace crucible::train {

struct AdvantageResult {
  at::Tensor advantages;   // [B]
  at::Tensor group_mean;   // [B] mean reward of each sample's group
  at::Tensor std;          // [B] the std divided by (group's or batch's)
  at::Tensor is_std_zero;  // [B] bool: std == 0 (TRL logs frac_reward_zero_std)
};
// rewards: [B] floating, B a multiple of num_generations (a bug otherwise: throws c10::Error).
AdvantageResult compute_advantages(const at::Tensor& rewards, int64_t num_generations, ScaleRewardsKind scale);

struct GrpoLossConfig {
  GrpoLossKind loss_type = GrpoLossKind::kDapo;
  double epsilon_low = 0.2;
  double epsilon_high = 0.2;
  std::optional<double> delta;
  double beta = 0.0;
  int64_t max_completion_length = 256;       // dr_grpo's constant
  int64_t gradient_accumulation_steps = 1;   // grpo / bnpo / dr_grpo divide by it
  double num_items_in_batch = 0;             // dapo: loss tokens in the global batch (see above)
  int64_t num_processes = 1;                 // dapo
  bool mask_truncated_completions = false;   // apply GrpoLossInputs::is_truncated to the mask
};

struct GrpoLossInputs {
  at::Tensor logps;            // [B,T] log pi_theta of the completion tokens (requires grad)
  at::Tensor old_logps;        // [B,T] log-probs of the policy that sampled (undefined: logps.detach())
  at::Tensor ref_logps;        // [B,T] reference-model log-probs (required when beta != 0)
  at::Tensor advantages;       // [B]
  at::Tensor completion_mask;  // [B,T] 1 on completion tokens, 0 on padding
  at::Tensor is_truncated;     // [B] bool, optional: completion hit max_completion_length without EOS
  at::Tensor logits;           // [B,T,V] optional (temperature-scaled): only for the entropy metric
};

struct GrpoMetrics {
  double kl = 0;                   // NaN unless beta != 0
  double entropy = 0;              // NaN unless logits given
  double clip_ratio_low_mean = 0;
  double clip_ratio_low_min = 0;
  double clip_ratio_high_mean = 0;
  double clip_ratio_high_max = 0;
  double clip_ratio_region_mean = 0;
  double loss_tokens = 0;          // tokens in the (possibly truncation-masked) mask
};

struct GrpoLossOutput {
  at::Tensor loss;            // scalar, differentiable w.r.t. logps
  at::Tensor per_token_loss;  // [B,T] l before masking and aggregation
  at::Tensor mask;            // [B,T] the mask used (after mask_truncated_completions)
  GrpoMetrics metrics;
};

GrpoLossOutput grpo_loss(const GrpoLossInputs& in, const GrpoLossConfig& cfg);

// mask [B,T] with the rows of truncated completions (is_truncated [B] bool) zeroed.
at::Tensor mask_truncated_completions(const at::Tensor& mask, const at::Tensor& is_truncated);
// Number of loss tokens in a mask (for dapo's num_items_in_batch).
double count_loss_tokens(const at::Tensor& mask);

// log softmax(logits / temperature) at the given ids: logits [B,T,V], ids [B,T] int64 -> [B,T].
at::Tensor selective_log_softmax(const at::Tensor& logits, const at::Tensor& ids, double temperature = 1.0);
// Entropy of softmax(logits) per position: [B,T,V] -> [B,T].
at::Tensor token_entropy(const at::Tensor& logits);

}  // namespace crucible::train
