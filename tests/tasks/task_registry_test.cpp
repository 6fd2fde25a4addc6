#include "tasks/task_registry.h"

#include <gtest/gtest.h>

#include "tasks/math/math_grader.h"
#include "tests/support/temp_files.h"

namespace crucible {
namespace {

TEST(TaskRegistry, BuiltinsAndDefaults) {
  auto& reg = TaskRegistry::global();
  auto names = reg.names();
  for (const char* n : {"aime24", "aime25", "math500", "math", "arithmetic"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_EQ(reg.find("aime24")->default_n, 64);
  EXPECT_EQ(reg.find("aime25")->default_n, 64);
  EXPECT_EQ(reg.find("math500")->default_n, 4);
  EXPECT_EQ(reg.find("math")->default_n, 1);
  // The demo's task: the bare problem is the prompt.
  auto arith_prompt = reg.find("arithmetic")->make_prompt();
  Problem ap;
  ap.statement = "Start with 2. Add 3. What is the result?";
  EXPECT_EQ(arith_prompt.templ.render(ap), ap.statement);

  auto aime = reg.find("aime24")->make_grader();
  auto* mg = dynamic_cast<const math::MathGrader*>(aime.get());
  ASSERT_NE(mg, nullptr);
  EXPECT_TRUE(mg->options().integer_fallback);
  auto m500 = reg.find("math500")->make_grader();
  auto* mg2 = dynamic_cast<const math::MathGrader*>(m500.get());
  ASSERT_NE(mg2, nullptr);
  EXPECT_FALSE(mg2->options().integer_fallback);
}

TEST(TaskRegistry, UnknownTaskListsKnownOnes) {
  auto r = TaskRegistry::global().lookup("aime23");
  ASSERT_FALSE(r.is_ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("unknown task 'aime23'"), std::string::npos) << m;
  EXPECT_NE(m.find("aime24"), std::string::npos) << m;
  EXPECT_NE(m.find("math500"), std::string::npos) << m;
}

TEST(TaskRegistry, LoadBuildsTask) {
  auto dir = test::make_temp_dir("registry");
  auto path = test::write_text(dir + "/d.jsonl", R"({"id":"a","problem":"1+1?","answer":"2"})" "\n");
  TaskLoadOptions o;
  o.data_path = path;
  auto t = TaskRegistry::global().load("math500", o);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->name, "math500");
  EXPECT_EQ(t->default_n, 4);
  ASSERT_EQ(t->problems.size(), 1u);
  ASSERT_NE(t->grader, nullptr);
  EXPECT_EQ(t->grader->name(), "math");
  EXPECT_EQ(t->prompt.mode, PromptMode::kChat);
  EXPECT_EQ(t->prompt.templ.text(), kLightevalMathTemplate);
  // Bad data surfaces the dataset error.
  o.data_path = dir + "/missing.jsonl";
  EXPECT_FALSE(TaskRegistry::global().load("math500", o).is_ok());
  std::filesystem::remove_all(dir);
}

class ConstGrader : public Grader {
 public:
  Grade grade(const Problem&, std::string_view) const override { return Grade{}; }
  std::string name() const override { return "const"; }
};

TEST(TaskRegistry, ExtensibleWithCustomLoaderAndGrader) {
  TaskRegistry reg;
  register_builtin_tasks(reg);
  TaskSpec s;
  s.name = "toy_code";
  s.default_n = 2;
  s.make_grader = [] { return std::make_shared<const ConstGrader>(); };
  s.load = [](const TaskLoadOptions& o) -> Result<std::vector<Problem>> {
    Problem p;
    p.id = "only";
    p.statement = "from " + o.data_path;
    p.gold = "-";
    return std::vector<Problem>{p};
  };
  ASSERT_TRUE(reg.add(s).is_ok());
  EXPECT_FALSE(reg.add(s).is_ok());  // duplicate name
  TaskSpec nameless;
  nameless.make_grader = s.make_grader;
  EXPECT_FALSE(reg.add(nameless).is_ok());
  TaskLoadOptions o;
  o.data_path = "pkg/";
  auto t = reg.load("toy_code", o);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->problems[0].statement, "from pkg/");
  EXPECT_EQ(t->grader->name(), "const");
  EXPECT_EQ(t->default_n, 2);
  // The global registry is unaffected.
  EXPECT_EQ(TaskRegistry::global().find("toy_code"), nullptr);
}

}  // namespace
}  // namespace crucible
