// `crucible grade math` run as a real process (CRUCIBLE_BINARY), tests run with cwd = build dir.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out.push_back(c);
  }
  return out + "'";
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

fs::path tmp_dir() {
  fs::path d = fs::temp_directory_path() / ("crucible_grade_cli_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

RunResult run(const std::vector<std::string>& args) {
  std::string cmd = shell_quote(CRUCIBLE_BINARY);
  for (auto& a : args) cmd += " " + shell_quote(a);
  fs::path errf = tmp_dir() / "stderr.txt";
  cmd += " 2>" + shell_quote(errf.string());
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(errf);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  return r;
}

std::vector<json> parse_lines(const std::string& s) {
  std::vector<json> v;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) v.push_back(json::parse(line));
  return v;
}

std::string write_file(const std::string& name, const std::string& contents) {
  fs::path p = tmp_dir() / name;
  std::ofstream(p, std::ios::binary) << contents;
  return p.string();
}

TEST(GradeCli, SinglePairJson) {
  auto r = run({"grade", "math", "--gold", "033", "--pred", "<think>hmm</think>So the answer is $\\boxed{33}$."});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = parse_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const json& j = lines[0];
  EXPECT_EQ(j["correct"], true);
  EXPECT_EQ(j["score"], 1.0);
  EXPECT_EQ(j["verdict"], "correct");
  EXPECT_EQ(j["extracted"], "33");
  EXPECT_EQ(j["details"]["method"], "boxed");
  EXPECT_TRUE(j["details"].contains("compare_method"));
  EXPECT_TRUE(j["details"].contains("notes"));
}

TEST(GradeCli, SinglePairWrongAndNoAnswer) {
  auto r = run({"grade", "math", "--gold", "5", "--pred", "The final answer is 6."});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_lines(r.out)[0]["verdict"], "wrong");
  r = run({"grade", "math", "--gold", "5", "--pred", "no idea"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_lines(r.out)[0]["verdict"], "no_answer");
}

TEST(GradeCli, Flags) {
  auto r = run({"grade", "math", "--gold", "12", "--pred", "we get 12", "--integer-fallback"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_lines(r.out)[0]["verdict"], "correct");
  r = run({"grade", "math", "--gold", "12", "--pred", "<think>\\boxed{12}", "--require-think"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_lines(r.out)[0]["verdict"], "no_answer");
}

TEST(GradeCli, InputFileOrderPreserved) {
  std::string contents;
  const int n = 200;
  for (int i = 0; i < n; ++i) {
    json line = {{"id", i}, {"gold", std::to_string(i)}};
    if (i % 3 == 0) line["completion"] = "Thus $\\boxed{" + std::to_string(i) + "}$.";
    else if (i % 3 == 1) line["pred"] = "The answer is " + std::to_string(i + 1) + ".";
    else line["completion"] = "no answer here";
    contents += line.dump() + "\n";
    if (i == 10) contents += "\n";  // blank lines are skipped
  }
  std::string path = write_file("pairs.jsonl", contents);
  for (const char* threads : {"1", "2", "4"}) {
    auto r = run({"grade", "math", "--input", path, "--threads", threads});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = parse_lines(r.out);
    ASSERT_EQ(lines.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(lines[i]["id"], i);
      const char* want = i % 3 == 0 ? "correct" : i % 3 == 1 ? "wrong" : "no_answer";
      EXPECT_EQ(lines[i]["verdict"], want) << "line " << i << " threads " << threads;
    }
    EXPECT_EQ(lines[11]["line"], 13);  // line numbers count the blank line
  }
}

TEST(GradeCli, MalformedLineNamesFileAndLine) {
  std::string path = write_file("bad.jsonl", "{\"gold\":\"1\",\"completion\":\"\\\\boxed{1}\"}\n{\"gold\": \n");
  auto r = run({"grade", "math", "--input", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(GradeCli, MissingFieldNamesFileAndLine) {
  std::string path = write_file("nofield.jsonl", "{\"gold\":\"1\",\"completion\":\"x\"}\n{\"gold\":\"1\"}\n");
  auto r = run({"grade", "math", "--input", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nofield.jsonl:2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("completion"), std::string::npos) << r.err;
}

TEST(GradeCli, IntegerGoldField) {
  std::string path = write_file("intgold.jsonl", "{\"gold\":33,\"completion\":\"\\\\boxed{033}\"}\n");
  auto r = run({"grade", "math", "--input", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_lines(r.out)[0]["verdict"], "correct");
}

TEST(GradeCli, UsageErrors) {
  EXPECT_EQ(run({"grade", "math"}).exit_code, 2);
  EXPECT_EQ(run({"grade", "math", "--gold", "1"}).exit_code, 2);
  std::string path = write_file("ok.jsonl", "{\"gold\":\"1\",\"completion\":\"x\"}\n");
  EXPECT_EQ(run({"grade", "math", "--gold", "1", "--pred", "1", "--input", path}).exit_code, 2);
  EXPECT_NE(run({"grade", "math", "--input", "/nonexistent/file.jsonl"}).exit_code, 0);
}

TEST(GradeCli, HelpHasExamples) {
  auto r = run({"grade", "math", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--integer-fallback"), std::string::npos);
  EXPECT_NE(r.out.find("--require-think"), std::string::npos);
}

}  // namespace
