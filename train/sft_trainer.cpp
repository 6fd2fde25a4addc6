#include "train/sft_trainer.h"

#include <chrono>
#include <cmath>
#include <numeric>

#include <torch/torch.h>

#include "backends/chat_template/chat_template.h"
#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/model.h"
#include "train/checkpoint.h"
#include "train/distributed/communicator.h"
#include "train/lr_schedule.h"
#include "train/sft_data.h"
#include "train/train_common.h"

namespace crucible::train {
namespace {

// The row order of epoch `epoch`: 0..n-1, shuffled (Fisher-Yates, splitmix64 seeded by seed and
// epoch) when `shuffle`. Depends on nothing else, so a resumed run sees the same order.
std::vector<size_t> epoch_order(size_t n, int64_t seed, int64_t epoch, bool shuffle) {
  if (!shuffle) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    return order;
  }
  return shuffled_order(n, static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
}

}  // namespace

Result<TrainSummary> run_sft(const SftConfig& cfg, const TrainRunOptions& ro) {
  const TrainingArgs& ta = cfg.training;
  const std::string& model_dir = cfg.model.model_name_or_path;
  auto env = DistEnv::from_environment();
  if (!env) return env.status();
  auto device = resolve_train_device(ro.device, env->local_rank);
  if (!device) return device.status();
  auto comm = Communicator::create(*env, *device);
  if (!comm) return comm.status();
  Communicator& c = **comm;
  bool quiet = ro.quiet || !env->is_main();

  auto tok = Tokenizer::from_dir(model_dir);
  if (!tok) return tok.status();
  auto tpl = load_recipe_chat_template(cfg.model.model_name_or_path, cfg.training.chat_template, *tok);
  if (!tpl) return tpl.status();
  SftDataOptions dopt = sft_data_options(cfg);
  auto examples = load_sft_jsonl(cfg.data.dataset_name, *tok, *tpl ? &**tpl : nullptr, dopt);
  if (!examples) return examples.status();
  std::vector<PackedRow> rows = build_sft_rows(*examples, dopt);
  if (rows.empty()) return Status::invalid(cfg.data.dataset_name + ": no training rows");
  int64_t pad_id = tok->pad_id() ? *tok->pad_id() : tok->eos_id() ? *tok->eos_id() : 0;

  torch::manual_seed(static_cast<uint64_t>(ta.seed));
  auto loaded = lm::load_causal_lm(model_dir, *device, torch::kFloat32);
  if (!loaded) return loaded.status();
  lm::CausalLM model = std::move(*loaded);
  model->train();
  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters()) params.push_back(p);
  {
    torch::NoGradGuard g;
    Status s = c.broadcast(params, 0);  // every rank starts from rank 0's weights
    if (!s.is_ok()) return s;
  }
  auto opt = make_adamw(model, ta);

  const int64_t world = c.world_size(), per_dev = ta.per_device_train_batch_size;
  const int64_t accum = std::max<int64_t>(1, ta.gradient_accumulation_steps);
  const int64_t global_batch = per_dev * world;
  const int64_t micro_per_epoch = (static_cast<int64_t>(rows.size()) + global_batch - 1) / global_batch;
  const int64_t updates_per_epoch = std::max<int64_t>(1, micro_per_epoch / accum);
  const int64_t total_steps = total_training_steps(micro_per_epoch, ta);
  auto schedule = LrSchedule::create(ta, total_steps);
  if (!schedule) return schedule.status();
  const int64_t log_every = std::max<int64_t>(1, steps_interval(ta.logging_steps, total_steps));
  const int64_t save_every = ta.save_strategy == "no" ? 0 : steps_interval(ta.save_steps, total_steps);

  TrainSummary sum;
  sum.total_steps = total_steps;
  sum.output_dir = ta.output_dir;
  int64_t step = 0;
  std::string last_checkpoint = "none";
  if (ta.resume_from_checkpoint) {
    auto dir = resolve_resume_dir(*ta.resume_from_checkpoint, ta.output_dir);
    if (!dir) return dir.status();
    if (!dir->empty()) {
      auto state = restore_checkpoint(*dir, model, *opt);
      if (!state) return state.status();
      step = state->value("global_step", int64_t(0));
      for (const auto& l : state->value("log_history", nlohmann::json::array())) sum.log_history.push_back(l);
      last_checkpoint = *dir;
      if (!quiet) std::cout << "resuming from " << *dir << " at step " << step << std::endl;
    }
  }

  std::vector<size_t> order;
  int64_t order_epoch = -1;
  auto t_start = std::chrono::steady_clock::now();
  int64_t tokens_since_log = 0, steps_this_run = 0;
  double loss_since_log = 0;
  int64_t loss_count = 0;

  for (; step < total_steps; ++step) {
    const int64_t epoch = step / updates_per_epoch;
    if (epoch != order_epoch) {
      order = epoch_order(rows.size(), ta.seed, epoch, ta.shuffle_dataset);
      order_epoch = epoch;
    }
    // This rank's rows of each micro-batch of the step.
    std::vector<std::vector<PackedRow>> micro(accum);
    for (int64_t a = 0; a < accum; ++a) {
      int64_t m = (step % updates_per_epoch) * accum + a;
      if (m >= micro_per_epoch) continue;
      int64_t first = m * global_batch + c.rank() * per_dev;
      for (int64_t i = first; i < first + per_dev && i < static_cast<int64_t>(rows.size()); ++i)
        micro[a].push_back(rows[order[i]]);
    }
    // Loss tokens of the whole step, over every rank: the denominator of the token mean.
    std::vector<SftBatch> batches(accum);
    int64_t local_tokens = 0;
    for (int64_t a = 0; a < accum; ++a) {
      if (micro[a].empty()) continue;
      batches[a] = collate_sft_rows(micro[a], pad_id, cfg.sft.pad_to_multiple_of.value_or(1));
      local_tokens += (batches[a].labels.narrow(1, 1, batches[a].labels.size(1) - 1) != -100).sum().item<int64_t>();
    }
    // Collectives take tensors on the training device (NCCL accepts only CUDA tensors).
    auto count = torch::tensor({static_cast<double>(local_tokens)}, torch::kFloat64).to(*device);
    Status s = c.all_reduce_sum(count);
    if (!s.is_ok()) return s;
    const double global_tokens = std::max(1.0, count.item<double>());

    double loss_sum_local = 0;
    for (int64_t a = 0; a < accum; ++a) {
      if (micro[a].empty()) continue;
      const SftBatch& b = batches[a];
      lm::ForwardInput in;
      in.input_ids = b.input_ids.to(*device);
      in.position_ids = b.position_ids.to(*device);
      in.document_ids = b.document_ids.to(*device);
      in.checkpoint_activations = ta.gradient_checkpointing;
      torch::Tensor logits;
      {
        AutocastScope ac(ta.bf16, *device);
        logits = model->forward(in);
      }
      const int64_t T = logits.size(1);
      auto pred = logits.narrow(1, 0, T - 1).to(torch::kFloat32).reshape({-1, logits.size(2)});
      auto target = b.labels.narrow(1, 1, T - 1).reshape({-1}).to(*device);
      auto token_loss_sum = torch::nn::functional::cross_entropy(
          pred, target, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
      // d(step loss)/dθ = Σ_tokens / global_tokens; all_reduce_mean then divides by world.
      (token_loss_sum * (static_cast<double>(world) / global_tokens)).backward();
      loss_sum_local += token_loss_sum.item<double>();
      tokens_since_log += b.input_ids.numel();
    }
    s = average_gradients(c, params);
    if (!s.is_ok()) return s;
    auto loss_t = torch::tensor({loss_sum_local}, torch::kFloat64).to(*device);
    s = c.all_reduce_sum(loss_t);
    if (!s.is_ok()) return s;
    const double step_loss = loss_t.item<double>() / global_tokens;
    const double grad_norm = clip_gradients(params, ta.max_grad_norm);
    if (!std::isfinite(step_loss) || !std::isfinite(grad_norm))
      return Status::internal("SFT stopped at step " + std::to_string(step + 1) + ": non-finite " +
                              (std::isfinite(step_loss) ? "gradient norm" : "loss") +
                              " (lower learning_rate or check the data); the last good checkpoint is " + last_checkpoint);
    const double lr = schedule->lr(step);
    optimizer_step(*opt, lr);
    loss_since_log += step_loss;
    ++loss_count;
    ++steps_this_run;
    sum.last_loss = step_loss;
    sum.global_step = step + 1;

    if ((step + 1) % log_every == 0 || step + 1 == total_steps) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      nlohmann::json line = {{"step", step + 1},
                             {"epoch", static_cast<double>(step + 1) / updates_per_epoch},
                             {"loss", loss_since_log / loss_count},
                             {"learning_rate", lr},
                             {"grad_norm", grad_norm},
                             {"tokens_per_second", secs > 0 ? tokens_since_log * world / secs : 0.0}};
      sum.log_history.push_back(line);
      if (env->is_main()) write_log_line(ta.output_dir, line, quiet);
      loss_since_log = 0;
      loss_count = 0;
      tokens_since_log = 0;
      t_start = std::chrono::steady_clock::now();
    }
    if (save_every > 0 && (step + 1) % save_every == 0) {
      std::string dir = ta.output_dir + "/checkpoint-" + std::to_string(step + 1);
      if (env->is_main()) {
        nlohmann::json state = {{"global_step", step + 1},
                                {"epoch", static_cast<double>(step + 1) / updates_per_epoch},
                                {"total_steps", total_steps},
                                {"log_history", sum.log_history}};
        Status sv = save_checkpoint(model, opt.get(), state, model_dir, dir);
        if (!sv.is_ok()) return sv;
        prune_checkpoints(ta.output_dir, ta.save_total_limit.value_or(0));
      }
      last_checkpoint = dir;
      s = c.barrier();
      if (!s.is_ok()) return s;
    }
    if (ro.stop_after_steps > 0 && steps_this_run >= ro.stop_after_steps && step + 1 < total_steps) {
      sum.stopped_early = true;
      return sum;
    }
  }
  if (env->is_main()) {
    nlohmann::json state = {{"global_step", sum.global_step}, {"total_steps", total_steps},
                            {"log_history", sum.log_history}};
    // The final model sits in OUTPUT_DIR itself (config.json, model.safetensors, tokenizer files).
    Status sv = save_final_model(model, state, model_dir, ta.output_dir);
    if (!sv.is_ok()) return sv;
  }
  Status s = c.barrier();
  if (!s.is_ok()) return s;
  return sum;
}

}  // namespace crucible::train
