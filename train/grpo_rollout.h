// GRPO rollouts: the pieces of one generation batch that do not touch the loss.
//  - prompts: the recipe's task (GrpoArgs::task, tasks/task_registry.h) loads DataArgs'
//    train_data_path() (its loader names FILE:LINE for a row without the needed fields), renders
//    each problem with the task's prompt template, then with the tokenizer's chat template
//    (TrainingArgs::chat_template overrides it, system_prompt replaces the task's system message,
//    chat_template_kwargs are template variables) and tokenizes it, keeping the last
//    max_prompt_length tokens (left truncation, as TRL).
//  - order: the prompt order of an epoch (shuffled from seed and epoch only when shuffle_dataset).
//  - sampling: lm::generate with GrpoArgs' sampling settings and one seed per completion that
//    depends only on (seed, generation index, sample index in the global generation batch), so a
//    resumed run and a run on any number of ranks draw the same completions.
//  - scoring: RewardSet over the completions, with the task's Grader and Problem per sample.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/generate.h"
#include "backends/torch/model.h"
#include "core/status.h"
#include "tasks/grader.h"
#include "train/recipe.h"
#include "train/rewards/reward_registry.h"

namespace crucible::train {

struct GrpoPrompt {
  Problem problem;
  std::string text;          // the rendered prompt
  std::vector<int64_t> ids;  // its tokens, left-truncated to max_prompt_length
};

struct GrpoPromptSet {
  std::string data_path;
  std::vector<GrpoPrompt> prompts;
  std::shared_ptr<const Grader> grader;  // the task's grader (RewardInput::grader)
};

Result<GrpoPromptSet> load_grpo_prompts(const GrpoConfig& cfg, const Tokenizer& tok);

// 0..n-1, shuffled (Fisher-Yates over splitmix64 seeded by seed and epoch) when `shuffle`.
std::vector<size_t> grpo_epoch_order(size_t n, int64_t seed, int64_t epoch, bool shuffle);

// The order in which one rank's `n` rows of generation `generation` are split into its
// steps_per_generation micro-batches: shuffled (as TRL shuffles the generation batch before
// splitting it), so a micro-batch mixes groups; depends only on (seed, generation, rank).
std::vector<size_t> grpo_rollout_order(size_t n, int64_t seed, int64_t generation, int rank);

// The sampling seed of sample `sample` (index in the global generation batch) of generation
// `generation` (0, 1, ... over the run).
uint64_t grpo_sample_seed(int64_t seed, int64_t generation, int64_t sample);

// lm::GenerateOptions from the recipe: temperature, top_p, top_k, min_p, repetition_penalty,
// max_completion_length; eos: the model config's eos_token_id, else the tokenizer's.
Result<lm::GenerateOptions> grpo_generate_options(const GrpoConfig& cfg, const lm::ModelConfig& model,
                                                  const Tokenizer& tok);

// One completion per entry of `prompt_index` (indices into set.prompts) with the given seeds.
std::vector<lm::GeneratedSequence> sample_completions(lm::CausalLM& model, const Tokenizer& tok,
                                                      const GrpoPromptSet& set,
                                                      const std::vector<size_t>& prompt_index,
                                                      const std::vector<uint64_t>& seeds,
                                                      const lm::GenerateOptions& options);

// Scores completion i of prompt prompt_index[i].
RewardSet::Scores score_completions(const RewardSet& rewards, const GrpoPromptSet& set,
                                    const std::vector<size_t>& prompt_index,
                                    const std::vector<lm::GeneratedSequence>& completions);

}  // namespace crucible::train
