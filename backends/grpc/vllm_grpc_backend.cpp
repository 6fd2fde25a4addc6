#include "backends/grpc/vllm_grpc_backend.h"

namespace crucible {

// Placeholder until the gRPC client lands (issue 7).
Result<std::unique_ptr<Backend>> make_vllm_grpc_backend(const VllmGrpcBackendConfig& config) {
  return Status::internal("--backend vllm-grpc is not built yet");
}

}  // namespace crucible
