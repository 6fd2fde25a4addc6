// `crucible train sft|grpo --config recipe.yaml`: the trainers (crucible-torch only; the plain
// `crucible` binary hands `train` to it).
#include <unistd.h>

#include <iostream>
#include <memory>

#include "harness/cli/commands.h"
#include "train/distributed/dist_env.h"
#include "train/distributed/launcher.h"
#include "train/recipe.h"
#include "train/grpo_trainer.h"
#include "train/sft_trainer.h"

namespace crucible::cli {
namespace {

struct TrainFlags {
  std::string config, device = "auto", resume;
  int nproc = 1;
};

// argv of this process without "--nproc-per-node N" / "--nproc-per-node=N", for the ranks.
std::vector<std::string> rank_argv(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc-per-node") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc-per-node=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

std::vector<std::string>& saved_argv() {
  static std::vector<std::string> v;
  return v;
}

// Under --nproc-per-node N > 1 (and not already a rank): run N ranks of this same command.
bool launch_ranks(int nproc, int* exit_code) {
  if (nproc <= 1 || std::getenv("WORLD_SIZE")) return false;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    std::cerr << "crucible train: cannot locate this binary to start the ranks\n";
    *exit_code = 1;
    return true;
  }
  self[n] = '\0';
  auto args = rank_argv(saved_argv());
  args[0] = self;
  auto r = train::launch_local(nproc, args);
  if (r.exit_code != 0) std::cerr << "crucible train: " << r.message << "\n";
  *exit_code = r.exit_code;
  return true;
}

int run_sft_command(const TrainFlags& f) {
  auto cfg = train::load_sft_recipe(f.config);
  if (!cfg) {
    std::cerr << "crucible train sft: " << cfg.status().message() << "\n";
    return 2;
  }
  if (!f.resume.empty()) cfg->training.resume_from_checkpoint = f.resume;
  train::TrainRunOptions ro;
  ro.device = f.device;
  auto r = train::run_sft(*cfg, ro);
  if (!r) {
    std::cerr << "crucible train sft: " << r.status().message() << "\n";
    return r.status().code() == StatusCode::kInvalidArgument || r.status().code() == StatusCode::kParse ? 2 : 1;
  }
  auto env = train::DistEnv::from_environment();
  if (env && env->is_main())
    std::cout << "trained " << r->global_step << " steps; final loss " << r->last_loss << "; model in "
              << r->output_dir << "\n";
  return 0;
}

int run_grpo_command(const TrainFlags& f) {
  auto cfg = train::load_grpo_recipe(f.config);
  if (!cfg) {
    std::cerr << "crucible train grpo: " << cfg.status().message() << "\n";
    return 2;
  }
  if (!f.resume.empty()) cfg->training.resume_from_checkpoint = f.resume;
  train::TrainRunOptions ro;
  ro.device = f.device;
  auto r = train::run_grpo(*cfg, ro);
  if (!r) {
    std::cerr << "crucible train grpo: " << r.status().message() << "\n";
    return r.status().code() == StatusCode::kInvalidArgument || r.status().code() == StatusCode::kParse ? 2 : 1;
  }
  auto env = train::DistEnv::from_environment();
  if (env && env->is_main()) {
    std::cout << "trained " << r->global_step << " GRPO steps; final loss " << r->last_loss;
    if (!r->log_history.empty() && r->log_history.back().contains("reward"))
      std::cout << "; last logged reward " << r->log_history.back()["reward"].dump();
    std::cout << "; model in " << r->output_dir << "\n";
  }
  return 0;
}

const char* kGrpoFooter = R"(
The recipe is an Open-R1 / TRL GRPO YAML file (keys as TRL names them; an unknown key is an error).
Prompts come from the task's loader and prompt template (`task`, default math: JSONL rows with
"problem" and "answer"), rendered with the model's chat template; each prompt is sampled
num_generations times, scored by reward_funcs (the task's grader for `accuracy`), and the group-
normalised rewards drive the clipped GRPO loss (loss_type, epsilon, beta, num_iterations).
Example:
  model_name_or_path: /models/Qwen2.5-0.5B-Instruct
  dataset_name: data/math_train.jsonl       # rows {"problem": ..., "answer": ...}
  task: math
  reward_funcs: [accuracy, format, tag_count]
  reward_weights: [1.0, 1.0, 1.0]
  system_prompt: "Think in <think></think>, then answer in <answer></answer>."
  learning_rate: 1.0e-6
  per_device_train_batch_size: 8
  gradient_accumulation_steps: 4
  num_generations: 8
  max_prompt_length: 512
  max_completion_length: 1024
  temperature: 0.7
  beta: 0.0
  loss_type: dapo
  output_dir: runs/grpo
Log lines (stdout and OUTPUT_DIR/log.jsonl) use TRL's names: loss, reward, reward_std,
rewards/<func>/mean, completions/mean_length, clip_ratio/*, kl (beta != 0), entropy, and
timing/{generation,reward,training}_s. Checkpoints go to OUTPUT_DIR/checkpoint-N (save_steps), the
final model to OUTPUT_DIR. Resume: --resume latest. A +-inf reward, a non-finite loss or gradient
norm stops the run before the optimizer step (the last checkpoint is kept).
Data-parallel: --nproc-per-node N starts N ranks here (Gloo on CPU, NCCL on GPUs); the generation
batch is split across ranks and rewards are gathered so groups are normalised globally.
See docs/training.md.
)";

const char* kFooter = R"(
The recipe is an Open-R1 / TRL YAML file (keys as TRL names them; an unknown key is an error).
Example (SFT):
  model_name_or_path: /models/Qwen2.5-0.5B
  dataset_name: data/mixture_of_thoughts.jsonl     # rows {"messages": [...]} or {"prompt","completion"}
  learning_rate: 2.0e-5
  num_train_epochs: 1
  per_device_train_batch_size: 4
  gradient_accumulation_steps: 8
  max_length: 2048
  packing: true
  lr_scheduler_type: cosine_with_min_lr
  lr_scheduler_kwargs: {min_lr_rate: 0.1}
  warmup_ratio: 0.03
  output_dir: runs/sft
Checkpoints go to OUTPUT_DIR/checkpoint-N (save_steps); the final model to OUTPUT_DIR; log lines
(loss, learning_rate, grad_norm, tokens/s) to stdout and OUTPUT_DIR/log.jsonl.
Resume: --resume latest (or resume_from_checkpoint: true in the recipe).
Data-parallel: --nproc-per-node N starts N ranks here (Gloo on CPU, NCCL on GPUs); under torchrun
or SLURM the RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT variables are used as they are.
See docs/training.md.
)";

Register reg("train", [](CLI::App& root, int& exit_code) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* group = subcommand_group(root, "train", "Train a model with SFT or GRPO (LibTorch)");
  CLI::App* sft = group->add_subcommand("sft", "Supervised fine-tuning from a recipe.yaml (TRL SFTTrainer semantics)");
  sft->footer(kFooter);
  sft->add_option("--config", f->config, "recipe.yaml")->required()->type_name("FILE");
  sft->add_option("--device", f->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sft->add_option("--resume", f->resume, "checkpoint directory, or 'latest' (overrides the recipe)")
      ->type_name("DIR");
  sft->add_option("--nproc-per-node", f->nproc, "ranks to start on this machine")->capture_default_str();
  sft->callback([f, &exit_code] {
    if (launch_ranks(f->nproc, &exit_code)) return;
    exit_code = run_sft_command(*f);
  });
  CLI::App* grpo = group->add_subcommand(
      "grpo", "Group Relative Policy Optimization from a recipe.yaml (TRL GRPOTrainer semantics)");
  grpo->footer(kGrpoFooter);
  grpo->add_option("--config", f->config, "recipe.yaml")->required()->type_name("FILE");
  grpo->add_option("--device", f->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  grpo->add_option("--resume", f->resume, "checkpoint directory, or 'latest' (overrides the recipe)")
      ->type_name("DIR");
  grpo->add_option("--nproc-per-node", f->nproc, "ranks to start on this machine")->capture_default_str();
  grpo->callback([f, &exit_code] {
    if (launch_ranks(f->nproc, &exit_code)) return;
    exit_code = run_grpo_command(*f);
  });
});

// Keep argv for --nproc-per-node (CLI11 does not hand it to callbacks).
struct ArgvCapture {
  ArgvCapture() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string arg;
    while (std::getline(in, arg, '\0')) saved_argv().push_back(arg);
  }
} capture;

}  // namespace
}  // namespace crucible::cli
