// Task registry: a Task = problems + prompt + shared Grader + default n.
// Built-ins: aime24, aime25 (MathGrader, integer_fallback, n=64), math500 (MathGrader, n=4),
// math (generic MathGrader, n=1), arithmetic (crucible demo's synthetic rows, prompt = the
// problem). Later tasks (ioi, codeforces, icpc) register a TaskSpec with
// their own loader and grader; nothing else changes.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "tasks/dataset.h"
#include "tasks/grader.h"
#include "tasks/prompt_template.h"

namespace crucible {

// A graded sample as the harness hands it to TaskSpec::aggregate.
struct GradedSample {
  size_t problem_index = 0;      // into Task::problems
  int sample = 0;
  const Grade* grade = nullptr;
  int completion_tokens = -1;    // -1: unknown
  size_t completion_chars = 0;
};

// Task-level scores beyond avg@n / pass@k, over every sample of the problems that have all n
// (IOI: the 50-submission selection per problem). Returns {"metrics": {name: {"value", "stderr"}},
// ...}; the harness adds "metrics" to results.json's metrics and copies every other key as is.
using AggregateFn = std::function<json(const std::vector<Problem>&, const std::vector<GradedSample>&)>;

struct Task {
  std::string name;
  std::string data_path;
  std::vector<Problem> problems;
  PromptConfig prompt;
  std::shared_ptr<const Grader> grader;  // the same object a GRPO trainer would use as reward
  int default_n = 1;
  AggregateFn aggregate;                 // optional (see AggregateFn)
};

struct TaskLoadOptions {
  std::string data_path;
  DatasetOptions dataset;
};

struct TaskSpec {
  std::string name;
  std::string description;
  int default_n = 1;
  std::function<std::shared_ptr<const Grader>()> make_grader;
  // Reads problems from data_path; default: load_problems_jsonl.
  std::function<Result<std::vector<Problem>>(const TaskLoadOptions&)> load;
  // Default prompt (template + mode); the CLI may override parts of it.
  std::function<PromptConfig()> make_prompt;
  // Optional task-level scores (copied to Task::aggregate).
  AggregateFn aggregate;
};

class TaskRegistry {
 public:
  // The process-wide registry, with the built-in tasks already added.
  static TaskRegistry& global();

  // Error if the name is empty or taken.
  Status add(TaskSpec spec);
  // nullptr if unknown.
  const TaskSpec* find(const std::string& name) const;
  // Error "unknown task 'x'; known tasks: a, b, c".
  Result<const TaskSpec*> lookup(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted

  // lookup + load problems + grader + default prompt.
  Result<Task> load(const std::string& name, const TaskLoadOptions& options) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<TaskSpec>> specs_;
};

// Adds aime24, aime25, math500, math to `registry` (done automatically for global()).
void register_builtin_tasks(TaskRegistry& registry);

}  // namespace crucible
