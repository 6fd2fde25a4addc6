// Baseline gate and junit.xml.
#include <gtest/gtest.h>

#include <regex>

#include "report_fixtures.h"
#include "reports/gate.h"
#include "reports/json_report.h"
#include "reports/junit_report.h"
#include "reports/leaderboard_model.h"

using namespace crucible::reports;
using namespace crucible::reports::testing;

namespace {

Leaderboard board(const fs::path& root, const std::vector<int>& aime_counts, const std::string& revision = "r2") {
  FakeRun a;
  a.model = "org/model-a";
  a.revision = revision;
  a.problems = problems_with(4, aime_counts);
  write_run(root / "a", a);
  FakeRun b;
  b.model = "model-b";
  b.problems = problems_with(4, {4, 4, 0, 0});
  write_run(root / "b", b);
  return build_leaderboard(load_runs({root.string()}), {});
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(ReportGate, DropBeyondMaxFailsAndSaysWithinNoise) {
  // Baseline from a previous leaderboard.json of revision r1 (50%); now r2 scores 43.75%.
  Leaderboard before = board(fresh_dir("before"), {4, 4, 0, 0}, "r1");
  auto base = parse_baseline(leaderboard_to_json(before, nullptr), "prev/leaderboard.json");
  ASSERT_TRUE(base.is_ok()) << base.status().message();
  Leaderboard now = board(fresh_dir("now"), {4, 3, 0, 0}, "r2");
  GateReport g = apply_gate(now, *base, 2.0);
  ASSERT_TRUE(g.failed());
  const GateResult* r = g.find("org/model-a@r2", "aime24");
  ASSERT_TRUE(r);  // matched through the model name although the revision changed
  EXPECT_NEAR(r->drop, 6.25, 1e-9);
  EXPECT_TRUE(r->failed);
  EXPECT_TRUE(r->within_noise);  // stderr ~25 pts with 4 problems
  std::string msg = gate_message(*r, 2.0);
  EXPECT_NE(msg.find("within noise: 6.2 pts < 2σ = "), std::string::npos) << msg;
  EXPECT_FALSE(g.find("model-b", "aime24")->failed);
}

TEST(ReportGate, FlatMapBaselineAndBeyondNoise) {
  // 16 problems at 50%: stderr ~12.9 pts, so a 40-point drop is beyond 2σ.
  Leaderboard now = board(fresh_dir("now"), {4, 4, 0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4, 0, 0});
  json flat = {{"org/model-a/aime24", {{"value", 90.0}, {"stderr", 1.0}}}, {"model-b/aime24", 49.0},
               {"gone/aime24", 10.0}};
  auto base = parse_baseline(flat, "flat.json");
  ASSERT_TRUE(base.is_ok()) << base.status().message();
  GateReport g = apply_gate(now, *base, 5.0);
  EXPECT_TRUE(g.failed());
  const GateResult* a = g.find("org/model-a@r2", "aime24");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->failed);
  EXPECT_FALSE(a->within_noise);
  EXPECT_NE(gate_message(*a, 5.0).find("beyond noise"), std::string::npos);
  const GateResult* b = g.find("model-b", "aime24");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->failed);  // improved
  ASSERT_EQ(g.missing.size(), 1u);
  EXPECT_EQ(g.missing[0], "gone/aime24");
}

TEST(ReportGate, SmallDropPasses) {
  Leaderboard now = board(fresh_dir("now"), {4, 4, 0, 0});
  auto base = parse_baseline(json{{"org/model-a/aime24", 51.0}}, "flat.json");
  ASSERT_TRUE(base.is_ok());
  GateReport g = apply_gate(now, *base, 2.0);
  EXPECT_FALSE(g.failed());
  EXPECT_EQ(g.added.size(), 1u);  // model-b has no baseline
}

TEST(ReportGate, RejectsMalformedBaseline) {
  EXPECT_FALSE(parse_baseline(json{{"no-slash", 1.0}}, "x").is_ok());
  EXPECT_FALSE(parse_baseline(json{{"m/b", "high"}}, "x").is_ok());
  EXPECT_FALSE(parse_baseline(json::array(), "x").is_ok());
}

TEST(ReportJunit, OneCasePerModelBenchmarkAndFailures) {
  fs::path root = fresh_dir("runs");
  FakeRun a;
  a.model = "m<&\"a\">";
  a.problems = problems_with(1, {1, 0});
  write_run(root / "a", a);
  a.task = "math500";
  write_run(root / "a2", a);
  FakeRun b;
  b.model = "model-b";
  b.problems = problems_with(1, {1, 1});
  write_run(root / "b", b);  // aime24 only
  Leaderboard lb = build_leaderboard(load_runs({root.string()}), {{"Ref", "aime24", "avg@n", 50, -1, "x"}});
  auto base = parse_baseline(json{{"m<&\"a\">/aime24", 80.0}}, "flat.json");
  ASSERT_TRUE(base.is_ok());
  GateReport g = apply_gate(lb, *base, 1.0);
  std::string xml = render_junit(lb, &g);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_EQ(count(xml, "<testcase "), 4u);  // 2 measured models x 2 benchmarks; no reference
  EXPECT_EQ(count(xml, "</testcase>"), 4u);
  EXPECT_NE(xml.find("tests=\"4\" failures=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("classname=\"m&lt;&amp;&quot;a&quot;&gt;\" name=\"aime24\" time=\"0\"><failure type=\"regression\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("classname=\"model-b\" name=\"math500\" time=\"0\"><skipped"), std::string::npos);
  EXPECT_EQ(xml.find("Ref"), std::string::npos);
  EXPECT_EQ(count(xml, "<testsuite "), 1u);
  EXPECT_EQ(count(xml, "</testsuite>"), 1u);
  // No raw markup from the model name leaks into the XML.
  EXPECT_EQ(xml.find("m<&"), std::string::npos);
}
