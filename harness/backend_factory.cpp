#include "harness/backend_factory.h"

#include "backends/grpc/vllm_grpc_backend.h"
#include "backends/remote/openai_backend.h"
#include "backends/replay_backend.h"

namespace crucible {

namespace {
LocalBackendFactory g_local_factory = nullptr;
}

void set_local_backend_factory(LocalBackendFactory factory) { g_local_factory = factory; }

const char* backend_names() { return "openai, replay, local, vllm-grpc"; }

Result<std::unique_ptr<Backend>> make_backend(const BackendConfig& c) {
  if (c.backend == "replay") {
    if (c.replay_path.empty()) return Status::invalid("--backend replay needs --replay FILE");
    auto rb = ReplayBackend::load(c.replay_path);
    if (!rb) return rb.status();
    return std::unique_ptr<Backend>(std::move(*rb));
  }
  if (c.backend == "openai") {
    if (c.model.empty()) return Status::invalid("--model is required with --backend openai");
    OpenAIBackendConfig oc;
    oc.url = c.url.empty() ? "http://127.0.0.1:8000" : c.url;
    oc.model = c.model;
    oc.api_key = c.api_key;
    oc.concurrency = c.concurrency;
    oc.timeout_s = c.timeout_s;
    oc.max_retries = c.max_retries;
    auto b = make_openai_backend(oc);
    if (!b) return Status::invalid("could not create the openai backend for " + oc.url);
    return b;
  }
  if (c.backend == "local") {
    if (c.model_dir.empty()) return Status::invalid("--backend local needs --model-dir DIR");
    LocalBackendConfig lc;
    lc.model_dir = c.model_dir;
    lc.device = c.device;
    lc.dtype = c.dtype;
    lc.max_batch = c.max_batch;
    if (!g_local_factory)
      return Status::invalid("--backend local needs LibTorch: run it with crucible-torch (the `crucible` "
                             "binary hands such commands to it when it sits beside it)");
    return g_local_factory(lc);
  }
  if (c.backend == "vllm-grpc") {
    if (c.url.empty()) return Status::invalid("--backend vllm-grpc needs --url HOST:PORT");
    VllmGrpcBackendConfig gc;
    gc.target = c.url;
    gc.model = c.model;
    gc.protocol = c.grpc_protocol;
    gc.tokenizer_dir = c.tokenizer_dir;
    gc.concurrency = c.concurrency;
    gc.timeout_s = c.timeout_s;
    gc.max_retries = c.max_retries;
    return make_vllm_grpc_backend(gc);
  }
  return Status::invalid(std::string("--backend must be one of ") + backend_names() + ", got '" + c.backend + "'");
}

}  // namespace crucible
