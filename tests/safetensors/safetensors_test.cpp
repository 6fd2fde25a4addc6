// safetensors: write/read round trips bit for bit, sharded model directories, and every kind of
// malformed file giving a clear error that names the file.
#include "backends/safetensors/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "tests/support/temp_files.h"

namespace st = crucible::safetensors;
using crucible::test::make_temp_dir;
using json = nlohmann::json;

namespace {

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// A raw file: u64 header length, header text, data.
std::string raw_file(const std::string& dir, const std::string& name, const std::string& header,
                     const std::string& data, int64_t claimed_len = -1) {
  std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary);
  uint64_t n = claimed_len >= 0 ? static_cast<uint64_t>(claimed_len) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
  return path;
}

std::string error_of(const std::string& path) {
  auto f = st::File::open(path);
  EXPECT_FALSE(f.is_ok()) << path << " should have been rejected";
  if (f.is_ok()) return "";
  EXPECT_NE(f.status().message().find(path), std::string::npos) << f.status().message();
  return f.status().message();
}

}  // namespace

TEST(Safetensors, RoundTripIsBitForBit) {
  std::string dir = make_temp_dir("st");
  std::string a = random_bytes(4 * 3 * 5, 1), b = random_bytes(2 * 7, 2), c = random_bytes(2 * 2 * 2, 3), d = random_bytes(8, 4);
  std::vector<st::TensorData> ts = {{"layer.0.weight", st::DType::kF32, {3, 5}, a},
                                    {"bf", st::DType::kBF16, {7}, b},
                                    {"half", st::DType::kF16, {2, 2}, c},
                                    {"ids", st::DType::kI64, {1}, d},
                                    {"empty", st::DType::kF32, {0, 4}, std::string_view()}};
  std::string path = dir + "/model.safetensors";
  ASSERT_TRUE(st::write(path, ts, {{"format", "pt"}}).is_ok());
  auto f = st::File::open(path);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_EQ(f->metadata().at("format"), "pt");
  ASSERT_EQ(f->tensors().size(), ts.size());
  for (auto& t : ts) {
    const st::TensorInfo* info = f->find(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info->dtype, t.dtype);
    EXPECT_EQ(info->shape, t.shape);
    EXPECT_EQ(f->bytes(*info), t.bytes) << t.name;
  }
  // The header is padded to 8 bytes, so the data of the first tensor is 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  // Writing what we read gives the same file.
  std::vector<st::TensorData> again;
  for (auto& t : f->tensors()) again.push_back({t.name, t.dtype, t.shape, f->bytes(t)});
  ASSERT_TRUE(st::write(dir + "/copy.safetensors", again, f->metadata()).is_ok());
  auto g = st::File::open(dir + "/copy.safetensors");
  ASSERT_TRUE(g.is_ok());
  for (auto& t : ts) EXPECT_EQ(g->bytes(*g->find(t.name)), t.bytes);
}

TEST(Safetensors, WriterRejectsSizeMismatchAndDuplicates) {
  std::string dir = make_temp_dir("st");
  std::string b = random_bytes(12, 5);
  EXPECT_FALSE(st::write(dir + "/x.safetensors", {{"w", st::DType::kF32, {4}, b}}).is_ok());
  EXPECT_FALSE(st::write(dir + "/x.safetensors", {{"w", st::DType::kF32, {3}, b}, {"w", st::DType::kF32, {3}, b}}).is_ok());
}

TEST(Safetensors, ShardedModelDirectory) {
  std::string dir = make_temp_dir("st");
  std::string a = random_bytes(16, 6), b = random_bytes(8, 7);
  ASSERT_TRUE(st::write(dir + "/model-00001-of-00002.safetensors", {{"a", st::DType::kF32, {4}, a}}).is_ok());
  ASSERT_TRUE(st::write(dir + "/model-00002-of-00002.safetensors", {{"b", st::DType::kBF16, {2, 2}, b}}).is_ok());
  json idx = {{"metadata", {{"total_size", 24}}},
              {"weight_map", {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}}}};
  std::ofstream(dir + "/model.safetensors.index.json") << idx.dump();
  auto m = st::Model::open_dir(dir);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  EXPECT_EQ(m->names(), (std::vector<std::string>{"a", "b"}));
  std::string_view bytes;
  ASSERT_NE(m->find("b", &bytes), nullptr);
  EXPECT_EQ(bytes, b);
  EXPECT_EQ(m->find("c", &bytes), nullptr);
}

TEST(Safetensors, SingleFileModelDirectoryAndMissingDirectory) {
  std::string dir = make_temp_dir("st");
  std::string a = random_bytes(4, 8);
  ASSERT_TRUE(st::write(dir + "/model.safetensors", {{"w", st::DType::kU8, {4}, a}}).is_ok());
  auto m = st::Model::open_dir(dir);
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->names().size(), 1u);
  auto none = st::Model::open_dir(make_temp_dir("st_empty"));
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("no model.safetensors"), std::string::npos);
}

TEST(Safetensors, TensorInTwoShardsIsAnError) {
  std::string dir = make_temp_dir("st");
  std::string a = random_bytes(4, 9);
  ASSERT_TRUE(st::write(dir + "/s1.safetensors", {{"w", st::DType::kU8, {4}, a}}).is_ok());
  ASSERT_TRUE(st::write(dir + "/s2.safetensors", {{"w", st::DType::kU8, {4}, a}}).is_ok());
  std::ofstream(dir + "/model.safetensors.index.json")
      << json{{"weight_map", {{"w", "s1.safetensors"}, {"v", "s2.safetensors"}}}}.dump();
  auto m = st::Model::open_dir(dir);
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("another shard"), std::string::npos);
}

struct Malformed {
  const char* label;
  std::string header;
  std::string data;
  int64_t claimed_len;
  const char* expect;  // a piece of the message
};

class SafetensorsMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(SafetensorsMalformed, IsAClearError) {
  const Malformed& m = GetParam();
  std::string dir = make_temp_dir("st_bad");
  std::string path = raw_file(dir, std::string(m.label) + ".safetensors", m.header, m.data, m.claimed_len);
  std::string msg = error_of(path);
  EXPECT_NE(msg.find(m.expect), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SafetensorsMalformed,
    ::testing::Values(
        Malformed{"not_json", "{nope", "", -1, "not a JSON object"},
        Malformed{"not_object", "[1,2]", "", -1, "does not start with '{'"},
        Malformed{"header_past_end", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x", 4096, "truncated"},
        Malformed{"huge_header_len", "{}", "", int64_t(1) << 40, "exceeds 100 MiB"},
        Malformed{"unknown_dtype", R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "x", -1, "unknown dtype"},
        Malformed{"missing_field", R"({"a":{"dtype":"U8","shape":[1]}})", "x", -1, "needs dtype, shape and data_offsets"},
        Malformed{"size_mismatch", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd", -1, "need"},
        Malformed{"out_of_range", R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", "abcd", -1, "out of range"},
        Malformed{"overlap", R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", "abcdef", -1, "overlaps"},
        Malformed{"hole", R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", "abcd", -1, "hole"},
        Malformed{"trailing", R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "abcd", -1, "trailing bytes"},
        Malformed{"begin_after_end", R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[3,2]}})", "abc", -1, "begin > end"},
        Malformed{"negative_dim", R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", "", -1, "bad dimension"},
        Malformed{"bad_metadata", R"({"__metadata__":{"k":1}})", "", -1, "not a string"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(Safetensors, FileShorterThanLengthPrefix) {
  std::string dir = make_temp_dir("st_bad");
  std::string path = dir + "/tiny.safetensors";
  std::ofstream(path) << "abc";
  EXPECT_NE(error_of(path).find("shorter than the 8-byte header length"), std::string::npos);
}

TEST(Safetensors, TruncatedCopyOfAGoodFile) {
  std::string dir = make_temp_dir("st_bad");
  std::string a = random_bytes(400, 10);
  std::string path = dir + "/good.safetensors";
  ASSERT_TRUE(st::write(path, {{"w", st::DType::kF32, {100}, a}}).is_ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  EXPECT_NE(error_of(path).find("truncated"), std::string::npos);
}
