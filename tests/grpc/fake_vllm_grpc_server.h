// FakeVllmGrpcServer: an in-process, loopback-only gRPC server implementing vLLM's gRPC services
// from the project's protos (backends/grpc/proto/), for tests of the vllm-grpc backend.
//
//   crucible::testing::FakeVllmGrpcServer server({FakeVllmGrpcServer::Flavor::kInference});
//   VllmGrpcBackendConfig cfg;  cfg.target = server.address();
//   ... run the backend ...
//   EXPECT_EQ(server.calls()[0].inference.temperature(), 0.6f);
//
// Flavors (what the server registers):
//   kInference       vllm.Inference (Generate, GenerateStream) + vllm.Control (GetModelInfo, Abort)
//   kLegacyGenerate  the same generation API under its former name vllm.Generate, and a Control
//                    service with Abort only (GetModelInfo answers UNIMPLEMENTED), like v0.22-v0.26
//   kEngine          vllm.grpc.engine.VllmEngine (Generate, HealthCheck, GetModelInfo, Abort)
//
// Generation follows the real servers' shapes: vllm.Inference checks `model` (NOT_FOUND), rejects
// num_sequences > 1 and prompt-less requests (INVALID_ARGUMENT, which is also how clients probe
// for the service; those are counted by probe_count(), not recorded as calls); GenerateStream
// sends prompt_info first, then text deltas of `chunk_size` units, finish_info on the last;
// Generate sends it all in one response. VllmEngine decodes the prompt ids, sends per sample
// index chunks of `chunk_size` token ids round-robin, then a GenerateComplete per index whose
// output_ids repeat its last delta (stream = true), or only completes (stream = false); the
// answer is encoded with the tokenizer and ends with <|im_end|> (finish "stop"). Units are tokens
// of the tokenizer when one is given, else bytes. A stop string in an answer ends it there
// (vllm.Inference: cut before it, finish_info.stop_string; VllmEngine: the token ids run through
// the stop string, matched_stop_str set, as vLLM's token ids do); more units than the request's
// max tokens: cut, finish "length". Logprobs, when asked for, are -0.01 * (unit index + 1).
//
// Faults: each generation call takes the head of the push_fault() queue, if any. Answers come
// from the Responder (call, sample index within the call) -> text; the default is
// "answer {i} to: {last 40 bytes of the prompt}". Handlers run on gRPC's threads: responders must
// be thread-safe. stop() (or the destructor) ends stalled calls and shuts the server down.
#pragma once
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backends/grpc/proto/vllm_engine.pb.h"
#include "backends/grpc/proto/vllm_inference.pb.h"
#include "backends/tokenizer/tokenizer.h"

namespace crucible::testing {

struct GrpcFault {
  enum class Kind {
    kStatus,    // after `after_messages` responses, end the call with `code` / `message`
    kStall,     // after `after_messages` responses, wait until the client gives up (deadline, cancel)
    kEndEarly,  // after `after_messages` responses, end the stream with OK and no finish info
    kReset,     // after `after_messages` responses, cancel the stream from the server (RST_STREAM)
  };
  Kind kind = Kind::kStatus;
  grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE;
  std::string message = "injected fault";
  int after_messages = 0;

  static GrpcFault status(grpc::StatusCode code, std::string message = "injected fault", int after_messages = 0);
  static GrpcFault stall(int after_messages = 0);
  static GrpcFault end_early(int after_messages);
  static GrpcFault reset(int after_messages);
};

// One generation call as the server received it.
struct GrpcCall {
  int number = 0;            // 1-based arrival order of generation calls
  std::string method;        // "vllm.Inference/GenerateStream", "vllm.grpc.engine.VllmEngine/Generate", ...
  std::string request_id;
  std::string prompt;        // the text prompt, or the prompt ids decoded (special tokens kept)
  ::vllm::GenerateRequest inference;            // set for vllm.Inference / vllm.Generate calls
  ::vllm::grpc::engine::GenerateRequest engine;  // set for VllmEngine calls
};

class FakeVllmGrpcServer {
 public:
  enum class Flavor { kInference, kLegacyGenerate, kEngine };
  struct Options {
    Flavor flavor = Flavor::kInference;
    std::string tokenizer_dir;     // required for kEngine; optional otherwise (token-id prompts, ids out)
    int chunk_size = 3;            // units per streamed response
    std::string served_model_name = "fake-model";
    std::string model_path = "/models/fake-model";
  };
  using Responder = std::function<std::string(const GrpcCall& call, int sample)>;

  explicit FakeVllmGrpcServer(Options options, Responder responder = {});
  ~FakeVllmGrpcServer();
  FakeVllmGrpcServer(const FakeVllmGrpcServer&) = delete;
  FakeVllmGrpcServer& operator=(const FakeVllmGrpcServer&) = delete;

  std::string address() const;  // "127.0.0.1:PORT"
  int port() const { return port_; }
  void stop();                   // idempotent

  void set_responder(Responder responder);
  void push_fault(GrpcFault fault);

  std::vector<GrpcCall> calls() const;
  int call_count() const;
  int probe_count() const;        // prompt-less Generate calls + HealthChecks
  int model_info_count() const;
  std::vector<std::string> aborted() const;  // request ids received by Abort, in order
  int in_flight() const;
  int max_in_flight() const;
  // Wait (condition variables, no polling) until at least `n` aborted ids / `n` calls in flight /
  // `n` calls received; false on timeout.
  bool wait_for_aborts(size_t n, double timeout_s) const;
  bool wait_for_in_flight(int n, double timeout_s) const;
  bool wait_for_calls(int n, double timeout_s) const;

  struct Impl;  // the services (fake_vllm_grpc_server.cpp)

 private:
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace crucible::testing
