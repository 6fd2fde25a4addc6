#include "harness/run_store.h"

#include <gtest/gtest.h>

#include "harness_test_util.h"

namespace crucible {
namespace {

RunInfo info() {
  RunInfo i;
  i.task = "math500";
  i.model = "m";
  i.backend = "replay";
  i.data_path = "d.jsonl";
  i.data_sha256 = sha256_hex("data");
  i.num_problems = 2;
  i.grader = "tag";
  i.sampling.n = 2;
  i.prompt_mode = "chat";
  i.prompt_sha256 = sha256_hex("prompt");
  return i;
}

StoredSample sample(const std::string& pid, int k, bool correct) {
  StoredSample s;
  s.problem_id = pid;
  s.sample = k;
  s.completion = "ANSWER: " + std::to_string(k);
  s.finish_reason = "stop";
  s.completion_tokens = 12;
  s.grade.correct = correct;
  s.grade.score = correct ? 1 : 0;
  s.grade.verdict = correct ? Verdict::kCorrect : Verdict::kWrong;
  s.grade.extracted = std::to_string(k);
  s.latency_s = 0.5;
  return s;
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto dir = test::make_temp_dir("sha");
  auto h = sha256_file(test::write_text(dir + "/f", "abc"));
  ASSERT_TRUE(h.is_ok());
  EXPECT_EQ(*h, sha256_hex("abc"));
  EXPECT_FALSE(sha256_file(dir + "/none").is_ok());
  std::filesystem::remove_all(dir);
}

TEST(RunStore, CreateWriteAndReopen) {
  auto dir = test::make_temp_dir("store") + "/run";
  {
    auto st = RunStore::open(dir, info());
    ASSERT_TRUE(st.is_ok()) << st.status().message();
    EXPECT_FALSE((*st)->resumed());
    EXPECT_TRUE((*st)->existing().empty());
    ASSERT_TRUE((*st)->append(sample("a", 0, true)).is_ok());
    ASSERT_TRUE((*st)->append(sample("a", 1, false)).is_ok());
    ASSERT_TRUE((*st)->append(sample("a", 1, true)).is_ok());  // same key: skipped
    ASSERT_TRUE((*st)->write_results(json{{"x", 1}}).is_ok());
  }
  EXPECT_EQ(test::count_lines(dir + "/samples.jsonl"), 2u);
  json run = json::parse(test::slurp(dir + "/run.json"));
  EXPECT_EQ(run["task"], "math500");
  EXPECT_EQ(run["model"], "m");
  EXPECT_EQ(run["data"]["sha256"], sha256_hex("data"));
  EXPECT_EQ(run["sampling"]["temperature"], 0.6);
  EXPECT_EQ(run["sampling"]["top_p"], 0.95);
  EXPECT_EQ(run["sampling"]["max_tokens"], 32768);
  EXPECT_EQ(run["sampling"]["n"], 2);
  EXPECT_EQ(run["crucible_version"], CRUCIBLE_VERSION);
  EXPECT_TRUE(run.contains("created"));
  EXPECT_EQ(json::parse(test::slurp(dir + "/results.json"))["x"], 1);
  json line = json::parse(test::slurp(dir + "/samples.jsonl").substr(0, test::slurp(dir + "/samples.jsonl").find('\n')));
  for (const char* k : {"problem_id", "sample", "completion", "finish_reason", "tokens", "grade", "latency_s"})
    EXPECT_TRUE(line.contains(k)) << k;
  EXPECT_FALSE(line.contains("prompt"));
  EXPECT_EQ(line["grade"]["verdict"], "correct");

  // Reopen with n grown: resumes, sees both samples.
  RunInfo bigger = info();
  bigger.sampling.n = 8;
  auto st = RunStore::open(dir, bigger);
  ASSERT_TRUE(st.is_ok()) << st.status().message();
  EXPECT_TRUE((*st)->resumed());
  ASSERT_EQ((*st)->existing().size(), 2u);
  EXPECT_TRUE((*st)->has("a", 1));
  EXPECT_FALSE((*st)->has("a", 2));
  EXPECT_EQ((*st)->existing()[1].grade.verdict, Verdict::kWrong);
  EXPECT_EQ((*st)->existing()[1].completion_tokens, 12);
  EXPECT_EQ(json::parse(test::slurp(dir + "/run.json"))["sampling"]["n"], 8);
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST(RunStore, TornLastLineIsDroppedAndDuplicatesKeepFirst) {
  auto dir = test::make_temp_dir("torn") + "/run";
  { ASSERT_TRUE(RunStore::open(dir, info()).is_ok()); }
  std::string good0 = sample("a", 0, true).to_json().dump() + "\n";
  std::string dup0 = sample("a", 0, false).to_json().dump() + "\n";
  std::string good1 = sample("b", 0, false).to_json().dump() + "\n";
  std::string torn = sample("b", 1, true).to_json().dump().substr(0, 40);  // kill -9 mid-write
  test::write_text(dir + "/samples.jsonl", good0 + dup0 + good1 + torn);
  auto st = RunStore::open(dir, info());
  ASSERT_TRUE(st.is_ok()) << st.status().message();
  EXPECT_TRUE((*st)->torn_tail_dropped());
  EXPECT_EQ((*st)->duplicates_dropped(), 1u);
  ASSERT_EQ((*st)->existing().size(), 2u);
  EXPECT_TRUE((*st)->existing()[0].grade.correct);  // the first ("a",0) wins
  EXPECT_FALSE((*st)->has("b", 1));
  // Appending after the torn tail leaves a well-formed file.
  ASSERT_TRUE((*st)->append(sample("b", 1, true)).is_ok());
  st = RunStore::open(dir, info());
  ASSERT_TRUE(st.is_ok()) << st.status().message();
  EXPECT_FALSE((*st)->torn_tail_dropped());
  EXPECT_EQ((*st)->existing().size(), 3u);
  EXPECT_TRUE((*st)->has("b", 1));
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST(RunStore, ConflictingRunIsRefused) {
  auto dir = test::make_temp_dir("conflict") + "/run";
  { ASSERT_TRUE(RunStore::open(dir, info()).is_ok()); }
  RunInfo other = info();
  other.model = "other-model";
  other.sampling.temperature = 1.0;
  auto st = RunStore::open(dir, other);
  ASSERT_FALSE(st.is_ok());
  const std::string& m = st.status().message();
  EXPECT_NE(m.find("model"), std::string::npos) << m;
  EXPECT_NE(m.find("sampling.temperature"), std::string::npos) << m;
  EXPECT_NE(m.find("--out"), std::string::npos) << m;
  RunInfo data = info();
  data.data_sha256 = sha256_hex("other data");
  EXPECT_FALSE(RunStore::open(dir, data).is_ok());
  // A non-empty directory that is not a run.
  auto plain = test::make_temp_dir("plain");
  test::write_text(plain + "/notes.txt", "hi");
  auto p = RunStore::open(plain, info());
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("--out"), std::string::npos);
  std::filesystem::remove_all(plain);
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST(RunStore, CorruptMiddleLineIsAnError) {
  auto dir = test::make_temp_dir("corrupt") + "/run";
  { ASSERT_TRUE(RunStore::open(dir, info()).is_ok()); }
  test::write_text(dir + "/samples.jsonl", "garbage\n" + sample("a", 0, true).to_json().dump() + "\n");
  auto st = RunStore::open(dir, info());
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.status().message().find("samples.jsonl:1"), std::string::npos) << st.status().message();
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

}  // namespace
}  // namespace crucible
