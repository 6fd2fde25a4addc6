// The `crucible report` command line: exit codes, output files, diff.
#include <gtest/gtest.h>

#include <fstream>

#include "report_fixtures.h"

using namespace crucible::reports::testing;

namespace {

std::string cli(const std::string& args) { return std::string(CRUCIBLE_BINARY) + " " + args; }

fs::path model_runs(const fs::path& root, const std::vector<int>& aime) {
  FakeRun a;
  a.model = "model-a";
  a.problems = problems_with(4, aime);
  write_run(root / "a", a);
  return root;
}

}  // namespace

TEST(ReportCli, WritesReportAndGatesOnBaseline) {
  fs::path d = fresh_dir("cli");
  fs::path before = model_runs(d / "before", {4, 4, 4, 0});  // 75
  std::string out;
  int rc = run_command(cli("report --no-step-summary --runs " + before.string() + " --out " + (d / "r1").string()),
                       &out);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(fs::exists(d / "r1" / "leaderboard.json"));

  fs::path after = model_runs(d / "after", {4, 4, 1, 0});  // 56.25: drop 18.75
  std::string base = (d / "r1" / "leaderboard.json").string();
  rc = run_command(cli("report --no-step-summary --runs " + after.string() + " --out " + (d / "r2").string() +
                            " --baseline " + base + " --max-drop 2"),
                   &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("REGRESSION model-a / aime24: 75.0 -> 56.2"), std::string::npos) << out;
  EXPECT_NE(slurp(d / "r2" / "junit.xml").find("<failure"), std::string::npos);
  EXPECT_NE(slurp(d / "r2" / "leaderboard.md").find("Regression gate: FAILED"), std::string::npos);

  rc = run_command(cli("report --no-step-summary --runs " + after.string() + " --out " + (d / "r3").string() +
                            " --baseline " + base + " --max-drop 20"),
                   &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(slurp(d / "r3" / "junit.xml").find("<failure"), std::string::npos);
}

TEST(ReportCli, ErrorsExitTwo) {
  fs::path d = fresh_dir("cli");
  fs::path runs = model_runs(d / "runs", {1, 0});
  std::string out;
  // --baseline without --max-drop
  EXPECT_EQ(run_command(cli("report --runs " + runs.string() + " --out " + (d / "o").string() +
                                 " --baseline " + (d / "x.json").string()),
                        &out),
            2)
      << out;
  // unreadable baseline
  EXPECT_EQ(run_command(cli("report --runs " + runs.string() + " --out " + (d / "o").string() +
                                 " --baseline " + (d / "missing.json").string() + " --max-drop 1"),
                        &out),
            2)
      << out;
  // nothing valid to report
  fs::create_directories(d / "empty");
  EXPECT_EQ(run_command(cli("report --no-step-summary --runs " + (d / "empty").string() + " --out " +
                                 (d / "o").string()),
                        &out),
            2)
      << out;
  // missing --out
  EXPECT_EQ(run_command(cli("report --runs " + runs.string()), &out), 2) << out;
}

TEST(ReportCli, CorruptRunIsSkippedWithWarning) {
  fs::path d = fresh_dir("cli");
  fs::path runs = model_runs(d / "runs", {1, 0});
  fs::create_directories(runs / "torn");
  std::ofstream(runs / "torn" / "run.json") << "{\"model\":";
  std::string out;
  int rc = run_command(cli("report --no-step-summary --runs " + runs.string() + " --out " + (d / "o").string()),
                       &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("warning: skipped"), std::string::npos) << out;
  EXPECT_NE(slurp(d / "o" / "leaderboard.md").find("torn"), std::string::npos);
  EXPECT_NE(slurp(d / "o" / "leaderboard.html").find("torn"), std::string::npos);
}

TEST(ReportCli, DiffListsFlippedProblems) {
  fs::path d = fresh_dir("cli");
  FakeRun a;
  a.problems = problems_with(1, {1, 0, 1, 0}, "q");
  write_run(d / "A", a);
  a.problems = problems_with(1, {0, 1, 1, 0}, "q");
  write_run(d / "B", a);
  std::string out;
  int rc = run_command(cli("report diff " + (d / "A").string() + " " + (d / "B").string()), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("== aime24"), std::string::npos) << out;
  EXPECT_NE(out.find("worse in B (1):\n  q0"), std::string::npos) << out;
  EXPECT_NE(out.find("1.00 -> 0.00"), std::string::npos) << out;
  EXPECT_NE(out.find("FLIP correct->wrong"), std::string::npos);
  EXPECT_NE(out.find("better in B (1):\n  q1"), std::string::npos) << out;
  EXPECT_NE(out.find("unchanged: 2; flipped: 2"), std::string::npos) << out;
  EXPECT_NE(run_command(cli("report diff " + (d / "A").string() + " " + (d / "nope").string()), &out), 0);
}
