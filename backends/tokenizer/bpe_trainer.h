// Trains a small byte-level BPE tokenizer on a corpus and returns it as a Hugging Face
// `tokenizer.json` (the format Tokenizer::from_file reads and `tokenizers` writes): for tiny models
// built from scratch (`crucible demo`, trainer tests), whose vocabulary must be small.
//
// Layout of the result: ids 0..255 are the 256 byte tokens (GPT-2's byte-to-character table), then
// one id per learned merge, then the special tokens (added_tokens, special: true). Pre-tokenizer:
// Split on Qwen2's pattern (letters with an optional leading non-letter, single digits, runs of
// punctuation, newlines, spaces) then ByteLevel without its own regex; decoder ByteLevel.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crucible {

struct BpeTrainOptions {
  int num_merges = 200;                       // at most; stops early when no pair occurs twice
  std::vector<std::string> special_tokens;    // appended after the merges, in this order
};

// Deterministic for a given corpus and options (ties broken by the pair's bytes).
nlohmann::json train_byte_level_bpe(const std::vector<std::string>& corpus, const BpeTrainOptions& options);

}  // namespace crucible
