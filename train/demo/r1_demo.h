// `crucible demo`: "R1 in miniature". The whole DeepSeek-R1 recipe - supervised fine-tuning on
// reasoning traces, then reinforcement learning with verifiable rewards (GRPO) - on a model small
// enough to train from random weights on a laptop CPU in minutes, with every stage run by the
// project's real components:
//
//   1. data       tasks/synthetic/arithmetic: multi-step arithmetic problems, split into an SFT set
//                 (problems + <think> traces), a GRPO prompt pool and held-out eval problems.
//   2. tokenizer  backends/tokenizer/bpe_trainer: a byte-level BPE trained on the SFT text.
//   3. model      a tiny Qwen2 (backends/torch) from random weights, saved as a Hugging Face dir.
//   4. SFT        OUT/recipes/sft.yaml (Open-R1/TRL keys) -> train::run_sft.
//   5. GRPO       OUT/recipes/grpo.yaml -> train::run_grpo with the math grader's `accuracy` and the
//                 `format` reward, on GRPO-pool problems the SFT model does not always solve.
//   6. eval       the harness eval runner (local backend, `arithmetic` task, math grader, run store,
//                 metrics) on the held-out problems, for the base, SFT and GRPO checkpoints.
//   7. report     reports/: OUT/report/leaderboard.{md,html,json} comparing the three.
//
// Everything lands in OUT (data/, base/, sft/, grpo/, recipes/, runs/, report/, demo.json), so
// each stage can be rerun by hand: `crucible train sft --config OUT/recipes/sft.yaml`, `crucible
// eval --task arithmetic --backend local --model-dir OUT/grpo ...`, `crucible report --runs OUT/runs`.
// Deterministic for a seed (the trainers and sampling are seeded; float rounding across machines
// may still differ).
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tasks/synthetic/arithmetic.h"

namespace crucible::train::demo {

struct DemoOptions {
  std::string out_dir = "runs/demo";
  uint64_t seed = 1;

  // Data (tasks/synthetic/arithmetic).
  // Difficulty: exactly 2 operations, operands 1..9, every value a single digit (0..9). The first
  // operation is the capitalised verb and the second the one after "then", so a tiny model learns
  // to copy them from the prompt; with 3+ operations it must count "then"s, which 100k-300k
  // parameters trained for a minute or two do not manage. Only 1046 distinct problems exist at
  // this difficulty: the three splits below use all of them.
  synthetic::ArithmeticOptions arithmetic = {2, 2, 9, 9, "arith"};
  size_t sft_problems = 690;        // SFT rows (problem + trace)
  size_t grpo_problems = 256;       // GRPO prompt pool (before the headroom filter)
  size_t eval_problems = 100;       // held-out problems (never trained on)

  // The "noisy teacher": this fraction of the SFT traces (chosen by a hash of the seed and the
  // row, so the same rows for a seed) keep correct <think> steps but box a WRONG final answer -
  // the value before the last operation (the teacher "stops one step early"; if that equals the
  // right answer, e.g. 0 * 3 = 0, the right answer + 1). SFT imitates its teacher, mistakes
  // included, so the SFT model boxes the wrong value on roughly this fraction of its answers;
  // GRPO's accuracy reward (the math grader against the true answer) is what corrects it - the
  // R1 story of RL with a verifier improving on imperfect demonstrations. The GRPO pool and the
  // held-out problems always carry the true answers. 0 = a perfect teacher.
  double teacher_error_rate = 0.5;

  // Tokenizer and model (a Qwen2 decoder).
  int bpe_merges = 120;
  // Measured (docs/demo.md): 3 layers x hidden 96 (337k parameters) did no better than this
  // 114k-parameter model after the same SFT and gained less from GRPO, in 3.6x the time.
  int64_t hidden_size = 64;
  int64_t intermediate_size = 176;
  int64_t num_layers = 2;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;

  // SFT (recipes/sft.yaml).
  double sft_learning_rate = 1e-2;
  double sft_epochs = 12.0;       // 6 left seeds 1, 2, 4 short of the arithmetic facts
  int64_t sft_batch_size = 8;

  // Headroom filter: sample the SFT model `filter_samples` times on each GRPO-pool problem and keep
  // those it solves sometimes but not always (0 < correct < filter_samples): the problems where
  // GRPO's group advantages are non-zero. 0 = no filter (the whole pool).
  int filter_samples = 4;

  // GRPO (recipes/grpo.yaml).
  int64_t grpo_steps = 60;
  double grpo_learning_rate = 1e-3;
  int64_t num_generations = 8;
  int64_t grpo_batch_size = 64;     // completions per optimizer step (= prompts x num_generations)
  double grpo_temperature = 1.0;
  double format_weight = 0.5;       // reward = accuracy + format_weight * format

  // Eval (held-out problems).
  int eval_samples = 4;             // samples per problem (avg@n)
  double eval_temperature = 0.6;    // Open-R1's evaluation temperature
  bool eval_base = true;            // also evaluate the random-weight model

  bool run_grpo = true;             // false: stop after SFT (+ eval + report)
  std::ostream* log = nullptr;      // progress lines (stage starts, results); null = silent
  bool verbose_training = false;    // the trainers' own per-step log lines on stdout

  // The full demo (~3 minutes on 2 idle CPU cores) and `--quick` (the test's: half the GRPO
  // steps, no base-model eval; ~2 minutes).
  static DemoOptions full();
  static DemoOptions quick();
};

struct StageEval {
  std::string stage;                // base | sft | grpo
  std::string model_dir;
  std::string run_dir;
  double accuracy = 0;              // avg@n on the held-out problems, in [0, 1]
  double stderr_ = 0;
  double format_rate = 0;           // fraction of samples matching the format reward's pattern
  int samples = 0;
};

struct StageTime {
  std::string stage;                // data, tokenizer, model, sft, filter, grpo, eval-*, report
  double seconds = 0;
};

struct DemoSummary {
  std::string out_dir;
  std::vector<StageEval> evals;     // in pipeline order: base (if evaluated), sft, grpo (if run)
  std::vector<StageTime> times;
  size_t grpo_prompts = 0;          // GRPO-pool problems kept by the headroom filter
  double teacher_error_rate = 0;    // DemoOptions::teacher_error_rate of the run
  size_t sft_wrong_answers = 0;     // SFT traces whose boxed answer is wrong (the noisy teacher)
  size_t sft_rows = 0;
  int64_t vocab_size = 0;
  int64_t parameters = 0;
  std::string leaderboard_md, leaderboard_html;
  double total_seconds = 0;

  const StageEval* find(const std::string& stage) const;
  nlohmann::json to_json() const;   // also written to OUT/demo.json
};

// Runs the pipeline. OUT must be absent, empty, or a previous demo's output (it holds demo.json;
// the demo's own sub-directories are then replaced). Errors name the stage that failed.
Result<DemoSummary> run_r1_demo(const DemoOptions& options);

// The final table (stage, held-out accuracy, format, time) as printed by `crucible demo`.
std::string format_summary_table(const DemoSummary& summary);

}  // namespace crucible::train::demo
