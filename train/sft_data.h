// SFT data: JSONL rows -> tokenized examples with a loss mask -> (packed) rows -> int64 batches.
//
// Row layouts (one JSON object per line; the first that applies):
//  - {"messages": [{"role", "content"}, ...]}   (Mixture-of-Thoughts / OpenR1-Math): rendered with
//    the model's chat template; loss on the assistant turns only (assistant_only_loss, Crucible's
//    default) or on every token.
//  - {"prompt": ..., "completion": ...}: both strings (prompt tokens + completion tokens + EOS), or
//    both message lists (prompt rendered with the generation prompt, then prompt + completion);
//    loss on the completion only (completion_only_loss, TRL's default) or on every token.
//  - {<text_field>: "..."} (default "text"): language modelling, loss on every token (+ EOS).
// A row matching none of these (or malformed) is an error "FILE:LINE: ...".
//
// Assistant spans (render_with_assistant_spans): T = the whole conversation rendered; for the
// assistant message i, P = messages[:i] rendered with the generation prompt must be a prefix of
// T (the span starts after it) and A = messages[:i+1] rendered minus P is the turn rendered as the
// last message. The span is the longer of (a) the common prefix of A and T after P (templates that
// append text after the final message only) and (b) the longest suffix of A that T continues with
// after P (templates that shorten earlier turns, e.g. Qwen3 dropping the <think> reasoning of
// turns before the last user message). A template for which neither holds is an error naming the
// message. Each span therefore covers the turn's content and its end-of-turn text (e.g.
// "...<|im_end|>\n"), never the generation prompt. The text is then tokenized segment by segment
// (a prompt is tokenized alone, as at inference), so no token straddles a loss boundary.
//
// Packing (max_length = L): documents longer than L are truncated (keep the start; bfd) or split
// into L-token pieces (bfd_split); then best-fit decreasing: by length, longest first (ties: file
// order), each document goes to the open row with the least room that still fits it, else a new
// row. Without packing each example is its own row, truncated to L.
//
// Tensors (collate), B rows padded to the longest (rounded up to pad_to_multiple_of):
//   input_ids    [B,T] int64  token ids; padding = pad_id
//   labels       [B,T] int64  = input_ids on loss tokens, -100 elsewhere (padding, context, and the
//                             first token of every document, which nothing in its document
//                             predicts). Aligned with input_ids: logits[:, t] predict labels[:, t+1].
//   position_ids [B,T] int64  0, 1, ... restarting at every document; 0 on padding
//   document_ids [B,T] int64  0, 1, ... per document within the row; -1 on padding. Attention is
//                             allowed only between positions with the same document id.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "backends/chat_template/chat_template.h"
#include "backends/tokenizer/tokenizer.h"
#include "core/status.h"
#include "train/recipe.h"

namespace crucible::train {

struct SftExample {
  std::vector<int32_t> input_ids;
  std::vector<uint8_t> loss_mask;  // 1: trained on (label = the token), 0: context
  size_t line = 0;                 // 1-based line in the JSONL file (0 when not from a file)
};

struct SftDataOptions {
  std::optional<int64_t> max_length = 1024;  // unset: no truncation (packing needs it)
  bool packing = false;
  PackingStrategy packing_strategy = PackingStrategy::kBfd;
  bool assistant_only_loss = true;
  bool completion_only_loss = true;
  std::string eos_token;                     // "" = the tokenizer's EOS
  std::string text_field = "text";
  nlohmann::json chat_template_kwargs = nlohmann::json::object();  // extra template variables
};
// From a recipe (unset assistant_only_loss / completion_only_loss -> true).
SftDataOptions sft_data_options(const SftConfig& cfg);

struct RenderedConversation {
  std::string text;
  std::vector<std::pair<size_t, size_t>> assistant_spans;  // byte ranges [begin, end) in text
};
Result<RenderedConversation> render_with_assistant_spans(const ChatTemplate& tpl, const nlohmann::json& messages,
                                                         const nlohmann::json& extra = nlohmann::json::object());

// One row -> an example. `tpl` may be null when no row needs a chat template.
Result<SftExample> tokenize_sft_row(const nlohmann::json& row, const Tokenizer& tok, const ChatTemplate* tpl,
                                    const SftDataOptions& opt);
// Every row of a JSONL file; errors are "FILE:LINE: ...".
Result<std::vector<SftExample>> load_sft_jsonl(const std::string& path, const Tokenizer& tok, const ChatTemplate* tpl,
                                               const SftDataOptions& opt);

struct PackedRow {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;
  std::vector<int32_t> position_ids;
  std::vector<int32_t> document_ids;
};

// Best-fit decreasing of item lengths into bins of `capacity`: bins of item indices, in the
// order the bins were opened. Every length must be in [0, capacity] (a bug otherwise: throws).
std::vector<std::vector<size_t>> best_fit_decreasing(const std::vector<int64_t>& lengths, int64_t capacity);

// Examples -> rows (packed or one per example), see above.
std::vector<PackedRow> build_sft_rows(const std::vector<SftExample>& examples, const SftDataOptions& opt);

struct SftBatch {
  at::Tensor input_ids;     // [B,T] int64
  at::Tensor labels;        // [B,T] int64
  at::Tensor position_ids;  // [B,T] int64
  at::Tensor document_ids;  // [B,T] int64
};
SftBatch collate_sft_rows(const std::vector<PackedRow>& rows, int64_t pad_id, int64_t pad_to_multiple_of = 1);

}  // namespace crucible::train
