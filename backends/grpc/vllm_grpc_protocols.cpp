// The two vLLM gRPC protocols as Protocol objects: request building, response accumulation and
// validation, Abort and GetModelInfo. See vllm_grpc_protocols.h and vllm_grpc_backend.h.
#include "backends/grpc/vllm_grpc_protocols.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "backends/grpc/proto/vllm_control.grpc.pb.h"
#include "backends/grpc/proto/vllm_engine.grpc.pb.h"
#include "backends/grpc/proto/vllm_inference.grpc.pb.h"

namespace crucible::grpc_detail {

namespace engine_pb = ::vllm::grpc::engine;

void set_deadline(grpc::ClientContext& ctx, double seconds) {
  if (!(seconds > 0)) seconds = 0.001;
  seconds = std::min(seconds, 1e8);  // far enough; avoids overflowing time_point arithmetic
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(
                       std::chrono::duration<double>(seconds)));
}

namespace {

// ------------------------------------------------------------------------------------------------
// vllm.Inference / vllm.Generate

template <typename Service>
class InferenceCalls {
 public:
  explicit InferenceCalls(const std::shared_ptr<grpc::Channel>& ch) : stub_(Service::NewStub(ch)) {}
  std::unique_ptr<grpc::ClientReader<::vllm::GenerateResponse>> stream(grpc::ClientContext* ctx,
                                                                       const ::vllm::GenerateRequest& r) {
    return stub_->GenerateStream(ctx, r);
  }
  grpc::Status unary(grpc::ClientContext* ctx, const ::vllm::GenerateRequest& r, ::vllm::GenerateResponse* out) {
    return stub_->Generate(ctx, r, out);
  }

 private:
  std::unique_ptr<typename Service::Stub> stub_;
};

class InferenceProtocol final : public Protocol {
 public:
  InferenceProtocol(std::shared_ptr<grpc::Channel> channel, bool legacy_name, bool stream)
      : legacy_(legacy_name),
        stream_(stream),
        current_(channel),
        legacy_calls_(channel),
        control_(::vllm::Control::NewStub(channel)) {}

  std::string kind() const override { return "inference"; }
  std::string generate_method() const override {
    return std::string(legacy_ ? "vllm.Generate/" : "vllm.Inference/") + (stream_ ? "GenerateStream" : "Generate");
  }
  int max_n_per_call() const override { return 1; }
  bool needs_token_ids(bool chat) const override { return chat; }

  CallOutcome generate(grpc::ClientContext& ctx, const CallSpec& spec) override {
    ::vllm::GenerateRequest req = build(spec);
    Accumulator acc;
    CallOutcome out;
    if (stream_) {
      auto reader = legacy_ ? legacy_calls_.stream(&ctx, req) : current_.stream(&ctx, req);
      ::vllm::GenerateResponse resp;
      while (reader->Read(&resp)) {
        acc.add(resp);
        resp.Clear();
      }
      out.status = reader->Finish();
    } else {
      ::vllm::GenerateResponse resp;
      out.status = legacy_ ? legacy_calls_.unary(&ctx, req, &resp) : current_.unary(&ctx, req, &resp);
      if (out.status.ok()) acc.add(resp);
    }
    if (!out.status.ok()) return out;
    GrpcSample s;
    out.malformed = acc.take(&s);
    if (out.malformed.empty()) out.samples.push_back(std::move(s));
    return out;
  }

  grpc::Status abort(const std::vector<std::string>& ids, double timeout_s) override {
    grpc::ClientContext ctx;
    set_deadline(ctx, timeout_s);
    ::vllm::AbortRequest req;
    for (const auto& id : ids) req.add_request_ids(id);
    ::vllm::AbortResponse resp;
    return control_->Abort(&ctx, req, &resp);
  }

  grpc::Status model_info(grpc::ClientContext& ctx, ServedModel* out) override {
    ::vllm::ModelInfo info;
    grpc::Status s = control_->GetModelInfo(&ctx, ::vllm::GetModelInfoRequest(), &info);
    if (s.ok()) *out = ServedModel{info.served_model_name(), info.model_id()};
    return s;
  }

 private:
  // Accumulates the responses of one call (one sample: the server has no n > 1).
  struct Accumulator {
    std::string text;
    std::vector<int32_t> ids;
    std::vector<float> logprobs;
    int prompt_tokens = -1;
    uint64_t delta_tokens = 0;
    bool finished = false;
    ::vllm::FinishInfo info;
    std::string error;

    void add(const ::vllm::GenerateResponse& r) {
      if (r.has_prompt_info()) prompt_tokens = static_cast<int>(r.prompt_info().num_prompt_tokens());
      if (!r.has_outputs()) return;
      const auto& o = r.outputs();
      if (o.index() != 0 && error.empty())
        error = "response for sequence index " + std::to_string(o.index()) + " (one sequence was asked for)";
      if (finished && error.empty()) error = "output after the sequence's finish_info";
      text += o.text();
      for (uint32_t id : o.token_ids()) ids.push_back(static_cast<int32_t>(id));
      for (float lp : o.logprobs()) logprobs.push_back(lp);
      delta_tokens += o.num_tokens();
      if (o.has_finish_info()) {
        finished = true;
        info = o.finish_info();
      }
    }

    // "" when `s` was filled; otherwise why the stream is unusable.
    std::string take(GrpcSample* s) {
      if (!error.empty()) return error;
      if (!finished) return "the stream ended without finish_info";
      switch (info.finish_reason()) {
        case ::vllm::FinishInfo::LENGTH: s->completion.finish_reason = "length"; break;
        case ::vllm::FinishInfo::STOP: s->completion.finish_reason = "stop"; break;
        case ::vllm::FinishInfo::ABORTED: s->completion.finish_reason = "abort"; break;
        default: return "finish_info says the sequence is not finished";
      }
      switch (info.stop_reason_case()) {
        case ::vllm::FinishInfo::kStopString: s->stop_reason = info.stop_string(); break;
        case ::vllm::FinishInfo::kStopTokenId: s->stop_reason = std::to_string(info.stop_token_id()); break;
        case ::vllm::FinishInfo::kEosTokenId: s->stop_reason = std::to_string(info.eos_token_id()); break;
        default: break;
      }
      s->completion.text = std::move(text);
      s->completion.prompt_tokens = prompt_tokens;
      uint64_t n = info.num_output_tokens() ? info.num_output_tokens() : delta_tokens;
      s->completion.completion_tokens = static_cast<int>(std::min<uint64_t>(n, std::numeric_limits<int>::max()));
      s->token_ids = std::move(ids);
      s->logprobs = std::move(logprobs);
      return "";
    }
  };

  ::vllm::GenerateRequest build(const CallSpec& spec) const {
    const SamplingParams& p = *spec.params;
    ::vllm::GenerateRequest req;
    req.set_request_id(spec.request_id);
    if (!spec.model.empty()) req.set_model(spec.model);
    if (spec.prompt->token_ids) {
      auto* ids = req.mutable_token_ids();
      for (uint32_t id : spec.prompt->ids) ids->add_ids(id);
    } else {
      req.set_text(spec.prompt->text);
    }
    // Unset temperature is greedy on this server: always send it.
    req.set_temperature(static_cast<float>(p.temperature));
    auto* s = req.mutable_sampling();
    s->set_num_sequences(1);
    s->set_top_p(static_cast<float>(p.top_p));
    if (p.top_k > 0) s->set_top_k(static_cast<uint32_t>(p.top_k));
    if (spec.seed) s->set_seed(static_cast<int64_t>(*spec.seed));
    auto* st = req.mutable_stopping();
    st->set_max_new_tokens(static_cast<uint32_t>(std::max(p.max_tokens, 1)));  // 0 would mean 20
    for (const auto& stop : p.stop) st->add_stop_strings(stop);
    st->set_include_stop_strings(false);
    auto* ro = req.mutable_response();
    ro->set_output_text(true);
    ro->set_skip_special_tokens(true);
    ro->set_output_token_ids(true);
    if (spec.logprobs) ro->set_output_logprobs(true);  // sampled tokens only: no candidates
    return req;
  }

  bool legacy_;
  bool stream_;
  InferenceCalls<::vllm::Inference> current_;
  InferenceCalls<::vllm::Generate> legacy_calls_;
  std::unique_ptr<::vllm::Control::Stub> control_;
};

// ------------------------------------------------------------------------------------------------
// vllm.grpc.engine.VllmEngine

class EngineProtocol final : public Protocol {
 public:
  EngineProtocol(std::shared_ptr<grpc::Channel> channel, const Tokenizer* tokenizer)
      : stub_(engine_pb::VllmEngine::NewStub(channel)), tokenizer_(tokenizer) {}

  std::string kind() const override { return "engine"; }
  std::string generate_method() const override { return "vllm.grpc.engine.VllmEngine/Generate"; }
  int max_n_per_call() const override { return std::numeric_limits<int>::max(); }
  bool needs_token_ids(bool) const override { return true; }

  CallOutcome generate(grpc::ClientContext& ctx, const CallSpec& spec) override {
    engine_pb::GenerateRequest req = build(spec);
    std::vector<Sample> acc(static_cast<size_t>(spec.n));
    std::string error;
    auto reader = stub_->Generate(&ctx, req);
    engine_pb::GenerateResponse resp;
    while (reader->Read(&resp)) {
      if (error.empty()) error = add(resp, acc);
      resp.Clear();
    }
    CallOutcome out;
    out.status = reader->Finish();
    if (!out.status.ok()) return out;
    if (!error.empty()) {
      out.malformed = error;
      return out;
    }
    for (size_t i = 0; i < acc.size(); ++i) {
      Sample& a = acc[i];
      if (!a.complete) {
        out.malformed = "the stream ended before sample " + std::to_string(i) + " of " + std::to_string(spec.n) +
                        " completed";
        return out;
      }
      if (a.finish.empty() || a.finish == "error") {
        out.malformed = "sample " + std::to_string(i) + " finished with finish_reason \"" + a.finish + "\"";
        return out;
      }
    }
    for (auto& a : acc) {
      GrpcSample s;
      std::vector<int32_t> ids;
      ids.reserve(a.ids.size());
      for (uint32_t id : a.ids) ids.push_back(static_cast<int32_t>(id));
      s.completion.text = tokenizer_->decode(ids, /*skip_special_tokens=*/true);
      if (a.finish == "stop") s.completion.text = cut_at_stop_string(s.completion.text, spec.params->stop);
      s.completion.finish_reason = a.finish;
      s.completion.prompt_tokens = a.prompt_tokens;
      s.completion.completion_tokens = static_cast<int>(ids.size());
      s.token_ids = std::move(ids);
      s.logprobs = std::move(a.logprobs);
      s.stop_reason = std::move(a.stop_reason);
      out.samples.push_back(std::move(s));
    }
    return out;
  }

  grpc::Status abort(const std::vector<std::string>& ids, double timeout_s) override {
    grpc::ClientContext ctx;
    set_deadline(ctx, timeout_s);
    engine_pb::AbortRequest req;
    for (const auto& id : ids) req.add_request_ids(id);
    engine_pb::AbortResponse resp;
    return stub_->Abort(&ctx, req, &resp);
  }

  grpc::Status model_info(grpc::ClientContext& ctx, ServedModel* out) override {
    engine_pb::GetModelInfoResponse info;
    grpc::Status s = stub_->GetModelInfo(&ctx, engine_pb::GetModelInfoRequest(), &info);
    if (s.ok()) *out = ServedModel{info.served_model_name(), info.model_path()};
    return s;
  }

 private:
  struct Sample {
    std::vector<uint32_t> ids;
    std::vector<float> logprobs;
    bool chunked = false;   // chunks seen: the complete's output_ids repeat the last delta
    bool complete = false;
    std::string finish;
    std::string stop_reason;
    int prompt_tokens = -1;
  };

  static void append_logprobs(const engine_pb::OutputLogProbs& lp, std::vector<float>& out) {
    for (float v : lp.token_logprobs()) out.push_back(v);
  }

  // "" or why the stream is unusable.
  static std::string add(const engine_pb::GenerateResponse& r, std::vector<Sample>& acc) {
    if (r.has_chunk()) {
      const auto& c = r.chunk();
      if (c.index() >= acc.size())
        return "chunk for sample index " + std::to_string(c.index()) + " of " + std::to_string(acc.size());
      Sample& a = acc[c.index()];
      if (a.complete) return "chunk for sample " + std::to_string(c.index()) + " after its completion";
      a.chunked = true;
      a.ids.insert(a.ids.end(), c.token_ids().begin(), c.token_ids().end());
      if (c.has_output_logprobs()) append_logprobs(c.output_logprobs(), a.logprobs);
      if (c.prompt_tokens()) a.prompt_tokens = static_cast<int>(c.prompt_tokens());
      return "";
    }
    if (r.has_complete()) {
      const auto& c = r.complete();
      if (c.index() >= acc.size())
        return "completion for sample index " + std::to_string(c.index()) + " of " + std::to_string(acc.size());
      Sample& a = acc[c.index()];
      if (a.complete) return "second completion for sample " + std::to_string(c.index());
      a.complete = true;
      if (!a.chunked) {  // stream = false semantics: the complete carries every output token
        a.ids.assign(c.output_ids().begin(), c.output_ids().end());
        if (c.has_output_logprobs()) append_logprobs(c.output_logprobs(), a.logprobs);
      }
      a.finish = c.finish_reason();
      if (c.prompt_tokens()) a.prompt_tokens = static_cast<int>(c.prompt_tokens());
      if (c.matched_stop_case() == engine_pb::GenerateComplete::kMatchedStopStr) a.stop_reason = c.matched_stop_str();
      else if (c.matched_stop_case() == engine_pb::GenerateComplete::kMatchedTokenId)
        a.stop_reason = std::to_string(c.matched_token_id());
      return "";
    }
    return "";  // an empty response: ignored
  }

  engine_pb::GenerateRequest build(const CallSpec& spec) const {
    const SamplingParams& p = *spec.params;
    engine_pb::GenerateRequest req;
    req.set_request_id(spec.request_id);
    auto* in = req.mutable_tokenized();
    in->set_original_text(spec.prompt->text);
    for (uint32_t id : spec.prompt->ids) in->add_input_ids(id);
    auto* sp = req.mutable_sampling_params();
    // Unset temperature is 1.0 on this server, greedy on vllm.Inference: always send it.
    sp->set_temperature(static_cast<float>(p.temperature));
    sp->set_top_p(static_cast<float>(p.top_p));
    if (p.top_k > 0) sp->set_top_k(static_cast<uint32_t>(p.top_k));
    sp->set_max_tokens(static_cast<uint32_t>(std::max(p.max_tokens, 1)));
    for (const auto& stop : p.stop) sp->add_stop(stop);
    sp->set_include_stop_str_in_output(false);
    sp->set_skip_special_tokens(true);            // vLLM's default; proto3 default here is false
    sp->set_spaces_between_special_tokens(true);  // likewise
    sp->set_n(static_cast<uint32_t>(spec.n));
    if (spec.seed) sp->set_seed(static_cast<int32_t>(*spec.seed % (uint64_t{1} << 31)));
    if (spec.logprobs) sp->set_logprobs(0);  // 0 top alternatives: the sampled token's logprob only
    req.set_stream(true);
    return req;
  }

  std::unique_ptr<engine_pb::VllmEngine::Stub> stub_;
  const Tokenizer* tokenizer_;
};

}  // namespace

std::unique_ptr<Protocol> make_inference_protocol(std::shared_ptr<grpc::Channel> channel, bool legacy_name,
                                                  bool stream) {
  return std::make_unique<InferenceProtocol>(std::move(channel), legacy_name, stream);
}

std::unique_ptr<Protocol> make_engine_protocol(std::shared_ptr<grpc::Channel> channel, const Tokenizer* tokenizer) {
  return std::make_unique<EngineProtocol>(std::move(channel), tokenizer);
}

namespace {
grpc::Status as_probe_answer(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return s;
    default:
      return grpc::Status::OK;  // the service exists (INVALID_ARGUMENT "prompt is required", ...)
  }
}
}  // namespace

grpc::Status probe_inference_service(const std::shared_ptr<grpc::Channel>& ch, bool legacy_name,
                                     grpc::ClientContext& ctx) {
  // No prompt: a vLLM server rejects it before generating anything. max_new_tokens = 1 bounds the
  // cost should some server generate from an empty prompt anyway.
  ::vllm::GenerateRequest req;
  req.set_request_id("crucible-probe");
  req.mutable_stopping()->set_max_new_tokens(1);
  ::vllm::GenerateResponse resp;
  grpc::Status s = legacy_name ? ::vllm::Generate::NewStub(ch)->Generate(&ctx, req, &resp)
                               : ::vllm::Inference::NewStub(ch)->Generate(&ctx, req, &resp);
  return as_probe_answer(s);
}

grpc::Status probe_engine_service(const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx) {
  engine_pb::HealthCheckResponse resp;
  grpc::Status s = engine_pb::VllmEngine::NewStub(ch)->HealthCheck(&ctx, engine_pb::HealthCheckRequest(), &resp);
  return as_probe_answer(s);
}

}  // namespace crucible::grpc_detail
