// generate: batched autoregressive sampling from a CausalLM with a KV cache.
//
//   lm::GenerateOptions o;  o.max_new_tokens = 64;  o.temperature = 0.6;  o.seeds = {1, 2};
//   auto seqs = lm::generate(model, &tok, {prompt_a, prompt_b}, o);   // prompts of any lengths
//
// How: prompts are left-padded to one [B, L] batch (padding masked, positions counted from each
// prompt's first real token) and prefilled in one forward; then one token per step for the rows
// still live. A row that finishes is dropped from the batch (its KV cache rows with it), so the
// remaining rows decode at their own cost. One host sync per step: reading the sampled tokens.
//
// Determinism: each sequence draws its uniforms from its own generator seeded with seeds[i]
// (std::mt19937_64, one draw per sampled token), so a sequence's tokens do not depend on which
// other sequences share the batch (up to float rounding of the logits, which can only matter when a
// draw falls on a boundary between two tokens).
//
// Sampling (temperature > 0): p = softmax(logits / temperature) over ids < valid_vocab; top_k keeps
// the k most likely tokens, then top_p the smallest prefix (by descending probability) whose mass
// reaches top_p (at least one token); the kept probabilities are renormalised and sampled by inverse
// CDF. temperature == 0: argmax (first index on ties). repetition_penalty rescales the logits first;
// min_p then drops the kept tokens whose probability is below min_p x the largest (Hugging Face's
// order: temperature, top_k, top_p, min_p).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/model.h"

namespace crucible::lm {

struct GenerateOptions {
  int max_new_tokens = 256;
  double temperature = 1.0;                // 0 = greedy
  double top_p = 1.0;                      // in (0, 1]; 1 = off
  int top_k = -1;                          // <= 0 = off
  double min_p = 0;                        // in [0, 1]: keep tokens with p >= min_p x max p; 0 = off
  // > 0; 1 = off. Logits of tokens already in the prompt or the generated text are divided by it
  // when positive and multiplied by it when negative (Hugging Face's RepetitionPenaltyLogitsProcessor).
  double repetition_penalty = 1.0;
  std::vector<uint64_t> seeds;             // one per prompt; empty = seeds 0, 1, 2, ...
  std::vector<int64_t> eos_token_ids;      // any of these ends a sequence (the token is kept in token_ids)
  // Stop strings, matched on the decoded text (needs a tokenizer): the sequence ends as soon as
  // one appears; `text` is cut just before it (OpenAI servers' behaviour); token_ids keep every
  // generated token.
  std::vector<std::string> stop;
  int64_t valid_vocab = -1;                // ids >= this are never sampled (padded vocabulary rows); -1 = all
  bool logprobs = true;
  const std::atomic<bool>* cancel = nullptr;  // when it becomes true, live rows end with "cancelled"
};

struct GeneratedSequence {
  std::vector<int64_t> token_ids;          // generated ids (not the prompt), EOS included when hit
  // log p of each sampled token under softmax(logits / temperature) over ids < valid_vocab, before
  // top-p/top-k (what GRPO's old_per_token_logps is); greedy: under softmax(logits). Empty when
  // options.logprobs is false.
  std::vector<float> logprobs;
  std::string text;                        // decoded without special tokens, cut at a stop string; "" without a tokenizer
  std::string finish_reason;               // "stop" (EOS or stop string) | "length" | "cancelled"
};

// Throws std::invalid_argument on caller bugs: an empty prompt, seeds.size() not 0 or prompts.size(),
// a negative temperature, top_p outside (0, 1], stop strings without a tokenizer, token ids outside
// the vocabulary. `tok` may be null (no text, no stop strings).
std::vector<GeneratedSequence> generate(CausalLM& model, const Tokenizer* tok,
                                        const std::vector<std::vector<int64_t>>& prompts, const GenerateOptions& options);

}  // namespace crucible::lm
