#include "train/train_common.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/version.h>

#include "train/checkpoint.h"

namespace crucible::train {

Result<torch::Device> resolve_train_device(const std::string& name, int local_rank) {
  if (name == "auto") {
    if (torch::cuda::is_available()) return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
    return torch::Device(torch::kCPU);
  }
  try {
    torch::Device d(name);
    if (d.is_cuda() && !torch::cuda::is_available())
      return Status::invalid("--device " + name + ": CUDA is not available in this build or on this machine");
    return d;
  } catch (const std::exception&) {
    return Status::invalid("--device must be auto, cpu, cuda or cuda:N, got '" + name + "'");
  }
}

std::unique_ptr<torch::optim::AdamW> make_adamw(lm::CausalLM& model, const TrainingArgs& a) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model->named_parameters()) {
    const std::string& n = p.key();
    bool is_bias = n.size() >= 4 && n.compare(n.size() - 4, 4, "bias") == 0;
    (is_bias || n.find("norm") != std::string::npos ? no_decay : decay).push_back(p.value());
  }
  auto base = torch::optim::AdamWOptions(a.learning_rate)
                  .betas({a.adam_beta1, a.adam_beta2})
                  .eps(a.adam_epsilon)
                  .weight_decay(a.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(base));
  auto nd = base;
  nd.weight_decay(0.0);
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(nd));
  return std::make_unique<torch::optim::AdamW>(groups, base);
}

Status average_gradients(Communicator& c, const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  return c.all_reduce_mean(grads);
}

double clip_gradients(const std::vector<torch::Tensor>& params, double max_grad_norm) {
  if (max_grad_norm > 0) return torch::nn::utils::clip_grad_norm_(params, max_grad_norm);
  double sq = 0;
  for (const auto& p : params) sq += p.grad().pow(2).sum().item<double>();
  return std::sqrt(sq);
}

void optimizer_step(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  opt.step();
  opt.zero_grad();
}

AutocastScope::AutocastScope(bool enabled, torch::Device device) {
  if (!enabled || !device.is_cuda()) return;
  active_ = true;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
  at::autocast::set_enabled(true);
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
  at::autocast::set_enabled(false);
#endif
  at::autocast::clear_cache();
}

int64_t steps_interval(double value, int64_t total_steps) {
  if (value <= 0) return 0;
  if (value < 1) return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(value * total_steps)));
  return static_cast<int64_t>(value);
}

void write_log_line(const std::string& output_dir, const nlohmann::json& line, bool quiet) {
  std::filesystem::create_directories(output_dir);
  std::ofstream(std::filesystem::path(output_dir) / "log.jsonl", std::ios::app) << line.dump() << "\n";
  if (!quiet) std::cout << line.dump() << std::endl;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<size_t> shuffled_order(size_t n, uint64_t state) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[splitmix64(state) % i]);
  return order;
}

Result<std::optional<ChatTemplate>> load_recipe_chat_template(const std::string& model_dir,
                                                              const std::optional<std::string>& override_text,
                                                              const Tokenizer& tok) {
  if (override_text) {
    auto bos = tok.bos_id() ? tok.decode({*tok.bos_id()}) : std::string();
    auto eos = tok.eos_id() ? tok.decode({*tok.eos_id()}) : std::string();
    auto t = ChatTemplate::from_string(*override_text, bos, eos, "recipe chat_template");
    if (!t) return t.status();
    return std::optional<ChatTemplate>(std::move(*t));
  }
  if (!std::filesystem::exists(std::filesystem::path(model_dir) / "tokenizer_config.json"))
    return std::optional<ChatTemplate>();
  auto t = ChatTemplate::from_tokenizer_config(model_dir);
  if (!t) return std::optional<ChatTemplate>();
  return std::optional<ChatTemplate>(std::move(*t));
}

Status save_final_model(lm::CausalLM& model, const nlohmann::json& state, const std::string& model_dir,
                        const std::string& output_dir) {
  const std::string staging = output_dir + "/final";
  Status sv = save_checkpoint(model, nullptr, state, model_dir, staging);
  if (!sv.is_ok()) return sv;
  for (const auto& e : std::filesystem::directory_iterator(staging)) {
    std::error_code ec;
    std::filesystem::rename(e.path(), std::filesystem::path(output_dir) / e.path().filename(), ec);
    if (ec) return Status::io("cannot move " + e.path().string() + " into " + output_dir + ": " + ec.message());
  }
  std::filesystem::remove_all(staging);
  return Status::ok();
}

}  // namespace crucible::train
