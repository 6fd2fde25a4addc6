// `crucible demo`: R1 in miniature (train/demo/r1_demo.h). crucible-torch only; the plain
// `crucible` binary hands `demo` to it.
#include <iostream>
#include <memory>
#include <string>

#include "harness/cli/commands.h"
#include "train/demo/r1_demo.h"

namespace crucible::cli {
namespace {

struct DemoFlags {
  std::string out = "runs/demo";
  uint64_t seed = 1;
  bool quick = false, no_grpo = false, no_base = false, verbose = false;
  int grpo_steps = -1, sft_problems = -1, eval_problems = -1, eval_samples = -1;
  double grpo_lr = -1, sft_epochs = -1, sft_lr = -1;
  int min_steps = -1, max_steps = -1, max_operand = -1, max_value = -1;
  int hidden = -1, layers = -1, sft_batch = -1, grpo_batch = -1, num_generations = -1, filter_samples = -1;
  double grpo_temperature = -1, eval_temperature = -1, teacher_error_rate = -1;
};

int run_demo(const DemoFlags& f) {
  auto o = f.quick ? train::demo::DemoOptions::quick() : train::demo::DemoOptions::full();
  o.out_dir = f.out;
  o.seed = f.seed;
  if (f.no_grpo) o.run_grpo = false;
  if (f.no_base) o.eval_base = false;
  if (f.grpo_steps > 0) o.grpo_steps = f.grpo_steps;
  if (f.grpo_lr > 0) o.grpo_learning_rate = f.grpo_lr;
  if (f.sft_epochs > 0) o.sft_epochs = f.sft_epochs;
  if (f.sft_problems > 0) o.sft_problems = static_cast<size_t>(f.sft_problems);
  if (f.eval_problems > 0) o.eval_problems = static_cast<size_t>(f.eval_problems);
  if (f.eval_samples > 0) o.eval_samples = f.eval_samples;
  if (f.sft_lr > 0) o.sft_learning_rate = f.sft_lr;
  if (f.min_steps > 0) o.arithmetic.min_steps = f.min_steps;
  if (f.max_steps > 0) o.arithmetic.max_steps = f.max_steps;
  if (o.arithmetic.max_steps < o.arithmetic.min_steps) o.arithmetic.max_steps = o.arithmetic.min_steps;
  if (f.max_operand > 0) o.arithmetic.max_operand = f.max_operand;
  if (f.max_value > 0) o.arithmetic.max_value = f.max_value;
  if (f.hidden > 0) {
    o.hidden_size = f.hidden;
    o.intermediate_size = (f.hidden * 8 / 3 + 15) / 16 * 16;
  }
  if (f.layers > 0) o.num_layers = f.layers;
  if (f.sft_batch > 0) o.sft_batch_size = f.sft_batch;
  if (f.grpo_batch > 0) o.grpo_batch_size = f.grpo_batch;
  if (f.num_generations > 0) o.num_generations = f.num_generations;
  if (f.filter_samples >= 0) o.filter_samples = f.filter_samples;
  if (f.grpo_temperature > 0) o.grpo_temperature = f.grpo_temperature;
  if (f.eval_temperature >= 0) o.eval_temperature = f.eval_temperature;
  if (f.teacher_error_rate >= 0) o.teacher_error_rate = f.teacher_error_rate;
  o.verbose_training = f.verbose;
  o.log = &std::cout;
  std::cout << "crucible demo: R1 in miniature -> " << o.out_dir << (f.quick ? " (quick)" : "") << "\n";
  auto r = train::demo::run_r1_demo(o);
  if (!r) {
    std::cerr << "crucible demo: " << r.status().message() << "\n";
    return r.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "\n" << train::demo::format_summary_table(*r);
  std::cout << "\nleaderboard: " << r->leaderboard_md << "\n             " << r->leaderboard_html << "\n"
            << "recipes:     " << o.out_dir << "/recipes/{sft,grpo}.yaml (crucible train sft|grpo --config FILE)\n";
  return 0;
}

const char* kFooter = R"(
Stages (everything is written under --out):
  1. data       synthetic multi-step arithmetic ("Start with 7. Add 5, then multiply by 2. What is
                the result?") with step-by-step traces <think>\n7 + 5 = 12\n12 * 2 = 24\n</think>
                <answer>\n\boxed{24}\n</answer>; split into SFT traces, a GRPO prompt pool and
                held-out eval problems (never trained on).                       OUT/data/
                The SFT traces come from a NOISY TEACHER: --teacher-error-rate (default 0.5) of
                them have correct steps but box a wrong final answer (the value before the last
                operation). The GRPO pool and the held-out problems keep the true answers, so the
                verifier-based reward of stage 5 can correct what SFT imitated. demo.json records
                the rate and the count of wrong traces.
  2. tokenizer  a byte-level BPE trained on the SFT text (a few hundred tokens). OUT/base/tokenizer.json
  3. model      a tiny Qwen2 decoder from random weights (Hugging Face layout).  OUT/base/
  4. SFT        supervised fine-tuning on the traces (TRL SFTTrainer semantics). OUT/recipes/sft.yaml -> OUT/sft/
     eval       the SFT checkpoint (and the base model) on the held-out problems with the real
                eval harness: local backend, math grader, run store, avg@n.    OUT/runs/{base,sft}/
  5. GRPO       the SFT model samples the pool; problems it solves sometimes but not always are kept
                (headroom), then GRPO with the math grader's `accuracy` + the `format` reward.
                                                                                 OUT/recipes/grpo.yaml -> OUT/grpo/
     eval       the GRPO checkpoint on the same held-out problems.              OUT/runs/grpo/
  6. report     leaderboard comparing base / SFT / GRPO.                         OUT/report/leaderboard.{md,html,json}

About 3 minutes on 2 idle CPU cores (--quick: about 2). Each stage can be rerun by hand:
  crucible train sft --config OUT/recipes/sft.yaml
  crucible train grpo --config OUT/recipes/grpo.yaml
  crucible eval --task arithmetic --data OUT/data/eval.jsonl --backend local --model-dir OUT/grpo \
      --n 4 --temperature 0.6 --top-p 1 --max-tokens 39 --out runs/my-eval
  crucible report --runs OUT/runs --out OUT/report
Rerunning `crucible demo` with the same --out replaces the previous demo's output. See docs/demo.md.
)";

Register reg("demo", [](CLI::App& root, int& exit_code) {
  auto f = std::make_shared<DemoFlags>();
  CLI::App* sub = root.add_subcommand(
      "demo", "R1 in miniature: SFT then GRPO of a tiny model on a CPU, evaluated and reported");
  sub->footer(kFooter);
  sub->add_option("--out", f->out, "output directory (absent, empty, or a previous demo's)")
      ->capture_default_str()
      ->type_name("DIR");
  sub->add_option("--seed", f->seed, "seed of the data, the weights, training and sampling")->capture_default_str();
  sub->add_flag("--quick", f->quick, "half the GRPO steps, no base-model eval (about 2 minutes; the test's configuration)");
  sub->add_flag("--no-grpo", f->no_grpo, "stop after SFT (data, tokenizer, model, SFT, eval, report)");
  sub->add_flag("--no-base-eval", f->no_base, "do not evaluate the random-weight model");
  sub->add_option("--sft-problems", f->sft_problems, "SFT traces (default: 690)")->type_name("INT");
  sub->add_option("--sft-epochs", f->sft_epochs, "SFT epochs (default: 12)")->type_name("FLOAT");
  sub->add_option("--teacher-error-rate", f->teacher_error_rate,
                  "fraction of SFT traces that box a wrong final answer (noisy teacher; default 0.5, 0: none)")
      ->type_name("FLOAT");
  sub->add_option("--grpo-steps", f->grpo_steps, "GRPO optimizer steps")->type_name("INT");
  sub->add_option("--grpo-lr", f->grpo_lr, "GRPO learning rate")->type_name("FLOAT");
  sub->add_option("--eval-problems", f->eval_problems, "held-out problems (default: 100)")
      ->type_name("INT");
  sub->add_option("--eval-samples", f->eval_samples, "samples per held-out problem (avg@n)")->type_name("INT");
  sub->add_option("--sft-lr", f->sft_lr, "SFT learning rate")->type_name("FLOAT");
  sub->add_option("--min-steps", f->min_steps, "fewest operations per problem (default 2)")->type_name("INT");
  sub->add_option("--max-steps", f->max_steps, "most operations per problem (default 2)")->type_name("INT");
  sub->add_option("--max-operand", f->max_operand, "operands 1..N (default 9)")->type_name("INT");
  sub->add_option("--max-value", f->max_value, "every intermediate value stays in [0, N] (default 9)")
      ->type_name("INT");
  sub->add_option("--hidden", f->hidden, "model width (the MLP is about 8/3 of it)")->type_name("INT");
  sub->add_option("--layers", f->layers, "decoder layers")->type_name("INT");
  sub->add_option("--sft-batch", f->sft_batch, "SFT rows per optimizer step")->type_name("INT");
  sub->add_option("--grpo-batch", f->grpo_batch, "GRPO completions per optimizer step")->type_name("INT");
  sub->add_option("--num-generations", f->num_generations, "GRPO samples per prompt")->type_name("INT");
  sub->add_option("--grpo-temperature", f->grpo_temperature, "GRPO sampling temperature")->type_name("FLOAT");
  sub->add_option("--filter-samples", f->filter_samples,
                  "headroom filter: SFT samples per pool problem (0: no filter)")->type_name("INT");
  sub->add_option("--eval-temperature", f->eval_temperature, "held-out eval temperature (0: greedy)")
      ->type_name("FLOAT");
  sub->add_flag("--verbose", f->verbose, "print the trainers' log lines (loss, reward, ...) too");
  sub->callback([f, &exit_code] { exit_code = run_demo(*f); });
});

}  // namespace
}  // namespace crucible::cli
