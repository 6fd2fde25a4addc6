#include "core/jsonl.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace crucible;

namespace {
std::string tmpfile(const std::string& name, const std::string& contents) {
  fs::path dir = fs::temp_directory_path() / ("crucible_jsonl_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << contents;
  return p.string();
}
}  // namespace

TEST(Jsonl, ReadsRecordsWithLineNumbers) {
  auto p = tmpfile("a.jsonl", "{\"a\":1}\n\n{\"a\":2}\n");
  auto r = read_jsonl(p);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].line, 3u);
  EXPECT_EQ((*r)[1].value["a"], 2);
}

TEST(Jsonl, MalformedLineNamesFileAndLine) {
  auto p = tmpfile("bad.jsonl", "{\"a\":1}\n{\"a\":\n{\"a\":3}\n");
  auto r = read_jsonl(p);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("bad.jsonl:2:"), std::string::npos) << r.status().message();
}

TEST(Jsonl, NonObjectLineIsAnError) {
  auto p = tmpfile("arr.jsonl", "[1,2]\n");
  auto r = read_jsonl(p);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("arr.jsonl:1:"), std::string::npos);
}

TEST(Jsonl, EmptyFileIsAnError) {
  auto p = tmpfile("empty.jsonl", "\n  \n");
  auto r = read_jsonl(p);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("no records"), std::string::npos);
}

TEST(Jsonl, MissingFileIsAnError) {
  auto r = read_jsonl("/nonexistent/x.jsonl");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("/nonexistent/x.jsonl"), std::string::npos);
}

TEST(Jsonl, AppenderDropsTornTailAndTolerantReaderSkipsIt) {
  auto p = tmpfile("torn.jsonl", "{\"k\":1}\n{\"k\":2");
  bool torn = false;
  auto r = read_jsonl_tolerant(p, &torn);
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(torn);
  EXPECT_EQ(r->size(), 1u);
  {
    JsonlAppender app;
    ASSERT_TRUE(app.open(p).is_ok());
    ASSERT_TRUE(app.append(json{{"k", 3}}).is_ok());
  }
  auto r2 = read_jsonl(p);
  ASSERT_TRUE(r2.is_ok()) << r2.status().message();
  ASSERT_EQ(r2->size(), 2u);
  EXPECT_EQ((*r2)[1].value["k"], 3);
}
