// Trainer checkpoints as Hugging Face model directories, plus what resuming needs:
//   DIR/config.json, DIR/model.safetensors            the weights (loadable by transformers and
//                                                     by `--backend local`)
//   DIR/tokenizer.json, tokenizer_config.json, ...    copied from the base model directory
//   DIR/optimizer.pt                                  the optimizer state (LibTorch archive)
//   DIR/trainer_state.json                            {"global_step", "epoch", "log_history", ...}
// Checkpoints are written to DIR.tmp and renamed, so a run killed while saving never leaves a
// half-written checkpoint under the final name.
#pragma once
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "backends/torch/model.h"
#include "core/status.h"

namespace crucible::train {

// Saves model + tokenizer files of `base_model_dir` + optimizer + state into `dir` (atomically).
// `optimizer` may be null (final model: weights and tokenizer only). `move_in`: files other
// processes wrote beforehand (path -> name inside the checkpoint), moved in before the rename so
// the checkpoint appears whole or not at all.
Status save_checkpoint(lm::CausalLM& model, torch::optim::Optimizer* optimizer, const nlohmann::json& trainer_state,
                       const std::string& base_model_dir, const std::string& dir,
                       const std::vector<std::pair<std::string, std::string>>& move_in = {});

// Resuming: copies DIR's weights into `model` (same architecture; fp32 master weights), loads
// optimizer.pt into `optimizer` (whose parameters must be the model's, in the same order) and
// returns trainer_state.json.
Result<nlohmann::json> restore_checkpoint(const std::string& dir, lm::CausalLM& model,
                                          torch::optim::Optimizer& optimizer);

// The message of an exception from torch::save / torch::load, without the C++ backtrace that
// c10::Error carries (for Status messages users read).
std::string torch_io_error(const std::exception& e);

// OUTPUT_DIR/checkpoint-N directories, ascending N.
std::vector<std::string> list_checkpoints(const std::string& output_dir);
// Deletes the oldest checkpoints so that at most `keep` remain (keep <= 0: no limit).
void prune_checkpoints(const std::string& output_dir, int64_t keep);
// resume_from_checkpoint: "true"/"latest" -> the newest checkpoint of output_dir ("" if none);
// anything else is a directory that must hold trainer_state.json.
Result<std::string> resolve_resume_dir(const std::string& value, const std::string& output_dir);

}  // namespace crucible::train
