// vLLM gRPC backend: generation over vLLM's gRPC APIs, usable wherever the OpenAI HTTP backend is
// (`crucible eval --backend vllm-grpc --url HOST:PORT`), and with token ids and logprobs out for
// RL rollouts (VllmGrpcBackend::generate). Two protocols behind one backend:
//
// - "inference": vllm.Inference + vllm.Control (backends/grpc/proto/vllm_inference.proto,
//   vllm_control.proto), vLLM's first-party API; the former service name vllm.Generate
//   (v0.22 - v0.26) is used when vllm.Inference is absent. Text or token ids in, text out.
//   The server rejects n > 1, so a request for n samples becomes n calls (seeds seed+0..seed+n-1)
//   run concurrently by the worker pool. Cancelling sends Control.Abort.
// - "engine": vllm.grpc.engine.VllmEngine (proto/vllm_engine.proto; `vllm serve --grpc`, smg's
//   servicer). Token ids only: the backend renders the model's chat template and tokenizes with
//   backends/tokenizer (tokenizer_dir), asks for all n samples in one streamed Generate call,
//   accumulates the deltas per sample index and detokenizes (skipping special tokens). Stop
//   strings are applied by the server; the text is cut at the first stop string as the server
//   would (include_stop_str_in_output = false). Cancelling sends VllmEngine.Abort.
// - "auto" (default): probes once, on the first request: a prompt-less vllm.Inference/Generate
//   (then vllm.Generate/Generate) call, which a server answers INVALID_ARGUMENT without generating
//   anything when it has that service and UNIMPLEMENTED when not; then VllmEngine.HealthCheck.
//   The answer is kept for the backend's life; transport failures during the probe are retried
//   like any attempt. No known service: a final kInvalidArgument naming what was tried.
//
// Same behaviour as the HTTP backend (backends/remote/openai_backend.h):
// - Concurrency: `concurrency` worker threads, each with one call in flight; submit() never
//   blocks. Calls go over ceil(concurrency / 64) HTTP/2 connections.
// - Deadlines: every call attempt has a deadline of timeout_s (DEADLINE_EXCEEDED when it stalls);
//   the server is then told to abort that request id.
// - Retries (up to max_retries after the first attempt, per call) on UNAVAILABLE (server down,
//   connection reset, mid-stream close), RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, INTERNAL,
//   UNKNOWN, DATA_LOSS and a CANCELLED the client did not ask for, sleeping backoff_initial_s * 2^k
//   (+-20% jitter, capped by backoff_max_s). An OK stream that is unusable (no finish info, a
//   sample missing, finish_reason "error") is retried at most min(max_retries, 3) times. Any other code
//   (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, UNIMPLEMENTED, PERMISSION_DENIED,
//   UNAUTHENTICATED, OUT_OF_RANGE, ALREADY_EXISTS) is final at once: kInvalidArgument
//   "gRPC INVALID_ARGUMENT from HOST:PORT (vllm.Inference/GenerateStream): <server message>
//   (not retried)". Exhausted retries: kTimeout (last error a deadline) or kUnavailable,
//   "request to HOST:PORT (METHOD) failed after K attempts; last error: CODE: message".
// - cancel_all(): queued requests resolve at once, in-flight calls are cancelled (resolving within
//   milliseconds), all with kUnavailable "... cancelled ..."; then each cancelled request id is
//   sent to the server's Abort (deadline abort_timeout_s). Requests submitted afterwards run
//   normally. The destructor does the same and joins the workers. When one of the n calls of a
//   fanned-out request fails for good, the request fails and its sibling calls are cancelled.
// - Sampling: temperature, top_p and max_tokens are always sent (unset temperature is greedy on
//   vllm.Inference and 1.0 on VllmEngine; unset max_new_tokens is 20 tokens on vllm.Inference);
//   top_k only when > 0; seed when set (int64 on vllm.Inference; on VllmEngine, whose field is
//   int32, seeds >= 2^31 are reduced modulo 2^31); stop strings, excluded from the text; special
//   tokens skipped in the text (both servers' defaults, sent explicitly).
// - Prompts: completion mode over vllm.Inference sends the text (the server tokenizes it, adding
//   BOS as /v1/completions does). Chat mode (both protocols) and completion mode over VllmEngine
//   need tokenizer_dir: chat prompts are the chat template rendered with add_generation_prompt and
//   encoded without added special tokens (what vLLM's /v1/chat/completions does); completion
//   prompts are encoded with them. Missing tokenizer: kInvalidArgument saying to pass --tokenizer.
// - Completion: text, finish_reason ("stop" | "length" | "abort"), prompt_tokens and
//   completion_tokens per sample (both protocols report them per sample).
// - Model: vllm.Inference checks `model` itself (NOT_FOUND when it does not serve it; empty = the
//   served model). VllmEngine has no model field: when `model` is set and the server's
//   GetModelInfo names neither it as served_model_name nor as model_path, every request fails
//   with kInvalidArgument.
// - Construction: an invalid target, concurrency < 1, an unknown protocol, protocol "engine"
//   without tokenizer_dir, or a tokenizer that does not load is an error from
//   make_vllm_grpc_backend (nothing is sent to the server before the first request).
#pragma once
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/status.h"

namespace crucible {

struct VllmGrpcBackendConfig {
  // HOST:PORT; also accepted: http://HOST:PORT[/] and grpc://HOST:PORT (plaintext),
  // https://HOST:PORT (TLS, system roots), and gRPC's own dns:///, ipv4:, ipv6:, unix: forms.
  std::string target;
  std::string model;                  // vllm.Inference `model` field; checked against VllmEngine's
  std::string protocol = "auto";      // auto (probe) | inference | engine
  std::string tokenizer_dir;          // tokenizer.json (+ tokenizer_config.json with chat_template)
  int concurrency = 64;               // calls in flight at once
  double timeout_s = 600;             // deadline per call attempt
  int max_retries = 5;                // attempts after the first, per call
  double backoff_initial_s = 1.0;     // first retry delay; doubles each time, +-20% jitter
  double backoff_max_s = 60.0;
  bool stream = true;                 // vllm.Inference: GenerateStream (true) or unary Generate
  double probe_timeout_s = 30;        // deadline of probe and model-info calls (<= timeout_s)
  double abort_timeout_s = 2;         // deadline of the Abort sent for cancelled/timed-out calls
};

// One generated sample with what the token-level protocols return beyond Completion.
struct GrpcSample {
  Completion completion;
  std::vector<int32_t> token_ids;     // generated ids (EOS included when the server sent it)
  std::vector<float> logprobs;        // logprob of each generated token, when asked for
  std::string stop_reason;            // matched stop string, or the stop/EOS token id in decimal
};

struct GrpcGenerateOptions {
  // When non-empty, the prompt as token ids (messages / prompt of the request are not used and
  // no tokenizer is needed for the prompt).
  std::vector<int32_t> prompt_token_ids;
  bool logprobs = false;              // return the logprob of each sampled token
};

class VllmGrpcBackend : public Backend {
 public:
  // Exactly params.n samples in sample order, or an error Status (same rules as submit()).
  virtual std::future<Result<std::vector<GrpcSample>>> generate(GenerationRequest request,
                                                               GrpcGenerateOptions options) = 0;
  // "inference" | "engine" once known (after the first request under "auto"), else "".
  virtual std::string protocol() const = 0;
  // The RPC used for generation, e.g. "vllm.Inference/GenerateStream", once known, else "".
  virtual std::string generate_method() const = 0;
  // served_model_name from the server's GetModelInfo once known, else "".
  virtual std::string served_model() const = 0;
};

Result<std::unique_ptr<VllmGrpcBackend>> make_vllm_grpc_client(const VllmGrpcBackendConfig& config);
Result<std::unique_ptr<Backend>> make_vllm_grpc_backend(const VllmGrpcBackendConfig& config);

// Helpers, exposed for tests.
struct GrpcTarget {
  std::string address;  // what grpc::CreateChannel gets, e.g. "127.0.0.1:50051"
  bool tls = false;
};
Result<GrpcTarget> parse_grpc_target(const std::string& url);
// Whether a gRPC status code (grpc::StatusCode as int) is retried (see above).
bool grpc_code_retryable(int code);
// "UNAVAILABLE", "INVALID_ARGUMENT", ...
std::string grpc_code_name(int code);
// Cuts `text` at the earliest occurrence of any of `stops` (what a server does with
// include_stop_str_in_output = false); unchanged when none occurs.
std::string cut_at_stop_string(const std::string& text, const std::vector<std::string>& stops);

}  // namespace crucible
