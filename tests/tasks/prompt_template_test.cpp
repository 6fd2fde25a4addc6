#include "tasks/prompt_template.h"

#include <gtest/gtest.h>

#include "tests/support/temp_files.h"

namespace crucible {
namespace {

Problem problem(const std::string& s) {
  Problem p;
  p.id = "p";
  p.statement = s;
  p.gold = "1";
  return p;
}

TEST(PromptTemplate, DefaultIsLightevalMathPromptVerbatim) {
  const std::string expected =
      "Solve the following math problem efficiently and clearly.  The last line of your response should be of "
      "the following format: 'Therefore, the final answer is: $\\boxed{ANSWER}$. I hope it is correct' "
      "(without quotes) where ANSWER is just the final number or expression that solves the problem. Think "
      "step by step before answering.\n\nWhat is $\\frac{1}{2}+{x}$?";
  EXPECT_EQ(PromptTemplate::lighteval_math().render(problem("What is $\\frac{1}{2}+{x}$?")), expected);
  // The default text itself parses (its {{ANSWER}} is an escape, not a placeholder).
  EXPECT_TRUE(PromptTemplate::parse(kLightevalMathTemplate).is_ok());
}

TEST(PromptTemplate, PlaceholdersAndEscapes) {
  auto t = PromptTemplate::parse("Q: {question}\n{{literal}} \\boxed{} {Problem} {1}");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->render(problem("2+2")), "Q: 2+2\n{literal} \\boxed{} 2+2 {1}");
  auto lighteval_style = PromptTemplate::parse("Answer in \\boxed{{ANSWER}}.\n\n{Question}");
  ASSERT_TRUE(lighteval_style.is_ok());
  EXPECT_EQ(lighteval_style->render(problem("x")), "Answer in \\boxed{ANSWER}.\n\nx");
}

TEST(PromptTemplate, UnknownPlaceholderIsAnError) {
  auto t = PromptTemplate::parse("{problem} and {answer}", "my.txt");
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("my.txt"), std::string::npos);
  EXPECT_NE(t.status().message().find("{answer}"), std::string::npos) << t.status().message();
  auto none = PromptTemplate::parse("no placeholder here");
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("{problem}"), std::string::npos);
}

TEST(PromptTemplate, FromFile) {
  auto dir = test::make_temp_dir("tmpl");
  auto ok = PromptTemplate::from_file(test::write_text(dir + "/t.txt", "Solve: {problem}\n"));
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(ok->render(problem("1+1")), "Solve: 1+1\n");
  auto bad_path = test::write_text(dir + "/bad.txt", "{problem} {oops}");
  auto bad = PromptTemplate::from_file(bad_path);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find(bad_path), std::string::npos);
  auto missing = PromptTemplate::from_file(dir + "/missing.txt");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("missing.txt"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(PromptConfig, ChatAndCompletionModes) {
  PromptConfig c;
  c.templ = *PromptTemplate::parse("P: {problem}");
  auto chat = c.render(problem("x"));
  EXPECT_TRUE(chat.chat);
  ASSERT_EQ(chat.messages.size(), 1u);
  EXPECT_EQ(chat.messages[0].first, "user");
  EXPECT_EQ(chat.messages[0].second, "P: x");

  c.system_prompt = "You are a careful mathematician.";
  chat = c.render(problem("x"));
  ASSERT_EQ(chat.messages.size(), 2u);
  EXPECT_EQ(chat.messages[0].first, "system");
  EXPECT_EQ(chat.messages[0].second, "You are a careful mathematician.");
  EXPECT_EQ(chat.messages[1].second, "P: x");

  c.mode = PromptMode::kCompletion;
  auto raw = c.render(problem("x"));
  EXPECT_FALSE(raw.chat);
  EXPECT_TRUE(raw.messages.empty());
  EXPECT_EQ(raw.prompt, "You are a careful mathematician.\n\nP: x");

  // The fingerprint changes with anything that shapes the prompt.
  PromptConfig d = c;
  EXPECT_EQ(c.fingerprint(), d.fingerprint());
  d.system_prompt = "";
  EXPECT_NE(c.fingerprint(), d.fingerprint());
  PromptMode m;
  EXPECT_TRUE(prompt_mode_from_name("completion", &m));
  EXPECT_FALSE(prompt_mode_from_name("raw", &m));
}

}  // namespace
}  // namespace crucible
