#include "tasks/dataset.h"

#include <gtest/gtest.h>

#include "tests/support/temp_files.h"

namespace crucible {
namespace {

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_temp_dir("dataset"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file(const std::string& text, const std::string& name = "data.jsonl") {
    return test::write_text(dir_ + "/" + name, text);
  }
  std::string dir_;
};

TEST_F(DatasetTest, LowercaseAliasesAndMeta) {
  auto path = file(R"({"problem":"What is 1+1?","answer":"2","unique_id":"test/algebra/1.json","level":3,"subject":"Algebra"})"
                   "\n");
  auto r = load_problems_jsonl(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  const Problem& p = (*r)[0];
  EXPECT_EQ(p.id, "test/algebra/1.json");
  EXPECT_EQ(p.statement, "What is 1+1?");
  EXPECT_EQ(p.gold, "2");
  EXPECT_EQ(p.meta["level"], 3);
  EXPECT_EQ(p.meta["subject"], "Algebra");
  EXPECT_FALSE(p.meta.contains("problem"));
  EXPECT_FALSE(p.meta.contains("answer"));
  EXPECT_FALSE(p.meta.contains("unique_id"));
}

TEST_F(DatasetTest, CapitalisedAliasesIntegerAnswerAndId) {
  // AIME exports: {"ID": "2024-I-1", "Problem": ..., "Answer": 204}; problem_id may be an integer.
  auto path = file(R"({"ID":"2024-I-1","Problem":"Find x.","Answer":204,"Solution":"long text","url":"u"})" "\n"
                   R"({"problem_id":7,"Question":"Find y.","answer":33.0,"year":2025})" "\n"
                   R"({"id":"q3","question":"Find z.","Answer":"\\frac{1}{2}"})" "\n");
  auto r = load_problems_jsonl(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].id, "2024-I-1");
  EXPECT_EQ((*r)[0].statement, "Find x.");
  EXPECT_EQ((*r)[0].gold, "204");
  EXPECT_EQ((*r)[0].meta["Solution"], "long text");
  EXPECT_EQ((*r)[0].meta["url"], "u");
  EXPECT_EQ((*r)[1].id, "7");
  EXPECT_EQ((*r)[1].statement, "Find y.");
  EXPECT_EQ((*r)[1].gold, "33");
  EXPECT_EQ((*r)[1].meta["year"], 2025);
  EXPECT_EQ((*r)[2].gold, "\\frac{1}{2}");
}

TEST_F(DatasetTest, SolutionAsGoldAndLineIds) {
  // MATH rows carry a full solution; the grader extracts the last \boxed{}. No id -> line-N
  // (N counts physical lines, blank ones included).
  auto path = file(R"({"problem":"p1","solution":"So it is \\boxed{5}."})" "\n\n"
                   R"({"problem":"p2","answer":"7","solution":"...\\boxed{7}"})" "\n");
  auto r = load_problems_jsonl(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, "line-1");
  EXPECT_EQ((*r)[0].gold, "So it is \\boxed{5}.");
  EXPECT_EQ((*r)[1].id, "line-3");
  EXPECT_EQ((*r)[1].gold, "7");  // `answer` wins over `solution`
  EXPECT_TRUE((*r)[1].meta.contains("solution"));
}

TEST_F(DatasetTest, ExplicitFieldOverrides) {
  auto path = file(R"({"prompt":"Compute.","problem":"ignored","target":"9","key":"k1"})" "\n");
  DatasetOptions o;
  o.field_problem = "prompt";
  o.field_answer = "target";
  o.field_id = "key";
  auto r = load_problems_jsonl(path, o);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)[0].statement, "Compute.");
  EXPECT_EQ((*r)[0].gold, "9");
  EXPECT_EQ((*r)[0].id, "k1");
  EXPECT_EQ((*r)[0].meta["problem"], "ignored");

  o.field_answer = "nope";
  auto bad = load_problems_jsonl(path, o);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find(path + ":1:"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("'nope'"), std::string::npos) << bad.status().message();
}

void expect_error(const Result<std::vector<Problem>>& r, const std::string& where, const std::string& what) {
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find(where), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
}

TEST_F(DatasetTest, MissingStatementNamesFileAndLine) {
  auto path = file(R"({"problem":"a","answer":"1"})" "\n" R"({"text":"b","answer":"2"})" "\n");
  expect_error(load_problems_jsonl(path), path + ":2:", "missing problem statement");
}

TEST_F(DatasetTest, MissingAnswerNamesFileAndLine) {
  auto path = file(R"({"problem":"a","answer":"1"})" "\n" R"({"problem":"b"})" "\n");
  expect_error(load_problems_jsonl(path), path + ":2:", "missing answer");
}

TEST_F(DatasetTest, NonStringStatement) {
  auto path = file(R"({"problem":["a"],"answer":"1"})" "\n");
  expect_error(load_problems_jsonl(path), path + ":1:", "must be a string");
}

TEST_F(DatasetTest, EmptyStatementAndBadAnswerType) {
  expect_error(load_problems_jsonl(file(R"({"problem":"  ","answer":"1"})" "\n", "a.jsonl")), ":1:", "empty");
  expect_error(load_problems_jsonl(file(R"({"problem":"x","answer":{"v":1}})" "\n", "b.jsonl")), ":1:",
               "string or a number");
}

TEST_F(DatasetTest, DuplicateIdNamesBothLines) {
  auto path = file(R"({"id":"a","problem":"x","answer":"1"})" "\n" R"({"id":"b","problem":"y","answer":"1"})" "\n"
                   R"({"id":"a","problem":"z","answer":"1"})" "\n");
  auto r = load_problems_jsonl(path);
  expect_error(r, path + ":3:", "duplicate problem id 'a'");
  EXPECT_NE(r.status().message().find("line 1"), std::string::npos) << r.status().message();
}

TEST_F(DatasetTest, MalformedLine) {
  auto path = file(R"({"problem":"x","answer":"1"})" "\n" "{not json\n");
  expect_error(load_problems_jsonl(path), path + ":2:", "invalid JSON");
  auto path2 = file("[1,2]\n", "arr.jsonl");
  expect_error(load_problems_jsonl(path2), path2 + ":1:", "expected a JSON object");
}

TEST_F(DatasetTest, EmptyFileAndMissingFile) {
  auto path = file("\n  \n");
  expect_error(load_problems_jsonl(path), path, "empty");
  expect_error(load_problems_jsonl(dir_ + "/nope.jsonl"), dir_ + "/nope.jsonl", "cannot open");
}

}  // namespace
}  // namespace crucible
