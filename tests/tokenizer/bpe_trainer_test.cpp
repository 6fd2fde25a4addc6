// The BPE trainer's tokenizer.json loads in Tokenizer, round-trips text, and really compresses the
// corpus it was trained on (ids per byte well below 1).
#include <gtest/gtest.h>

#include <algorithm>

#include "backends/tokenizer/bpe_trainer.h"
#include "backends/tokenizer/tokenizer.h"
#include "tasks/synthetic/arithmetic.h"
#include "tests/support/temp_files.h"

namespace crucible {
namespace {

std::vector<std::string> arithmetic_corpus(size_t n) {
  std::vector<std::string> corpus;
  for (const auto& p : synthetic::generate_arithmetic(7, n)) corpus.push_back(p.problem + "\n" + p.trace());
  return corpus;
}

Tokenizer load(const nlohmann::json& j) {
  std::string path = test::write_text(test::make_temp_dir("bpe") + "/tokenizer.json", j.dump());
  auto tok = Tokenizer::from_file(path);
  EXPECT_TRUE(tok.is_ok()) << tok.status().message();
  return *tok;
}

TEST(BpeTrainer, LearnsMergesThatCompressTheCorpusAndRoundTrip) {
  auto corpus = arithmetic_corpus(300);
  BpeTrainOptions o;
  o.num_merges = 120;
  o.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  auto j = train_byte_level_bpe(corpus, o);
  // The corpus has few distinct words: training stops once every word is one token.
  size_t merges = j["model"]["merges"].size();
  EXPECT_GT(merges, 30u);
  EXPECT_LE(merges, 120u);
  Tokenizer tok = load(j);
  EXPECT_EQ(tok.vocab_size(), 256u + merges + 3u);
  EXPECT_EQ(tok.token_to_id("<|im_end|>").value(), int(256 + merges + 2));
  EXPECT_EQ(tok.encode(" multiply", false).size(), 1u);
  size_t bytes = 0, ids = 0;
  for (const auto& text : corpus) {
    auto enc = tok.encode(text, false);
    EXPECT_EQ(tok.decode(enc), text);
    bytes += text.size();
    ids += enc.size();
  }
  EXPECT_LT(double(ids) / double(bytes), 0.5) << ids << " ids for " << bytes << " bytes";
  // Digits stay single (Qwen2's split): every number is spelt digit by digit.
  auto enc = tok.encode("123", false);
  EXPECT_EQ(enc.size(), 3u);
  // Text never seen (and special tokens inside it) still round-trips through the byte tokens.
  std::string odd = "Ünïcødé ✓ <|im_start|>user\n{x}";
  auto e2 = tok.encode(odd, false);
  EXPECT_EQ(tok.decode(e2), odd);
  EXPECT_NE(std::find(e2.begin(), e2.end(), *tok.token_to_id("<|im_start|>")), e2.end());
}

TEST(BpeTrainer, IsDeterministicAndStopsWhenNothingRepeats) {
  auto corpus = arithmetic_corpus(50);
  BpeTrainOptions o;
  o.num_merges = 40;
  EXPECT_EQ(train_byte_level_bpe(corpus, o).dump(), train_byte_level_bpe(corpus, o).dump());
  BpeTrainOptions many;
  many.num_merges = 100000;
  auto j = train_byte_level_bpe({"abcdef"}, many);  // no pair occurs twice
  EXPECT_TRUE(j["model"]["merges"].empty());
}

}  // namespace
}  // namespace crucible
