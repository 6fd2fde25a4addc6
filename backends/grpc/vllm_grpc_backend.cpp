// vLLM gRPC backend: a fixed pool of `concurrency` worker threads consuming a FIFO of calls, the
// protocol probe, prompt preparation (chat template + tokenizer), retries and cancellation. The
// RPCs themselves are in vllm_grpc_protocols.cpp. See vllm_grpc_backend.h for the contract.
//
// A request is queued as one "root" unit. The worker that takes it first resolves the protocol;
// when the protocol caps samples per call (vllm.Inference: 1) it splits the unit into calls of at
// most that many samples and puts the others at the front of the queue, so idle workers run them
// concurrently. Each unit stores its samples in the request's slots; the last one to finish
// resolves the request, the first to fail resolves it with the error and cancels its siblings.
#include "backends/grpc/vllm_grpc_backend.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "backends/chat_template/chat_template.h"
#include "backends/grpc/vllm_grpc_protocols.h"
#include "backends/retry_backoff.h"
#include "backends/tokenizer/tokenizer.h"

namespace crucible {

using grpc_detail::CallOutcome;
using grpc_detail::CallSpec;
using grpc_detail::PreparedPrompt;
using grpc_detail::Protocol;

// ------------------------------------------------------------------------------------------------
// Helpers

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

}  // namespace

Result<GrpcTarget> parse_grpc_target(const std::string& url_in) {
  const std::string url = trim(url_in);
  if (url.empty()) return Status::invalid("vllm-grpc: empty target; expected HOST:PORT");
  GrpcTarget t;
  for (const char* scheme : {"dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:"}) {
    if (starts_with(url, scheme)) {
      t.address = url;
      return t;
    }
  }
  std::string rest = url;
  if (starts_with(rest, "https://")) {
    t.tls = true;
    rest = rest.substr(8);
  } else if (starts_with(rest, "http://")) {
    rest = rest.substr(7);
  } else if (starts_with(rest, "grpc://")) {
    rest = rest.substr(7);
  } else if (rest.find("://") != std::string::npos) {
    return Status::invalid("vllm-grpc: unsupported scheme in '" + url + "' (use HOST:PORT, http://, https:// or grpc://)");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (auto slash = rest.find('/'); slash != std::string::npos)
    return Status::invalid("vllm-grpc: a gRPC target has no path: '" + url + "' (use HOST:PORT, without '" +
                           rest.substr(slash) + "')");
  // HOST:PORT, with [v6]:PORT for IPv6 literals.
  size_t colon = rest.rfind(':');
  size_t bracket = rest.rfind(']');
  if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket) || colon == 0)
    return Status::invalid("vllm-grpc: '" + url + "' has no port; expected HOST:PORT (vLLM's gRPC port)");
  std::string port = rest.substr(colon + 1);
  bool digits = !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535)
    return Status::invalid("vllm-grpc: bad port '" + port + "' in '" + url + "'");
  t.address = rest;
  return t;
}

bool grpc_code_retryable(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::CANCELLED:  // only reached when the client did not cancel
      return true;
    default:
      return false;
  }
}

std::string grpc_code_name(int code) {
  static const char* const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(sizeof names / sizeof names[0])) return names[code];
  return "CODE_" + std::to_string(code);
}

std::string cut_at_stop_string(const std::string& text, const std::vector<std::string>& stops) {
  size_t cut = std::string::npos;
  for (const auto& s : stops) {
    if (s.empty()) continue;
    size_t p = text.find(s);
    if (p != std::string::npos && p < cut) cut = p;
  }
  return cut == std::string::npos ? text : text.substr(0, cut);
}

// ------------------------------------------------------------------------------------------------
// The backend

namespace {

using Clock = std::chrono::steady_clock;
using SampleResult = Result<std::vector<GrpcSample>>;

struct JobState {
  GenerationRequest request;
  GrpcGenerateOptions options;
  std::function<void(SampleResult)> done;  // called once

  std::mutex mu;  // guards everything below
  bool finished = false;
  bool split = false;
  bool prepared = false;
  Status prepare_error;
  PreparedPrompt prompt;
  std::vector<GrpcSample> samples;
  int remaining = 0;
};

// One call's worth of a request: samples [first, first + count).
struct Unit {
  std::shared_ptr<JobState> job;
  int first = 0;
  int count = 0;
  bool root = false;  // not split yet: the protocol decides how many samples a call may carry
};

struct Worker {
  std::thread thread;
  size_t channel = 0;
  std::atomic<bool> cancel{false};   // raised by cancel_all / a failed sibling for the unit it holds
  std::shared_ptr<JobState> job;     // guarded by the backend's mu_
  grpc::ClientContext* ctx = nullptr;  // the call in flight; guarded by mu_
};

struct UnitOutcome {
  SampleResult result = Status::internal("unit not run");
  std::vector<std::string> abort_ids;  // sent to the server after the result is delivered
  Protocol* abort_via = nullptr;
};

enum class ProbeState { kOk, kFinal, kTransient };

class GrpcBackend final : public VllmGrpcBackend {
 public:
  GrpcBackend(VllmGrpcBackendConfig config, GrpcTarget target, std::optional<Tokenizer> tokenizer,
              std::optional<ChatTemplate> chat_template, Status template_error)
      : config_(std::move(config)),
        target_(std::move(target)),
        tokenizer_(std::move(tokenizer)),
        template_(std::move(chat_template)),
        template_error_(std::move(template_error)) {
    std::random_device rd;
    id_prefix_ = "crucible-";
    const char* hex = "0123456789abcdef";
    for (int i = 0; i < 12; ++i) id_prefix_ += hex[rd() % 16];
    id_prefix_ += "-";

    const int per_connection = 64;
    const size_t channels = static_cast<size_t>((config_.concurrency + per_connection - 1) / per_connection);
    auto creds = target_.tls ? grpc::SslCredentials(grpc::SslCredentialsOptions())
                             : grpc::InsecureChannelCredentials();
    for (size_t i = 0; i < channels; ++i) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(-1);
      args.SetMaxSendMessageSize(-1);
      if (channels > 1) {
        // Separate HTTP/2 connections: a server's concurrent-stream limit is per connection.
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        args.SetInt("crucible.channel_index", static_cast<int>(i));
      }
      channels_.push_back(grpc::CreateCustomChannel(target_.address, creds, args));
    }
    workers_.reserve(static_cast<size_t>(config_.concurrency));
    for (int i = 0; i < config_.concurrency; ++i) {
      auto w = std::make_unique<Worker>();
      w->channel = static_cast<size_t>(i) % channels_.size();
      workers_.push_back(std::move(w));
    }
    for (auto& w : workers_) {
      Worker* wp = w.get();
      w->thread = std::thread([this, wp] { run_worker(*wp); });
    }
  }

  ~GrpcBackend() override {
    std::deque<Unit> drained;
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
      drained.swap(queue_);
      cancel_workers_locked(nullptr);
    }
    cv_.notify_all();
    sleep_cv_.notify_all();
    for (auto& u : drained)
      fail_job(u.job, Status::unavailable("request to " + target_.address + " cancelled: backend destroyed"));
    for (auto& w : workers_)
      if (w->thread.joinable()) w->thread.join();
  }

  std::future<Result<std::vector<Completion>>> submit(GenerationRequest request) override {
    auto promise = std::make_shared<std::promise<Result<std::vector<Completion>>>>();
    auto fut = promise->get_future();
    enqueue(std::move(request), GrpcGenerateOptions{}, [promise](SampleResult r) {
      if (!r) {
        promise->set_value(r.status());
        return;
      }
      std::vector<Completion> out;
      out.reserve(r->size());
      for (auto& s : *r) out.push_back(std::move(s.completion));
      promise->set_value(std::move(out));
    });
    return fut;
  }

  std::future<SampleResult> generate(GenerationRequest request, GrpcGenerateOptions options) override {
    auto promise = std::make_shared<std::promise<SampleResult>>();
    auto fut = promise->get_future();
    enqueue(std::move(request), std::move(options), [promise](SampleResult r) { promise->set_value(std::move(r)); });
    return fut;
  }

  void cancel_all() override {
    std::deque<Unit> drained;
    {
      std::lock_guard<std::mutex> lk(mu_);
      drained.swap(queue_);
      cancel_workers_locked(nullptr);
    }
    sleep_cv_.notify_all();
    for (auto& u : drained)
      fail_job(u.job, Status::unavailable("request to " + target_.address + " cancelled before it was sent"));
  }

  std::string name() const override { return "vllm-grpc:" + config_.model + "@" + target_.address; }

  std::string protocol() const override {
    std::lock_guard<std::mutex> lk(info_mu_);
    return protocol_kind_;
  }
  std::string generate_method() const override {
    std::lock_guard<std::mutex> lk(info_mu_);
    return method_;
  }
  std::string served_model() const override {
    std::lock_guard<std::mutex> lk(info_mu_);
    return served_model_;
  }

 private:
  void enqueue(GenerationRequest request, GrpcGenerateOptions options, std::function<void(SampleResult)> done) {
    if (request.params.n < 1) {
      done(Status::invalid("vllm-grpc backend: n must be >= 1 (problem " + request.problem_id + ")"));
      return;
    }
    auto job = std::make_shared<JobState>();
    job->request = std::move(request);
    job->options = std::move(options);
    job->done = std::move(done);
    job->samples.resize(static_cast<size_t>(job->request.params.n));
    job->remaining = job->request.params.n;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) {
        auto d = std::move(job->done);
        job->finished = true;
        d(Status::unavailable("vllm-grpc backend: shutting down"));
        return;
      }
      queue_.push_back(Unit{job, 0, job->request.params.n, true});
    }
    cv_.notify_one();
  }

  // Caller holds mu_. Cancels the calls of every worker (job == nullptr) or of those holding `job`
  // except `except`.
  void cancel_workers_locked(const JobState* job, const Worker* except = nullptr) {
    for (auto& w : workers_) {
      if (w.get() == except) continue;
      if (job && w->job.get() != job) continue;
      w->cancel.store(true);
      if (w->ctx) w->ctx->TryCancel();
    }
  }

  void fail_job(const std::shared_ptr<JobState>& job, Status status) {
    std::function<void(SampleResult)> done;
    {
      std::lock_guard<std::mutex> lk(job->mu);
      if (job->finished) return;
      job->finished = true;
      done = std::move(job->done);
    }
    done(std::move(status));
  }

  static bool job_finished(JobState& job) {
    std::lock_guard<std::mutex> lk(job.mu);
    return job.finished;
  }

  void run_worker(Worker& w) {
    std::mt19937_64 rng(std::random_device{}() ^ reinterpret_cast<uintptr_t>(&w));
    for (;;) {
      Unit unit;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        unit = std::move(queue_.front());
        queue_.pop_front();
        w.cancel.store(false);
        w.job = unit.job;
      }
      UnitOutcome out;
      if (job_finished(*unit.job)) out.result = Status::unavailable("skipped: request already resolved");
      else out = run_unit(unit, w, rng);
      {
        std::lock_guard<std::mutex> lk(mu_);
        w.job.reset();
      }
      deliver(unit, w, std::move(out.result));
      if (out.abort_via && !out.abort_ids.empty())
        out.abort_via->abort(out.abort_ids, std::min(config_.abort_timeout_s, config_.timeout_s));
    }
  }

  void deliver(const Unit& u, Worker& w, SampleResult r) {
    JobState& job = *u.job;
    std::function<void(SampleResult)> done;
    SampleResult outcome = Status::internal("unset");
    bool failed = false;
    {
      std::lock_guard<std::mutex> lk(job.mu);
      if (job.finished) return;
      if (!r) {
        job.finished = true;
        failed = true;
        done = std::move(job.done);
        outcome = r.status();
      } else {
        for (int i = 0; i < u.count && i < static_cast<int>(r->size()); ++i)
          job.samples[static_cast<size_t>(u.first + i)] = std::move((*r)[static_cast<size_t>(i)]);
        job.remaining -= u.count;
        if (job.remaining == 0) {
          job.finished = true;
          done = std::move(job.done);
          outcome = std::move(job.samples);
        }
      }
    }
    if (failed) {
      std::lock_guard<std::mutex> lk(mu_);
      cancel_workers_locked(&job, &w);  // siblings of a failed request stop
    }
    sleep_cv_.notify_all();
    if (done) done(std::move(outcome));
  }

  // Makes `ctx` cancellable by cancel_all; false when the worker is already cancelled.
  bool register_ctx(Worker& w, grpc::ClientContext* ctx) {
    std::lock_guard<std::mutex> lk(mu_);
    if (w.cancel.load() || stopping_) return false;
    w.ctx = ctx;
    return true;
  }
  void unregister_ctx(Worker& w) {
    std::lock_guard<std::mutex> lk(mu_);
    w.ctx = nullptr;
  }

  // Sleeps up to `seconds`; false when woken by cancellation or shutdown.
  bool backoff_sleep(double seconds, Worker& w, JobState& job) {
    std::unique_lock<std::mutex> lk(mu_);
    auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    bool woke = sleep_cv_.wait_until(lk, until, [&] { return stopping_ || w.cancel.load(); });
    if (woke) return false;
    lk.unlock();
    return !job_finished(job);
  }

  double backoff_delay(int retry, std::mt19937_64& rng) const {
    return retry_backoff_delay(config_.backoff_initial_s, config_.backoff_max_s, retry, rng);
  }

  std::string new_request_id() { return id_prefix_ + std::to_string(next_id_.fetch_add(1)); }

  double probe_timeout() const { return std::min(config_.probe_timeout_s, config_.timeout_s); }

  // Resolves the protocol (probing under "auto") and checks the served model, once.
  ProbeState ensure_protocol(Worker& w, Status* final_error, std::string* transient, bool* timeout) {
    if (resolved_.load(std::memory_order_acquire)) return ProbeState::kOk;
    std::lock_guard<std::mutex> lk(probe_mu_);
    if (resolved_.load(std::memory_order_acquire)) return ProbeState::kOk;
    if (!sticky_error_.is_ok()) {
      *final_error = sticky_error_;
      return ProbeState::kFinal;
    }
    auto transient_from = [&](const grpc::Status& s, const std::string& what) {
      *transient = what + ": " + grpc_code_name(s.error_code()) + ": " + s.error_message();
      *timeout = s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
      return ProbeState::kTransient;
    };
    if (chosen_.empty()) {
      if (config_.protocol == "engine") {
        chosen_ = "engine";
      } else {
        struct Candidate {
          const char* kind;
          const char* service;
          bool legacy;
        };
        std::vector<Candidate> candidates = {{"inference", "vllm.Inference", false},
                                             {"inference-legacy", "vllm.Generate", true}};
        if (config_.protocol == "auto") candidates.push_back({"engine", "vllm.grpc.engine.VllmEngine", false});
        std::string tried;
        for (const auto& c : candidates) {
          grpc::ClientContext ctx;
          grpc_detail::set_deadline(ctx, probe_timeout());
          if (!register_ctx(w, &ctx)) return transient_from(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"), "probe");
          grpc::Status s = std::string(c.kind) == "engine"
                               ? grpc_detail::probe_engine_service(channels_[0], ctx)
                               : grpc_detail::probe_inference_service(channels_[0], c.legacy, ctx);
          unregister_ctx(w);
          if (s.ok()) {
            chosen_ = c.kind;
            break;
          }
          if (s.error_code() != grpc::StatusCode::UNIMPLEMENTED)
            return transient_from(s, std::string("probing ") + c.service + " at " + target_.address);
          tried += std::string(tried.empty() ? "" : ", ") + c.service;
        }
        if (chosen_.empty()) {
          sticky_error_ = Status::invalid(
              "vllm-grpc: no vLLM gRPC service at " + target_.address + " (" + tried +
              " answered UNIMPLEMENTED" +
              (config_.protocol == "inference" ? "; is it a `vllm serve --grpc` engine server? try --grpc-protocol engine"
                                               : "") +
              ")");
          *final_error = sticky_error_;
          return ProbeState::kFinal;
        }
      }
      for (auto& ch : channels_) {
        if (chosen_ == "engine") protocols_.push_back(grpc_detail::make_engine_protocol(ch, tokenizer_ ? &*tokenizer_ : nullptr));
        else protocols_.push_back(grpc_detail::make_inference_protocol(ch, chosen_ == "inference-legacy", config_.stream));
      }
    }
    // Model info: informational on vllm.Inference (the server checks `model` itself), a check on
    // VllmEngine (which has no model field). Transport trouble is retried like any attempt.
    grpc_detail::ServedModel served;
    grpc::Status s;
    {
      grpc::ClientContext ctx;
      grpc_detail::set_deadline(ctx, probe_timeout());
      if (!register_ctx(w, &ctx)) return transient_from(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"), "probe");
      s = protocols_[0]->model_info(ctx, &served);
      unregister_ctx(w);
    }
    if (!s.ok() && (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                    s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED))
      return transient_from(s, "GetModelInfo at " + target_.address);
    if (s.ok() && chosen_ == "engine" && !config_.model.empty() && config_.model != served.served_model_name &&
        config_.model != served.model_path && !(served.served_model_name.empty() && served.model_path.empty())) {
      sticky_error_ = Status::invalid("vllm-grpc: --model '" + config_.model + "' but the server at " + target_.address +
                                      " serves '" + served.served_model_name + "' (" + served.model_path + ")");
      *final_error = sticky_error_;
      return ProbeState::kFinal;
    }
    {
      std::lock_guard<std::mutex> ilk(info_mu_);
      protocol_kind_ = protocols_[0]->kind();
      method_ = protocols_[0]->generate_method();
      if (s.ok()) served_model_ = served.served_model_name;
    }
    resolved_.store(true, std::memory_order_release);
    return ProbeState::kOk;
  }

  // Prepares the request's prompt once (the first call to need it); a final error otherwise.
  Status prepare(JobState& job, const Protocol& proto, PreparedPrompt** out) {
    std::lock_guard<std::mutex> lk(job.mu);
    if (!job.prepared) {
      job.prepared = true;
      job.prepare_error = prepare_locked(job, proto);
    }
    *out = &job.prompt;
    return job.prepare_error;
  }

  Status prepare_locked(JobState& job, const Protocol& proto) {
    const GenerationRequest& r = job.request;
    PreparedPrompt& p = job.prompt;
    const std::string hint =
        ": pass --tokenizer DIR (the model's tokenizer.json and tokenizer_config.json; default --model-dir)";
    if (proto.kind() == "engine" && !tokenizer_)
      return Status::invalid("vllm-grpc: vllm.grpc.engine.VllmEngine works on token ids only, so Crucible needs the "
                             "model's tokenizer to encode prompts and decode completions" + hint);
    if (!job.options.prompt_token_ids.empty()) {
      p.token_ids = true;
      for (int32_t id : job.options.prompt_token_ids) {
        if (id < 0) return Status::invalid("vllm-grpc: negative prompt token id " + std::to_string(id));
        p.ids.push_back(static_cast<uint32_t>(id));
      }
      return Status::ok();
    }
    if (!proto.needs_token_ids(r.chat)) {
      p.text = r.prompt;
      return Status::ok();
    }
    if (!tokenizer_)
      return Status::invalid("vllm-grpc: chat prompts need the model's chat template and tokenizer (vllm.Inference "
                             "takes a prompt, not messages)" + hint + "; or use --mode completion");
    std::vector<int32_t> ids;
    if (r.chat) {
      if (!template_) return Status::invalid("vllm-grpc: cannot render chat prompts: " + template_error_.message());
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      for (const auto& m : r.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
      auto text = template_->render_ordered(msgs, /*add_generation_prompt=*/true);
      if (!text) return Status::invalid("vllm-grpc: chat template: " + text.status().message());
      p.text = std::move(*text);
      ids = tokenizer_->encode(p.text, /*add_special_tokens=*/false);  // the template has BOS
    } else {
      p.text = r.prompt;
      ids = tokenizer_->encode(p.text, /*add_special_tokens=*/true);
    }
    p.token_ids = true;
    p.ids.assign(ids.begin(), ids.end());
    return Status::ok();
  }

  // First sample split off a root unit: the protocol's cap on samples per call.
  void split(Unit& u, const Protocol& proto) {
    JobState& job = *u.job;
    {
      std::lock_guard<std::mutex> lk(job.mu);
      if (job.split) return;
      job.split = true;
    }
    const int per = std::max(1, proto.max_n_per_call());
    if (u.count <= per) return;
    std::vector<Unit> extra;
    for (int first = u.first + per; first < u.first + u.count; first += per)
      extra.push_back(Unit{u.job, first, std::min(per, u.first + u.count - first), false});
    u.count = per;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) return;  // the destructor fails the job
      for (auto it = extra.rbegin(); it != extra.rend(); ++it) queue_.push_front(*it);
    }
    cv_.notify_all();
  }

  UnitOutcome run_unit(Unit& u, Worker& w, std::mt19937_64& rng) {
    JobState& job = *u.job;
    const GenerationRequest& req = job.request;
    const int max_malformed = std::min(config_.max_retries, 3);
    int attempts = 0, malformed = 0;
    std::string last_error, method = "probe";
    bool last_was_timeout = false;
    UnitOutcome out;
    auto cancelled = [&] {
      return Status::unavailable("request to " + target_.address + " cancelled (problem " + req.problem_id + ")");
    };
    for (;;) {
      if (w.cancel.load() || job_finished(job)) {
        out.result = cancelled();
        return out;
      }
      ++attempts;
      bool retryable = true;
      Status final_error;
      std::string transient;
      bool timeout = false;
      ProbeState ps = ensure_protocol(w, &final_error, &transient, &timeout);
      if (ps == ProbeState::kFinal) {
        out.result = final_error;
        return out;
      }
      if (ps == ProbeState::kTransient) {
        if (w.cancel.load()) {
          out.result = cancelled();
          return out;
        }
        last_error = transient;
        last_was_timeout = timeout;
      } else {
        Protocol& proto = *protocols_[w.channel];
        method = proto.generate_method();
        if (u.root) {
          split(u, proto);
          u.root = false;
        }
        PreparedPrompt* prompt = nullptr;
        if (Status s = prepare(job, proto, &prompt); !s) {
          out.result = s;
          return out;
        }
        CallSpec spec;
        spec.request_id = new_request_id();
        spec.prompt = prompt;
        spec.params = &req.params;
        spec.model = config_.model;
        spec.n = u.count;
        if (req.params.seed) spec.seed = *req.params.seed + static_cast<uint64_t>(u.first);
        spec.logprobs = job.options.logprobs;
        grpc::ClientContext ctx;
        grpc_detail::set_deadline(ctx, config_.timeout_s);
        if (!register_ctx(w, &ctx)) {
          out.result = cancelled();
          return out;
        }
        CallOutcome call = proto.generate(ctx, spec);
        unregister_ctx(w);
        const grpc::StatusCode code = call.status.error_code();
        if (call.status.ok() && call.malformed.empty() && static_cast<int>(call.samples.size()) != u.count)
          call.malformed = std::to_string(call.samples.size()) + " samples for " + std::to_string(u.count) + " asked";
        if (call.status.ok() && call.malformed.empty()) {
          out.result = std::move(call.samples);
          return out;
        }
        if (code == grpc::StatusCode::CANCELLED && (w.cancel.load() || job_finished(job))) {
          out.result = cancelled();
          out.abort_ids = {spec.request_id};
          out.abort_via = &proto;
          return out;
        }
        if (call.status.ok()) {
          last_error = "unusable answer: " + call.malformed;
          last_was_timeout = false;
          if (++malformed > max_malformed) retryable = false;
        } else if (!grpc_code_retryable(code)) {
          out.result = Status::invalid("gRPC " + grpc_code_name(code) + " from " + target_.address + " (" + method +
                                       "): " + call.status.error_message() + " (not retried)");
          return out;
        } else {
          last_error = grpc_code_name(code) + ": " + call.status.error_message();
          last_was_timeout = code == grpc::StatusCode::DEADLINE_EXCEEDED;
          if (last_was_timeout) {
            last_error = "DEADLINE_EXCEEDED after " + format_seconds(config_.timeout_s) + " s: " + call.status.error_message();
            proto.abort({spec.request_id}, std::min(config_.abort_timeout_s, config_.timeout_s));  // free the server
          }
        }
      }
      if (!retryable || attempts > config_.max_retries) {
        std::string msg = "request to " + target_.address + " (" + method + ") failed after " +
                          std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts") +
                          "; last error: " + last_error;
        out.result = last_was_timeout ? Status::timeout(msg) : Status::unavailable(msg);
        return out;
      }
      if (!backoff_sleep(backoff_delay(attempts, rng), w, job)) {
        out.result = cancelled();
        return out;
      }
    }
  }

  VllmGrpcBackendConfig config_;
  GrpcTarget target_;
  std::optional<Tokenizer> tokenizer_;
  std::optional<ChatTemplate> template_;
  Status template_error_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::string id_prefix_;
  std::atomic<uint64_t> next_id_{1};

  // Protocol resolution (once).
  std::mutex probe_mu_;
  std::atomic<bool> resolved_{false};
  std::string chosen_;  // guarded by probe_mu_
  Status sticky_error_;  // guarded by probe_mu_
  std::vector<std::unique_ptr<Protocol>> protocols_;  // one per channel; written once under probe_mu_
  mutable std::mutex info_mu_;
  std::string protocol_kind_, method_, served_model_;

  std::mutex mu_;
  std::condition_variable cv_;        // queue non-empty / stopping
  std::condition_variable sleep_cv_;  // wakes backoff sleeps on cancel / stop
  std::deque<Unit> queue_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace

Result<std::unique_ptr<VllmGrpcBackend>> make_vllm_grpc_client(const VllmGrpcBackendConfig& config) {
  auto target = parse_grpc_target(config.target);
  if (!target) return target.status();
  if (config.concurrency < 1)
    return Status::invalid("vllm-grpc: concurrency must be >= 1 (got " + std::to_string(config.concurrency) + ")");
  if (config.protocol != "auto" && config.protocol != "inference" && config.protocol != "engine")
    return Status::invalid("vllm-grpc: --grpc-protocol must be auto, inference or engine, got '" + config.protocol + "'");
  if (!(config.timeout_s > 0)) return Status::invalid("vllm-grpc: timeout must be > 0");
  if (config.protocol == "engine" && config.tokenizer_dir.empty())
    return Status::invalid("vllm-grpc: --grpc-protocol engine (vllm.grpc.engine.VllmEngine) works on token ids "
                           "only: pass --tokenizer DIR (the model's tokenizer.json and tokenizer_config.json)");
  std::optional<Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;
  Status template_error = Status::invalid("no --tokenizer directory");
  if (!config.tokenizer_dir.empty()) {
    auto tok = Tokenizer::from_dir(config.tokenizer_dir);
    if (!tok) return Status::invalid("vllm-grpc: --tokenizer " + config.tokenizer_dir + ": " + tok.status().message());
    tokenizer = std::move(*tok);
    // A directory without a chat template still serves completion-mode prompts.
    auto tpl = ChatTemplate::from_tokenizer_config(config.tokenizer_dir);
    if (tpl) chat_template = std::move(*tpl);
    else template_error = tpl.status();
  }
  return std::unique_ptr<VllmGrpcBackend>(std::make_unique<GrpcBackend>(
      config, std::move(*target), std::move(tokenizer), std::move(chat_template), std::move(template_error)));
}

Result<std::unique_ptr<Backend>> make_vllm_grpc_backend(const VllmGrpcBackendConfig& config) {
  auto b = make_vllm_grpc_client(config);
  if (!b) return b.status();
  return std::unique_ptr<Backend>(std::move(*b));
}

}  // namespace crucible
