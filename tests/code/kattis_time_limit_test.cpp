// Kattis time limits from the accepted submissions (tasks/code/kattis_time_limit.h): the package
// format's rounding rules, the derivation on kth2020/winningthevote (C++ accepted submission), the
// cache, errors, and `crucible grade code --time-limit kattis`. No timing is asserted: the limit is
// checked against the rule applied to what was measured.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sandbox/sandbox.h"
#include "tasks/code/kattis_time_limit.h"
#include "tests/code/code_test_support.h"

namespace fs = std::filesystem;
using namespace crucible;
using namespace crucible::code;
using namespace crucible::code_test;


TEST(KattisTimeLimit, PackageFormatRounding) {
  // Legacy: max(1, int(0.5 + slowest x multiplier)) seconds.
  EXPECT_EQ(kattis_time_limit_ms(300, 5, true), 2000);    // 1.5 s -> 2 s (half up)
  EXPECT_EQ(kattis_time_limit_ms(290, 5, true), 1000);    // 1.45 s -> 1 s
  EXPECT_EQ(kattis_time_limit_ms(50, 5, true), 1000);     // 0.25 s -> at least 1 s
  EXPECT_EQ(kattis_time_limit_ms(3400, 1.66, true), 6000);  // 5.644 s -> 6 s
  EXPECT_EQ(kattis_time_limit_ms(0, 5, true), 1000);
  // 2023-07: max(1, ceil(slowest x ac_to_time_limit / resolution)) x resolution.
  EXPECT_EQ(kattis_time_limit_ms(1200, 2, false), 3000);       // 2.4 s -> 3 s
  EXPECT_EQ(kattis_time_limit_ms(1000, 2, false), 2000);       // exactly 2 s stays 2 s
  EXPECT_EQ(kattis_time_limit_ms(1200, 2, false, 0.5), 2500);  // 2.4 s -> 2.5 s
  EXPECT_EQ(kattis_time_limit_ms(100, 2, false), 1000);
}

TEST(KattisTimeLimit, DerivedFromWinningTheVoteAndCached) {
  SKIP_WITHOUT_PROBLEMS();
  SKIP_WITHOUT_SANDBOX();
  sandbox::Sandbox sb;
  KattisTimeLimitOptions o;
  o.cache_dir = temp_dir("cache");
  o.compile.cache_dir = o.cache_dir;
  o.workers = 2;
  o.languages = {Language::kCpp};  // the Python accepted ones take minutes (docs/PERFORMANCE.md)
  std::string pkg = kProblems + "/kth2020/winningthevote";
  auto d = derive_kattis_time_limit(sb, pkg, o);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_FALSE(d->cache_hit);
  EXPECT_EQ(d->format, "legacy");
  EXPECT_DOUBLE_EQ(d->multiplier, 5);  // no limits.time_multiplier in its problem.yaml
  EXPECT_EQ(d->slowest_submission, "submissions/accepted/nils.cpp");
  ASSERT_EQ(d->submissions.size(), 1u);
  EXPECT_GT(d->slowest_ms, 0);
  EXPECT_EQ(d->time_limit_ms, kattis_time_limit_ms(d->slowest_ms, 5, true));
  std::printf("[kattis] winningthevote (C++ accepted): slowest %lld ms -> limit %lld ms\n",
              static_cast<long long>(d->slowest_ms), static_cast<long long>(d->time_limit_ms));
  // Second time: from the cache, same answer, nothing run.
  auto again = derive_kattis_time_limit(sb, pkg, o);
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(again->cache_hit);
  EXPECT_EQ(again->time_limit_ms, d->time_limit_ms);
  EXPECT_EQ(again->slowest_ms, d->slowest_ms);
  EXPECT_TRUE(fs::exists(o.cache_dir + "/kattis-tl-" + d->key + ".json"));
  // No accepted submission in the asked languages (bling has no C one): an error, nothing run.
  KattisTimeLimitOptions c = o;
  c.languages = {Language::kC};
  auto none = derive_kattis_time_limit(sb, kProblems + "/kth2020/bling", c);
  EXPECT_FALSE(none.is_ok());
  fs::remove_all(o.cache_dir);
}

TEST(KattisTimeLimit, ProjectPackageErrorsAndCli) {
  SKIP_WITHOUT_SANDBOX();
  std::string d = temp_dir("pkg");
  write(d + "/problem.yaml", "name: double\nlimits:\n  time_multiplier: 3\n");
  for (int i = 1; i <= 3; ++i) {
    write(d + "/data/secret/" + std::to_string(i) + ".in", std::to_string(i) + "\n");
    write(d + "/data/secret/" + std::to_string(i) + ".ans", std::to_string(2 * i) + "\n");
  }
  write(d + "/submissions/accepted/a.cpp", "#include <cstdio>\nint main(){int n;scanf(\"%d\",&n);printf(\"%d\\n\",2*n);}\n");
  write(d + "/submissions/accepted/b.py", "print(2 * int(input()))\n");
  write(d + "/submissions/wrong_answer/w.cpp", "#include <cstdio>\nint main(){puts(\"0\");}\n");
  sandbox::Sandbox sb;
  KattisTimeLimitOptions o;
  o.cache_dir = o.compile.cache_dir = temp_dir("cache");
  auto r = derive_kattis_time_limit(sb, d, o);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_DOUBLE_EQ(r->multiplier, 3);
  EXPECT_EQ(r->submissions.size(), 2u);
  EXPECT_EQ(r->time_limit_ms, kattis_time_limit_ms(r->slowest_ms, 3, true));

  // The CLI: --time-limit kattis, the derivation in the JSON.
  int rc = 0;
  std::string out = crucible_cli("grade code --problem " + d + " --submission " + d +
                                     "/submissions/wrong_answer/w.cpp --json --time-limit kattis --cache-dir " +
                                     o.cache_dir,
                                 &rc, true);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["verdict"], "wrong");
  EXPECT_EQ(j["time_limit_ms"], r->time_limit_ms);
  EXPECT_TRUE(j["time_limit_derivation"]["cache_hit"].get<bool>());  // derived above, same cache
  EXPECT_EQ(j["time_limit_derivation"]["slowest_submission"], r->slowest_submission);

  // An "accepted" submission that is wrong makes the package invalid: an error, not a limit.
  write(d + "/submissions/accepted/c.cpp", "#include <cstdio>\nint main(){puts(\"1\");}\n");
  auto bad = derive_kattis_time_limit(sb, d, o);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("c.cpp"), std::string::npos) << bad.status().message();
  crucible_cli("grade code --problem " + d + " --submission " + d + "/submissions/accepted/a.cpp --time-limit kattis "
               "--cache-dir " + o.cache_dir,
               &rc, true);
  EXPECT_EQ(rc, 2);
  fs::remove_all(d);
  fs::remove_all(o.cache_dir);
}
