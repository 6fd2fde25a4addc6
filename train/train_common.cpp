#include "train/train_common.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/version.h>

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

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
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

}  // namespace crucible::train
