// CausalLM checkpoints: load from / save to a Hugging Face model directory (config.json +
// safetensors), and Hugging Face's random initialisation. Declared in model.h.
#include <ATen/CPUGeneratorImpl.h>

#include <cstring>
#include <filesystem>

#include "backends/safetensors/safetensors.h"
#include "backends/torch/model.h"
#include "core/jsonl.h"

namespace crucible::lm {
namespace {

namespace fs = std::filesystem;

bool torch_dtype_of(safetensors::DType d, torch::ScalarType* out) {
  switch (d) {
    case safetensors::DType::kF64: *out = torch::kFloat64; return true;
    case safetensors::DType::kF32: *out = torch::kFloat32; return true;
    case safetensors::DType::kF16: *out = torch::kFloat16; return true;
    case safetensors::DType::kBF16: *out = torch::kBFloat16; return true;
    default: return false;
  }
}

std::string shape_str(c10::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// A CPU tensor over (or, when misaligned, copied from) the mapped bytes of a safetensors tensor.
torch::Tensor cpu_view(std::string_view bytes, const std::vector<int64_t>& shape, torch::ScalarType dtype) {
  const size_t elem = c10::elementSize(dtype);
  if (reinterpret_cast<uintptr_t>(bytes.data()) % elem == 0)
    return torch::from_blob(const_cast<char*>(bytes.data()), shape, torch::TensorOptions().dtype(dtype));
  torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

}  // namespace

Result<CausalLM> load_causal_lm(const std::string& model_dir, torch::Device device, torch::ScalarType dtype) {
  auto config = ModelConfig::load(model_dir);
  if (!config) return config.status();
  auto weights = safetensors::Model::open_dir(model_dir);
  if (!weights) return weights.status();
  fs::path index = fs::path(model_dir) / "model.safetensors.index.json";
  const std::string origin = fs::exists(index) ? index.string() : (fs::path(model_dir) / "model.safetensors").string();

  CausalLM model(*config, torch::TensorOptions().dtype(dtype).device(device));
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    torch::Tensor& param = p.value();
    std::string_view bytes;
    const safetensors::TensorInfo* info = weights->find(name, &bytes);
    if (!info) return Status::not_found(origin + ": tensor '" + name + "' is missing");
    if (c10::IntArrayRef(info->shape) != param.sizes())
      return Status::parse(origin + ": tensor '" + name + "' has shape " + shape_str(info->shape) + ", expected " +
                           shape_str(param.sizes()) + " from config.json");
    torch::ScalarType src;
    if (!torch_dtype_of(info->dtype, &src))
      return Status::parse(origin + ": tensor '" + name + "' has dtype " + safetensors::dtype_name(info->dtype) +
                           " (expected F32, BF16, F16 or F64)");
    param.copy_(cpu_view(bytes, info->shape, src));
  }
  model->eval();
  return model;
}

Status save_causal_lm(CausalLM& model, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::io(dir + ": cannot create directory: " + ec.message());
  ModelConfig config = model->config();
  config.torch_dtype = dtype_hf_name(model->dtype());
  const std::string config_path = (fs::path(dir) / "config.json").string();
  Status s = write_file_atomic(config_path, config.to_json().dump(2) + "\n");
  if (!s) return s;

  safetensors::DType st_dtype;
  switch (model->dtype()) {
    case torch::kFloat32: st_dtype = safetensors::DType::kF32; break;
    case torch::kBFloat16: st_dtype = safetensors::DType::kBF16; break;
    case torch::kFloat16: st_dtype = safetensors::DType::kF16; break;
    default: return Status::invalid(dir + ": cannot save a model of dtype " + c10::toString(model->dtype()));
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> host;  // keeps the bytes alive until written
  std::vector<safetensors::TensorData> tensors;
  for (auto& p : model->named_parameters()) {
    host.push_back(p.value().detach().to(torch::kCPU).contiguous());
    const torch::Tensor& t = host.back();
    safetensors::TensorData d;
    d.name = p.key();
    d.dtype = st_dtype;
    d.shape = t.sizes().vec();
    d.bytes = std::string_view(static_cast<const char*>(t.data_ptr()), t.nbytes());
    tensors.push_back(std::move(d));
  }
  // A stale index from an earlier sharded checkpoint would take precedence over the new file.
  fs::remove(fs::path(dir) / "model.safetensors.index.json", ec);
  return safetensors::write((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
}

CausalLM make_random_causal_lm(const ModelConfig& config, uint64_t seed) {
  CausalLM model(config, torch::TensorOptions().dtype(torch::kFloat32));
  torch::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto ends_with = [](const std::string& s, const char* suffix) {
    size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
  };
  for (auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    if (ends_with(name, "norm.weight"))
      p.value().fill_(1.0);
    else if (ends_with(name, ".bias"))
      p.value().zero_();
    else
      p.value().normal_(0.0, config.initializer_range, gen);
  }
  return model;
}

}  // namespace crucible::lm
