// Prompt templates: turn a Problem into a chat request (optional system message + user message)
// or a raw completion prompt.
// Syntax (Python str.format-like, so lighteval/Open-R1 templates paste in unchanged):
//   {problem} / {question} (also {Problem} / {Question}) -> the problem statement;
//   {{ and }} -> literal { and };
//   any other {identifier} -> error (unknown placeholder); other braces (LaTeX such as \frac{1}{2},
//   whose contents are not identifiers) are kept as written.
// The default is lighteval's math prompt, used by Open-R1 for MATH-500 / AIME.
#pragma once
#include <string>
#include <vector>

#include <utility>
#include "core/status.h"
#include "tasks/grader.h"

namespace crucible {

// lighteval's MATH_QUERY_TEMPLATE (math_500 / aime prompt functions), with {problem}.
extern const char* const kLightevalMathTemplate;

enum class PromptMode { kChat, kCompletion };

class PromptTemplate {
 public:
  // Validates placeholders; an unknown one is an error naming it (and `origin`, e.g. a file).
  static Result<PromptTemplate> parse(std::string text, const std::string& origin = "template");
  static Result<PromptTemplate> from_file(const std::string& path);
  static PromptTemplate lighteval_math();

  // The user-visible text for one problem.
  std::string render(const Problem& problem) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

struct RenderedPrompt {
  bool chat = true;
  std::vector<std::pair<std::string, std::string>> messages;  // (role, content)
  std::string prompt;
};

struct PromptConfig {
  PromptTemplate templ = PromptTemplate::lighteval_math();
  PromptMode mode = PromptMode::kChat;
  std::string system_prompt;  // chat mode only; "" = no system message

  // Chat: messages = [system (if any), user]; completion: prompt = [system + "\n\n"] + user.
  // (tasks/ does not depend on backends/: the harness copies this into a GenerationRequest.)
  RenderedPrompt render(const Problem& problem) const;
  // Stable description of everything that shapes the prompt (for run identity / hashing).
  std::string fingerprint() const;
};

const char* prompt_mode_name(PromptMode m);
bool prompt_mode_from_name(const std::string& s, PromptMode* out);

}  // namespace crucible
