// FakeVllmGrpcServer: see fake_vllm_grpc_server.h.
#include "tests/grpc/fake_vllm_grpc_server.h"

#include <chrono>
#include <stdexcept>

#include "backends/grpc/proto/vllm_control.grpc.pb.h"
#include "backends/grpc/proto/vllm_engine.grpc.pb.h"
#include "backends/grpc/proto/vllm_inference.grpc.pb.h"

namespace crucible::testing {

namespace engine_pb = ::vllm::grpc::engine;
using Clock = std::chrono::steady_clock;

GrpcFault GrpcFault::status(grpc::StatusCode code, std::string message, int after_messages) {
  GrpcFault f;
  f.kind = Kind::kStatus;
  f.code = code;
  f.message = std::move(message);
  f.after_messages = after_messages;
  return f;
}
GrpcFault GrpcFault::stall(int after_messages) {
  GrpcFault f;
  f.kind = Kind::kStall;
  f.after_messages = after_messages;
  return f;
}
GrpcFault GrpcFault::end_early(int after_messages) {
  GrpcFault f;
  f.kind = Kind::kEndEarly;
  f.after_messages = after_messages;
  return f;
}
GrpcFault GrpcFault::reset(int after_messages) {
  GrpcFault f;
  f.kind = Kind::kReset;
  f.after_messages = after_messages;
  return f;
}

namespace {

std::string default_answer(const GrpcCall& call, int sample) {
  std::string tail = call.prompt.size() > 40 ? call.prompt.substr(call.prompt.size() - 40) : call.prompt;
  return "answer " + std::to_string(sample) + " to: " + tail;
}

std::vector<int32_t> to_i32(const google::protobuf::RepeatedField<uint32_t>& ids) {
  return std::vector<int32_t>(ids.begin(), ids.end());
}

}  // namespace

struct FakeVllmGrpcServer::Impl {
  Options options;
  std::optional<Tokenizer> tokenizer;
  std::vector<std::unique_ptr<grpc::Service>> services;
  std::unique_ptr<grpc::Server> server;  // declared after `services`: destroyed before them

  mutable std::mutex mu;
  mutable std::condition_variable cv;  // any state change below
  Responder responder;
  std::deque<GrpcFault> faults;
  std::vector<GrpcCall> calls;
  int probes = 0;
  int model_infos = 0;
  std::vector<std::string> aborted;
  int in_flight = 0;
  int max_in_flight = 0;
  bool stopping = false;
  std::mutex stop_mu;

  // ---- bookkeeping ----

  struct InFlight {
    Impl* impl;
    explicit InFlight(Impl* i) : impl(i) {
      std::lock_guard<std::mutex> lk(impl->mu);
      impl->max_in_flight = std::max(impl->max_in_flight, ++impl->in_flight);
      impl->cv.notify_all();
    }
    ~InFlight() {
      std::lock_guard<std::mutex> lk(impl->mu);
      --impl->in_flight;
      impl->cv.notify_all();
    }
  };

  // Records the call; returns its fault (if any) and the responder to use.
  std::optional<GrpcFault> record(GrpcCall& call, Responder* r) {
    std::lock_guard<std::mutex> lk(mu);
    call.number = static_cast<int>(calls.size()) + 1;
    calls.push_back(call);
    *r = responder ? responder : Responder(default_answer);
    cv.notify_all();
    if (faults.empty()) return std::nullopt;
    GrpcFault f = faults.front();
    faults.pop_front();
    return f;
  }

  void count_probe() {
    std::lock_guard<std::mutex> lk(mu);
    ++probes;
    cv.notify_all();
  }

  // Blocks until the client cancels (deadline or cancel) or the server stops.
  void wait_until_cancelled(grpc::ServerContext* ctx) {
    std::unique_lock<std::mutex> lk(mu);
    // ServerContext has no notification for the sync API: re-check every 5 ms.
    while (!stopping && !ctx->IsCancelled()) cv.wait_for(lk, std::chrono::milliseconds(5));
  }

  // Applies `f` when `sent` responses have gone out; a Status ends the call.
  std::optional<grpc::Status> fault_point(grpc::ServerContext* ctx, const std::optional<GrpcFault>& f, int sent,
                                          bool at_end) {
    if (!f) return std::nullopt;
    if (at_end ? f->after_messages < sent : f->after_messages != sent) return std::nullopt;
    switch (f->kind) {
      case GrpcFault::Kind::kStatus:
        return grpc::Status(f->code, f->message);
      case GrpcFault::Kind::kStall:
        wait_until_cancelled(ctx);
        return grpc::Status(grpc::StatusCode::CANCELLED, "stalled call given up by the client");
      case GrpcFault::Kind::kEndEarly:
        return grpc::Status::OK;
      case GrpcFault::Kind::kReset:
        ctx->TryCancel();
        return grpc::Status(grpc::StatusCode::CANCELLED, "reset by the server");
    }
    return std::nullopt;
  }

  // ---- answers ----

  struct Answer {
    std::vector<int32_t> units;  // token ids (tokenizer) or byte values
    std::string text;            // what the client should see
    std::string finish = "stop";
    std::string stop_string;
  };

  std::vector<int32_t> units_of(const std::string& text) const {
    if (tokenizer) return tokenizer->encode(text, /*add_special_tokens=*/false);
    return std::vector<int32_t>(text.begin(), text.end());
  }
  std::string text_of(const std::vector<int32_t>& units) const {
    if (tokenizer) return tokenizer->decode(units, /*skip_special_tokens=*/true);
    return std::string(units.begin(), units.end());
  }

  // The text of units[0, to), without a trailing incomplete UTF-8 character.
  std::string text_prefix(const std::vector<int32_t>& units, size_t to) const {
    std::vector<int32_t> head(units.begin(), units.begin() + static_cast<long>(to));
    std::string bytes = tokenizer ? tokenizer->decode_bytes(head, true) : std::string(head.begin(), head.end());
    size_t end = bytes.size();
    for (size_t back = 1; back <= 3 && back <= bytes.size(); ++back) {
      unsigned char c = static_cast<unsigned char>(bytes[bytes.size() - back]);
      if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
      size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (need > back) end = bytes.size() - back;
      break;
    }
    return bytes.substr(0, end);
  }

  static size_t earliest_stop(const std::string& text, const google::protobuf::RepeatedPtrField<std::string>& stops,
                              std::string* which) {
    size_t best = std::string::npos;
    for (const auto& s : stops) {
      size_t p = s.empty() ? std::string::npos : text.find(s);
      if (p != std::string::npos && p < best) {
        best = p;
        *which = s;
      }
    }
    return best;
  }

  // ---- vllm.Inference / vllm.Generate ----

  template <typename Write>
  grpc::Status inference(grpc::ServerContext* ctx, const ::vllm::GenerateRequest& req, bool stream,
                         const std::string& method, Write write) {
    if (req.prompt_case() == ::vllm::GenerateRequest::PROMPT_NOT_SET) {
      count_probe();
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "prompt is required");
    }
    if (!req.model().empty() && req.model() != options.served_model_name)
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "model `" + req.model() + "` not found");
    if (req.sampling().num_sequences() > 1)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "num_sequences > 1 is not supported");
    GrpcCall call;
    call.method = method;
    call.request_id = req.request_id();
    call.inference = req;
    int prompt_tokens = 0;
    if (req.prompt_case() == ::vllm::GenerateRequest::kText) {
      call.prompt = req.text();
      prompt_tokens = static_cast<int>(units_of(req.text()).size());
    } else {
      auto ids = to_i32(req.token_ids().ids());
      call.prompt = tokenizer ? tokenizer->decode(ids, false) : std::string("<token ids>");
      prompt_tokens = static_cast<int>(ids.size());
    }
    Responder responder;
    auto fault = record(call, &responder);
    InFlight guard(this);  // after record(): a call counted in flight is always in calls()

    Answer a;
    a.text = responder(call, 0);
    std::string which;
    size_t stop_at = earliest_stop(a.text, req.stopping().stop_strings(), &which);
    if (stop_at != std::string::npos) {
      a.text = a.text.substr(0, stop_at + (req.stopping().include_stop_strings() ? which.size() : 0));
      a.stop_string = which;
    }
    a.units = units_of(a.text);
    uint32_t max_new = req.stopping().max_new_tokens() ? req.stopping().max_new_tokens() : 20;  // vLLM's default
    if (a.units.size() > max_new) {
      a.units.resize(max_new);
      a.text = text_of(a.units);
      a.finish = "length";
      a.stop_string.clear();
    }
    const auto& ro = req.response();
    // Text deltas as an incremental detokenizer makes them: bytes of an unfinished UTF-8 character
    // wait for the next delta.
    size_t text_sent = 0;
    auto fill = [&](::vllm::SequenceOutput* o, size_t from, size_t to, bool last) {
      std::vector<int32_t> part(a.units.begin() + static_cast<long>(from), a.units.begin() + static_cast<long>(to));
      o->set_index(0);
      std::string upto = last ? a.text : text_prefix(a.units, to);
      o->set_text(upto.size() > text_sent ? upto.substr(text_sent) : std::string());
      text_sent = std::max(text_sent, upto.size());
      o->set_num_tokens(static_cast<uint32_t>(part.size()));
      if (ro.output_token_ids())
        for (int32_t u : part) o->add_token_ids(static_cast<uint32_t>(u));
      if (ro.output_logprobs())
        for (size_t k = from; k < to; ++k) o->add_logprobs(-0.01f * static_cast<float>(k + 1));
      if (last) {
        auto* fi = o->mutable_finish_info();
        fi->set_num_output_tokens(static_cast<uint32_t>(a.units.size()));
        fi->set_finish_reason(a.finish == "length" ? ::vllm::FinishInfo::LENGTH : ::vllm::FinishInfo::STOP);
        if (!a.stop_string.empty()) fi->set_stop_string(a.stop_string);
      }
    };
    int sent = 0;
    if (!stream) {
      if (auto s = fault_point(ctx, fault, sent, false)) return *s;
      ::vllm::GenerateResponse r;
      r.mutable_prompt_info()->set_num_prompt_tokens(static_cast<uint32_t>(prompt_tokens));
      fill(r.mutable_outputs(), 0, a.units.size(), true);
      if (auto s = fault_point(ctx, fault, 1, true)) {
        if (s->ok()) r.mutable_outputs()->clear_finish_info();  // kEndEarly: an answer without finish_info
        else return *s;
      }
      write(r);
      return grpc::Status::OK;
    }
    std::vector<::vllm::GenerateResponse> msgs;
    ::vllm::GenerateResponse first;
    first.mutable_prompt_info()->set_num_prompt_tokens(static_cast<uint32_t>(prompt_tokens));
    msgs.push_back(first);
    const size_t cs = static_cast<size_t>(std::max(1, options.chunk_size));
    if (a.units.empty()) {
      ::vllm::GenerateResponse r;
      fill(r.mutable_outputs(), 0, 0, true);
      msgs.push_back(r);
    }
    for (size_t from = 0; from < a.units.size(); from += cs) {
      size_t to = std::min(a.units.size(), from + cs);
      ::vllm::GenerateResponse r;
      fill(r.mutable_outputs(), from, to, to == a.units.size());
      msgs.push_back(r);
    }
    for (const auto& m : msgs) {
      if (auto s = fault_point(ctx, fault, sent, false)) return *s;
      if (!write(m)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      ++sent;
    }
    if (auto s = fault_point(ctx, fault, sent, true)) return *s;
    return grpc::Status::OK;
  }

  // ---- vllm.grpc.engine.VllmEngine ----

  grpc::Status engine(grpc::ServerContext* ctx, const engine_pb::GenerateRequest& req,
                      grpc::ServerWriter<engine_pb::GenerateResponse>* writer) {
    if (!tokenizer) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "fake engine needs a tokenizer");
    if (req.input_case() != engine_pb::GenerateRequest::kTokenized)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the fake engine takes token ids only");
    GrpcCall call;
    call.method = "vllm.grpc.engine.VllmEngine/Generate";
    call.request_id = req.request_id();
    call.engine = req;
    auto prompt_ids = to_i32(req.tokenized().input_ids());
    call.prompt = tokenizer->decode(prompt_ids, /*skip_special_tokens=*/false);
    Responder responder;
    auto fault = record(call, &responder);
    InFlight guard(this);  // after record(): a call counted in flight is always in calls()

    const auto& sp = req.sampling_params();
    const int n = sp.n() > 0 ? static_cast<int>(sp.n()) : 1;
    const int32_t eos = tokenizer->token_to_id("<|im_end|>").value_or(0);
    std::vector<Answer> answers(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      Answer& a = answers[static_cast<size_t>(i)];
      std::string text = responder(call, i), which;
      size_t stop_at = earliest_stop(text, sp.stop(), &which);
      if (stop_at != std::string::npos) {
        a.units = units_of(text.substr(0, stop_at + which.size()));  // ids run through the stop string
        a.stop_string = which;
      } else {
        a.units = units_of(text);
        a.units.push_back(eos);
      }
      if (sp.has_max_tokens() && a.units.size() > sp.max_tokens()) {
        a.units.resize(sp.max_tokens());
        a.finish = "length";
        a.stop_string.clear();
      }
    }
    const uint32_t prompt_tokens = static_cast<uint32_t>(prompt_ids.size());
    auto logprobs = [&](engine_pb::OutputLogProbs* lp, const std::vector<int32_t>& ids, size_t from) {
      for (size_t k = 0; k < ids.size(); ++k) {
        lp->add_token_logprobs(-0.01f * static_cast<float>(from + k + 1));
        lp->add_token_ids(static_cast<uint32_t>(ids[k]));
      }
    };
    auto complete = [&](int i, const std::vector<int32_t>& ids, size_t from) {
      const Answer& a = answers[static_cast<size_t>(i)];
      engine_pb::GenerateResponse r;
      auto* c = r.mutable_complete();
      for (int32_t id : ids) c->add_output_ids(static_cast<uint32_t>(id));
      c->set_finish_reason(a.finish);
      c->set_prompt_tokens(prompt_tokens);
      c->set_completion_tokens(static_cast<uint32_t>(ids.size()));
      c->set_index(static_cast<uint32_t>(i));
      if (!a.stop_string.empty()) c->set_matched_stop_str(a.stop_string);
      if (sp.has_logprobs()) logprobs(c->mutable_output_logprobs(), ids, from);
      return r;
    };
    std::vector<engine_pb::GenerateResponse> msgs;
    if (!req.stream()) {
      for (int i = 0; i < n; ++i) msgs.push_back(complete(i, answers[static_cast<size_t>(i)].units, 0));
    } else {
      const size_t cs = static_cast<size_t>(std::max(1, options.chunk_size));
      size_t longest = 0;
      for (const auto& a : answers) longest = std::max(longest, a.units.size());
      for (size_t from = 0; from < longest; from += cs) {
        for (int i = 0; i < n; ++i) {
          const Answer& a = answers[static_cast<size_t>(i)];
          if (from >= a.units.size()) continue;
          size_t to = std::min(a.units.size(), from + cs);
          std::vector<int32_t> delta(a.units.begin() + static_cast<long>(from), a.units.begin() + static_cast<long>(to));
          engine_pb::GenerateResponse r;
          auto* c = r.mutable_chunk();
          for (int32_t id : delta) c->add_token_ids(static_cast<uint32_t>(id));
          c->set_prompt_tokens(prompt_tokens);
          c->set_completion_tokens(static_cast<uint32_t>(delta.size()));
          c->set_index(static_cast<uint32_t>(i));
          if (sp.has_logprobs()) logprobs(c->mutable_output_logprobs(), delta, from);
          msgs.push_back(r);
          if (to == a.units.size()) msgs.push_back(complete(i, delta, from));  // repeats the last delta
        }
      }
    }
    int sent = 0;
    for (const auto& m : msgs) {
      if (auto s = fault_point(ctx, fault, sent, false)) return *s;
      if (!writer->Write(m)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      ++sent;
    }
    if (auto s = fault_point(ctx, fault, sent, true)) return *s;
    return grpc::Status::OK;
  }

  void record_abort(const google::protobuf::RepeatedPtrField<std::string>& ids) {
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& id : ids) aborted.push_back(id);
    cv.notify_all();
  }
};

namespace {

template <typename Base>
class InferenceService final : public Base {
 public:
  InferenceService(FakeVllmGrpcServer::Impl* impl, std::string name) : impl_(impl), name_(std::move(name)) {}
  grpc::Status Generate(grpc::ServerContext* ctx, const ::vllm::GenerateRequest* req,
                        ::vllm::GenerateResponse* resp) override {
    return impl_->inference(ctx, *req, false, name_ + "/Generate", [&](const ::vllm::GenerateResponse& r) {
      *resp = r;
      return true;
    });
  }
  grpc::Status GenerateStream(grpc::ServerContext* ctx, const ::vllm::GenerateRequest* req,
                              grpc::ServerWriter<::vllm::GenerateResponse>* writer) override {
    return impl_->inference(ctx, *req, true, name_ + "/GenerateStream",
                            [&](const ::vllm::GenerateResponse& r) { return writer->Write(r); });
  }

 private:
  FakeVllmGrpcServer::Impl* impl_;
  std::string name_;
};

class ControlService final : public ::vllm::Control::Service {
 public:
  ControlService(FakeVllmGrpcServer::Impl* impl, bool full) : impl_(impl), full_(full) {}
  grpc::Status GetModelInfo(grpc::ServerContext* ctx, const ::vllm::GetModelInfoRequest* req,
                            ::vllm::ModelInfo* resp) override {
    if (!full_) return ::vllm::Control::Service::GetModelInfo(ctx, req, resp);  // UNIMPLEMENTED
    {
      std::lock_guard<std::mutex> lk(impl_->mu);
      ++impl_->model_infos;
    }
    resp->set_model_id(impl_->options.model_path);
    resp->set_served_model_name(impl_->options.served_model_name);
    resp->set_supports_text_input(true);
    resp->set_supports_token_ids_input(true);
    return grpc::Status::OK;
  }
  grpc::Status Abort(grpc::ServerContext*, const ::vllm::AbortRequest* req, ::vllm::AbortResponse*) override {
    impl_->record_abort(req->request_ids());
    return grpc::Status::OK;
  }

 private:
  FakeVllmGrpcServer::Impl* impl_;
  bool full_;
};

class EngineService final : public engine_pb::VllmEngine::Service {
 public:
  explicit EngineService(FakeVllmGrpcServer::Impl* impl) : impl_(impl) {}
  grpc::Status Generate(grpc::ServerContext* ctx, const engine_pb::GenerateRequest* req,
                        grpc::ServerWriter<engine_pb::GenerateResponse>* writer) override {
    return impl_->engine(ctx, *req, writer);
  }
  grpc::Status HealthCheck(grpc::ServerContext*, const engine_pb::HealthCheckRequest*,
                           engine_pb::HealthCheckResponse* resp) override {
    impl_->count_probe();
    resp->set_healthy(true);
    resp->set_message("Health");
    return grpc::Status::OK;
  }
  grpc::Status Abort(grpc::ServerContext*, const engine_pb::AbortRequest* req, engine_pb::AbortResponse*) override {
    impl_->record_abort(req->request_ids());
    return grpc::Status::OK;
  }
  grpc::Status GetModelInfo(grpc::ServerContext*, const engine_pb::GetModelInfoRequest*,
                            engine_pb::GetModelInfoResponse* resp) override {
    {
      std::lock_guard<std::mutex> lk(impl_->mu);
      ++impl_->model_infos;
    }
    resp->set_model_path(impl_->options.model_path);
    resp->set_served_model_name(impl_->options.served_model_name);
    resp->set_is_generation(true);
    resp->set_max_context_length(4096);
    resp->set_vocab_size(static_cast<uint32_t>(impl_->tokenizer ? impl_->tokenizer->vocab_size() : 0));
    return grpc::Status::OK;
  }

 private:
  FakeVllmGrpcServer::Impl* impl_;
};

}  // namespace

FakeVllmGrpcServer::FakeVllmGrpcServer(Options options, Responder responder) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->responder = std::move(responder);
  if (!impl_->options.tokenizer_dir.empty()) {
    auto tok = Tokenizer::from_dir(impl_->options.tokenizer_dir);
    if (!tok) throw std::runtime_error("FakeVllmGrpcServer: " + tok.status().message());
    impl_->tokenizer = std::move(*tok);
  }
  switch (impl_->options.flavor) {
    case Flavor::kInference:
      impl_->services.push_back(std::make_unique<InferenceService<::vllm::Inference::Service>>(impl_.get(), "vllm.Inference"));
      impl_->services.push_back(std::make_unique<ControlService>(impl_.get(), true));
      break;
    case Flavor::kLegacyGenerate:
      impl_->services.push_back(std::make_unique<InferenceService<::vllm::Generate::Service>>(impl_.get(), "vllm.Generate"));
      impl_->services.push_back(std::make_unique<ControlService>(impl_.get(), false));
      break;
    case Flavor::kEngine:
      impl_->services.push_back(std::make_unique<EngineService>(impl_.get()));
      break;
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  for (auto& s : impl_->services) builder.RegisterService(s.get());
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port_ == 0) throw std::runtime_error("FakeVllmGrpcServer: could not listen on 127.0.0.1");
}

FakeVllmGrpcServer::~FakeVllmGrpcServer() { stop(); }

void FakeVllmGrpcServer::stop() {
  std::lock_guard<std::mutex> slk(impl_->stop_mu);
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->server->Wait();
}

std::string FakeVllmGrpcServer::address() const { return "127.0.0.1:" + std::to_string(port_); }

void FakeVllmGrpcServer::set_responder(Responder responder) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->responder = std::move(responder);
}

void FakeVllmGrpcServer::push_fault(GrpcFault fault) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->faults.push_back(std::move(fault));
}

std::vector<GrpcCall> FakeVllmGrpcServer::calls() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->calls;
}
int FakeVllmGrpcServer::call_count() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return static_cast<int>(impl_->calls.size());
}
int FakeVllmGrpcServer::probe_count() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->probes;
}
int FakeVllmGrpcServer::model_info_count() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->model_infos;
}
std::vector<std::string> FakeVllmGrpcServer::aborted() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->aborted;
}
int FakeVllmGrpcServer::in_flight() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->in_flight;
}
int FakeVllmGrpcServer::max_in_flight() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->max_in_flight;
}

namespace {
template <typename Pred>
bool wait_cv(std::mutex& mu, std::condition_variable& cv, double timeout_s, Pred pred) {
  std::unique_lock<std::mutex> lk(mu);
  return cv.wait_for(lk, std::chrono::duration<double>(timeout_s), pred);
}
}  // namespace

bool FakeVllmGrpcServer::wait_for_aborts(size_t n, double timeout_s) const {
  return wait_cv(impl_->mu, impl_->cv, timeout_s, [&] { return impl_->aborted.size() >= n; });
}
bool FakeVllmGrpcServer::wait_for_in_flight(int n, double timeout_s) const {
  return wait_cv(impl_->mu, impl_->cv, timeout_s, [&] { return impl_->in_flight >= n; });
}
bool FakeVllmGrpcServer::wait_for_calls(int n, double timeout_s) const {
  return wait_cv(impl_->mu, impl_->cv, timeout_s, [&] { return static_cast<int>(impl_->calls.size()) >= n; });
}

}  // namespace crucible::testing
