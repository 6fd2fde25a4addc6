// crucible-torch only: makes `--backend local` available to every command of this binary.
#include "backends/torch/local_backend.h"
#include "harness/backend_factory.h"

namespace {
const bool installed = [] {
  crucible::set_local_backend_factory(&crucible::make_local_backend);
  return true;
}();
}  // namespace
