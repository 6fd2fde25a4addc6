// Internal to backends/grpc: one generation call over each vLLM gRPC protocol, and the probes that
// tell them apart. The backend (vllm_grpc_backend.cpp) owns threads, retries and cancellation;
// a Protocol turns one CallSpec into one RPC on a ClientContext the backend created (so that it
// can cancel it) and reports what came back, without retrying or sleeping.
#pragma once
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/grpc/vllm_grpc_backend.h"
#include "backends/tokenizer/tokenizer.h"

namespace crucible::grpc_detail {

// The prompt of one request, prepared once for all its calls and attempts.
struct PreparedPrompt {
  bool token_ids = false;       // send `ids`; otherwise send `text`
  std::string text;             // the prompt text (also informational when token_ids)
  std::vector<uint32_t> ids;
};

struct CallSpec {
  std::string request_id;
  const PreparedPrompt* prompt = nullptr;
  const SamplingParams* params = nullptr;
  std::string model;
  int n = 1;                    // samples this call asks for
  std::optional<uint64_t> seed; // this call's seed (already shifted by its first sample)
  bool logprobs = false;        // ask for the logprob of each sampled token
};

struct CallOutcome {
  grpc::Status status;
  std::vector<GrpcSample> samples;   // n samples when status is OK and `malformed` is empty
  std::string malformed;             // status OK but the answer is unusable: why
};

struct ServedModel {
  std::string served_model_name;
  std::string model_path;
};

class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual std::string kind() const = 0;            // "inference" | "engine"
  virtual std::string generate_method() const = 0; // e.g. "vllm.Inference/GenerateStream"
  virtual int max_n_per_call() const = 0;
  // Whether a prompt of this kind must be token ids (needs the tokenizer); completion-mode text
  // goes as text where the protocol allows it.
  virtual bool needs_token_ids(bool chat) const = 0;
  // One call. `ctx` carries the deadline and is cancellable by the caller.
  virtual CallOutcome generate(grpc::ClientContext& ctx, const CallSpec& spec) = 0;
  // Best effort, deadline `timeout_s`.
  virtual grpc::Status abort(const std::vector<std::string>& request_ids, double timeout_s) = 0;
  // GetModelInfo (Control.GetModelInfo / VllmEngine.GetModelInfo) on the caller's context.
  virtual grpc::Status model_info(grpc::ClientContext& ctx, ServedModel* out) = 0;
};

// vllm.Inference (legacy_name: vllm.Generate) + vllm.Control. `stream`: GenerateStream or Generate.
std::unique_ptr<Protocol> make_inference_protocol(std::shared_ptr<grpc::Channel> channel, bool legacy_name,
                                                  bool stream);
// vllm.grpc.engine.VllmEngine; `tokenizer` detokenizes the output (must outlive the protocol).
std::unique_ptr<Protocol> make_engine_protocol(std::shared_ptr<grpc::Channel> channel, const Tokenizer* tokenizer);

// Probes: OK when the service answers (any code but UNIMPLEMENTED, UNAVAILABLE and
// DEADLINE_EXCEEDED counts as an answer), UNIMPLEMENTED when the server does not have it,
// another status when the server could not be asked.
grpc::Status probe_inference_service(const std::shared_ptr<grpc::Channel>& channel, bool legacy_name,
                                     grpc::ClientContext& ctx);
grpc::Status probe_engine_service(const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext& ctx);

void set_deadline(grpc::ClientContext& ctx, double seconds);

}  // namespace crucible::grpc_detail
