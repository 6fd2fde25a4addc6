// `crucible eval --task ioi|icpc|codeforces` end to end: the CLI binary (CRUCIBLE_BINARY) with the
// replay backend on completions that embed real solutions from ../shared/data/problems (read at
// test time), through the same harness, run store and metrics as the math tasks; samples.jsonl
// verdicts, results.json metrics (ioi_score from the 50-submission selection), resume.
// Also the open-r1/codeforces generated_checker protocol with a project-written checker.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>

#include "tasks/code/code_grader.h"
#include "tests/code/code_test_support.h"
#include "tests/harness/harness_test_util.h"

namespace fs = std::filesystem;
using namespace crucible;
using json = nlohmann::json;
using crucible::code_test::kProblems;

namespace {

std::string fence(const std::string& code, const std::string& lang = "cpp") {
  return "<think>Let me think about the subtasks.</think>\nHere is my solution.\n```" + lang + "\n" + code + "\n```\n";
}

std::string real(const std::string& rel) {
  std::string s = test::slurp(kProblems + "/" + rel);
  EXPECT_FALSE(s.empty()) << rel;
  return s;
}

// samples.jsonl rows by (problem, sample).
std::map<std::pair<std::string, int>, json> samples_of(const std::string& run) {
  std::map<std::pair<std::string, int>, json> m;
  std::istringstream in(test::slurp(run + "/samples.jsonl"));
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    m[{j["problem_id"].get<std::string>(), j["sample"].get<int>()}] = j;
  }
  return m;
}

using Samples = std::map<std::pair<std::string, int>, json>;

// One sample's row (null when missing).
json at(const Samples& s, const std::string& id, int k) {
  auto it = s.find({id, k});
  return it == s.end() ? json() : it->second;
}

double metric(const json& res, const std::string& k) { return res["metrics"][k]["value"].get<double>(); }

class EvalCodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_PROBLEMS();
    SKIP_WITHOUT_SANDBOX();
    dir_ = test::make_temp_dir("evalcode");
    // The CLI's compile cache (XDG_CACHE_HOME is inherited by the child): one beside the binary,
    // shared by these tests' processes (content-addressed, safe for concurrent use), so the IOI
    // testlib checker is compiled once rather than per test.
    ::setenv("XDG_CACHE_HOME", (fs::path(CRUCIBLE_BINARY).parent_path() / "test-cache").c_str(), 1);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  test::CliResult eval(const std::string& task, const std::string& data, const std::string& replay, int n,
                       const std::string& out) {
    return test::run_cli({"eval", "--task", task, "--data", data, "--backend", "replay", "--replay", replay, "--n",
                          std::to_string(n), "--model", "recorded", "--no-progress", "--out", out},
                         dir_);
  }
  std::string dir_;
};

}  // namespace

TEST_F(EvalCodeTest, IoiPackageSelectionScoreAndResume) {
  std::string pkg = kProblems + "/ioi2024/aplusb";
  // Sample 0: the model solution (100). Sample 1: a wrong one. Sample 2: no code.
  json row = {{"id", "aplusb"},
              {"completions",
               {fence(real("ioi2024/aplusb/solutions/model_solution/solution.cpp")),
                fence(real("ioi2024/aplusb/solutions/incorrect/sol10.cpp")), "I could not solve it."}}};
  std::string replay = test::write_text(dir_ + "/replay.jsonl", row.dump() + "\n");
  std::string run = dir_ + "/run";

  // n = 2 first, then n = 3 resumes with only the third sample.
  auto r1 = eval("ioi", pkg, replay, 2, run);
  ASSERT_EQ(r1.code, 0) << r1.out << r1.err;
  EXPECT_EQ(test::count_lines(run + "/samples.jsonl"), 2u);
  auto r2 = eval("ioi", pkg, replay, 3, run);
  ASSERT_EQ(r2.code, 0) << r2.out << r2.err;
  EXPECT_NE(r2.out.find("resumed"), std::string::npos) << r2.out;
  EXPECT_NE(r2.out.find("ioi_score"), std::string::npos) << r2.out;
  EXPECT_EQ(test::count_lines(run + "/samples.jsonl"), 3u);

  auto s = samples_of(run);
  ASSERT_EQ(s.size(), 3u);
  json g0 = at(s, "aplusb", 0)["grade"];
  EXPECT_EQ(g0["verdict"], "correct") << g0.dump().substr(0, 800);
  EXPECT_DOUBLE_EQ(g0["details"]["points"].get<double>(), 100);
  EXPECT_EQ(g0["details"]["subtasks"].size(), 4u);
  json g1 = at(s, "aplusb", 1)["grade"];
  EXPECT_TRUE(g1["verdict"] == "wrong" || g1["verdict"] == "partial") << g1.dump().substr(0, 800);
  EXPECT_LT(g1["score"].get<double>(), 1.0);
  EXPECT_EQ(at(s, "aplusb", 2)["grade"]["verdict"], "no_answer");

  json res = json::parse(test::slurp(run + "/results.json"));
  EXPECT_EQ(res["task"], "ioi");
  EXPECT_EQ(res["n"], 3);
  EXPECT_NEAR(metric(res, "avg@3"), 1.0 / 3, 1e-9);
  EXPECT_NEAR(metric(res, "pass@2"), 2.0 / 3, 1e-9);  // 1 - C(2,2)/C(3,2)
  EXPECT_NEAR(metric(res, "ioi_score"), 1.0, 1e-9);
  ASSERT_EQ(res["ioi"]["problems"].size(), 1u);
  const json& ip = res["ioi"]["problems"][0];
  EXPECT_EQ(ip["problem"], "aplusb");
  EXPECT_DOUBLE_EQ(ip["points"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(ip["max_points"].get<double>(), 100);
  EXPECT_EQ(ip["submissions"], 3);
  EXPECT_EQ(ip["selected"], 2);  // the one without code is never submitted
  EXPECT_EQ(ip["subtasks"][3]["best_submission"], "aplusb#0");
  EXPECT_EQ(res["ioi"]["selection_limit"], 50);
  json runinfo = json::parse(test::slurp(run + "/run.json"));
  EXPECT_EQ(runinfo["data"]["sha256"].get<std::string>().size(), 64u);  // a directory's hash

  // Same command again: nothing new, same metrics.
  auto r3 = eval("ioi", pkg, replay, 3, run);
  ASSERT_EQ(r3.code, 0) << r3.err;
  EXPECT_EQ(test::count_lines(run + "/samples.jsonl"), 3u);
  json res3 = json::parse(test::slurp(run + "/results.json"));
  EXPECT_EQ(res3["metrics"], res["metrics"]);
  EXPECT_EQ(res3["ioi"], res["ioi"]);
}

TEST_F(EvalCodeTest, IoiBestPerSubtaskAcrossSamples) {
  // Two of the package's incorrect solutions, each right on a different subtask: sol10 (A, B <= 10:
  // subtask 01, 20 points) and solution-b-zero (returns A: subtask 02, B = 0, 30 points). The
  // problem score takes the best per subtask across submissions: 50, more than either alone.
  std::string pkg = kProblems + "/ioi2024/aplusb";
  json row = {{"id", "aplusb"},
              {"completions",
               {fence(real("ioi2024/aplusb/solutions/incorrect/sol10.cpp")),
                fence(real("ioi2024/aplusb/solutions/incorrect/solution-b-zero.cpp"))}}};
  std::string replay = test::write_text(dir_ + "/replay.jsonl", row.dump() + "\n");
  auto r = eval("ioi", pkg, replay, 2, dir_ + "/run");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  auto s = samples_of(dir_ + "/run");
  EXPECT_EQ(at(s, "aplusb", 0)["grade"]["verdict"], "partial");
  EXPECT_EQ(at(s, "aplusb", 1)["grade"]["verdict"], "partial");
  EXPECT_DOUBLE_EQ(at(s, "aplusb", 0)["grade"]["details"]["points"].get<double>(), 20);
  EXPECT_DOUBLE_EQ(at(s, "aplusb", 1)["grade"]["details"]["points"].get<double>(), 30);
  const json& ip = res["ioi"]["problems"][0];
  EXPECT_DOUBLE_EQ(ip["points"].get<double>(), 50);
  EXPECT_DOUBLE_EQ(ip["best_single_submission_points"].get<double>(), 30);
  EXPECT_EQ(ip["subtasks"][1]["best_submission"], "aplusb#0");
  EXPECT_EQ(ip["subtasks"][2]["best_submission"], "aplusb#1");
  EXPECT_NEAR(metric(res, "avg@2"), 0.0, 1e-9);  // neither is fully correct
  EXPECT_NEAR(metric(res, "ioi_score"), 0.5, 1e-9);
}

TEST_F(EvalCodeTest, OpenR1IoiRowsGroupSubtasksIntoOneProblem) {
  // open-r1/ioi rows (one per subtask) built from the real aplusb package: tests copied into
  // <data dir>/tests/aplusb/, grader files inline. Each row is one prompt; the problem score pools
  // the samples of every row.
  std::string pkg = kProblems + "/ioi2024/aplusb";
  fs::create_directories(dir_ + "/data/tests/aplusb");
  for (auto& e : fs::directory_iterator(pkg + "/tests")) fs::copy_file(e.path(), dir_ + "/data/tests/aplusb/" + e.path().filename().string());
  json grader_files = json::array();
  for (auto f : {"graders/grader.cpp", "graders/aplusb.h", "checker/checker.cpp", "checker/testlib.h"})
    if (fs::exists(pkg + "/" + f)) grader_files.push_back({f, test::slurp(pkg + "/" + f)});
  std::string rows;
  std::vector<std::string> subtasks;
  for (auto& e : fs::directory_iterator(pkg + "/subtasks")) subtasks.push_back(e.path().stem().string());
  std::sort(subtasks.begin(), subtasks.end());
  for (auto& st : subtasks) {
    json sj = json::parse(test::slurp(pkg + "/subtasks/" + st + ".json"));
    json row = {{"year", 2024}, {"id", "aplusb"}, {"name", "A + B"}, {"subtask", st}, {"score", sj["score"]},
                {"time_limit", 1.0}, {"memory_limit", 2147483648LL}, {"score_precision", 2},
                {"task_type", "Batch"}, {"test_names", sj["testcases"]}, {"grader_files", grader_files},
                {"problem", "Compute A + B (subtask " + st + ")."}};
    rows += row.dump() + "\n";
  }
  std::string data = test::write_text(dir_ + "/data/ioi.jsonl", rows);
  // Subtask 03 (the full problem) gets the model solution; 01 a wrong one; the others nothing.
  std::string replay;
  for (auto& st : subtasks) {
    std::string c = st.rfind("03", 0) == 0 ? fence(real("ioi2024/aplusb/solutions/model_solution/solution.cpp"))
                    : st.rfind("01", 0) == 0 ? fence(real("ioi2024/aplusb/solutions/incorrect/sol10.cpp"))
                                             : "no idea";
    replay += json({{"id", "2024/aplusb/" + st}, {"completion", c}}).dump() + "\n";
  }
  replay = test::write_text(dir_ + "/replay.jsonl", replay);
  auto r = eval("ioi", data, replay, 1, dir_ + "/run");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto s = samples_of(dir_ + "/run");
  ASSERT_EQ(s.size(), subtasks.size());
  for (auto& st : subtasks) {
    json g = at(s, "2024/aplusb/" + st, 0)["grade"];
    if (st.rfind("03", 0) == 0) {
      EXPECT_EQ(g["verdict"], "correct") << g.dump().substr(0, 600);
      EXPECT_EQ(g["details"]["subtasks"].size(), subtasks.size());  // judged on every subtask
    }
  }
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  ASSERT_EQ(res["ioi"]["problems"].size(), 1u);
  EXPECT_EQ(res["ioi"]["problems"][0]["problem"], "2024/aplusb");
  EXPECT_DOUBLE_EQ(res["ioi"]["problems"][0]["points"].get<double>(), 100);
  EXPECT_NEAR(metric(res, "ioi_score"), 1.0, 1e-9);
  EXPECT_EQ(res["num_problems"], subtasks.size());  // avg@1 stays per prompt
}

TEST_F(EvalCodeTest, IcpcKattisPackageAndManifest) {
  std::string pkg = kProblems + "/kth2020/winningthevote";
  json row = {{"id", "winningthevote"},
              {"completions",
               {fence(real("kth2020/winningthevote/submissions/accepted/nils.cpp")),
                fence(real("kth2020/winningthevote/submissions/wrong_answer/nils_wrong_greedy.cpp"))}}};
  std::string replay = test::write_text(dir_ + "/replay.jsonl", row.dump() + "\n");
  auto r = eval("icpc", pkg, replay, 2, dir_ + "/run");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto s = samples_of(dir_ + "/run");
  EXPECT_EQ(at(s, "winningthevote", 0)["grade"]["verdict"], "correct");
  EXPECT_EQ(at(s, "winningthevote", 1)["grade"]["verdict"], "wrong");
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  EXPECT_NEAR(metric(res, "avg@2"), 0.5, 1e-9);
  EXPECT_NEAR(metric(res, "pass@2"), 1.0, 1e-9);
  EXPECT_FALSE(res["metrics"].contains("ioi_score"));
  EXPECT_EQ(res["verdict_counts"]["correct"], 1);
  EXPECT_EQ(res["verdict_counts"]["wrong"], 1);

  // A JSONL manifest: a relative problem_dir, an id and a time limit per problem.
  fs::create_directories(dir_ + "/m");
  fs::create_directory_symlink(pkg, dir_ + "/m/wtv");
  std::string manifest = test::write_text(dir_ + "/m/icpc.jsonl", R"({"problem_dir": "wtv", "id": "vote", "time_limit": 3})" "\n");
  json row2 = row;
  row2["id"] = "vote";
  std::string replay2 = test::write_text(dir_ + "/replay2.jsonl", row2.dump() + "\n");
  auto m = eval("icpc", manifest, replay2, 2, dir_ + "/run2");
  ASSERT_EQ(m.code, 0) << m.out << m.err;
  auto s2 = samples_of(dir_ + "/run2");
  EXPECT_EQ(at(s2, "vote", 0)["grade"]["verdict"], "correct");
  EXPECT_EQ(at(s2, "vote", 1)["grade"]["verdict"], "wrong");
  // A manifest row without a package is bad input (exit 2).
  std::string bad = test::write_text(dir_ + "/m/bad.jsonl", R"({"problem_dir": "nowhere"})" "\n");
  EXPECT_EQ(eval("icpc", bad, replay2, 1, dir_ + "/run3").code, 2);
}

TEST_F(EvalCodeTest, CodeforcesRowsWithGeneratedChecker) {
  // An open-r1/codeforces-shaped row built from real Kattis data (10 secret tests of
  // winningthevote) with a generated_checker in the dataset's shape (Python, argv input.txt
  // correct_output.txt solution_output.txt, prints 1 or 0).
  std::string pkg = kProblems + "/kth2020/winningthevote/data/secret";
  std::vector<fs::path> ins;
  for (auto& e : fs::directory_iterator(pkg))
    if (e.path().extension() == ".in") ins.push_back(e.path());
  std::sort(ins.begin(), ins.end());
  json tests = json::array();
  for (size_t i = 0; i < ins.size() && i < 10; ++i) {
    fs::path ans = ins[i];
    ans.replace_extension(".ans");
    tests.push_back({{"input", test::slurp(ins[i].string())}, {"output", test::slurp(ans.string())}});
  }
  const char* checker = R"(import sys
inp, correct, sol = sys.argv[1], sys.argv[2], sys.argv[3]
assert (inp, correct, sol) == ("input.txt", "correct_output.txt", "solution_output.txt"), sys.argv
expected = open(correct).read().split()
got = open(sol).read().split()
print(1 if got == expected else 0)
)";
  json row = {{"id", "cf-vote"}, {"contest_id", "1"}, {"index", "A"}, {"title", "Winning the Vote"},
              {"description", "See the statement."}, {"time_limit", 2.0}, {"memory_limit", 256.0},
              {"official_tests", tests}, {"generated_checker", checker}, {"input_mode", "stdio"}};
  std::string data = test::write_text(dir_ + "/cf.jsonl", row.dump() + "\n");
  json rep = {{"id", "cf-vote"},
              {"completions",
               {fence(real("kth2020/winningthevote/submissions/accepted/nils.cpp")),
                fence(real("kth2020/winningthevote/submissions/wrong_answer/nils_wrong_greedy.cpp")),
                fence("int main( {")}}};
  std::string replay = test::write_text(dir_ + "/replay.jsonl", rep.dump() + "\n");
  auto r = eval("codeforces", data, replay, 3, dir_ + "/run");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto s = samples_of(dir_ + "/run");
  EXPECT_EQ(at(s, "cf-vote", 0)["grade"]["verdict"], "correct") << at(s, "cf-vote", 0).dump().substr(0, 1500);
  EXPECT_EQ(at(s, "cf-vote", 1)["grade"]["verdict"], "wrong") << at(s, "cf-vote", 1).dump().substr(0, 1500);
  EXPECT_EQ(at(s, "cf-vote", 2)["grade"]["verdict"], "compile_error");
  EXPECT_EQ(at(s, "cf-vote", 0)["grade"]["details"]["reward_mode"], "pass_fail");
  json res = json::parse(test::slurp(dir_ + "/run/results.json"));
  EXPECT_NEAR(metric(res, "avg@3"), 1.0 / 3, 1e-9);
  EXPECT_NEAR(metric(res, "pass@2"), 2.0 / 3, 1e-9);
  // Resume: nothing new.
  auto again = eval("codeforces", data, replay, 3, dir_ + "/run");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(test::count_lines(dir_ + "/run/samples.jsonl"), 3u);
}

// The generated_checker protocol itself, with a project-written checker for a problem with many
// correct answers (print two non-negative integers that sum to N).
TEST(GeneratedChecker, ProtocolAndVerdicts) {
  SKIP_WITHOUT_SANDBOX();
  std::string dir = test::make_temp_dir("gencheck");
  const char* checker = R"(import sys
with open(sys.argv[1]) as f: n = int(f.read())
with open(sys.argv[2]) as f: ref = f.read().split()
with open(sys.argv[3]) as f: a, b = map(int, f.read().split())   # malformed output raises
if len(ref) != 2: sys.exit(3)
print(1 if a >= 0 and b >= 0 and a + b == n else 0)
)";
  json row = {{"id", "split"}, {"time_limit", 1.0}, {"memory_limit", 256},
              {"official_tests", {{{"input", "10\n"}, {"output", "3 7\n"}}, {{"input", "4\n"}, {"output", "0 4\n"}}}},
              {"generated_checker", checker}};
  code::CodeGraderOptions go;
  go.judge.workers = 2;
  go.judge.compile.cache_dir = dir + "/cache";
  code::CodeGrader g(go);
  Problem p;
  p.id = "split";
  p.meta["codeforces_row"] = row;
  auto grade = [&](const std::string& code) { return g.grade(p, fence(code)); };
  // A different but valid split: accepted by the checker (a token diff would reject it).
  auto ok = grade("#include <cstdio>\nint main(){int n;scanf(\"%d\",&n);printf(\"%d 0\\n\",n);}");
  EXPECT_EQ(ok.verdict, Verdict::kCorrect) << ok.to_json().dump();
  auto wa = grade("#include <cstdio>\nint main(){int n;scanf(\"%d\",&n);printf(\"%d 1\\n\",n);}");
  EXPECT_EQ(wa.verdict, Verdict::kWrong) << wa.to_json().dump();
  // Malformed output makes the checker raise: a rejection (as open-r1 scores it), not a judge error.
  auto bad = grade("#include <cstdio>\nint main(){puts(\"hello\");}");
  EXPECT_EQ(bad.verdict, Verdict::kWrong) << bad.to_json().dump();
  EXPECT_NE(bad.details["tests"][0]["message"].get<std::string>().find("exited"), std::string::npos)
      << bad.details.dump();
  fs::remove_all(dir);
}
