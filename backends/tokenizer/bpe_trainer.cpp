#include "backends/tokenizer/bpe_trainer.h"

#include <map>
#include <unordered_map>

#include "backends/tokenizer/regex.h"

namespace crucible {
namespace {

// Qwen2's pre-tokenizer pattern (the same split the tokenizer applies when encoding).
const char* kSplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// GPT-2's byte -> printable code point table, as UTF-8 strings.
std::vector<std::string> byte_symbols() {
  std::vector<std::string> out(256);
  uint32_t n = 0;
  for (int b = 0; b < 256; ++b) {
    bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    uint32_t cp = keep ? uint32_t(b) : 256 + n++;
    std::string s;
    if (cp < 0x80) {
      s.push_back(char(cp));
    } else {
      s.push_back(char(0xC0 | (cp >> 6)));
      s.push_back(char(0x80 | (cp & 0x3F)));
    }
    out[b] = s;
  }
  return out;
}

}  // namespace

nlohmann::json train_byte_level_bpe(const std::vector<std::string>& corpus, const BpeTrainOptions& options) {
  const auto sym = byte_symbols();
  auto re = tokenizer::Regex::compile(kSplitPattern);
  // Word (pre-token) frequencies; each word as a sequence of symbols (strings of byte characters).
  std::map<std::string, long> word_freq;
  for (const auto& text : corpus) {
    // Split "Isolated": matches and the gaps between them are the pieces.
    size_t pos = 0, b = 0, e = 0;
    while (pos < text.size() && re->find(text, pos, b, e)) {
      if (b > pos) word_freq[text.substr(pos, b - pos)]++;
      word_freq[text.substr(b, e - b)]++;
      pos = e;
    }
    if (pos < text.size()) word_freq[text.substr(pos)]++;
  }
  std::vector<std::pair<std::vector<std::string>, long>> words;
  for (const auto& [w, f] : word_freq) {
    std::vector<std::string> s;
    for (unsigned char c : w) s.push_back(sym[c]);
    words.push_back({std::move(s), f});
  }
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[sym[b]] = b;
  nlohmann::json merges = nlohmann::json::array();
  int next_id = 256;
  for (int m = 0; m < options.num_merges; ++m) {
    std::map<std::pair<std::string, std::string>, long> pairs;  // ordered: deterministic ties
    for (const auto& [s, f] : words)
      for (size_t i = 0; i + 1 < s.size(); ++i) pairs[{s[i], s[i + 1]}] += f;
    const std::pair<std::string, std::string>* best = nullptr;
    long best_f = 1;
    for (const auto& [p, f] : pairs)
      if (f > best_f) best = &p, best_f = f;
    if (!best) break;
    std::string a = best->first, b = best->second, ab = a + b;
    if (vocab.contains(ab)) break;  // cannot happen with byte-level symbols; guards the invariant
    merges.push_back(a + " " + b);
    vocab[ab] = next_id++;
    for (auto& [s, f] : words) {
      std::vector<std::string> t;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          t.push_back(ab);
          ++i;
        } else {
          t.push_back(s[i]);
        }
      }
      s.swap(t);
    }
  }
  nlohmann::json added = nlohmann::json::array();
  for (const auto& sp : options.special_tokens) {
    added.push_back({{"id", next_id++}, {"content", sp}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         nlohmann::json::array(
             {{{"type", "Split"}, {"pattern", {{"Regex", kSplitPattern}}}, {"behavior", "Isolated"}, {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab}, {"merges", merges}}},
  };
}

}  // namespace crucible
