// bench_train: CPU (or GPU) throughput of the trainers on a demo-sized model with random weights:
// SFT steps (tokens/s) and GRPO steps split into generation, reward and training time.
//
//   bench_train [--device cpu|cuda] [--steps 8] [--vocab 512] [--hidden 128] [--layers 4] [--merges 253]
//               [--seq 128] [--batch 8] [--generations 4] [--completion 64] [--prompt 64]
//
// Workspace (a temp directory, removed at the end): synthetic arithmetic problems
// (tasks/synthetic/arithmetic.h), a byte-level BPE tokenizer trained on them (256 bytes + up to
// --merges merges + 3 special tokens; the small corpus stops it near 320 ids) and a Qwen2 model
// (--vocab rows, at least the tokenizer's; hidden, layers, 4 heads, 2 kv heads, intermediate
// 4 x hidden, tied embeddings). SFT: packed rows of --seq tokens, --batch rows per
// step. GRPO: --batch completions per step (--batch / --generations prompts), prompts left-truncated
// to --prompt tokens, completions of at most --completion tokens, rewards accuracy + format
// (the math grader). Per-step figures come from the trainers' own log lines; the first step is a
// warm-up and is left out; medians are printed as a Markdown table.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "backends/tokenizer/bpe_trainer.h"
#include "backends/torch/model.h"
#include "tasks/synthetic/arithmetic.h"
#include "train/grpo_trainer.h"
#include "train/recipe.h"
#include "train/sft_trainer.h"

using crucible::bench::median;

namespace {

int usage(const char* why) {
  std::fprintf(stderr, "bench_train: %s\n(see the comment at the top of bench/train.cpp for the flags)\n", why);
  return 2;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cpu";
  long steps = 8, vocab_rows = 512, hidden = 128, layers = 4, merges = 253, seq = 128, batch = 8, gens = 4, completion = 64, prompt = 64;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    std::string v = argv[++i];
    if (a == "--device") device = v;
    else if (a == "--steps") steps = std::atol(v.c_str());
    else if (a == "--vocab") vocab_rows = std::atol(v.c_str());
    else if (a == "--hidden") hidden = std::atol(v.c_str());
    else if (a == "--layers") layers = std::atol(v.c_str());
    else if (a == "--merges") merges = std::atol(v.c_str());
    else if (a == "--seq") seq = std::atol(v.c_str());
    else if (a == "--batch") batch = std::atol(v.c_str());
    else if (a == "--generations") gens = std::atol(v.c_str());
    else if (a == "--completion") completion = std::atol(v.c_str());
    else if (a == "--prompt") prompt = std::atol(v.c_str());
    else return usage(("unknown flag " + a).c_str());
  }
  if (steps < 2 || batch % gens != 0) return usage("need --steps >= 2 and --batch divisible by --generations");

  namespace fs = std::filesystem;
  std::string ws = (fs::temp_directory_path() / ("crucible-bench-train-" + std::to_string(::getpid()))).string();
  fs::remove_all(ws);
  fs::create_directories(ws + "/base");
  auto problems = crucible::synthetic::generate_arithmetic(1, 2000);
  std::vector<std::string> corpus;
  {
    std::ofstream data(ws + "/data.jsonl");
    for (const auto& p : problems) {
      corpus.push_back(p.problem + "\n" + p.trace());
      data << p.to_json().dump() << "\n";
    }
  }
  crucible::BpeTrainOptions bo;
  bo.num_merges = static_cast<int>(merges);
  bo.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  auto tj = crucible::train_byte_level_bpe(corpus, bo);
  write(ws + "/base/tokenizer.json", tj.dump());
  const char* tpl =
      "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
  write(ws + "/base/tokenizer_config.json",
        nlohmann::json({{"chat_template", tpl}, {"eos_token", "<|im_end|>"}, {"pad_token", "<|endoftext|>"}}).dump());
  const long tok_vocab = 256 + static_cast<long>(tj["model"]["merges"].size()) + 3;
  const long vocab = std::max(vocab_rows, tok_vocab);  // rows past the tokenizer's are never sampled
  nlohmann::json cj = {{"model_type", "qwen2"}, {"vocab_size", vocab}, {"hidden_size", hidden},
                       {"intermediate_size", 4 * hidden}, {"num_hidden_layers", layers}, {"num_attention_heads", 4},
                       {"num_key_value_heads", 2}, {"max_position_embeddings", 2048}, {"rms_norm_eps", 1e-6},
                       {"rope_theta", 10000.0}, {"tie_word_embeddings", true}, {"eos_token_id", tok_vocab - 1}};
  auto mc = crucible::lm::ModelConfig::from_json(cj, "bench");
  if (!mc) return usage(mc.status().message().c_str());
  auto model = crucible::lm::make_random_causal_lm(*mc, 1);
  if (!crucible::lm::save_causal_lm(model, ws + "/base").is_ok()) return usage("cannot save the model");

  crucible::train::RecipeOptions opts;
  opts.print_warnings = false;
  crucible::train::TrainRunOptions run;
  run.device = device;
  run.quiet = true;
  const std::string common = "model_name_or_path: " + ws + "/base\ndataset_name: " + ws +
                             "/data.jsonl\nlearning_rate: 1.0e-4\nlr_scheduler_type: constant\nlogging_steps: 1\n"
                             "save_strategy: \"no\"\nbf16: false\ngradient_checkpointing: false\nseed: 1\n"
                             "max_steps: " + std::to_string(steps) + "\nper_device_train_batch_size: " +
                             std::to_string(batch) + "\n";

  // SFT.
  auto sft = crucible::train::parse_sft_recipe(common + "output_dir: " + ws + "/sft\npacking: true\nmax_length: " +
                                                   std::to_string(seq) + "\n",
                                               "bench.yaml", opts);
  if (!sft) return usage(sft.status().message().c_str());
  auto sr = crucible::train::run_sft(*sft, run);
  if (!sr) return usage(sr.status().message().c_str());
  std::vector<double> sft_tps;
  for (size_t i = 1; i < sr->log_history.size(); ++i) sft_tps.push_back(sr->log_history[i]["tokens_per_second"]);

  // GRPO.
  auto grpo = crucible::train::parse_grpo_recipe(
      common + "output_dir: " + ws + "/grpo\ntask: math\nreward_funcs: [accuracy, format]\nnum_generations: " +
          std::to_string(gens) + "\nmax_prompt_length: " + std::to_string(prompt) +
          "\nmax_completion_length: " + std::to_string(completion) + "\n",
      "bench.yaml", opts);
  if (!grpo) return usage(grpo.status().message().c_str());
  auto gr = crucible::train::run_grpo(*grpo, run);
  if (!gr) return usage(gr.status().message().c_str());
  std::vector<double> gen_s, rew_s, train_s, total_s, toks, tps;
  double prev_tokens = 0;
  for (size_t i = 0; i < gr->log_history.size(); ++i) {
    const auto& l = gr->log_history[i];
    double t = l["num_tokens"].get<double>() - prev_tokens;
    prev_tokens = l["num_tokens"];
    if (i == 0) continue;  // warm-up
    double g = l["timing/generation_s"], r = l["timing/reward_s"], tr = l["timing/training_s"];
    gen_s.push_back(g);
    rew_s.push_back(r);
    train_s.push_back(tr);
    total_s.push_back(g + r + tr);
    toks.push_back(t);
    tps.push_back(t / (g + r + tr));
  }
  std::printf("bench_train: device %s, %d threads, model hidden %ld, %ld layers, vocab %ld (tokenizer %ld); %ld steps (first is warm-up)\n\n",
              device.c_str(), at::get_num_threads(), hidden, layers, vocab, tok_vocab, steps);
  std::printf("| trainer | batch | median s/step | median tokens/step | median tokens/s |\n|---|---|---|---|---|\n");
  std::printf("| SFT (packed, seq %ld) | %ld rows | ~%.3f | ~%ld | %.0f |\n", seq, batch,
              batch * seq / std::max(1e-9, median(sft_tps)), batch * seq, median(sft_tps));
  std::printf("| GRPO (prompt <= %ld, completion <= %ld) | %ld completions | %.3f | %.0f | %.0f |\n\n", prompt,
              completion, batch, median(total_s), median(toks), median(tps));
  std::printf("| GRPO phase | median s/step | share |\n|---|---|---|\n");
  const double tot = median(gen_s) + median(rew_s) + median(train_s);
  std::printf("| generation (sampling + old/ref log-probs) | %.3f | %.0f%% |\n", median(gen_s), 100 * median(gen_s) / tot);
  std::printf("| reward (score + gather + advantages) | %.4f | %.1f%% |\n", median(rew_s), 100 * median(rew_s) / tot);
  std::printf("| training (forward + backward + optimizer) | %.3f | %.0f%% |\n", median(train_s), 100 * median(train_s) / tot);
  fs::remove_all(ws);
  return 0;
}
