// Local backend: generates with a LibTorch model loaded from a Hugging Face model directory
// (config.json + *.safetensors + tokenizer.json + tokenizer_config.json), no server, no Python.
#pragma once
#include <memory>
#include <string>

#include "backends/backend.h"
#include "core/status.h"

namespace crucible {

struct LocalBackendConfig {
  std::string model_dir;
  std::string device = "cpu";   // cpu | cuda | cuda:N
  std::string dtype;            // fp32 | bf16 | "" (bf16 on cuda when config.json says so, fp32 on cpu)
  int max_batch = 64;           // sequences decoded together
};

// Loads the model and tokenizer; a missing/malformed file is a Status naming it.
Result<std::unique_ptr<Backend>> make_local_backend(const LocalBackendConfig& config);

}  // namespace crucible
