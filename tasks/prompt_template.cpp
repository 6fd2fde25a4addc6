#include "tasks/prompt_template.h"

#include <cctype>

#include "core/jsonl.h"

namespace crucible {

// Verbatim from lighteval (src/lighteval/tasks/default_prompts.py, math_500 / aime) and Open-R1:
// note the two spaces after "clearly." and the escaped {{ANSWER}} (renders as {ANSWER}).
const char* const kLightevalMathTemplate =
    "Solve the following math problem efficiently and clearly.  The last line of your response "
    "should be of the following format: 'Therefore, the final answer is: $\\boxed{{ANSWER}}$. "
    "I hope it is correct' (without quotes) where ANSWER is just the final number or expression "
    "that solves the problem. Think step by step before answering.\n\n{problem}";

namespace {

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool known_placeholder(const std::string& n) {
  return n == "problem" || n == "question" || n == "Problem" || n == "Question";
}

// Walks the template; calls emit(text) for literal pieces and on_placeholder(name) for names.
// Returns the first unknown placeholder name in *unknown (if any).
template <typename Lit, typename Ph>
void scan(const std::string& t, Lit lit, Ph ph) {
  size_t i = 0;
  while (i < t.size()) {
    char c = t[i];
    if (c == '{' && i + 1 < t.size() && t[i + 1] == '{') {
      lit("{");
      i += 2;
      continue;
    }
    if (c == '}' && i + 1 < t.size() && t[i + 1] == '}') {
      lit("}");
      i += 2;
      continue;
    }
    if (c == '{' && i + 1 < t.size() && is_ident_start(t[i + 1])) {
      size_t j = i + 1;
      while (j < t.size() && is_ident(t[j])) ++j;
      if (j < t.size() && t[j] == '}') {
        ph(t.substr(i + 1, j - i - 1));
        i = j + 1;
        continue;
      }
    }
    lit(std::string(1, c));
    ++i;
  }
}

}  // namespace

Result<PromptTemplate> PromptTemplate::parse(std::string text, const std::string& origin) {
  std::string unknown;
  int count = 0;
  scan(text, [](const std::string&) {},
       [&](const std::string& name) {
         if (known_placeholder(name)) {
           ++count;
         } else if (unknown.empty()) {
           unknown = name;
         }
       });
  if (!unknown.empty())
    return Status::invalid(origin + ": unknown placeholder {" + unknown +
                           "}; known: {problem}, {question} (write {{ and }} for literal braces)");
  if (count == 0)
    return Status::invalid(origin + ": template has no {problem} placeholder");
  PromptTemplate t;
  t.text_ = std::move(text);
  return t;
}

Result<PromptTemplate> PromptTemplate::from_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.status();
  return parse(std::move(*text), path);
}

PromptTemplate PromptTemplate::lighteval_math() {
  PromptTemplate t;
  t.text_ = kLightevalMathTemplate;
  return t;
}

std::string PromptTemplate::render(const Problem& problem) const {
  std::string out;
  out.reserve(text_.size() + problem.statement.size());
  scan(text_, [&](const std::string& s) { out += s; },
       [&](const std::string& name) {
         if (known_placeholder(name)) {
           out += problem.statement;
         } else {
           out += "{" + name + "}";  // unreachable for parsed templates
         }
       });
  return out;
}

RenderedPrompt PromptConfig::render(const Problem& problem) const {
  RenderedPrompt r;
  std::string user = templ.render(problem);
  if (mode == PromptMode::kChat) {
    r.chat = true;
    if (!system_prompt.empty()) r.messages.emplace_back("system", system_prompt);
    r.messages.emplace_back("user", std::move(user));
  } else {
    r.chat = false;
    r.prompt = system_prompt.empty() ? std::move(user) : system_prompt + "\n\n" + user;
  }
  return r;
}

std::string PromptConfig::fingerprint() const {
  json j{{"mode", prompt_mode_name(mode)}, {"system_prompt", system_prompt}, {"template", templ.text()}};
  return j.dump();
}

const char* prompt_mode_name(PromptMode m) { return m == PromptMode::kChat ? "chat" : "completion"; }

bool prompt_mode_from_name(const std::string& s, PromptMode* out) {
  if (s == "chat") {
    *out = PromptMode::kChat;
    return true;
  }
  if (s == "completion") {
    *out = PromptMode::kCompletion;
    return true;
  }
  return false;
}

}  // namespace crucible
