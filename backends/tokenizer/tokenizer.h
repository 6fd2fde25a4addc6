// Hugging Face `tokenizer.json` tokenizer (byte-level BPE as used by Qwen2.5/Qwen3,
// DeepSeek-V3/R1 and Llama-3), with no Python and no Rust.
//
//   auto tok = crucible::Tokenizer::from_dir("/models/Qwen3-8B");   // tokenizer.json (+ config)
//   std::vector<int32_t> ids = tok->encode("Hello <|im_end|>");
//   std::string text = tok->decode(ids);
//
// Pipeline (the order of Hugging Face `tokenizers`): added tokens are matched first (longest at
// the leftmost position; non-normalized ones on the raw text, normalized ones after the
// normalizer), then normalizer (NFC/NFD/Sequence), pre-tokenizer (Split regex via PCRE2,
// ByteLevel, Digits, Sequence), BPE model (merge ranks, ignore_merges, byte_fallback, unk), then
// the post-processor (TemplateProcessing, ByteLevel, Bert/Roberta, Sequence).
// See docs/tokenizer.md for what is supported and how it is verified.
//
// A Tokenizer is cheap to copy (shared immutable state) and encode/decode are thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace crucible {

struct TokenizerOptions {
  // from_dir only: apply what `transformers` (Python) does on top of tokenizer.json when loading
  // with AutoTokenizer: for tokenizer_class LlamaTokenizer(Fast) (e.g. DeepSeek-V3/R1 and the
  // R1-Distill models), the post-processor becomes "[bos] $A [eos]" according to add_bos_token
  // (default true) and add_eos_token (default false). Off = exactly tokenizer.json (like the
  // `tokenizers` library's Tokenizer.from_file).
  bool transformers_compat = true;
};

class Tokenizer {
 public:
  // Loads a tokenizer.json file; special ids are taken from a tokenizer_config.json next to it
  // only by from_dir.
  static Result<Tokenizer> from_file(const std::string& path);
  // Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json (bos/eos/pad/unk,
  // add_bos_token). DIR may also be the path of a tokenizer.json file.
  static Result<Tokenizer> from_dir(const std::string& dir, const TokenizerOptions& options = {});

  // Text -> ids. Invalid UTF-8 in `text` is first replaced by U+FFFD (as Python's
  // errors="replace"). add_special_tokens controls the post-processor (e.g. BOS); special tokens
  // written in the text (e.g. "<|im_start|>") are always recognised.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Ids -> text. Always valid UTF-8: byte sequences cut in the middle of a character become U+FFFD
  // (what Hugging Face returns). Unknown ids are skipped.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  // Ids -> the raw bytes (may end in a partial UTF-8 character; for streaming detokenization).
  std::string decode_bytes(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token string as stored in the vocabulary (byte-level form, e.g. "Ġworld").
  std::optional<std::string> id_to_token(int32_t id) const;
  // Number of distinct ids (model vocabulary plus added tokens), i.e. len(tokenizer) in Python.
  size_t vocab_size() const;
  bool is_special(int32_t id) const;  // an added token marked special

  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  std::optional<int32_t> unk_id() const;
  const std::string& path() const;  // the tokenizer.json it was loaded from

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace crucible
