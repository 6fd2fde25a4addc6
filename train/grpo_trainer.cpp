#include "train/grpo_trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include <torch/torch.h>

#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/generate.h"
#include "backends/torch/model.h"
#include "train/checkpoint.h"
#include "train/distributed/communicator.h"
#include "train/grpo_loss.h"
#include "train/grpo_rollout.h"
#include "train/lr_schedule.h"
#include "train/rewards/reward_registry.h"
#include "train/train_common.h"

namespace crucible::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// This rank's slice of one generation batch, ready for the loss: prompts left-padded, completions
// right-padded. Saved in a checkpoint taken in the middle of a generation, so a resumed run
// trains on exactly the completions the interrupted one had sampled.
struct Rollout {
  int64_t index = -1;             // generation index over the run
  torch::Tensor prompt_ids;       // [L, P] int64
  torch::Tensor prompt_mask;      // [L, P] int64
  torch::Tensor completion_ids;   // [L, C] int64
  torch::Tensor completion_mask;  // [L, C] int64
  torch::Tensor advantages;       // [L] float32
  torch::Tensor truncated;        // [L] bool
  torch::Tensor old_logps;        // [L, C] float32 or undefined
  torch::Tensor ref_logps;        // [L, C] float32 or undefined
  double num_items = 0;           // loss tokens of the global generation batch (dapo)
};

std::string rollout_name(int rank) { return "rollout-rank" + std::to_string(rank) + ".pt"; }
std::string rollout_file(const std::string& dir, int rank) { return dir + "/" + rollout_name(rank); }
// Where a rank writes its rollout before rank 0 moves it into checkpoint `dir` (a sibling file).
std::string staged_rollout_file(const std::string& dir, int rank) { return dir + "." + rollout_name(rank); }

Status save_rollout(const Rollout& r, const std::string& path) {
  auto opt = [](const torch::Tensor& t) { return t.defined() ? t : torch::empty({0}); };
  std::vector<torch::Tensor> v = {
      r.prompt_ids, r.prompt_mask, r.completion_ids, r.completion_mask, r.advantages, r.truncated,
      opt(r.old_logps), opt(r.ref_logps),
      torch::tensor({static_cast<double>(r.index), r.num_items, r.old_logps.defined() ? 1.0 : 0.0,
                     r.ref_logps.defined() ? 1.0 : 0.0},
                    torch::kFloat64)};
  std::error_code ec;  // OUTPUT_DIR may not exist yet on a rank other than 0
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  try {
    torch::save(v, path);
  } catch (const std::exception& e) {
    return Status::io("cannot write " + path + ": " + torch_io_error(e));
  }
  return Status::ok();
}

Result<Rollout> load_rollout(const std::string& path) {
  std::vector<torch::Tensor> v;
  try {
    torch::load(v, path);
  } catch (const std::exception& e) {
    return Status::io("cannot read " + path + " (the GRPO rollout of a checkpoint taken mid-generation): " +
                      torch_io_error(e));
  }
  if (v.size() != 9) return Status::parse(path + ": not a GRPO rollout file");
  Rollout r;
  r.prompt_ids = v[0];
  r.prompt_mask = v[1];
  r.completion_ids = v[2];
  r.completion_mask = v[3];
  r.advantages = v[4];
  r.truncated = v[5];
  auto meta = v[8].accessor<double, 1>();
  r.index = static_cast<int64_t>(meta[0]);
  r.num_items = meta[1];
  if (meta[2] != 0) r.old_logps = v[6];
  if (meta[3] != 0) r.ref_logps = v[7];
  return r;
}

// Metric values since the last log line, reduced per key when the line is written: NaN values
// are skipped; *_min keys take the minimum, *_max keys the maximum, timing/* the sum, the rest the mean.
class MetricLog {
 public:
  void add(const std::string& key, double v) { values_[key].push_back(v); }
  void summarize_into(nlohmann::json& line) {
    for (auto& [key, vals] : values_) {
      const bool is_min = ends_with(key, "_min") || ends_with(key, "min_length");
      const bool is_max = ends_with(key, "_max") || ends_with(key, "max_length");
      const bool is_sum = key.rfind("timing/", 0) == 0;
      double acc = is_min ? std::numeric_limits<double>::infinity() : is_max ? -std::numeric_limits<double>::infinity() : 0;
      int64_t n = 0;
      for (double v : vals) {
        if (std::isnan(v)) continue;
        ++n;
        if (is_min) acc = std::min(acc, v);
        else if (is_max) acc = std::max(acc, v);
        else acc += v;
      }
      if (n == 0) {
        line[key] = nullptr;
        continue;
      }
      line[key] = (is_min || is_max || is_sum) ? acc : acc / static_cast<double>(n);
    }
    values_.clear();
  }

 private:
  static bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
  }
  std::map<std::string, std::vector<double>> values_;
};

// NaN-skipping mean and unbiased std of a column.
std::pair<double, double> nan_mean_std(const std::vector<double>& v) {
  double s = 0;
  int64_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) s += x, ++n;
  if (n == 0) return {std::nan(""), std::nan("")};
  double mean = s / n, sq = 0;
  for (double x : v)
    if (!std::isnan(x)) sq += (x - mean) * (x - mean);
  return {mean, n > 1 ? std::sqrt(sq / (n - 1)) : std::nan("")};
}

// Rows [r0, r0 + n) of a rollout as one forward: leading prompt columns that are padding in every
// row and trailing completion columns past the longest completion are dropped.
struct MicroBatch {
  lm::ForwardInput in;
  int64_t prompt_len = 0;         // columns of prompt in `in`
  torch::Tensor completion_ids;   // [n, C]
  torch::Tensor completion_mask;  // [n, C] float32
  torch::Tensor advantages, truncated, old_logps, ref_logps;
};

MicroBatch slice_rollout(const Rollout& r, int64_t r0, int64_t n, torch::Device device) {
  MicroBatch b;
  auto pm = r.prompt_mask.narrow(0, r0, n);
  auto cm = r.completion_mask.narrow(0, r0, n);
  const int64_t P = pm.size(1);
  const int64_t lead = P - pm.sum(1).max().item<int64_t>();  // prompts are left-padded
  const int64_t C = std::max<int64_t>(1, cm.sum(1).max().item<int64_t>());
  b.prompt_len = P - lead;
  auto pids = r.prompt_ids.narrow(0, r0, n).narrow(1, lead, P - lead);
  auto cids = r.completion_ids.narrow(0, r0, n).narrow(1, 0, C);
  auto mask = torch::cat({pm.narrow(1, lead, P - lead), cm.narrow(1, 0, C)}, 1);
  b.in.input_ids = torch::cat({pids, cids}, 1).to(device);
  b.in.attention_mask = mask.to(device);
  b.in.position_ids = (mask.cumsum(1) - 1).clamp_min(0).to(device);
  b.completion_ids = cids.to(device);
  b.completion_mask = cm.narrow(1, 0, C).to(torch::kFloat32).to(device);
  b.advantages = r.advantages.narrow(0, r0, n).to(device);
  b.truncated = r.truncated.narrow(0, r0, n).to(device);
  if (r.old_logps.defined()) b.old_logps = r.old_logps.narrow(0, r0, n).narrow(1, 0, C).to(device);
  if (r.ref_logps.defined()) b.ref_logps = r.ref_logps.narrow(0, r0, n).narrow(1, 0, C).to(device);
  return b;
}

// Raw logits [n, C, V] (float32) of the completion tokens of a micro-batch.
torch::Tensor completion_logits(lm::CausalLM& model, const MicroBatch& b) {
  torch::Tensor hidden = model->hidden_states(b.in);
  const int64_t C = b.completion_ids.size(1);
  return model->logits_from_hidden(hidden.narrow(1, b.prompt_len - 1, C)).to(torch::kFloat32);
}

// Collectives on small host tensors: moved to the training device first (NCCL takes CUDA tensors
// only; on the CPU the moves are no-ops), results back on the host.
Result<torch::Tensor> gather_host(Communicator& c, const torch::Tensor& t, torch::Device device) {
  auto r = c.all_gather(t.to(device));
  if (!r) return r.status();
  return r->to(torch::kCPU).contiguous();
}
Status sum_host(Communicator& c, torch::Tensor& t, torch::Device device) {
  torch::Tensor d = t.to(device);
  Status s = c.all_reduce_sum(d);
  if (!s.is_ok()) return s;
  t = d.to(torch::kCPU);
  return Status::ok();
}

std::string fmt(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

}  // namespace

Result<TrainSummary> run_grpo(const GrpoConfig& cfg, const TrainRunOptions& ro) {
  const TrainingArgs& ta = cfg.training;
  const GrpoArgs& ga = cfg.grpo;
  const std::string& model_dir = cfg.model.model_name_or_path;
  auto env = DistEnv::from_environment();
  if (!env) return env.status();
  auto device = resolve_train_device(ro.device, env->local_rank);
  if (!device) return device.status();

  // Everything that can be refused is checked before the model is loaded.
  if (ga.num_generations < 2) return Status::invalid("num_generations must be >= 2 (advantages compare a group)");
  if (ga.num_iterations < 1) return Status::invalid("num_iterations must be >= 1");
  if (ga.beta != 0 && !std::isfinite(ga.beta)) return Status::invalid("beta must be finite");
  auto gb = resolve_generation_batch(cfg, env->world_size);
  if (!gb) return gb.status();
  RewardParams rp;
  rp.args = cfg.rewards;
  auto rewards = RewardSet::create(rp);
  if (!rewards) return rewards.status();
  auto tok = Tokenizer::from_dir(model_dir);
  if (!tok) return tok.status();
  auto prompts = load_grpo_prompts(cfg, *tok);
  if (!prompts) return prompts.status();

  auto comm = Communicator::create(*env, *device);
  if (!comm) return comm.status();
  Communicator& c = **comm;
  const bool quiet = ro.quiet || !env->is_main();
  const int64_t world = c.world_size(), rank = c.rank();
  const int64_t per_dev = ta.per_device_train_batch_size;
  const int64_t accum = std::max<int64_t>(1, ta.gradient_accumulation_steps);
  const int64_t num_gen = ga.num_generations;
  const int64_t spg = gb->steps_per_generation;
  const int64_t gen_batch = gb->generation_batch_size;  // completions per generation, all ranks
  const int64_t local_n = gen_batch / world;             // = per_dev x spg
  const int64_t prompts_per_gen = gen_batch / num_gen;
  const int64_t n_prompts = static_cast<int64_t>(prompts->prompts.size());
  const int64_t gens_per_epoch = n_prompts / prompts_per_gen;
  if (gens_per_epoch < 1)
    return Status::invalid(prompts->data_path + " has " + std::to_string(n_prompts) +
                           " prompts, fewer than one generation batch needs (" + std::to_string(prompts_per_gen) +
                           " = generation batch " + std::to_string(gen_batch) + " / num_generations " +
                           std::to_string(num_gen) + ")");
  const int64_t micro_per_gen = spg * ga.num_iterations;  // micro-batches trained per generation (per rank)
  const int64_t micro_per_epoch = gens_per_epoch * micro_per_gen;
  const int64_t updates_per_epoch = std::max<int64_t>(1, micro_per_epoch / accum);
  const int64_t total_steps = total_training_steps(micro_per_epoch, ta);
  const bool need_old = ga.num_iterations > 1 || spg > accum;
  auto schedule = LrSchedule::create(ta, total_steps);
  if (!schedule) return schedule.status();
  const int64_t log_every = std::max<int64_t>(1, steps_interval(ta.logging_steps, total_steps));
  const int64_t save_every = ta.save_strategy == "no" ? 0 : steps_interval(ta.save_steps, total_steps);
  int64_t pad_id = tok->pad_id() ? *tok->pad_id() : tok->eos_id() ? *tok->eos_id() : 0;

  torch::manual_seed(static_cast<uint64_t>(ta.seed));
  auto loaded = lm::load_causal_lm(model_dir, *device, torch::kFloat32);
  if (!loaded) return loaded.status();
  lm::CausalLM model = std::move(*loaded);
  model->train();
  auto gen_opts = grpo_generate_options(cfg, model->config(), *tok);
  if (!gen_opts) return gen_opts.status();
  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters()) params.push_back(p);
  {
    torch::NoGradGuard g;
    Status s = c.broadcast(params, 0);  // every rank starts from rank 0's weights
    if (!s.is_ok()) return s;
  }
  // The reference model: a frozen copy of the initial weights (never the resumed ones).
  lm::CausalLM ref{nullptr};
  if (ga.beta != 0) {
    auto r = lm::load_causal_lm(model_dir, *device, torch::kFloat32);
    if (!r) return r.status();
    ref = std::move(*r);
    ref->eval();
    std::vector<torch::Tensor> rparams;
    for (auto& p : ref->parameters()) {
      p.set_requires_grad(false);
      rparams.push_back(p);
    }
    torch::NoGradGuard g;
    Status s = c.broadcast(rparams, 0);
    if (!s.is_ok()) return s;
  }
  auto opt = make_adamw(model, ta);

  GrpoLossConfig lc;
  lc.loss_type = ga.loss_type;
  lc.epsilon_low = ga.epsilon;
  lc.epsilon_high = ga.effective_epsilon_high();
  lc.delta = ga.delta;
  lc.beta = ga.beta;
  lc.max_completion_length = ga.max_completion_length;
  lc.gradient_accumulation_steps = accum;
  lc.num_processes = world;
  lc.mask_truncated_completions = ga.mask_truncated_completions;

  TrainSummary sum;
  sum.total_steps = total_steps;
  sum.output_dir = ta.output_dir;
  int64_t step = 0;
  double num_tokens = 0;  // prompt + completion tokens of every generation batch so far (all ranks)
  Rollout rollout;
  std::string last_checkpoint = "none";
  if (ta.resume_from_checkpoint) {
    auto dir = resolve_resume_dir(*ta.resume_from_checkpoint, ta.output_dir);
    if (!dir) return dir.status();
    if (!dir->empty()) {
      auto state = restore_checkpoint(*dir, model, *opt);
      if (!state) return state.status();
      step = state->value("global_step", int64_t(0));
      num_tokens = state->value("num_tokens", 0.0);
      for (const auto& l : state->value("log_history", nlohmann::json::array())) sum.log_history.push_back(l);
      const int64_t k = step * accum;
      if (k % micro_per_gen != 0) {  // stopped in the middle of a generation: train on its completions
        auto r = load_rollout(rollout_file(*dir, static_cast<int>(rank)));
        if (!r) return r.status();
        if (r->index != k / micro_per_gen)
          return Status::invalid(*dir + ": its rollout is generation " + std::to_string(r->index) + ", step " +
                                 std::to_string(step) + " needs generation " + std::to_string(k / micro_per_gen) +
                                 " (was the recipe's batch layout changed?)");
        rollout = std::move(*r);
        for (auto* t : {&rollout.prompt_ids, &rollout.prompt_mask, &rollout.completion_ids, &rollout.completion_mask,
                        &rollout.advantages, &rollout.truncated})
          *t = t->to(torch::kCPU);
      }
      last_checkpoint = *dir;
      if (!quiet) std::cout << "resuming from " << *dir << " at step " << step << std::endl;
    }
  }

  std::vector<size_t> order;
  int64_t order_epoch = -1;
  MetricLog mlog;
  const std::vector<std::string> fnames = rewards->names();
  const int64_t F = static_cast<int64_t>(fnames.size());

  // Samples, scores and prepares generation `gidx` (this rank's slice of it) into `rollout`.
  auto make_rollout = [&](int64_t gidx, int64_t at_step) -> Status {
    auto t0 = Clock::now();
    const int64_t epoch = gidx / gens_per_epoch, pos = gidx % gens_per_epoch;
    if (epoch != order_epoch) {
      order = grpo_epoch_order(prompts->prompts.size(), ta.seed, epoch, ta.shuffle_dataset);
      order_epoch = epoch;
    }
    std::vector<size_t> pidx(local_n);
    std::vector<uint64_t> seeds(local_n);
    for (int64_t j = 0; j < local_n; ++j) {
      const int64_t i = rank * local_n + j;  // index in the global generation batch (TRL's layout)
      pidx[j] = order[pos * prompts_per_gen + i / num_gen];
      seeds[j] = grpo_sample_seed(ta.seed, gidx, i);
    }
    std::vector<lm::GeneratedSequence> seqs;
    try {
      seqs = sample_completions(model, *tok, *prompts, pidx, seeds, *gen_opts);
    } catch (const std::exception& e) {
      return Status::internal(std::string("generation failed: ") + e.what());
    }
    double gen_s = seconds_since(t0);

    auto t1 = Clock::now();
    RewardSet::Scores sc = score_completions(*rewards, *prompts, pidx, seqs);
    // [local_n, F + 3]: each function, the weighted total, the completion length, truncated.
    auto local = torch::empty({local_n, F + 3}, torch::kFloat64);
    auto la = local.accessor<double, 2>();
    double local_tokens = 0;
    for (int64_t j = 0; j < local_n; ++j) {
      for (int64_t f = 0; f < F; ++f) la[j][f] = sc.per_function[f][j];
      la[j][F] = sc.total[j];
      la[j][F + 1] = static_cast<double>(seqs[j].token_ids.size());
      la[j][F + 2] = seqs[j].finish_reason == "stop" ? 0.0 : 1.0;
      local_tokens += static_cast<double>(seqs[j].token_ids.size() + prompts->prompts[pidx[j]].ids.size());
    }
    auto gathered = gather_host(c, local, *device);
    if (!gathered) return gathered.status();
    auto ga_ = gathered->accessor<double, 2>();
    auto tok_t = torch::tensor({local_tokens}, torch::kFloat64);
    Status s = sum_host(c, tok_t, *device);
    if (!s.is_ok()) return s;
    num_tokens += tok_t.item<double>();
    for (int64_t i = 0; i < gen_batch; ++i) {
      for (int64_t f = 0; f <= F; ++f) {
        if (!std::isinf(ga_[i][f])) continue;
        const int64_t prompt_no = order[pos * prompts_per_gen + i / num_gen];
        std::string what = f < F ? "reward function '" + fnames[f] + "'" : std::string("the weighted reward sum");
        return Status::internal("GRPO stopped at step " + std::to_string(at_step + 1) + ": " + what +
                                " is non-finite (" + fmt(ga_[i][f]) + ") for completion " + std::to_string(i % num_gen) +
                                " of problem '" + prompts->prompts[prompt_no].problem.id + "' (generation " +
                                std::to_string(gidx) + "); rewards must be finite or NaN (not applicable). "
                                "The last good checkpoint is " + last_checkpoint);
      }
    }
    auto total = gathered->select(1, F).to(torch::kFloat32);
    AdvantageResult adv = compute_advantages(total, num_gen, ga.scale_rewards);
    // Log the generation batch (every rank computes the same values from the gathered scores).
    {
      std::vector<double> tv(gen_batch), lens(gen_batch);
      double clipped = 0, items = 0;
      for (int64_t i = 0; i < gen_batch; ++i) {
        tv[i] = ga_[i][F];
        lens[i] = ga_[i][F + 1];
        clipped += ga_[i][F + 2];
        if (!(ga.mask_truncated_completions && ga_[i][F + 2] != 0)) items += lens[i];
      }
      mlog.add("reward", nan_mean_std(tv).first);
      mlog.add("reward_std", adv.std.to(torch::kFloat64).nanmean().item<double>());
      mlog.add("frac_reward_zero_std", adv.is_std_zero.to(torch::kFloat64).mean().item<double>());
      for (int64_t f = 0; f < F; ++f) {
        std::vector<double> col(gen_batch);
        for (int64_t i = 0; i < gen_batch; ++i) col[i] = ga_[i][f];
        auto [m, sd] = nan_mean_std(col);
        mlog.add("rewards/" + fnames[f] + "/mean", m);
        mlog.add("rewards/" + fnames[f] + "/std", sd);
      }
      auto [lm_, lsd] = nan_mean_std(lens);
      (void)lsd;
      mlog.add("completions/mean_length", lm_);
      mlog.add("completions/min_length", *std::min_element(lens.begin(), lens.end()));
      mlog.add("completions/max_length", *std::max_element(lens.begin(), lens.end()));
      mlog.add("completions/clipped_ratio", clipped / static_cast<double>(gen_batch));
      rollout.num_items = items;
    }
    double reward_s = seconds_since(t1);

    // Tensors of this rank's slice.
    auto t2 = Clock::now();
    int64_t P = 0, C = 1;
    for (int64_t j = 0; j < local_n; ++j) {
      P = std::max<int64_t>(P, static_cast<int64_t>(prompts->prompts[pidx[j]].ids.size()));
      C = std::max<int64_t>(C, static_cast<int64_t>(seqs[j].token_ids.size()));
    }
    rollout.index = gidx;
    rollout.prompt_ids = torch::full({local_n, P}, pad_id, torch::kInt64);
    rollout.prompt_mask = torch::zeros({local_n, P}, torch::kInt64);
    rollout.completion_ids = torch::full({local_n, C}, pad_id, torch::kInt64);
    rollout.completion_mask = torch::zeros({local_n, C}, torch::kInt64);
    rollout.truncated = torch::zeros({local_n}, torch::kBool);
    {
      auto pi = rollout.prompt_ids.accessor<int64_t, 2>(), pm = rollout.prompt_mask.accessor<int64_t, 2>();
      auto ci = rollout.completion_ids.accessor<int64_t, 2>(), cm = rollout.completion_mask.accessor<int64_t, 2>();
      auto tr = rollout.truncated.accessor<bool, 1>();
      for (int64_t j = 0; j < local_n; ++j) {
        const auto& ids = prompts->prompts[pidx[j]].ids;
        const int64_t off = P - static_cast<int64_t>(ids.size());
        for (size_t t = 0; t < ids.size(); ++t) pi[j][off + t] = ids[t], pm[j][off + t] = 1;
        for (size_t t = 0; t < seqs[j].token_ids.size(); ++t) ci[j][t] = seqs[j].token_ids[t], cm[j][t] = 1;
        tr[j] = seqs[j].finish_reason != "stop";
      }
    }
    rollout.advantages = adv.advantages.narrow(0, rank * local_n, local_n).to(torch::kFloat32).contiguous();
    if (spg > 1) {  // TRL shuffles the generation batch before splitting it into micro-batches
      auto o = grpo_rollout_order(static_cast<size_t>(local_n), ta.seed, gidx, static_cast<int>(rank));
      auto perm = torch::tensor(std::vector<int64_t>(o.begin(), o.end()), torch::kInt64);
      for (auto* t : {&rollout.prompt_ids, &rollout.prompt_mask, &rollout.completion_ids, &rollout.completion_mask,
                      &rollout.advantages, &rollout.truncated})
        *t = t->index_select(0, perm).contiguous();
    }
    rollout.old_logps = torch::Tensor();
    rollout.ref_logps = torch::Tensor();
    // old (policy that sampled) and reference log-probs, one no-grad forward per micro-batch.
    if (need_old || ga.beta != 0) {
      torch::NoGradGuard g;
      std::vector<torch::Tensor> olds, refs;
      for (int64_t r0 = 0; r0 < local_n; r0 += per_dev) {
        MicroBatch b = slice_rollout(rollout, r0, std::min(per_dev, local_n - r0), *device);
        AutocastScope ac(ta.bf16, *device);
        auto pad_to = [C](torch::Tensor t) {
          return torch::constant_pad_nd(t.to(torch::kCPU), {0, C - t.size(1)}, 0.0);
        };
        if (need_old)
          olds.push_back(pad_to(selective_log_softmax(completion_logits(model, b), b.completion_ids, ga.temperature)));
        if (ga.beta != 0)
          refs.push_back(pad_to(selective_log_softmax(completion_logits(ref, b), b.completion_ids, ga.temperature)));
      }
      if (need_old) rollout.old_logps = torch::cat(olds, 0);
      if (ga.beta != 0) rollout.ref_logps = torch::cat(refs, 0);
    }
    gen_s += seconds_since(t2);
    mlog.add("timing/generation_s", gen_s);
    mlog.add("timing/reward_s", reward_s);
    return Status::ok();
  };

  int64_t steps_this_run = 0;
  double loss_since_log = 0;
  int64_t loss_count = 0;
  for (; step < total_steps; ++step) {
    double loss_local = 0, train_s = 0;
    // Per micro-batch: kl, entropy, low_mean, high_mean, region_mean (means), low_min, high_max.
    constexpr int kMeans = 5;
    std::vector<double> msum(kMeans, 0), mcnt(kMeans, 0);
    double low_min = std::numeric_limits<double>::infinity(), high_max = -std::numeric_limits<double>::infinity();
    for (int64_t a = 0; a < accum; ++a) {
      const int64_t k = step * accum + a;
      const int64_t gidx = k / micro_per_gen;
      if (rollout.index != gidx) {
        Status s = make_rollout(gidx, step);
        if (!s.is_ok()) return s;
      }
      auto t0 = Clock::now();
      const int64_t mb = (k % micro_per_gen) % spg;
      MicroBatch b = slice_rollout(rollout, mb * per_dev, per_dev, *device);
      b.in.checkpoint_activations = ta.gradient_checkpointing;
      torch::Tensor logits;
      {
        AutocastScope ac(ta.bf16, *device);
        logits = completion_logits(model, b);
      }
      GrpoLossInputs li;
      li.logps = selective_log_softmax(logits, b.completion_ids, ga.temperature);
      li.old_logps = b.old_logps;
      li.ref_logps = b.ref_logps;
      li.advantages = b.advantages;
      li.completion_mask = b.completion_mask;
      li.is_truncated = b.truncated;
      li.logits = (logits / ga.temperature).detach();
      GrpoLossConfig mlc = lc;
      mlc.num_items_in_batch = rollout.num_items;
      GrpoLossOutput out = grpo_loss(li, mlc);
      out.loss.backward();
      loss_local += out.loss.item<double>();
      const GrpoMetrics& m = out.metrics;
      const double means[kMeans] = {m.kl, m.entropy, m.clip_ratio_low_mean, m.clip_ratio_high_mean,
                                    m.clip_ratio_region_mean};
      for (int i = 0; i < kMeans; ++i)
        if (!std::isnan(means[i])) msum[i] += means[i], mcnt[i] += 1;
      if (!std::isnan(m.clip_ratio_low_min)) low_min = std::min(low_min, m.clip_ratio_low_min);
      if (!std::isnan(m.clip_ratio_high_max)) high_max = std::max(high_max, m.clip_ratio_high_max);
      train_s += seconds_since(t0);
    }
    auto t_sync = Clock::now();
    Status s = average_gradients(c, params);
    if (!s.is_ok()) return s;
    // Loss (mean over ranks) and metrics of the step, reduced over ranks in one gather.
    auto stats = torch::empty({2 * kMeans + 3}, torch::kFloat64);
    {
      auto st = stats.accessor<double, 1>();
      for (int i = 0; i < kMeans; ++i) st[2 * i] = msum[i], st[2 * i + 1] = mcnt[i];
      st[2 * kMeans] = loss_local;
      st[2 * kMeans + 1] = low_min;
      st[2 * kMeans + 2] = high_max;
    }
    auto all = gather_host(c, stats.unsqueeze(0), *device);
    if (!all) return all.status();
    auto al = all->accessor<double, 2>();
    double step_loss = 0;
    std::vector<double> gsum(kMeans, 0), gcnt(kMeans, 0);
    double g_low_min = std::numeric_limits<double>::infinity(), g_high_max = -std::numeric_limits<double>::infinity();
    for (int64_t r = 0; r < all->size(0); ++r) {
      for (int i = 0; i < kMeans; ++i) gsum[i] += al[r][2 * i], gcnt[i] += al[r][2 * i + 1];
      step_loss += al[r][2 * kMeans] / static_cast<double>(world);
      g_low_min = std::min(g_low_min, al[r][2 * kMeans + 1]);
      g_high_max = std::max(g_high_max, al[r][2 * kMeans + 2]);
    }
    const double grad_norm = clip_gradients(params, ta.max_grad_norm);
    if (!std::isfinite(step_loss) || !std::isfinite(grad_norm))
      return Status::internal("GRPO stopped at step " + std::to_string(step + 1) + ": non-finite " +
                              (std::isfinite(step_loss) ? "gradient norm (" + fmt(grad_norm) + ")"
                                                        : "loss (" + fmt(step_loss) + ")") +
                              " before the optimizer step (lower learning_rate or check the rewards); the last good "
                              "checkpoint is " + last_checkpoint);
    const double lr = schedule->lr(step);
    optimizer_step(*opt, lr);
    train_s += seconds_since(t_sync);
    static const char* kMeanNames[kMeans] = {"kl", "entropy", "clip_ratio/low_mean", "clip_ratio/high_mean",
                                             "clip_ratio/region_mean"};
    for (int i = 0; i < kMeans; ++i) {
      if (i == 0 && ga.beta == 0) continue;  // TRL logs kl only with a reference model
      mlog.add(kMeanNames[i], gcnt[i] > 0 ? gsum[i] / gcnt[i] : std::nan(""));
    }
    mlog.add("clip_ratio/low_min", std::isfinite(g_low_min) ? g_low_min : std::nan(""));
    mlog.add("clip_ratio/high_max", std::isfinite(g_high_max) ? g_high_max : std::nan(""));
    mlog.add("timing/training_s", train_s);
    loss_since_log += step_loss;
    ++loss_count;
    ++steps_this_run;
    sum.last_loss = step_loss;
    sum.global_step = step + 1;

    if ((step + 1) % log_every == 0 || step + 1 == total_steps) {
      nlohmann::json line = {{"step", step + 1},
                             {"epoch", static_cast<double>(step + 1) / updates_per_epoch},
                             {"loss", loss_since_log / loss_count},
                             {"learning_rate", lr},
                             {"grad_norm", grad_norm},
                             {"num_tokens", num_tokens}};
      mlog.summarize_into(line);
      sum.log_history.push_back(line);
      if (env->is_main()) write_log_line(ta.output_dir, line, quiet);
      loss_since_log = 0;
      loss_count = 0;
    }
    if (save_every > 0 && (step + 1) % save_every == 0) {
      std::string dir = ta.output_dir + "/checkpoint-" + std::to_string(step + 1);
      // Mid-generation, every rank first writes its rollout next to the checkpoint; rank 0 moves
      // them in before the checkpoint's atomic rename.
      std::vector<std::pair<std::string, std::string>> rollouts;
      if (((step + 1) * accum) % micro_per_gen != 0) {
        Status sv = save_rollout(rollout, staged_rollout_file(dir, static_cast<int>(rank)));
        if (!sv.is_ok()) return sv;
        s = c.barrier();
        if (!s.is_ok()) return s;
        for (int r = 0; r < world; ++r)
          rollouts.emplace_back(staged_rollout_file(dir, r), rollout_name(r));
      }
      if (env->is_main()) {
        nlohmann::json state = {{"global_step", step + 1},
                                {"epoch", static_cast<double>(step + 1) / updates_per_epoch},
                                {"total_steps", total_steps},
                                {"num_tokens", num_tokens},
                                {"log_history", sum.log_history}};
        Status sv = save_checkpoint(model, opt.get(), state, model_dir, dir, rollouts);
        if (!sv.is_ok()) return sv;
        prune_checkpoints(ta.output_dir, ta.save_total_limit.value_or(0));
      }
      s = c.barrier();
      if (!s.is_ok()) return s;
      last_checkpoint = dir;
    }
    if (ro.stop_after_steps > 0 && steps_this_run >= ro.stop_after_steps && step + 1 < total_steps) {
      sum.stopped_early = true;
      return sum;
    }
  }
  if (env->is_main()) {
    nlohmann::json state = {{"global_step", sum.global_step}, {"total_steps", total_steps},
                            {"num_tokens", num_tokens}, {"log_history", sum.log_history}};
    // The final model sits in OUTPUT_DIR itself (config.json, model.safetensors, tokenizer files).
    Status sv = save_final_model(model, state, model_dir, ta.output_dir);
    if (!sv.is_ok()) return sv;
  }
  Status s = c.barrier();
  if (!s.is_ok()) return s;
  return sum;
}

}  // namespace crucible::train
