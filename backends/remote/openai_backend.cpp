// OpenAI-compatible backend: a fixed pool of `concurrency` worker threads, each with its own
// keep-alive HttpClient, consuming a FIFO queue of requests. See openai_backend.h for the contract
// and the response conventions.
#include "backends/remote/openai_backend.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "backends/remote/http_client.h"
#include "backends/retry_backoff.h"

namespace crucible {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string truncate(std::string s, size_t max = 500) {
  if (s.size() > max) {
    s.resize(max);
    s += "...";
  }
  return s;
}

}  // namespace

std::string extract_server_error_message(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    auto as_text = [](const json& v) -> std::string {
      if (v.is_string()) return v.get<std::string>();
      if (v.is_null()) return "";
      return v.dump();
    };
    if (j.is_object()) {
      if (j.contains("error")) {
        const json& e = j["error"];
        if (e.is_object() && e.contains("message")) return as_text(e["message"]);
        return as_text(e);
      }
      if (j.contains("message")) return as_text(j["message"]);
      if (j.contains("detail")) return as_text(j["detail"]);
    }
  }
  return truncate(body);
}

std::optional<double> parse_retry_after(const std::string& value) {
  // Only the delta-seconds form (possibly fractional); an HTTP-date is ignored.
  size_t pos = 0;
  try {
    double s = std::stod(value, &pos);
    while (pos < value.size() && std::isspace(static_cast<unsigned char>(value[pos]))) ++pos;
    if (pos != value.size() || !std::isfinite(s) || s < 0) return std::nullopt;
    return s;
  } catch (...) {
    return std::nullopt;
  }
}

Result<std::vector<Completion>> parse_openai_response(const std::string& body, bool chat) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::parse("response is not valid JSON: " + truncate(body, 200));
  if (!j.is_object()) return Status::parse("response is not a JSON object: " + truncate(body, 200));
  if (!j.contains("choices") || !j["choices"].is_array())
    return Status::parse("response has no \"choices\" array: " + truncate(body, 200));
  const json& choices = j["choices"];
  int prompt_tokens = -1, completion_tokens = -1;
  if (j.contains("usage") && j["usage"].is_object()) {
    const json& u = j["usage"];
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) prompt_tokens = u["prompt_tokens"].get<int>();
    if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
      completion_tokens = u["completion_tokens"].get<int>();
  }
  std::vector<std::pair<long long, Completion>> out;
  for (size_t i = 0; i < choices.size(); ++i) {
    const json& c = choices[i];
    if (!c.is_object()) return Status::parse("choices[" + std::to_string(i) + "] is not an object");
    long long index = static_cast<long long>(i);
    if (c.contains("index") && c["index"].is_number_integer()) index = c["index"].get<long long>();
    Completion comp;
    if (chat) {
      if (!c.contains("message") || !c["message"].is_object())
        return Status::parse("choices[" + std::to_string(i) + "] has no \"message\" object");
      const json& m = c["message"];
      std::string content, reasoning;
      if (m.contains("content") && m["content"].is_string()) content = m["content"].get<std::string>();
      for (const char* key : {"reasoning_content", "reasoning"}) {
        if (m.contains(key) && m[key].is_string() && !m[key].get<std::string>().empty()) {
          reasoning = m[key].get<std::string>();
          break;
        }
      }
      comp.text = reasoning.empty() ? content : "<think>\n" + reasoning + "\n</think>\n\n" + content;
    } else {
      if (!c.contains("text") || !c["text"].is_string())
        return Status::parse("choices[" + std::to_string(i) + "] has no \"text\" string");
      comp.text = c["text"].get<std::string>();
    }
    if (c.contains("finish_reason") && c["finish_reason"].is_string())
      comp.finish_reason = c["finish_reason"].get<std::string>();
    comp.prompt_tokens = prompt_tokens;
    if (choices.size() == 1) comp.completion_tokens = completion_tokens;
    out.emplace_back(index, std::move(comp));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Completion> result;
  result.reserve(out.size());
  for (auto& [idx, c] : out) result.push_back(std::move(c));
  return result;
}

namespace {

struct Job {
  GenerationRequest request;
  std::promise<Result<std::vector<Completion>>> promise;
};

struct Worker {
  std::thread thread;
  std::atomic<bool> cancel{false};  // raised by cancel_all for the job this worker holds
};

class OpenAIBackend final : public Backend {
 public:
  explicit OpenAIBackend(OpenAIBackendConfig config) : config_(std::move(config)) {
    auto url = parse_http_url(config_.url);
    if (!url.is_ok()) {
      init_error_ = url.status();
      return;
    }
    if (config_.concurrency < 1) {
      init_error_ = Status::invalid("openai backend: concurrency must be >= 1 (got " +
                                    std::to_string(config_.concurrency) + ")");
      return;
    }
    url_ = *url;
    // "/v1" is part of the endpoint path unless the base URL already ends with it.
    std::string v1 = ends_with(url_.prefix, "/v1") ? "" : "/v1";
    chat_path_ = v1 + "/chat/completions";
    completion_path_ = v1 + "/completions";
    url_string_ = url_.to_string();
    workers_.reserve(config_.concurrency);
    for (int i = 0; i < config_.concurrency; ++i) workers_.push_back(std::make_unique<Worker>());
    for (auto& w : workers_) {
      Worker* wp = w.get();
      w->thread = std::thread([this, wp] { run_worker(*wp); });
    }
  }

  ~OpenAIBackend() override {
    std::deque<Job> drained;
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
      drained.swap(queue_);
      for (auto& w : workers_) w->cancel.store(true);
    }
    cv_.notify_all();
    sleep_cv_.notify_all();
    for (auto& job : drained)
      job.promise.set_value(Status::unavailable("request to " + url_string_ + " cancelled: backend destroyed"));
    for (auto& w : workers_)
      if (w->thread.joinable()) w->thread.join();
  }

  std::future<Result<std::vector<Completion>>> submit(GenerationRequest request) override {
    std::promise<Result<std::vector<Completion>>> p;
    auto fut = p.get_future();
    if (!init_error_.is_ok()) {
      p.set_value(init_error_);
      return fut;
    }
    if (request.params.n < 1) {
      p.set_value(Status::invalid("openai backend: n must be >= 1 (problem " + request.problem_id + ")"));
      return fut;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) {
        p.set_value(Status::unavailable("openai backend: shutting down"));
        return fut;
      }
      queue_.push_back(Job{std::move(request), std::move(p)});
    }
    cv_.notify_one();
    return fut;
  }

  void cancel_all() override {
    std::deque<Job> drained;
    {
      std::lock_guard<std::mutex> lk(mu_);
      drained.swap(queue_);
      for (auto& w : workers_) w->cancel.store(true);
    }
    sleep_cv_.notify_all();
    for (auto& job : drained)
      job.promise.set_value(Status::unavailable("request to " + url_string_ + " cancelled before it was sent"));
  }

  std::string name() const override { return "openai:" + config_.model + "@" + config_.url; }

 private:
  void run_worker(Worker& w) {
    HttpClientOptions opts;
    opts.verify_tls = config_.tls_verify;
    HttpClient client(url_, opts);
    std::mt19937_64 rng(std::random_device{}() ^ reinterpret_cast<uintptr_t>(&w));
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        w.cancel.store(false);
      }
      job.promise.set_value(process(job.request, client, w, rng));
    }
  }

  // Sleeps up to `seconds`; returns false when woken by cancellation or shutdown.
  bool backoff_sleep(double seconds, Worker& w) {
    std::unique_lock<std::mutex> lk(mu_);
    auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    return !sleep_cv_.wait_until(lk, until, [&] { return stopping_ || w.cancel.load(); });
  }

  double backoff_delay(int retry, std::mt19937_64& rng) const {
    return retry_backoff_delay(config_.backoff_initial_s, config_.backoff_max_s, retry, rng);
  }

  json build_body(const GenerationRequest& r, int n, int already) const {
    json body;
    body["model"] = config_.model;
    if (r.chat) {
      json msgs = json::array();
      for (const auto& m : r.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
      body["messages"] = std::move(msgs);
    } else {
      body["prompt"] = r.prompt;
    }
    const auto& p = r.params;
    body["n"] = n;
    body["temperature"] = p.temperature;
    body["top_p"] = p.top_p;
    body["max_tokens"] = p.max_tokens;
    if (p.top_k > 0) body["top_k"] = p.top_k;
    // When topping up after a server returned fewer than n choices, shift the seed so the extra
    // samples differ from the ones already received (still deterministic).
    if (p.seed) body["seed"] = *p.seed + static_cast<uint64_t>(already);
    if (!p.stop.empty()) body["stop"] = p.stop;
    return body;
  }

  Result<std::vector<Completion>> process(const GenerationRequest& req, HttpClient& client, Worker& w,
                                          std::mt19937_64& rng) {
    const std::string& path = req.chat ? chat_path_ : completion_path_;
    const std::string endpoint = url_string_ + path;
    HttpHeaders headers;
    if (!config_.api_key.empty()) headers.emplace_back("Authorization", "Bearer " + config_.api_key);
    const int n = req.params.n;
    const int max_malformed_retries = std::min(config_.max_retries, 3);
    std::vector<Completion> got;
    int attempts = 0;       // attempts in the current round (reset when choices arrive)
    int total_attempts = 0;
    int malformed = 0;
    std::string last_error;
    bool last_was_timeout = false;
    auto cancelled = [&] {
      return Status::unavailable("request to " + endpoint + " cancelled (problem " + req.problem_id + ")");
    };

    while (static_cast<int>(got.size()) < n) {
      if (w.cancel.load()) return cancelled();
      ++attempts;
      ++total_attempts;
      const int want = n - static_cast<int>(got.size());
      std::string body = build_body(req, want, static_cast<int>(got.size())).dump();
      HttpResult r = client.post(path, body, headers, config_.timeout_s, &w.cancel);
      std::optional<double> retry_after;
      bool retryable = true;
      last_was_timeout = false;
      if (r.error == HttpError::kCancelled) return cancelled();
      if (!r.ok()) {
        last_error = r.message;
        last_was_timeout = r.error == HttpError::kTimeout;
      } else {
        int s = r.response.status;
        if (s >= 200 && s < 300) {
          auto parsed = parse_openai_response(r.response.body, req.chat);
          if (parsed.is_ok() && parsed->empty()) parsed = Status::parse("response has an empty \"choices\" array");
          if (parsed.is_ok()) {
            for (auto& c : *parsed) {
              if (static_cast<int>(got.size()) == n) break;
              got.push_back(std::move(c));
            }
            attempts = 0;  // progress: a top-up request (server capped n) starts a fresh round
            malformed = 0;
            continue;
          }
          last_error = "HTTP " + std::to_string(s) + " with malformed body: " + parsed.status().message();
          ++malformed;
          if (malformed > max_malformed_retries) retryable = false;
        } else if (s == 429 || s == 408 || s >= 500) {
          last_error = "HTTP " + std::to_string(s) + ": " + extract_server_error_message(r.response.body);
          if (s == 429 || s == 503) {
            if (auto ra = r.response.header("Retry-After")) retry_after = parse_retry_after(*ra);
          }
        } else {
          return Status::invalid("HTTP " + std::to_string(s) + " from " + endpoint + ": " +
                                 extract_server_error_message(r.response.body) + " (not retried)");
        }
      }
      if (!retryable || attempts > config_.max_retries) {
        std::string msg = "request to " + endpoint + " failed after " + std::to_string(total_attempts) +
                          (total_attempts == 1 ? " attempt" : " attempts") + "; last error: " + last_error;
        return last_was_timeout ? Status::timeout(msg) : Status::unavailable(msg);
      }
      double delay = backoff_delay(attempts, rng);
      if (retry_after) delay = std::max(delay, std::min(*retry_after, config_.backoff_max_s));
      if (!backoff_sleep(delay, w)) return cancelled();
    }
    return got;
  }

  OpenAIBackendConfig config_;
  Status init_error_;
  HttpUrl url_;
  std::string url_string_, chat_path_, completion_path_;

  std::mutex mu_;
  std::condition_variable cv_;        // queue non-empty / stopping
  std::condition_variable sleep_cv_;  // wakes backoff sleeps on cancel / stop
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace

std::unique_ptr<Backend> make_openai_backend(const OpenAIBackendConfig& config) {
  return std::make_unique<OpenAIBackend>(config);
}

}  // namespace crucible
