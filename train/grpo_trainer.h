// `crucible train grpo`: Group Relative Policy Optimization of a local model (TRL's GRPOTrainer
// semantics, Open-R1's rewards), in C++ on LibTorch.
//
// One generation batch (recipe.h resolve_generation_batch) = generation_batch_size / num_generations
// prompts of the task's dataset (GrpoArgs::task: the task registry's loader, prompt template and
// grader), each sampled num_generations times with the current policy (backends/torch/generate.h),
// scored by the recipe's reward functions (train/rewards: the task's Grader for `accuracy`), turned
// into advantages over each prompt's group (rewards are gathered over ranks first, so a group split
// across ranks gets the right mean and std; rank r holds rows [r L, (r+1) L) of the generation
// batch, L = generation_batch_size / world_size, as TRL splits it), then used for
// steps_per_generation x num_iterations micro-batches of per_device_train_batch_size completions
// (gradient_accumulation_steps micro-batches per optimizer step) of the clipped GRPO loss
// (train/grpo_loss.h). old_logps come from a no-grad forward at generation time when
// num_iterations > 1 or steps_per_generation > gradient_accumulation_steps (else the ratio is 1).
// beta != 0 keeps a frozen copy of the initial weights as the reference model. Log-probabilities
// use logits / temperature (the sampler's repetition_penalty / top_k / top_p / min_p are not
// applied to them, as TRL).
//
// Logs (OUTPUT_DIR/log.jsonl, stdout unless quiet), one line per logging step, with TRL's names:
// loss, grad_norm, learning_rate, reward, reward_std, rewards/<func>/mean, rewards/<func>/std,
// frac_reward_zero_std, kl, entropy, clip_ratio/*, completions/{mean,min,max}_length,
// completions/clipped_ratio, and the step time split as timing/generation_s, timing/reward_s,
// timing/training_s.
//
// Checkpoints, resume and faults as the SFT trainer (sft_trainer.h): checkpoint-STEP directories,
// exact resume (sampling seeds derive from seed, generation index and sample index only; a
// checkpoint taken in the middle of a generation also holds each rank's rollout,
// rollout-rankR.pt, so the resumed run trains on the same completions), a non-finite loss,
// gradient norm or reward (+-inf; NaN is a reward's "not applicable") stops the run before the
// optimizer step with the last good checkpoint kept.
#pragma once
#include "core/status.h"
#include "train/recipe.h"
#include "train/sft_trainer.h"  // TrainRunOptions, TrainSummary

namespace crucible::train {

Result<TrainSummary> run_grpo(const GrpoConfig& config, const TrainRunOptions& options = {});

}  // namespace crucible::train
