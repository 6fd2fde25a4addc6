// Helpers for the vllm-grpc tests: a tiny project-made tokenizer directory (byte-level BPE over
// the 256 bytes with a handful of merges, ChatML special tokens, a ChatML chat template), so the
// token-id protocol can be exercised without downloading a model.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/temp_files.h"

namespace crucible::test {

// GPT-2's byte -> printable code point table (the ByteLevel alphabet).
inline std::string byte_level_char(int b) {
  int cp = b;
  bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  if (!printable) {
    int k = 0;
    for (int x = 0; x < b; ++x) {
      bool p = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      if (!p) ++k;
    }
    cp = 256 + k;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

inline const char* test_chat_template() {
  return "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
         "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

// Writes DIR/tokenizer.json and DIR/tokenizer_config.json; returns DIR.
inline std::string write_test_tokenizer(const std::string& dir) {
  using json = nlohmann::json;
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(b)] = b;
  const std::string sp = byte_level_char(' ');  // "Ġ"
  std::vector<std::pair<std::string, std::string>> merges = {
      {"a", "n"}, {"an", "s"}, {"ans", "w"}, {"e", "r"}, {"answ", "er"}, {sp, "t"}, {sp + "t", "o"},
      {"t", "h"}, {"th", "e"}, {sp, "i"}, {sp + "i", "s"}};
  json ml = json::array();
  int next = 256;
  for (auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
    ml.push_back(a + " " + b);
  }
  json added = json::array();
  for (const char* t : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    added.push_back({{"id", next}, {"content", t}, {"special", true}, {"normalized", false}, {"lstrip", false},
                     {"rstrip", false}, {"single_word", false}});
    ++next;
  }
  json tok = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"},
                       {"pattern", {{"Regex", "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab}, {"merges", ml}}}};
  json config = {{"tokenizer_class", "Qwen2Tokenizer"}, {"chat_template", test_chat_template()},
                 {"eos_token", "<|im_end|>"}, {"pad_token", "<|endoftext|>"}, {"bos_token", nullptr},
                 {"add_bos_token", false}};
  write_text(dir + "/tokenizer.json", tok.dump());
  write_text(dir + "/tokenizer_config.json", config.dump());
  return dir;
}

}  // namespace crucible::test
