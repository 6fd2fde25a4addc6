// vLLM gRPC backend: generation over vLLM's gRPC APIs (vllm.Inference / vllm.Generate, or
// vllm.grpc.engine.VllmEngine), usable wherever the OpenAI HTTP backend is.
#pragma once
#include <memory>
#include <string>

#include "backends/backend.h"
#include "core/status.h"

namespace crucible {

struct VllmGrpcBackendConfig {
  std::string target;                 // host:port
  std::string model;                  // informational / checked against the server's model info
  std::string protocol = "auto";      // auto (probe) | inference | engine
  std::string tokenizer_dir;          // needed by the token-id-only engine protocol
  int concurrency = 64;
  double timeout_s = 600;             // deadline per attempt
  int max_retries = 5;
  double backoff_initial_s = 1.0;
  double backoff_max_s = 60.0;
};

Result<std::unique_ptr<Backend>> make_vllm_grpc_backend(const VllmGrpcBackendConfig& config);

}  // namespace crucible
