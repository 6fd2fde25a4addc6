#include "backends/torch/local_backend.h"

namespace crucible {

// Placeholder until the LibTorch runtime lands (issue 5).
Result<std::unique_ptr<Backend>> make_local_backend(const LocalBackendConfig& config) {
  return Status::internal("--backend local is not built yet");
}

}  // namespace crucible
