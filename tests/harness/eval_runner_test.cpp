#include "harness/eval_runner.h"

#include <gtest/gtest.h>

#include "backends/replay_backend.h"
#include "harness/progress.h"
#include "harness_test_util.h"

namespace crucible {
namespace {

// Forwards to an inner backend and records every request; can fail chosen problems.
class RecordingBackend : public Backend {
 public:
  explicit RecordingBackend(Backend& inner) : inner_(inner) {}
  std::future<Result<std::vector<Completion>>> submit(GenerationRequest r) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests.push_back(r);
      if (fail.count(r.problem_id)) {
        std::promise<Result<std::vector<Completion>>> p;
        p.set_value(Status::unavailable("injected failure for " + r.problem_id));
        return p.get_future();
      }
    }
    return inner_.submit(std::move(r));
  }
  std::string name() const override { return "recording"; }
  std::vector<GenerationRequest> requests;
  std::set<std::string> fail;

 private:
  Backend& inner_;
  std::mutex mu_;
};

class EvalRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("runner");
    // Three problems; 8 recorded completions each (export format: completions list + single rows).
    task_.name = "toy";
    task_.grader = std::make_shared<const test::TagGrader>();
    task_.default_n = 4;
    for (auto [id, gold] : {std::pair{"p1", "1/2"}, {"p2", "5"}, {"p3", "7"}}) {
      Problem p;
      p.id = id;
      p.statement = std::string("statement of ") + id;
      p.gold = gold;
      task_.problems.push_back(p);
    }
    std::string replay =
        R"({"id":"p1","completions":["ANSWER: \\frac12","ANSWER: 2","ANSWER: 0.5","no answer here"]})" "\n"
        R"({"id":"p1","completions":["ANSWER: 2","ANSWER: 2","ANSWER: 2","ANSWER: 1/2"]})" "\n"
        R"({"problem_id":"p2","completions":["ANSWER: 5","ANSWER: 5","ANSWER: 5","ANSWER: 5","ANSWER: 5","ANSWER: 5","ANSWER: 5","ANSWER: 5"]})" "\n";
    for (int i = 0; i < 8; ++i) replay += R"({"id":"p3","completion":"ANSWER: )" + std::to_string(i) + "\"}\n";
    replay_path_ = test::write_text(dir_ + "/replay.jsonl", replay);
    auto rb = ReplayBackend::load(replay_path_);
    EXPECT_TRUE(rb.is_ok()) << rb.status().message();
    replay_ = std::move(*rb);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RunInfo info(int n) {
    RunInfo i;
    i.task = "toy";
    i.model = "replay";
    i.data_sha256 = "x";
    i.grader = "tag";
    i.sampling.n = n;
    return i;
  }
  EvalOptions options(int n) {
    EvalOptions o;
    o.params.n = n;
    o.model = "replay";
    o.progress = false;
    return o;
  }

  std::string dir_, replay_path_;
  Task task_;
  std::unique_ptr<ReplayBackend> replay_;
};

TEST_F(EvalRunnerTest, ReplayBackendServesRangesAndNamesMissingProblem) {
  GenerationRequest r;
  r.problem_id = "p3";
  r.first_sample = 5;
  r.params.n = 3;
  auto got = replay_->submit(r).get();
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].text, "ANSWER: 5");
  EXPECT_EQ((*got)[2].text, "ANSWER: 7");
  EXPECT_EQ((*got)[0].finish_reason, "stop");
  r.first_sample = 6;  // 6, 7, 8: sample 8 missing
  auto missing = replay_->submit(r).get();
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("'p3'"), std::string::npos) << missing.status().message();
  r.problem_id = "nope";
  auto unknown = replay_->submit(r).get();
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("'nope'"), std::string::npos);
  EXPECT_EQ(replay_->available("p1"), 8u);
}

TEST_F(EvalRunnerTest, ReplayBackendReadsSamplesJsonl) {
  // Another run's samples.jsonl: indexed rows, any order, torn last line tolerated.
  auto path = test::write_text(
      dir_ + "/samples.jsonl",
      R"({"problem_id":"q","sample":1,"completion":"B","finish_reason":"length","tokens":9,"grade":{}})" "\n"
      R"({"problem_id":"q","sample":0,"completion":"A","grade":{}})" "\n"
      R"({"problem_id":"q","sample":2,"compl)");
  auto rb = ReplayBackend::load(path);
  ASSERT_TRUE(rb.is_ok()) << rb.status().message();
  GenerationRequest r;
  r.problem_id = "q";
  r.params.n = 2;
  auto got = (*rb)->submit(r).get();
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ((*got)[0].text, "A");
  EXPECT_EQ((*got)[1].text, "B");
  EXPECT_EQ((*got)[1].finish_reason, "length");
  EXPECT_EQ((*got)[1].completion_tokens, 9);
  auto bad = ReplayBackend::load(test::write_text(dir_ + "/bad.jsonl", R"({"id":"x"})" "\n"));
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("bad.jsonl:1"), std::string::npos) << bad.status().message();
}

TEST_F(EvalRunnerTest, RunsGradesStoresAndScores) {
  auto store = RunStore::open(dir_ + "/run", info(4));
  ASSERT_TRUE(store.is_ok()) << store.status().message();
  RecordingBackend rec(*replay_);
  auto o = options(4);
  o.params.seed = 100;
  auto rep = run_eval(task_, rec, **store, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().message();
  EXPECT_TRUE(rep->ok());
  EXPECT_EQ(rep->new_samples, 12u);
  EXPECT_EQ(rep->resumed_samples, 0u);
  // One request per problem, n=4, seed = base + index*1000 + first_sample; default prompt in chat mode.
  ASSERT_EQ(rec.requests.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rec.requests[i].params.n, 4);
    EXPECT_EQ(rec.requests[i].first_sample, 0);
    EXPECT_EQ(*rec.requests[i].params.seed, 100 + i * 1000);
    ASSERT_EQ(rec.requests[i].messages.size(), 1u);
    EXPECT_EQ(rec.requests[i].messages[0].role, "user");
    EXPECT_NE(rec.requests[i].messages[0].content.find("statement of " + task_.problems[i].id), std::string::npos);
  }
  // p1: 1/2, 2, 0.5, none -> c=2; p2 c=4; p3 answers 0..3, gold 7 -> c=0.
  const Metrics& m = rep->metrics;
  EXPECT_NEAR(m.find("avg@4")->value, (0.5 + 1 + 0) / 3, 1e-12);
  EXPECT_NEAR(m.find("maj@4")->value, 2.0 / 3, 1e-12);  // p1: {1/2,0.5} beats {2}
  EXPECT_EQ(test::count_lines(dir_ + "/run/samples.jsonl"), 12u);
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  EXPECT_EQ(res["num_samples"], 12);
  EXPECT_EQ(res["complete"], true);
  EXPECT_EQ(res["per_problem"][0]["majority_answer"], "\\frac12");
}

TEST_F(EvalRunnerTest, ResumeRequestsOnlyMissingSamples) {
  {
    auto store = RunStore::open(dir_ + "/run", info(4));
    ASSERT_TRUE(store.is_ok());
    ASSERT_TRUE(run_eval(task_, *replay_, **store, options(4)).is_ok());
  }
  // Simulate a kill -9 mid-problem: drop p3's last two samples and tear the final line.
  std::string text = test::slurp(dir_ + "/run/samples.jsonl");
  std::vector<std::string> keep;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    if (j["problem_id"] == "p3" && j["sample"].get<int>() >= 2) continue;
    keep.push_back(line);
  }
  std::string rebuilt;
  for (auto& l : keep) rebuilt += l + "\n";
  rebuilt += keep.back().substr(0, 25);  // torn
  test::write_text(dir_ + "/run/samples.jsonl", rebuilt);

  // Rerun with n grown to 8.
  auto store = RunStore::open(dir_ + "/run", info(8));
  ASSERT_TRUE(store.is_ok()) << store.status().message();
  EXPECT_TRUE((*store)->torn_tail_dropped());
  RecordingBackend rec(*replay_);
  auto rep = run_eval(task_, rec, **store, options(8));
  ASSERT_TRUE(rep.is_ok()) << rep.status().message();
  EXPECT_TRUE(rep->ok());
  EXPECT_EQ(rep->resumed_samples, 10u);
  EXPECT_EQ(rep->new_samples, 14u);
  std::map<std::string, std::pair<int, int>> asked;
  for (const auto& r : rec.requests) asked[r.problem_id] = {r.first_sample, r.params.n};
  EXPECT_EQ(rec.requests.size(), 3u);
  EXPECT_EQ(asked["p1"], std::make_pair(4, 4));
  EXPECT_EQ(asked["p2"], std::make_pair(4, 4));
  EXPECT_EQ(asked["p3"], std::make_pair(2, 6));
  // Exactly 3 x 8 unique keys in the file.
  std::set<std::pair<std::string, int>> keys;
  std::istringstream in2(test::slurp(dir_ + "/run/samples.jsonl"));
  size_t lines = 0;
  for (std::string line; std::getline(in2, line); ++lines) {
    json j = json::parse(line);
    keys.insert({j["problem_id"].get<std::string>(), j["sample"].get<int>()});
  }
  EXPECT_EQ(lines, 24u);
  EXPECT_EQ(keys.size(), 24u);
  // p1 over 8: 1/2, 2, 0.5, none, 2, 2, 2, 1/2 -> c=3; maj@8 -> "2" (4 votes vs 3) -> wrong.
  EXPECT_EQ(rep->metrics.per_problem[0].correct, 3);
  EXPECT_EQ(*rep->metrics.per_problem[0].majority_answer, "2");
}

TEST_F(EvalRunnerTest, BackendErrorsAreReportedAndOthersContinue) {
  auto store = RunStore::open(dir_ + "/run", info(4));
  ASSERT_TRUE(store.is_ok());
  RecordingBackend rec(*replay_);
  rec.fail.insert("p2");
  auto rep = run_eval(task_, rec, **store, options(4));
  ASSERT_TRUE(rep.is_ok()) << rep.status().message();
  EXPECT_FALSE(rep->ok());
  ASSERT_EQ(rep->errors.size(), 1u);
  EXPECT_EQ(rep->errors[0].problem_id, "p2");
  EXPECT_NE(rep->errors[0].message.find("injected"), std::string::npos);
  EXPECT_EQ(rep->missing_samples, 4u);
  EXPECT_EQ(rep->new_samples, 8u);
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  EXPECT_EQ(res["complete"], false);
  EXPECT_EQ(res["incomplete_problems"][0], "p2");
  EXPECT_EQ(res["errors"][0]["problem_id"], "p2");
  EXPECT_EQ(res["num_problems"], 2);

  // Retry: only p2 is requested, and the run completes.
  store->reset();
  auto again = RunStore::open(dir_ + "/run", info(4));
  ASSERT_TRUE(again.is_ok());
  RecordingBackend rec2(*replay_);
  auto rep2 = run_eval(task_, rec2, **again, options(4));
  ASSERT_TRUE(rep2.is_ok());
  EXPECT_TRUE(rep2->ok());
  ASSERT_EQ(rec2.requests.size(), 1u);
  EXPECT_EQ(rec2.requests[0].problem_id, "p2");
  EXPECT_EQ(rep2->metrics.num_problems, 3u);
}

TEST_F(EvalRunnerTest, BoundedWindowAndSingleGradeThread) {
  auto store = RunStore::open(dir_ + "/run", info(2));
  ASSERT_TRUE(store.is_ok());
  auto o = options(2);
  o.max_in_flight = 1;
  o.grade_threads = 1;
  auto rep = run_eval(task_, *replay_, **store, o);
  ASSERT_TRUE(rep.is_ok());
  EXPECT_TRUE(rep->ok());
  EXPECT_EQ(rep->new_samples, 6u);
}

TEST(Progress, PlainLinesWhenNotATty) {
  std::FILE* f = std::tmpfile();
  {
    Progress p(100, 0, 0, f, /*tty=*/0, "t");
    for (int i = 0; i < 100; ++i) p.add(1, i % 2);
    p.finish();
  }
  std::rewind(f);
  std::string text;
  char buf[4096];
  size_t k;
  while ((k = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, k);
  std::fclose(f);
  size_t lines = std::count(text.begin(), text.end(), '\n');
  EXPECT_GE(lines, 10u);
  EXPECT_LE(lines, 13u);  // start + every 10% + final
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find("100/100 samples"), std::string::npos) << text;
  EXPECT_NE(text.find("accuracy 50.0%"), std::string::npos) << text;
}

TEST(Progress, LiveBarOnTty) {
  std::FILE* f = std::tmpfile();
  {
    Progress p(10, 4, 2, f, /*tty=*/1, "t");
    p.add(6, 3);
    p.message("a note");
    p.finish();
  }
  std::rewind(f);
  std::string text;
  char buf[4096];
  size_t k;
  while ((k = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, k);
  std::fclose(f);
  EXPECT_NE(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find("10/10 samples"), std::string::npos) << text;
  EXPECT_NE(text.find("a note\n"), std::string::npos);
  EXPECT_NE(text.find("acc 50.0%"), std::string::npos) << text;
  EXPECT_EQ(format_duration(65), "1m05s");
  EXPECT_EQ(format_duration(7260), "2h01m");
}

}  // namespace
}  // namespace crucible
