// Leaderboard model, Markdown and JSON output, merging, corrupt run directories.
#include <gtest/gtest.h>

#include <fstream>
#include <cstdlib>
#include <sstream>

#include "report_fixtures.h"
#include "reports/json_report.h"
#include "reports/leaderboard_model.h"
#include "reports/markdown_report.h"
#include "reports/reference.h"
#include "reports/report_runner.h"
#include "reports/run_loader.h"
#include "reports/stats.h"

using namespace crucible::reports;
using namespace crucible::reports::testing;

namespace {

// Two models on two benchmarks: model-a is best on aime24, model-b on math500.
fs::path two_models(const fs::path& root) {
  FakeRun a;
  a.model = "model-a";
  a.revision = "rev1";
  a.problems = problems_with(4, {4, 3, 1, 0});  // 50%
  write_run(root / "a_aime", a);
  a.task = "math500";
  a.problems = problems_with(4, {4, 4, 2, 0});  // 62.5%
  write_run(root / "a_math", a);
  FakeRun b;
  b.model = "org/model-b";
  b.problems = problems_with(4, {2, 1, 1, 0});  // 25%
  write_run(root / "b_aime", b);
  b.task = "math500";
  b.problems = problems_with(4, {4, 4, 4, 0});  // 75%
  write_run(root / "b_math", b);
  return root;
}

const Row* find_row(const Leaderboard& lb, const std::string& key) {
  for (const auto& r : lb.rows)
    if (r.key == key) return &r;
  return nullptr;
}

std::vector<std::string> table_lines(const std::string& md) {
  std::vector<std::string> out;
  std::istringstream is(md);
  for (std::string line; std::getline(is, line);)
    if (line.rfind("| ", 0) == 0 && line.find("---") == std::string::npos) out.push_back(line);
  return out;
}

}  // namespace

TEST(ReportStats, PassAtKUnbiased) {
  EXPECT_DOUBLE_EQ(pass_at_k(4, 0, 1), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 4, 1), 1.0);
  EXPECT_NEAR(pass_at_k(4, 1, 1), 0.25, 1e-12);
  EXPECT_NEAR(pass_at_k(4, 1, 2), 0.5, 1e-12);   // 1 - C(3,2)/C(4,2) = 1 - 3/6
  EXPECT_NEAR(pass_at_k(4, 2, 2), 5.0 / 6, 1e-12);
  MeanSe m = mean_se({0, 1});
  EXPECT_DOUBLE_EQ(m.mean, 0.5);
  EXPECT_NEAR(m.se, 0.5, 1e-12);  // sd 0.7071 / sqrt(2)
}

TEST(ReportLoader, ParentDirectoryFindsEveryRun) {
  fs::path root = two_models(fresh_dir("runs"));
  LoadedRuns runs = load_runs({root.string()});
  EXPECT_EQ(runs.runs.size(), 4u);
  EXPECT_TRUE(runs.skipped.empty());
  EXPECT_EQ(runs.runs[0].revision, "rev1");
  EXPECT_TRUE(runs.runs[0].has_samples);
  EXPECT_EQ(runs.runs[0].samples.size(), 16u);
}

TEST(ReportLeaderboard, RowsColumnsAndBest) {
  fs::path root = two_models(fresh_dir("runs"));
  Leaderboard lb = build_leaderboard(load_runs({root.string()}), {});
  ASSERT_EQ(lb.benchmarks, (std::vector<std::string>{"aime24", "math500"}));
  ASSERT_EQ(lb.rows.size(), 2u);
  const Row* a = find_row(lb, "model-a@rev1");
  const Row* b = find_row(lb, "org/model-b");
  ASSERT_TRUE(a && b);
  EXPECT_NEAR(a->cell("aime24")->avg()->value, 50.0, 1e-9);
  EXPECT_EQ(a->cell("aime24")->n, 4);
  EXPECT_TRUE(lb.is_best(*a, "aime24"));
  EXPECT_FALSE(lb.is_best(*b, "aime24"));
  EXPECT_TRUE(lb.is_best(*b, "math500"));
  ASSERT_TRUE(a->cell("aime24")->find("pass@4"));
  ASSERT_TRUE(a->cell("aime24")->find("maj@4"));
}

TEST(ReportMarkdown, TableRowsBestAndReference) {
  fs::path root = two_models(fresh_dir("runs"));
  std::vector<ReferenceEntry> refs = {{"DeepSeek-R1-Distill-Qwen-7B", "aime24", "avg@n", 55.5, -1, "DeepSeek"},
                                      {"DeepSeek-R1-Distill-Qwen-7B", "math500", "avg@n", 92.8, -1, "DeepSeek"}};
  Leaderboard lb = build_leaderboard(load_runs({root.string()}), refs);
  std::string md = render_markdown(lb, nullptr);
  auto lines = table_lines(md);
  ASSERT_EQ(lines.size(), 4u) << md;  // header + 2 measured + 1 reference
  EXPECT_NE(lines[0].find("| Model | aime24 | math500 |"), std::string::npos);
  // Ranked: model-b has the higher mean (50 vs 56.25 -> model-a 56.25, model-b 50).
  EXPECT_NE(lines[1].find("model-a `rev1`"), std::string::npos) << md;
  EXPECT_NE(lines[1].find("**50.0** ± "), std::string::npos) << md;       // best on aime24
  EXPECT_NE(lines[1].find("62.5 ± "), std::string::npos);
  EXPECT_EQ(lines[1].find("**62.5**"), std::string::npos);
  EXPECT_NE(lines[2].find("org/model-b"), std::string::npos);
  EXPECT_NE(lines[2].find("**75.0**"), std::string::npos);
  EXPECT_NE(lines[1].find("pass@4"), std::string::npos);
  EXPECT_NE(lines[1].find("n=4"), std::string::npos);
  EXPECT_NE(lines[3].find("DeepSeek-R1-Distill-Qwen-7B *(reference)*"), std::string::npos) << md;
  EXPECT_NE(lines[3].find("55.5"), std::string::npos);
  EXPECT_EQ(lines[3].find("**"), std::string::npos) << "reference numbers are never marked best";
}

TEST(ReportJson, SchemaAndValues) {
  fs::path root = two_models(fresh_dir("runs"));
  Leaderboard lb = build_leaderboard(load_runs({root.string()}), {{"Ref", "aime24", "avg@n", 55.5, -1, "paper"}});
  json j = leaderboard_to_json(lb, nullptr);
  EXPECT_EQ(j["schema"], "crucible.leaderboard/1");
  EXPECT_EQ(j["unit"], "percentage points");
  ASSERT_EQ(j["rows"].size(), 3u);
  const json& a = j["rows"][0];
  EXPECT_EQ(a["label"], "model-a@rev1");
  EXPECT_EQ(a["model"], "model-a");
  EXPECT_EQ(a["revision"], "rev1");
  EXPECT_FALSE(a["reference"].get<bool>());
  EXPECT_NEAR(a["cells"]["aime24"]["metrics"]["avg@n"]["value"].get<double>(), 50.0, 1e-9);
  EXPECT_TRUE(a["cells"]["aime24"]["metrics"]["avg@n"]["stderr"].is_number());
  EXPECT_TRUE(a["cells"]["aime24"]["best"].get<bool>());
  EXPECT_EQ(a["cells"]["aime24"]["n"], 4);
  EXPECT_EQ(a["cells"]["aime24"]["per_problem"].size(), 4u);
  const json& ref = j["rows"][2];
  EXPECT_TRUE(ref["reference"].get<bool>());
  EXPECT_EQ(ref["cells"]["aime24"]["source"], "paper");
  EXPECT_TRUE(ref["cells"]["aime24"]["metrics"]["avg@n"]["stderr"].is_null());
  EXPECT_TRUE(j["gate"].is_null());
}

TEST(ReportMerge, SameConfigDifferentSeedsMerge) {
  fs::path root = fresh_dir("runs");
  FakeRun r;
  r.problems = problems_with(2, {2, 0});
  r.seed = 1;
  write_run(root / "s1", r);
  r.problems = problems_with(2, {0, 0});
  r.seed = 2;
  write_run(root / "s2", r);
  Leaderboard lb = build_leaderboard(load_runs({root.string()}), {});
  ASSERT_EQ(lb.rows.size(), 1u);
  const Cell* c = lb.rows[0].cell("aime24");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->merged);
  EXPECT_EQ(c->runs.size(), 2u);
  EXPECT_EQ(c->n, 4);
  EXPECT_EQ(c->num_samples, 8u);
  EXPECT_NEAR(c->avg()->value, 25.0, 1e-9);  // p0: 2/4, p1: 0/4
  ASSERT_TRUE(c->find("pass@4"));
  EXPECT_NEAR(c->find("pass@4")->value, 50.0, 1e-9);
  EXPECT_FALSE(c->find("maj@4"));
  for (const auto& w : lb.warnings) EXPECT_EQ(w.find("conflicting"), std::string::npos) << w;
}

TEST(ReportMerge, ConflictingDuplicateIsWarnedNotOverwritten) {
  fs::path root = fresh_dir("runs");
  FakeRun r;
  r.problems = problems_with(2, {2, 1});
  write_run(root / "first", r);
  r.problems = problems_with(2, {2, 0});  // same seed, p1 sample 0 now wrong: conflict
  write_run(root / "second", r);
  Leaderboard lb = build_leaderboard(load_runs({root.string()}), {});
  ASSERT_EQ(lb.rows.size(), 1u);
  const Cell* c = lb.rows[0].cell("aime24");
  EXPECT_EQ(c->num_samples, 4u);            // duplicates counted once
  EXPECT_NEAR(c->avg()->value, 75.0, 1e-9);  // the first run's grade kept
  bool warned = false;
  for (const auto& w : lb.warnings)
    if (w.find("conflicting duplicate") != std::string::npos && w.find("problem p1 sample 0") != std::string::npos)
      warned = true;
  EXPECT_TRUE(warned);
  std::string md = render_markdown(lb, nullptr);
  EXPECT_NE(md.find("conflicting duplicate"), std::string::npos);
}

TEST(ReportMerge, DifferentTemperatureStaysSeparate) {
  fs::path root = fresh_dir("runs");
  FakeRun r;
  r.problems = problems_with(2, {2, 1});
  write_run(root / "t06", r);
  r.temperature = 1.0;
  write_run(root / "t10", r);
  Leaderboard lb = build_leaderboard(load_runs({root.string()}), {});
  ASSERT_EQ(lb.rows.size(), 2u);
  EXPECT_NE(lb.rows[0].key.find("T="), std::string::npos);
  EXPECT_NE(lb.rows[0].key, lb.rows[1].key);
}

TEST(ReportLoader, CorruptAndPartialDirectoriesAreSkipped) {
  fs::path root = two_models(fresh_dir("runs"));
  fs::create_directories(root / "broken");
  std::ofstream(root / "broken" / "run.json") << "{\"model\": \"m\", \"task\": \"aime24\"}";
  std::ofstream(root / "broken" / "results.json") << "{\"metrics\": {\"avg@4\": ";  // torn
  fs::create_directories(root / "partial");
  std::ofstream(root / "partial" / "run.json") << "{\"model\": \"m\", \"task\": \"aime24\"}";
  std::ofstream(root / "partial" / "samples.jsonl") << "{\"problem_id\":\"p0\"}\n";
  LoadedRuns runs = load_runs({root.string(), (root / "nope").string()});
  EXPECT_EQ(runs.runs.size(), 4u);
  ASSERT_EQ(runs.skipped.size(), 3u);
  Leaderboard lb = build_leaderboard(runs, {});
  std::string md = render_markdown(lb, nullptr);
  EXPECT_NE(md.find("Skipped run directories"), std::string::npos);
  EXPECT_NE(md.find("broken"), std::string::npos);
  EXPECT_NE(md.find("partial"), std::string::npos);
  EXPECT_EQ(table_lines(md).size(), 3u);
}

TEST(ReportReference, LoadsExampleFile) {
  auto refs = load_references(std::string(CRUCIBLE_SOURCE_DIR) + "/docs/examples/reference-r1-distill.json");
  ASSERT_TRUE(refs.is_ok()) << refs.status().message();
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].model, "DeepSeek-R1-Distill-Qwen-7B");
  EXPECT_DOUBLE_EQ((*refs)[0].value, 55.5);
  EXPECT_DOUBLE_EQ((*refs)[1].value, 92.8);
  EXPECT_FALSE((*refs)[0].source.empty());
}

TEST(ReportReference, RejectsBadEntries) {
  fs::path d = fresh_dir("ref");
  std::ofstream(d / "bad.json") << R"([{"model":"m","benchmark":"aime24","value":"high"}])";
  EXPECT_FALSE(load_references((d / "bad.json").string()).is_ok());
  std::ofstream(d / "frac.json") << R"([{"model":"m","benchmark":"aime24","value":155}])";
  EXPECT_FALSE(load_references((d / "frac.json").string()).is_ok());
}

TEST(ReportRunner, WritesAllFilesAndAppendsStepSummary) {
  fs::path root = two_models(fresh_dir("runs"));
  fs::path out = fresh_dir("out");
  fs::path summary = out.parent_path() / "step_summary.md";
  std::ofstream(summary) << "previous step\n";
  const char* prev = std::getenv("GITHUB_STEP_SUMMARY");  // restore CI's own summary afterwards
  std::string saved = prev ? prev : "";
  ::setenv("GITHUB_STEP_SUMMARY", summary.c_str(), 1);
  ReportOptions opt;
  opt.runs = {root.string()};
  opt.out = (out / "report").string();
  std::ostringstream o, e;
  int rc = run_report(opt, o, e);
  if (prev) ::setenv("GITHUB_STEP_SUMMARY", saved.c_str(), 1);
  else ::unsetenv("GITHUB_STEP_SUMMARY");
  EXPECT_EQ(rc, 0) << e.str();
  for (const char* f : {"leaderboard.md", "leaderboard.html", "leaderboard.json", "junit.xml"})
    EXPECT_TRUE(fs::exists(out / "report" / f)) << f;
  std::string s = slurp(summary);
  EXPECT_EQ(s.rfind("previous step\n", 0), 0u);
  EXPECT_NE(s.find("| Model | aime24 | math500 |"), std::string::npos);
}
