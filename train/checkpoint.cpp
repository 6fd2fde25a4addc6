#include "train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <torch/serialize.h>
#include <torch/torch.h>

namespace crucible::train {
namespace fs = std::filesystem;

namespace {
const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                 "generation_config.json", "chat_template.jinja"};
}

std::string torch_io_error(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

Status save_checkpoint(lm::CausalLM& model, torch::optim::Optimizer* optimizer, const nlohmann::json& trainer_state,
                       const std::string& base_model_dir, const std::string& dir,
                       const std::vector<std::pair<std::string, std::string>>& move_in) {
  std::string tmp = dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  Status s = lm::save_causal_lm(model, tmp);
  if (!s.is_ok()) return s;
  for (const char* name : kTokenizerFiles) {
    fs::path src = fs::path(base_model_dir) / name;
    if (fs::exists(src)) {
      fs::copy_file(src, fs::path(tmp) / name, fs::copy_options::overwrite_existing, ec);
      if (ec) return Status::io("cannot copy " + src.string() + " into " + tmp + ": " + ec.message());
    }
  }
  try {
    if (optimizer) torch::save(*optimizer, (fs::path(tmp) / "optimizer.pt").string());
  } catch (const std::exception& e) {
    return Status::io("cannot write " + tmp + "/optimizer.pt: " + torch_io_error(e));
  }
  {
    std::ofstream out(fs::path(tmp) / "trainer_state.json");
    out << trainer_state.dump(2) << "\n";
    if (!out) return Status::io("cannot write " + tmp + "/trainer_state.json");
  }
  for (const auto& [src, name] : move_in) {
    fs::rename(src, fs::path(tmp) / name, ec);
    if (ec) return Status::io("cannot move " + src + " into " + tmp + ": " + ec.message());
  }
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) return Status::io("cannot rename " + tmp + " to " + dir + ": " + ec.message());
  return Status::ok();
}

Result<nlohmann::json> restore_checkpoint(const std::string& dir, lm::CausalLM& model,
                                          torch::optim::Optimizer& optimizer) {
  auto params = model->named_parameters();
  if (params.is_empty()) return Status::invalid("restore_checkpoint: the model has no parameters");
  auto ck = lm::load_causal_lm(dir, params.values().front().device(), torch::kFloat32);
  if (!ck) return ck.status();
  {
    torch::NoGradGuard g;
    auto src = (*ck)->named_parameters();
    for (auto& p : params) {
      const torch::Tensor* t = src.find(p.key());
      if (!t || !t->sizes().equals(p.value().sizes()))
        return Status::invalid(dir + ": checkpoint weights do not fit the model at '" + p.key() + "'");
      p.value().copy_(*t);
    }
  }
  fs::path state = fs::path(dir) / "trainer_state.json";
  std::ifstream in(state);
  if (!in) return Status::not_found("no trainer_state.json in checkpoint " + dir);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    return Status::parse(state.string() + ": " + e.what());
  }
  fs::path opt = fs::path(dir) / "optimizer.pt";
  if (!fs::exists(opt)) return Status::not_found("no optimizer.pt in checkpoint " + dir);
  try {
    torch::load(optimizer, opt.string());
  } catch (const std::exception& e) {
    return Status::parse(opt.string() + ": cannot load the optimizer state: " + torch_io_error(e));
  }
  return j;
}

std::vector<std::string> list_checkpoints(const std::string& output_dir) {
  std::vector<std::pair<long, std::string>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(output_dir, ec)) {
    std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("checkpoint-", 0) != 0) continue;
    std::string num = name.substr(11);
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) continue;
    found.push_back({std::stol(num), e.path().string()});
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

void prune_checkpoints(const std::string& output_dir, int64_t keep) {
  if (keep <= 0) return;
  auto all = list_checkpoints(output_dir);
  std::error_code ec;
  for (size_t i = 0; i + keep < all.size(); ++i) fs::remove_all(all[i], ec);
}

Result<std::string> resolve_resume_dir(const std::string& value, const std::string& output_dir) {
  if (value == "true" || value == "latest" || value == "True") {
    auto all = list_checkpoints(output_dir);
    return all.empty() ? std::string() : all.back();
  }
  if (!fs::exists(fs::path(value) / "trainer_state.json"))
    return Status::not_found("resume_from_checkpoint: " + value + " is not a checkpoint (no trainer_state.json)");
  return value;
}

}  // namespace crucible::train
