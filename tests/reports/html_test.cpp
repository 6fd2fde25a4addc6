// leaderboard.html: self-contained, escaped, charts present; sorting exercised in headless Chromium.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "report_fixtures.h"
#include "reports/html_report.h"
#include "reports/leaderboard_model.h"
#include "reports/report_runner.h"

using namespace crucible::reports;
using namespace crucible::reports::testing;

namespace {

const char kNasty[] = "<think>a < b && c > d \"quoted\" 'single'</think></script><script>alert(1)</script><b>bold</b> \\boxed{42}";

// Three models on aime24 (75 / 25 / 50) and two on math500; completions with markup in them.
fs::path three_models(const fs::path& root) {
  const std::vector<std::pair<std::string, std::vector<int>>> models = {
      {"alpha", {4, 4, 4, 0}}, {"beta", {1, 1, 1, 1}}, {"gamma", {2, 2, 2, 2}}};
  for (const auto& [name, counts] : models) {
    FakeRun r;
    r.model = name;
    r.problems = problems_with(4, counts);
    r.completion = kNasty;
    write_run(root / (name + "_aime"), r);
    if (name == "gamma") continue;
    r.task = "math500";
    write_run(root / (name + "_math"), r);
  }
  return root;
}

std::string render(const fs::path& root, const HtmlOptions& opt = {}) {
  Leaderboard lb = build_leaderboard(load_runs({root.string()}), {{"Ref<x>", "aime24", "avg@n", 55.5, -1, "src"}});
  return render_html(lb, nullptr, opt);
}

std::vector<std::string> measured_order(const std::string& dom) {
  std::vector<std::string> out;
  std::regex re("<tr class=\"measured\" data-model=\"([^\"]*)\"");
  for (std::sregex_iterator it(dom.begin(), dom.end(), re), end; it != end; ++it) out.push_back((*it)[1]);
  return out;
}

bool chromium_available(std::string* why) {
  if (fs::exists("/usr/bin/chromium")) return true;
  *why = "/usr/bin/chromium not installed (apt-get install chromium) - browser test skipped";
  return false;
}

std::string dump_dom(const fs::path& html, const std::string& fragment) {
  fs::path profile = html.parent_path() / ("chromium-profile" + fragment.substr(fragment.find('=') + 1, 6));
  std::string cmd = "timeout 90 /usr/bin/chromium --headless --no-sandbox --disable-gpu "
                    "--disable-background-networking --no-first-run --user-data-dir=" + profile.string() +
                    " --virtual-time-budget=2000 --dump-dom 'file://" + html.string() + fragment + "' 2>/dev/null";
  std::string out;
  run_command(cmd, &out);
  return out;
}

}  // namespace

TEST(ReportHtml, SelfContainedAndEscaped) {
  std::string html = render(three_models(fresh_dir("runs")));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  // No network: no external scripts, stylesheets, fonts or images.
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("https://"), std::string::npos);
  // Exactly one script element (ours), so the completion's </script><script> did not open one.
  size_t scripts = 0;
  for (size_t p = html.find("<script"); p != std::string::npos; p = html.find("<script", p + 1)) ++scripts;
  EXPECT_EQ(scripts, 1u);
  EXPECT_EQ(html.find("<b>bold</b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find("a &lt; b &amp;&amp; c &gt; d &quot;quoted&quot; &#39;single&#39;"), std::string::npos);
  EXPECT_NE(html.find("Ref&lt;x&gt;"), std::string::npos);
  EXPECT_EQ(html.find("Ref<x>"), std::string::npos);
}

TEST(ReportHtml, TableChartsAndDrilldown) {
  std::string html = render(three_models(fresh_dir("runs")));
  EXPECT_NE(html.find("<table id=\"leaderboard\">"), std::string::npos);
  EXPECT_EQ(measured_order(html).size(), 3u);
  EXPECT_NE(html.find("<tr class=\"reference\""), std::string::npos);
  EXPECT_NE(html.find("class=\"chart bar-chart\" data-benchmark=\"aime24\""), std::string::npos);
  EXPECT_NE(html.find("class=\"chart bar-chart\" data-benchmark=\"math500\""), std::string::npos);
  EXPECT_NE(html.find("class=\"chart passk-chart\" data-benchmark=\"aime24\""), std::string::npos);
  EXPECT_NE(html.find("class=\"errbar\""), std::string::npos);
  EXPECT_NE(html.find("<details class=\"run\" data-model=\"alpha\" data-benchmark=\"aime24\">"), std::string::npos);
  EXPECT_NE(html.find("<details class=\"problem\" data-problem=\"p0\">"), std::string::npos);
  EXPECT_NE(html.find("extracted <code>42</code>"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"badge verdict\">correct</span>"), std::string::npos);
}

TEST(ReportHtml, LongCompletionsAreTruncatedBehindToggle) {
  fs::path root = fresh_dir("runs");
  FakeRun r;
  r.problems = problems_with(1, {1});
  r.completion = std::string(5000, 'x') + "TAIL-MARK" + std::string(30000, 'y') + "CUT-MARK";
  write_run(root / "a", r);
  HtmlOptions opt;
  opt.max_completion_chars = 20000;
  opt.visible_chars = 1500;
  std::string html = render(root, opt);
  EXPECT_NE(html.find("<span class=\"rest\" hidden>"), std::string::npos);
  EXPECT_NE(html.find("TAIL-MARK"), std::string::npos);   // kept, behind the toggle
  EXPECT_EQ(html.find("CUT-MARK"), std::string::npos);    // beyond max_completion_chars
  EXPECT_NE(html.find("more bytes not included in this report"), std::string::npos);
  EXPECT_NE(html.find("class=\"more\""), std::string::npos);
}

TEST(ReportHtml, IoiPointsAndSolveCounts) {
  fs::path root = fresh_dir("runs");
  FakeRun r;
  r.task = "ioi24";
  r.problems = problems_with(1, {1, 0});
  r.per_problem_extra = {
      {"p0", {{"points", 35}, {"max_points", 100}, {"solved", false},
              {"subtasks", {{{"name", "sub1"}, {"points", 35}, {"max_points", 35}},
                            {{"name", "sub2"}, {"points", 0}, {"max_points", 65}}}}}},
      {"p1", {{"points", 100}, {"max_points", 100}, {"solved", true}}}};
  write_run(root / "ioi", r);
  std::string html = render(root);
  EXPECT_NE(html.find("<table class=\"code-results\" data-benchmark=\"ioi24\">"), std::string::npos);
  EXPECT_NE(html.find("sub2 0/65"), std::string::npos);
  EXPECT_NE(html.find("1/2 solved · 135/200 pts"), std::string::npos) << html.substr(0, 3000);
}

TEST(ReportHtml, BrowserRendersAndSortsFromFragment) {
  std::string why;
  if (!chromium_available(&why)) GTEST_SKIP() << why;
  fs::path root = three_models(fresh_dir("runs"));
  fs::path out = fresh_dir("out");
  ReportOptions opt;
  opt.runs = {root.string()};
  opt.out = out.string();
  opt.step_summary = false;
  std::ostringstream o, e;
  ASSERT_EQ(run_report(opt, o, e), 0) << e.str();
  fs::path html = out / "leaderboard.html";

  std::string dom = dump_dom(html, "#sort=aime24:asc");
  ASSERT_NE(dom.find("id=\"leaderboard\""), std::string::npos) << "chromium produced no DOM: " << dom.substr(0, 500);
  EXPECT_NE(dom.find("data-sorted=\"aime24:asc\""), std::string::npos);
  EXPECT_EQ(measured_order(dom), (std::vector<std::string>{"beta", "gamma", "alpha"}));
  EXPECT_NE(dom.find("class=\"chart bar-chart\""), std::string::npos);
  EXPECT_NE(dom.find("class=\"chart passk-chart\""), std::string::npos);
  EXPECT_NE(dom.find("class=\"bar-row\""), std::string::npos);
  // The completion's markup stayed text in the parsed document.
  EXPECT_EQ(dom.find("<b>bold</b>"), std::string::npos);
  EXPECT_EQ(dom.find("alert(1)</script>"), std::string::npos);

  dom = dump_dom(html, "#sort=math500");  // numeric columns default to descending; missing last
  EXPECT_NE(dom.find("data-sorted=\"math500:desc\""), std::string::npos);
  auto order = measured_order(dom);
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order.back(), "gamma");  // no math500 run
  EXPECT_EQ(order.front(), "alpha");

  dom = dump_dom(html, "#sort=model:desc");
  EXPECT_EQ(measured_order(dom), (std::vector<std::string>{"gamma", "beta", "alpha"}));
}

// The same page driven like a person: Debian's Chromium under playwright-core (npm, no browser
// download; scripts/test.sh installs it into <build>/npm-reports), clicking the column headers.
TEST(ReportHtml, BrowserClickSortsWithPlaywright) {
  std::string why;
  if (!chromium_available(&why)) GTEST_SKIP() << why;
  std::string bin = CRUCIBLE_BINARY;
  std::string modules = bin.substr(0, bin.rfind('/')) + "/npm-reports/node_modules";
  if (const char* env = std::getenv("CRUCIBLE_NPM_REPORTS_DIR")) modules = std::string(env) + "/node_modules";
  if (!fs::exists(modules + "/playwright-core"))
    GTEST_SKIP() << "playwright-core not installed in " << modules
                 << " (scripts/test.sh runs: npm ci in build/npm-reports with tests/reports/package.json)";
  fs::path root = three_models(fresh_dir("runs_pw"));
  fs::path out = fresh_dir("out_pw");
  ReportOptions opt;
  opt.runs = {root.string()};
  opt.out = out.string();
  opt.step_summary = false;
  std::ostringstream o, e;
  ASSERT_EQ(run_report(opt, o, e), 0) << e.str();

  std::string cmd = "timeout 120 node '" CRUCIBLE_SOURCE_DIR "/tests/reports/browser_check.mjs' '" + modules +
                    "' '" + (out / "leaderboard.html").string() + "' aime24 model 2>&1";
  std::string text;
  int rc = run_command(cmd, &text);
  ASSERT_EQ(rc, 0) << text;
  json r = json::parse(text.substr(text.find('{')), nullptr, false);
  ASSERT_FALSE(r.is_discarded()) << text;
  EXPECT_EQ(r["rows"], 3);  // alpha, beta, gamma
  EXPECT_GE(r["barCharts"].get<int>(), 1);
  EXPECT_GE(r["passkCharts"].get<int>(), 1);
  EXPECT_TRUE(r["external"].empty()) << "the page fetched something from outside: " << r["external"].dump();
  // aime24: alpha 100, gamma 50, beta 25. A click sorts one way, a second click reverses it.
  using V = std::vector<std::string>;
  V first = r["sorted"]["aime24"]["first"].get<V>();
  V second = r["sorted"]["aime24"]["second"].get<V>();
  V desc{"alpha", "gamma", "beta"}, asc{"beta", "gamma", "alpha"};
  EXPECT_TRUE(first == desc || first == asc) << r.dump();
  EXPECT_EQ(second, first == desc ? asc : desc) << r.dump();
  V m1 = r["sorted"]["model"]["first"].get<V>(), m2 = r["sorted"]["model"]["second"].get<V>();
  V az{"alpha", "beta", "gamma"}, za{"gamma", "beta", "alpha"};
  EXPECT_TRUE(m1 == az || m1 == za) << r.dump();
  EXPECT_EQ(m2, m1 == az ? za : az) << r.dump();
}
