// End-to-end tests of the `crucible eval` binary (CRUCIBLE_BINARY), run as a child process.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "harness_test_util.h"
#include "harness/run_store.h"
#include "tasks/prompt_template.h"
#include "tests/support/fake_openai_server.h"

namespace crucible {
namespace {

using Keys = std::set<std::pair<std::string, int>>;

// Keys in a samples.jsonl (a torn last line is ignored); counts lines and duplicates.
Keys read_keys(const std::string& path, size_t* lines = nullptr, size_t* dups = nullptr) {
  Keys keys;
  std::istringstream in(test::slurp(path));
  size_t n = 0, d = 0;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    ++n;
    if (!keys.insert({j["problem_id"].get<std::string>(), j["sample"].get<int>()}).second) ++d;
  }
  if (lines) *lines = n;
  if (dups) *dups = d;
  return keys;
}

class CliEvalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("cli");
    data_ = test::write_text(dir_ + "/data.jsonl",
                             R"({"id":"a","problem":"What is 6*7?","answer":"42","level":1})" "\n"
                             R"({"unique_id":"b","problem":"What is half of one?","solution":"It is $\\boxed{\\frac{1}{2}}$."})" "\n"
                             R"({"id":"c","problem":"What is 3+4?","answer":7})" "\n");
    replay_ = test::write_text(
        dir_ + "/replay.jsonl",
        R"({"id":"a","completions":["Therefore, the final answer is: $\\boxed{42}$. I hope it is correct","$\\boxed{41}$","$\\boxed{42}$","no idea"]})" "\n"
        R"({"id":"b","completions":["$\\boxed{\\frac12}$","$\\boxed{\\frac{1}{2}}$","$\\boxed{2}$","$\\boxed{\\frac{1}{2}}$"]})" "\n"
        R"({"id":"c","completion":"$\\boxed{7}$"})" "\n" R"({"id":"c","completion":"$\\boxed{8}$"})" "\n"
        R"({"id":"c","completion":"$\\boxed{8}$"})" "\n" R"({"id":"c","completion":"$\\boxed{8}$"})" "\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::vector<std::string> replay_args(const std::string& out) {
    return {"eval", "--task", "math500", "--data", data_, "--backend", "replay", "--replay", replay_,
            "--model", "recorded", "--out", out};
  }
  std::string dir_, data_, replay_;
};

TEST_F(CliEvalTest, ReplayEndToEnd) {
  auto r = test::run_cli(replay_args(dir_ + "/run"), dir_);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // Summary table on stdout: percentages.
  EXPECT_NE(r.out.find("math500"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recorded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("avg@4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("maj@4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pass@2"), std::string::npos) << r.out;
  // Non-TTY stderr: plain progress lines, no carriage returns.
  EXPECT_NE(r.err.find("12/12 samples"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);

  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  EXPECT_EQ(res["task"], "math500");
  EXPECT_EQ(res["model"], "recorded");
  EXPECT_EQ(res["n"], 4);  // math500 default
  EXPECT_EQ(res["num_problems"], 3);
  EXPECT_EQ(res["num_samples"], 12);
  // a: 2/4 correct, b: 3/4 (\frac12 == \frac{1}{2}), c: 1/4.
  EXPECT_NEAR(res["metrics"]["avg@4"]["value"].get<double>(), (0.5 + 0.75 + 0.25) / 3, 1e-9);
  EXPECT_EQ(res["per_problem"][1]["id"], "b");
  EXPECT_EQ(res["per_problem"][1]["correct"], 3);
  EXPECT_EQ(res["per_problem"][2]["majority_answer"], "8");
  EXPECT_NEAR(res["metrics"]["maj@4"]["value"].get<double>(), 2.0 / 3, 1e-9);
  json run = json::parse(test::slurp(dir_ + "/run/run.json"));
  EXPECT_EQ(run["data"]["sha256"], *sha256_file(data_));
  EXPECT_EQ(run["sampling"]["temperature"], 0.6);
  EXPECT_EQ(run["sampling"]["top_p"], 0.95);
  EXPECT_EQ(run["sampling"]["max_tokens"], 32768);
  EXPECT_EQ(run["backend"], "replay");
  EXPECT_EQ(test::count_lines(dir_ + "/run/samples.jsonl"), 12u);

  // Same command again: nothing new, same numbers.
  auto again = test::run_cli(replay_args(dir_ + "/run"), dir_);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("resumed"), std::string::npos) << again.out;
  EXPECT_EQ(test::count_lines(dir_ + "/run/samples.jsonl"), 12u);
  EXPECT_EQ(json::parse(test::slurp(dir_ + "/run/results.json"))["metrics"], res["metrics"]);

  // The run's own samples.jsonl replays into an identical result.
  auto args = replay_args(dir_ + "/rerun");
  args[8] = dir_ + "/run/samples.jsonl";
  auto re = test::run_cli(args, dir_);
  ASSERT_EQ(re.code, 0) << re.err;
  EXPECT_EQ(json::parse(test::slurp(dir_ + "/rerun/results.json"))["metrics"], res["metrics"]);
}

TEST_F(CliEvalTest, BadInputExitsTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  auto base = replay_args(dir_ + "/bad");
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  auto bad_data = test::write_text(dir_ + "/bad.jsonl", R"({"problem":"x","answer":"1"})" "\n{oops\n");
  auto tmpl = test::write_text(dir_ + "/t.txt", "{problem} {nope}");
  std::vector<Case> cases = {
      {{"eval", "--data", data_, "--out", dir_ + "/x"}, "--task"},
      {{"eval", "--task", "aime23", "--data", data_, "--model", "m", "--out", dir_ + "/x"}, "known tasks"},
      {{"eval", "--task", "math", "--data", data_, "--out", dir_ + "/x"}, "--model"},
      {{"eval", "--task", "math", "--data", bad_data, "--model", "m", "--out", dir_ + "/x"}, bad_data + ":2:"},
      {with({"--n", "zero"}), "--n"},
      {with({"--top-p", "1.5"}), "--top-p"},
      {with({"--mode", "raw"}), "--mode"},
      {with({"--prompt-template", tmpl}), "{nope}"},
      {with({"--unknown-flag"}), "--unknown-flag"},
      {with({"--field-problem", "statement"}), "'statement'"},
  };
  for (const auto& c : cases) {
    auto r = test::run_cli(c.args, dir_);
    EXPECT_EQ(r.code, 2) << c.needle << "\n" << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.needle << "\n" << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x"));  // bad input creates no run dir
  // A conflicting rerun into the same --out.
  ASSERT_EQ(test::run_cli(base, dir_).code, 0);
  auto conflict = test::run_cli(with({"--temperature", "1.0"}), dir_);
  EXPECT_EQ(conflict.code, 2);
  EXPECT_NE(conflict.err.find("--out"), std::string::npos) << conflict.err;
  EXPECT_NE(conflict.err.find("temperature"), std::string::npos) << conflict.err;
}

TEST_F(CliEvalTest, MissingReplayDataExitsOneThenResumes) {
  // n=8 but only 4 recorded: every request fails -> exit 1; incomplete results are null, not 0.
  auto args = replay_args(dir_ + "/run");
  args.push_back("--n");
  args.push_back("8");
  auto r = test::run_cli(args, dir_);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("problem 'a'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Run the same command again"), std::string::npos) << r.err;
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  EXPECT_EQ(res["complete"], false);
  EXPECT_TRUE(res["metrics"]["avg@8"]["value"].is_null());
  EXPECT_EQ(res["errors"].size(), 3u);
}

TEST_F(CliEvalTest, HelpExplainsEverything) {
  auto r = test::run_cli({"eval", "--help"}, dir_);
  EXPECT_EQ(r.code, 0);
  for (const char* flag : {"--task", "--data", "--backend", "--url", "--model", "--api-key", "--n", "--temperature",
                           "--top-p", "--top-k", "--max-tokens", "--seed", "--stop", "--concurrency", "--timeout",
                           "--retries", "--mode", "--system-prompt", "--prompt-template", "--field-problem",
                           "--field-answer", "--field-id", "--replay", "--out", "Examples", "Exit codes"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

// ---- against the fake OpenAI-compatible server ----

// Statement -> per-sample answers (sample i gets answers[i % size]).
std::vector<std::string> answer_texts(const json& req) {
  std::string content = req["messages"].back()["content"].get<std::string>();
  int n = req.value("n", 1);
  std::vector<std::string> ans;
  if (content.find("6*7") != std::string::npos) ans = {"42", "41"};
  else if (content.find("half of one") != std::string::npos) ans = {"0.5", "\\frac{1}{2}", "3"};
  else ans = {"7"};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back("Think.\nTherefore, the final answer is: $\\boxed{" + ans[i % ans.size()] + "}$. I hope it is correct");
  return out;
}

TEST_F(CliEvalTest, OpenAIBackendEndToEnd) {
  testing::FakeOpenAIServer server(answer_texts);
  std::vector<std::string> args = {"eval", "--task", "math500", "--data", data_, "--backend", "openai", "--url",
                                   server.url(), "--model", "fake-model", "--api-key", "sk-test", "--seed", "7",
                                   "--out", dir_ + "/run", "--no-progress"};
  auto r = test::run_cli(args, dir_);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  std::set<uint64_t> seeds;
  std::vector<std::string> statements = {"What is 6*7?", "What is half of one?", "What is 3+4?"};
  for (const auto& q : reqs) {
    EXPECT_TRUE(q.chat());
    EXPECT_EQ(q.header("authorization"), "Bearer sk-test");
    const json& j = q.json;
    EXPECT_EQ(j["model"], "fake-model");
    EXPECT_EQ(j["n"], 4);
    EXPECT_DOUBLE_EQ(j["temperature"].get<double>(), 0.6);
    EXPECT_DOUBLE_EQ(j["top_p"].get<double>(), 0.95);
    EXPECT_EQ(j["max_tokens"], 32768);
    ASSERT_EQ(j["messages"].size(), 1u);
    EXPECT_EQ(j["messages"][0]["role"], "user");
    std::string content = j["messages"][0]["content"];
    // Exactly lighteval's prompt around the statement.
    bool matched = false;
    for (size_t i = 0; i < statements.size(); ++i) {
      Problem p;
      p.statement = statements[i];
      if (content == PromptTemplate::lighteval_math().render(p)) {
        matched = true;
        EXPECT_EQ(j["seed"].get<uint64_t>(), 7 + i * 1000);
      }
    }
    EXPECT_TRUE(matched) << content;
    seeds.insert(j["seed"].get<uint64_t>());
  }
  EXPECT_EQ(seeds.size(), 3u);
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  // a: 42,41,42,41 -> 2/4; b: 0.5, 1/2, 3, 0.5 -> 3/4 (needs the math equivalence); c: 4/4.
  EXPECT_EQ(res["per_problem"][0]["correct"], 2);
  EXPECT_EQ(res["per_problem"][2]["correct"], 4);
  EXPECT_EQ(res["per_problem"][1]["correct"], 3) << "0.5 vs \\frac{1}{2}: math equivalence";
  EXPECT_EQ(res["num_samples"], 12);
  json line = json::parse(test::slurp(dir_ + "/run/samples.jsonl").substr(0, test::slurp(dir_ + "/run/samples.jsonl").find('\n')));
  EXPECT_EQ(line["finish_reason"], "stop");
  // Per-choice token counts are unknown when one response carries n choices (usage is per response).
  EXPECT_TRUE(line["tokens"].is_null() || line["tokens"].is_number_integer());
  EXPECT_TRUE(line["prompt_tokens"].is_number_integer());
  EXPECT_GT(line["latency_s"].get<double>(), 0.0);
}

TEST_F(CliEvalTest, OpenAIFinalErrorThenResumeAsksOnlyForTheFailedProblem) {
  testing::FakeOpenAIServer server(answer_texts);
  server.push_fault(testing::Fault::bad_request("context length exceeded"));  // 4xx: final, no retry
  std::vector<std::string> args = {"eval", "--task", "math500", "--data", data_, "--url", server.url(), "--model",
                                   "m", "--concurrency", "1", "--retries", "0", "--out", dir_ + "/run"};
  auto r = test::run_cli(args, dir_);
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("context length exceeded"), std::string::npos) << r.err;
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  ASSERT_EQ(res["errors"].size(), 1u);
  std::string failed = res["errors"][0]["problem_id"];
  EXPECT_EQ(res["num_problems"], 2);
  EXPECT_EQ(test::count_lines(dir_ + "/run/samples.jsonl"), 8u);

  server.reset_stats();
  auto again = test::run_cli(args, dir_);
  ASSERT_EQ(again.code, 0) << again.err;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].json["n"], 4);
  size_t lines = 0, dups = 0;
  auto keys = read_keys(dir_ + "/run/samples.jsonl", &lines, &dups);
  EXPECT_EQ(keys.size(), 12u);
  EXPECT_EQ(dups, 0u);
  EXPECT_EQ(json::parse(test::slurp(dir_ + "/run/results.json"))["complete"], true);
}

TEST_F(CliEvalTest, KillDashNineThenResume) {
  // 8 problems x 4 samples, a slow server and one request at a time, so a kill lands mid-run.
  const int P = 8, N = 4;
  std::string rows;
  for (int i = 0; i < P; ++i)
    rows += R"({"id":"k)" + std::to_string(i) + R"(","problem":"Problem number )" + std::to_string(i) +
            R"(: compute it.","answer":")" + std::to_string(i) + "\"}\n";
  auto data = test::write_text(dir_ + "/kill.jsonl", rows);
  auto problem_of = [](const json& req) {
    std::string c = req["messages"].back()["content"];
    auto pos = c.find("Problem number ");
    return std::stoi(c.substr(pos + 15));
  };
  testing::FakeOpenAIServer server([&](const json& req) {
    int k = problem_of(req);
    std::vector<std::string> out;
    // Sample s (global index, from the seed) is correct iff s is even.
    long first = static_cast<long>(req["seed"].get<uint64_t>() - 1000 - static_cast<uint64_t>(k) * 1000);
    for (int i = 0; i < req.value("n", 1); ++i)
      out.push_back("$\\boxed{" + std::to_string(k + ((first + i) % 2)) + "}$");
    return out;
  });
  server.set_latency(0.25);
  const uint64_t base_seed = 1000;
  std::vector<std::string> argv = {CRUCIBLE_BINARY, "eval", "--task", "math", "--data", data, "--url", server.url(),
                                   "--model", "m", "--n", std::to_string(N), "--seed", std::to_string(base_seed),
                                   "--concurrency", "1", "--out", dir_ + "/run"};
  const std::string samples = dir_ + "/run/samples.jsonl";
  pid_t pid = test::spawn(argv, dir_ + "/kill.out", dir_ + "/kill.err");
  ASSERT_GT(pid, 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(samples) && test::count_lines(samples) >= 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(test::wait_exit(pid), 128 + SIGKILL) << test::slurp(dir_ + "/kill.err");
  size_t lines_before = 0, dups_before = 0;
  Keys stored = read_keys(samples, &lines_before, &dups_before);
  ASSERT_GE(stored.size(), 6u);
  ASSERT_LT(stored.size(), static_cast<size_t>(P * N)) << "the kill came too late to test resume";
  EXPECT_EQ(dups_before, 0u);

  server.reset_stats();
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  auto r = test::run_cli(args, dir_);
  ASSERT_EQ(r.code, 0) << r.out << r.err;

  size_t lines = 0, dups = 0;
  Keys all = read_keys(samples, &lines, &dups);
  EXPECT_EQ(all.size(), static_cast<size_t>(P * N));
  EXPECT_EQ(lines, static_cast<size_t>(P * N));
  EXPECT_EQ(dups, 0u);
  for (int i = 0; i < P; ++i)
    for (int s = 0; s < N; ++s) EXPECT_TRUE(all.count({"k" + std::to_string(i), s})) << i << " " << s;

  // No request on the rerun covered a sample that was already stored.
  auto reqs = server.requests();
  ASSERT_FALSE(reqs.empty());
  size_t requested = 0;
  for (const auto& q : reqs) {
    int k = problem_of(q.json);
    int n = q.json.value("n", 1);
    long first = static_cast<long>(q.json["seed"].get<uint64_t>() - base_seed - static_cast<uint64_t>(k) * 1000);
    ASSERT_GE(first, 0);
    for (int s = first; s < first + n; ++s) {
      EXPECT_FALSE(stored.count({"k" + std::to_string(k), s}))
          << "re-requested stored sample " << s << " of problem k" << k;
      ++requested;
    }
  }
  EXPECT_EQ(requested, static_cast<size_t>(P * N) - stored.size());
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  EXPECT_EQ(res["complete"], true);
  EXPECT_EQ(res["num_samples"], P * N);
  EXPECT_NEAR(res["metrics"]["avg@4"]["value"].get<double>(), 0.5, 1e-9);
}

}  // namespace
}  // namespace crucible
