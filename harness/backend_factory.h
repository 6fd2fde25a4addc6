// make_backend: the one place that turns `--backend NAME` and its flags into a Backend, shared by
// `crucible eval` and the trainers. Names: openai (OpenAI-compatible HTTP), replay (recorded
// completions), local (LibTorch model from a Hugging Face directory), vllm-grpc (vLLM's gRPC APIs).
#pragma once
#include <memory>
#include <string>

#include "backends/backend.h"
#include "backends/torch/local_backend.h"  // config struct only: no LibTorch in this header
#include "core/status.h"

namespace crucible {

struct BackendConfig {
  std::string backend = "openai";   // openai | replay | local | vllm-grpc
  // openai / vllm-grpc
  std::string url;                  // http(s)://host:port for openai, host:port for vllm-grpc
  std::string model;                // model name sent to the server
  std::string api_key;
  int concurrency = 64;
  double timeout_s = 600;           // per attempt
  int max_retries = 5;
  // replay
  std::string replay_path;
  // local (and the tokenizer for vllm-grpc's token-id protocol)
  std::string model_dir;            // config.json + *.safetensors + tokenizer.json
  std::string device = "cpu";       // cpu | cuda | cuda:N
  std::string dtype;                // fp32 | bf16 | "" (config.json's torch_dtype on cuda, fp32 on cpu)
  int max_batch = 64;               // local: sequences decoded together
  // vllm-grpc
  std::string tokenizer_dir;        // tokenizer.json (+ tokenizer_config.json) for token-id protocols
  std::string grpc_protocol = "auto";  // auto | inference | engine
};

// The local backend lives in crucible_torch (LibTorch), which only torch-linked binaries carry
// (`crucible-torch`, test_torch, test_train): they install its factory at start-up. Without one,
// make_backend("local") is an error saying so. Loading LibTorch costs ~0.6 s per process, which is
// why the plain `crucible` binary and most tests do not link it.
using LocalBackendFactory = Result<std::unique_ptr<Backend>> (*)(const LocalBackendConfig&);
void set_local_backend_factory(LocalBackendFactory factory);

// Names accepted by make_backend, for --help and error messages.
const char* backend_names();

// kInvalidArgument naming the missing/bad flag, or the backend's own load error.
Result<std::unique_ptr<Backend>> make_backend(const BackendConfig& config);

}  // namespace crucible
