#include "train/grpo_rollout.h"

#include <numeric>

#include <torch/torch.h>

#include "backends/chat_template/chat_template.h"
#include "tasks/task_registry.h"
#include "train/train_common.h"

namespace crucible::train {

Result<GrpoPromptSet> load_grpo_prompts(const GrpoConfig& cfg, const Tokenizer& tok) {
  TaskLoadOptions lo;
  lo.data_path = train_data_path(cfg.data);
  if (cfg.data.dataset_prompt_column != "prompt") lo.dataset.field_problem = cfg.data.dataset_prompt_column;
  auto task = TaskRegistry::global().load(cfg.grpo.task, lo);
  if (!task) return task.status();
  if (task->problems.empty()) return Status::invalid(lo.data_path + ": no prompts");
  auto tpl = load_recipe_chat_template(cfg.model.model_name_or_path, cfg.training.chat_template, tok);
  if (!tpl) return tpl.status();
  PromptConfig pc = task->prompt;
  if (cfg.training.system_prompt) pc.system_prompt = *cfg.training.system_prompt;

  GrpoPromptSet set;
  set.data_path = lo.data_path;
  set.grader = task->grader;
  set.prompts.reserve(task->problems.size());
  for (auto& p : task->problems) {
    GrpoPrompt g;
    RenderedPrompt r = pc.render(p);
    std::vector<int32_t> ids;
    if (r.chat) {
      if (!*tpl)
        return Status::invalid("task '" + cfg.grpo.task + "' renders chat prompts but the model in " +
                               cfg.model.model_name_or_path +
                               " has no chat template: set chat_template in the recipe");
      nlohmann::json messages = nlohmann::json::array();
      for (const auto& [role, content] : r.messages) messages.push_back({{"role", role}, {"content", content}});
      auto text = (*tpl)->render(messages, /*add_generation_prompt=*/true, cfg.training.chat_template_kwargs);
      if (!text) return Status::invalid("problem " + p.id + ": " + text.status().message());
      g.text = std::move(*text);
      ids = tok.encode(g.text, /*add_special_tokens=*/false);  // the template writes BOS itself
    } else {
      g.text = r.prompt;
      ids = tok.encode(g.text, /*add_special_tokens=*/true);
    }
    if (ids.empty()) return Status::invalid(lo.data_path + ": problem " + p.id + " renders to an empty prompt");
    const size_t keep = static_cast<size_t>(std::max<int64_t>(1, cfg.grpo.max_prompt_length));
    size_t first = ids.size() > keep ? ids.size() - keep : 0;
    g.ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(first), ids.end());
    g.problem = std::move(p);
    set.prompts.push_back(std::move(g));
  }
  return set;
}

std::vector<size_t> grpo_epoch_order(size_t n, int64_t seed, int64_t epoch, bool shuffle) {
  if (!shuffle) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    return order;
  }
  return shuffled_order(n, static_cast<uint64_t>(seed) * 0xD1B54A32D192ED03ull +
                               static_cast<uint64_t>(epoch) * 0x9E3779B97F4A7C15ull + 17);
}

std::vector<size_t> grpo_rollout_order(size_t n, int64_t seed, int64_t generation, int rank) {
  return shuffled_order(n, grpo_sample_seed(seed, generation, -1 - static_cast<int64_t>(rank)));
}

uint64_t grpo_sample_seed(int64_t seed, int64_t generation, int64_t sample) {
  uint64_t s = static_cast<uint64_t>(seed) ^ 0x5851F42D4C957F2Dull;
  uint64_t a = splitmix64(s);
  s = a ^ static_cast<uint64_t>(generation);
  uint64_t b = splitmix64(s);
  s = b ^ static_cast<uint64_t>(sample);
  return splitmix64(s);
}

Result<lm::GenerateOptions> grpo_generate_options(const GrpoConfig& cfg, const lm::ModelConfig& model,
                                                  const Tokenizer& tok) {
  const GrpoArgs& g = cfg.grpo;
  if (g.min_p && !(*g.min_p >= 0 && *g.min_p <= 1)) return Status::invalid("min_p must be in [0, 1]");
  if (!(g.repetition_penalty > 0)) return Status::invalid("repetition_penalty must be > 0");
  if (g.max_completion_length < 1) return Status::invalid("max_completion_length must be >= 1");
  lm::GenerateOptions o;
  o.max_new_tokens = static_cast<int>(g.max_completion_length);
  o.temperature = g.temperature;
  o.top_p = g.top_p;
  o.top_k = g.top_k > 0 ? static_cast<int>(g.top_k) : -1;
  o.min_p = g.min_p.value_or(0.0);
  o.repetition_penalty = g.repetition_penalty;
  o.eos_token_ids = model.eos_token_ids;
  if (o.eos_token_ids.empty() && tok.eos_id()) o.eos_token_ids.push_back(*tok.eos_id());
  const int64_t tv = static_cast<int64_t>(tok.vocab_size());
  o.valid_vocab = tv > 0 && tv < model.vocab_size ? tv : -1;
  o.logprobs = false;  // old log-probs come from a forward of the training graph (as TRL)
  return o;
}

std::vector<lm::GeneratedSequence> sample_completions(lm::CausalLM& model, const Tokenizer& tok,
                                                      const GrpoPromptSet& set,
                                                      const std::vector<size_t>& prompt_index,
                                                      const std::vector<uint64_t>& seeds,
                                                      const lm::GenerateOptions& options) {
  std::vector<std::vector<int64_t>> prompts;
  prompts.reserve(prompt_index.size());
  for (size_t i : prompt_index) prompts.push_back(set.prompts[i].ids);
  lm::GenerateOptions o = options;
  o.seeds = seeds;
  torch::NoGradGuard g;
  return lm::generate(model, &tok, prompts, o);
}

RewardSet::Scores score_completions(const RewardSet& rewards, const GrpoPromptSet& set,
                                    const std::vector<size_t>& prompt_index,
                                    const std::vector<lm::GeneratedSequence>& completions) {
  std::vector<RewardInput> batch(completions.size());
  for (size_t i = 0; i < completions.size(); ++i) {
    const GrpoPrompt& p = set.prompts[prompt_index[i]];
    batch[i].prompt = p.text;
    batch[i].completion = completions[i].text;
    batch[i].completion_tokens = static_cast<int64_t>(completions[i].token_ids.size());
    batch[i].problem = &p.problem;
    batch[i].grader = set.grader.get();
  }
  return rewards.score(batch);
}

}  // namespace crucible::train
