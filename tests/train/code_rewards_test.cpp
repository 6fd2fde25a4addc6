// Code rewards through the real sandbox: tiny C, C++ and Python programs judged by tasks/code's
// CodeGrader, with Open-R1's reward values worked out by hand.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>

#include "sandbox/sandbox.h"
#include "train/rewards/code_rewards.h"
#include "train/rewards/reward_registry.h"

using namespace crucible;
using namespace crucible::train;
namespace fs = std::filesystem;

namespace {

// Each test process runs its boxes under its own host uid (the tests/sandbox convention), so
// boxes that other test binaries start concurrently under other uids never mix with ours.
unsigned test_uid() { return 61000 + static_cast<unsigned>(::getpid()) % 4000; }

std::string temp_dir(const std::string& tag) {
  std::string d = "/tmp/crucible-train-code-" + std::to_string(::getpid()) + "-" + tag;
  fs::create_directories(d);
  return d;
}

RewardParams params() {
  RewardParams p;
  p.code_grader.sandbox.host_uid = p.code_grader.sandbox.host_gid = test_uid();
  static std::string cache = temp_dir("cache");  // a fresh compile cache per test process
  p.code_grader.judge.compile.cache_dir = cache;
  p.args.parallel_code_exec_per_proc = 2;
  return p;
}

std::string_view keep(std::string s) {
  static std::deque<std::string> store;
  store.push_back(std::move(s));
  return store.back();
}

RewardInput in(const Problem& p, const std::string& completion) {
  RewardInput r;
  r.problem = &p;
  r.completion = keep(completion);
  return r;
}

std::string fenced(const std::string& lang, const std::string& code) {
  return "<think>\nadd them\n</think>\n```" + lang + "\n" + code + "```\n";
}

const char* kSumC = "#include <stdio.h>\nint main(void){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;"
                    "printf(\"%ld\\n\",a+b);return 0;}\n";
// Right for a < 100 only: passes 2 of the 3 tests below.
const char* kPartialC = "#include <stdio.h>\nint main(void){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;"
                        "printf(\"%ld\\n\",a<100?a+b:0);return 0;}\n";
const char* kBrokenC = "int main(void){ return undefined_name; }\n";

Problem codeforces_problem() {
  Problem p;
  p.id = "cf-sum";
  p.meta["codeforces_row"] = {{"id", "cf-sum"},
                              {"time_limit", 1.0},
                              {"memory_limit", 256},
                              {"official_tests", nlohmann::json::array({{{"input", "1 2\n"}, {"output", "3\n"}},
                                                                        {{"input", "5 7\n"}, {"output", "12\n"}},
                                                                        {{"input", "100 200\n"}, {"output", "300\n"}}})}};
  return p;
}

#define SKIP_WITHOUT_SANDBOX()                                                                     \
  do {                                                                                            \
    auto probe = sandbox::Sandbox::probe();                                                       \
    if (!probe.value("namespaces", false)) GTEST_SKIP() << "sandbox unavailable: " << probe.dump(); \
  } while (0)

std::unique_ptr<RewardFunction> make(const std::string& name, RewardParams p) {
  auto r = make_reward(name, p);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? std::move(r).value() : nullptr;
}

}  // namespace

TEST(CodeRewards, CodeforcesScoringModes) {
  SKIP_WITHOUT_SANDBOX();
  Problem cf = codeforces_problem(), empty;
  empty.id = "no-tests";
  empty.meta["codeforces_row"] = {{"id", "no-tests"}, {"official_tests", nlohmann::json::array()}};
  std::vector<RewardInput> batch = {in(cf, fenced("c", kSumC)), in(cf, fenced("c", kPartialC)),
                                    in(cf, fenced("c", kBrokenC)), in(cf, "I cannot solve this."),
                                    in(empty, fenced("c", kSumC))};
  RewardParams p = params();
  p.args.code_language = "c";
  p.args.code_eval_scoring_mode = "weighted_sum";
  auto weighted = make("cf_code", p)->score(batch);
  EXPECT_NEAR(weighted[0], 1.1, 1e-12);          // pass_fail 1 + 0.1 x 3/3
  EXPECT_NEAR(weighted[1], 0.1 * 2.0 / 3.0, 1e-12);  // 0 + 0.1 x 2/3
  EXPECT_DOUBLE_EQ(weighted[2], -0.1);            // compile error
  EXPECT_DOUBLE_EQ(weighted[3], -1.0);            // no code
  EXPECT_TRUE(std::isnan(weighted[4]));           // no tests: not a coding problem (None)
  p.args.code_eval_scoring_mode = "partial";
  auto partial = make("cf_code", p)->score(batch);
  EXPECT_DOUBLE_EQ(partial[0], 1.0);
  EXPECT_NEAR(partial[1], 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(partial[2], -0.1);
  p.args.code_eval_scoring_mode = "pass_fail";
  auto pf = make("cf_code", p)->score(batch);
  EXPECT_DOUBLE_EQ(pf[0], 1.0);
  EXPECT_DOUBLE_EQ(pf[1], 0.0);
  EXPECT_DOUBLE_EQ(pf[3], -1.0);
}

TEST(CodeRewards, VerificationInfoCodeAndBinaryCode) {
  SKIP_WITHOUT_SANDBOX();
  Problem p;
  p.id = "vi-sum";
  p.meta["verification_info"] = {
      {"language", "python"},
      {"test_cases", nlohmann::json::array({{{"input", "1 2\n"}, {"output", "3\n"}}, {{"input", "5 7\n"}, {"output", "12\n"}}})}};
  std::vector<RewardInput> batch = {
      in(p, fenced("python", "a, b = map(int, input().split())\nprint(a + b)\n")),
      in(p, fenced("python", "a, b = map(int, input().split())\nprint(a + b if a < 3 else 0)\n")),  // 1 of 2
      in(p, fenced("python", "a, b = map(int, input().split())\nprint(a - b)\n")),
      in(p, "no code at all"),
  };
  RewardInput orphan;  // no problem: not applicable
  orphan.completion = "```python\nprint(1)\n```";
  batch.push_back(orphan);
  auto code = make("code", params())->score(batch);
  EXPECT_DOUBLE_EQ(code[0], 1.0);
  EXPECT_DOUBLE_EQ(code[1], 0.5);
  EXPECT_DOUBLE_EQ(code[2], 0.0);
  EXPECT_DOUBLE_EQ(code[3], 0.0);
  EXPECT_TRUE(std::isnan(code[4]));
  auto binary = make("binary_code", params())->score(batch);
  EXPECT_EQ(binary[0], 1.0);
  EXPECT_EQ(binary[1], 0.0);
  EXPECT_EQ(binary[2], 0.0);
  EXPECT_EQ(binary[3], 0.0);
  EXPECT_TRUE(std::isnan(binary[4]));

  Problem converted = code_problem_from_verification_info(p);
  EXPECT_EQ(converted.meta["language"], "python");
  EXPECT_EQ(converted.meta["codeforces_row"]["official_tests"].size(), 2u);
  EXPECT_EQ(converted.meta["codeforces_row"]["time_limit"], 5.0);
}

TEST(CodeRewards, IoiSubtask) {
  SKIP_WITHOUT_SANDBOX();
  std::string tests = temp_dir("ioi");
  fs::create_directories(tests + "/sum");
  std::ofstream(tests + "/sum/a.in") << "2 3\n";
  std::ofstream(tests + "/sum/a.out") << "5\n";
  std::ofstream(tests + "/sum/b.in") << "40 2\n";
  std::ofstream(tests + "/sum/b.out") << "42\n";
  Problem p;
  p.id = "sum/01";
  p.meta["ioi_row"] = {{"problem_id", "sum"}, {"subtask", "01-all"}, {"score", 100}, {"time_limit", 1.0},
                       {"memory_limit", 256}, {"test_names", {"a", "b"}}};
  p.meta["tests_dir"] = tests;
  const char* good = "#include <cstdio>\nint main(){long a,b;std::scanf(\"%ld %ld\",&a,&b);std::printf(\"%ld\\n\",a+b);}\n";
  const char* half = "#include <cstdio>\nint main(){long a,b;std::scanf(\"%ld %ld\",&a,&b);std::printf(\"%ld\\n\",a<10?a+b:0);}\n";
  auto r = make("ioi_code", params())->score({in(p, fenced("cpp", good)), in(p, fenced("cpp", half)), in(p, "no code")});
  EXPECT_DOUBLE_EQ(r[0], 1.0);
  EXPECT_DOUBLE_EQ(r[1], 0.0);  // GroupMin: one failed test zeroes the subtask
  EXPECT_DOUBLE_EQ(r[2], 0.0);
}
