// The `arithmetic` task: the synthetic multi-step arithmetic problems of tasks/synthetic/arithmetic.h
// as a Task (problem/answer JSONL rows, the math grader, n = 1), with the bare problem statement as
// the prompt (template "{problem}"), so that a GRPO prompt and an eval prompt are exactly the user
// turn the SFT rows were trained on. Used by `crucible demo` (train/demo/) and its recipes
// (`task: arithmetic`).
#pragma once

namespace crucible::synthetic {

// Adds `arithmetic` to TaskRegistry::global() once (idempotent, thread-safe). A static library
// drops unused objects, so callers (the demo, crucible-torch's start-up, tests) call this.
void ensure_arithmetic_task_registered();

}  // namespace crucible::synthetic
