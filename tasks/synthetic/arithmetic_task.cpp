#include "tasks/synthetic/arithmetic_task.h"

#include <memory>

#include "tasks/math/math_grader.h"
#include "tasks/task_registry.h"

namespace crucible::synthetic {

void ensure_arithmetic_task_registered() {
  static const bool registered = [] {
    TaskSpec s;
    s.name = "arithmetic";
    s.description = "synthetic multi-step arithmetic (crucible demo): problem/answer JSONL, prompt = the problem";
    s.default_n = 1;
    s.make_grader = []() -> std::shared_ptr<const Grader> { return std::make_shared<const math::MathGrader>(); };
    s.make_prompt = [] {
      PromptConfig c;
      auto t = PromptTemplate::parse("{problem}", "arithmetic template");
      if (t.is_ok()) c.templ = *t;
      return c;
    };
    // Already registered (by another copy of this call) is fine: the spec is the same.
    (void)TaskRegistry::global().add(std::move(s));
    return true;
  }();
  (void)registered;
}

}  // namespace crucible::synthetic
