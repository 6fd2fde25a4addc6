#include "tasks/task_registry.h"

#include <algorithm>

#include "tasks/math/math_grader.h"

namespace crucible {

TaskRegistry& TaskRegistry::global() {
  static TaskRegistry* r = [] {
    auto* reg = new TaskRegistry();
    register_builtin_tasks(*reg);
    return reg;
  }();
  return *r;
}

Status TaskRegistry::add(TaskSpec spec) {
  if (spec.name.empty()) return Status::invalid("task name is empty");
  if (!spec.make_grader) return Status::invalid("task '" + spec.name + "' has no grader");
  if (spec.default_n < 1) return Status::invalid("task '" + spec.name + "': default n must be >= 1");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& s : specs_)
    if (s->name == spec.name) return Status::invalid("task '" + spec.name + "' is already registered");
  specs_.push_back(std::make_unique<TaskSpec>(std::move(spec)));
  return Status::ok();
}

const TaskSpec* TaskRegistry::find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& s : specs_)
    if (s->name == name) return s.get();
  return nullptr;
}

std::vector<std::string> TaskRegistry::names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& s : specs_) out.push_back(s->name);
  std::sort(out.begin(), out.end());
  return out;
}

Result<const TaskSpec*> TaskRegistry::lookup(const std::string& name) const {
  if (const TaskSpec* s = find(name)) return s;
  std::string known;
  for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
  return Status::not_found("unknown task '" + name + "'; known tasks: " + known);
}

Result<Task> TaskRegistry::load(const std::string& name, const TaskLoadOptions& options) const {
  auto spec = lookup(name);
  if (!spec) return spec.status();
  const TaskSpec& s = **spec;
  auto problems = s.load ? s.load(options) : load_problems_jsonl(options.data_path, options.dataset);
  if (!problems) return problems.status();
  Task t;
  t.name = s.name;
  t.data_path = options.data_path;
  t.problems = std::move(*problems);
  t.prompt = s.make_prompt ? s.make_prompt() : PromptConfig{};
  t.grader = s.make_grader();
  t.default_n = s.default_n;
  t.aggregate = s.aggregate;
  return t;
}

void register_builtin_tasks(TaskRegistry& registry) {
  auto math_spec = [](std::string name, std::string desc, int n, bool integer_fallback) {
    TaskSpec s;
    s.name = std::move(name);
    s.description = std::move(desc);
    s.default_n = n;
    s.make_grader = [integer_fallback]() -> std::shared_ptr<const Grader> {
      math::MathGraderOptions o;
      o.integer_fallback = integer_fallback;
      return std::make_shared<const math::MathGrader>(o);
    };
    return s;
  };
  // Errors here would be programming mistakes (duplicate built-in names); ignore the Status.
  (void)registry.add(math_spec("aime24", "AIME 2024 (30 problems, integer answers 0-999)", 64, true));
  (void)registry.add(math_spec("aime25", "AIME 2025 (30 problems, integer answers 0-999)", 64, true));
  (void)registry.add(math_spec("math500", "MATH-500 (HuggingFaceH4/MATH-500 subset of MATH)", 4, false));
  (void)registry.add(math_spec("math", "any math JSONL with problem/answer fields", 1, false));
  // `crucible demo`'s synthetic arithmetic (tasks/synthetic/arithmetic.h rows): the bare problem is
  // the prompt, so GRPO and eval prompts are exactly the user turn the SFT rows were trained on.
  TaskSpec arithmetic = math_spec("arithmetic", "synthetic multi-step arithmetic (crucible demo): problem/answer JSONL, "
                                  "prompt = the problem", 1, false);
  arithmetic.make_prompt = [] {
    PromptConfig c;
    auto t = PromptTemplate::parse("{problem}", "arithmetic template");
    if (t.is_ok()) c.templ = *t;
    return c;
  };
  (void)registry.add(std::move(arithmetic));
}

}  // namespace crucible
