// FakeOpenAIServer: an in-process, loopback-only OpenAI-compatible HTTP server for tests.
//
//   crucible::testing::FakeOpenAIServer server([](const nlohmann::json& req) {
//     return std::vector<std::string>(req.value("n", 1), "The answer is \\boxed{42}.");
//   });
//   OpenAIBackendConfig cfg;  cfg.url = server.url();  cfg.model = "m";
//   ... run the backend / the eval ...
//   EXPECT_EQ(server.request_count(), 3);
//   EXPECT_EQ(server.requests()[0].json["temperature"], 0.6);
//
// Endpoints (matched on the path suffix, so "/v1/..." and "/prefix/v1/..." both work):
//   POST .../chat/completions   -> chat.completion body   (choices[i].message.content)
//   POST .../completions        -> text_completion body   (choices[i].text)
//   GET  .../models             -> {"object":"list","data":[{"id":"fake-model",...}]}
//   anything else               -> 404 {"error":{"message":...}}
// HTTP/1.1 with keep-alive; one thread per connection, so concurrent clients are served in
// parallel. Request bodies must carry Content-Length (chunked uploads get 501).
//
// Answers: by default a TextResponder (request json -> one text per choice) builds the standard
// response (make_response); the default responder returns n texts
// "completion {i} for: {last message content | prompt}". set_json_responder() gives full control
// of the 200 body instead (out-of-order choices, reasoning_content, odd usage, ...).
// Every normal response has finish_reason "stop" and usage counted in whitespace-separated words.
// A responder that throws yields a 500 naming the exception. "stream": true is ignored (the
// answer is always one non-streamed JSON body). Responders run on connection threads, so several
// may run at once: make them thread-safe.
//
// Faults: each request gets a number (1-based, in arrival order, over all endpoints). A fault set
// for that number with set_fault() wins; otherwise the head of the push_fault() queue is consumed;
// otherwise the request is answered normally. Requests are recorded whatever their fate.
//
// Thread-safe: every method may be called while clients are talking to the server. The destructor
// (or stop()) closes the listener and all connections and joins every thread; pending sleeps
// (latency, Fault::delay) are interrupted.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace crucible::testing {

struct FakeRequest {
  int number = 0;                              // 1-based arrival order
  std::string method;                          // "POST", "GET", ...
  std::string path;                            // request target as sent, e.g. "/v1/chat/completions"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  nlohmann::json json;                         // parsed body; null when empty or not JSON
  // Header value by (case-insensitive) name, "" when absent.
  std::string header(const std::string& name) const;
  bool chat() const;                           // path ends with "/chat/completions"
};

struct Fault {
  enum class Kind {
    kReply,         // send `status`, `headers`, `body` (error statuses, 429 + Retry-After, ...)
    kDelay,         // sleep `seconds`, then answer normally (use > the client's timeout)
    kResetMidBody,  // send a normal 200's headers and half its body, then reset the connection
    kMalformedJson, // 200 with a truncated, unparsable JSON body
  };
  Kind kind = Kind::kReply;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double seconds = 0;

  // `code` with body {"error":{"message":message,"type":...,"code":code}} (500, 503, 401, ...).
  static Fault status_code(int code, const std::string& message = "injected server error");
  // 429 with "Retry-After: <seconds>" (written as an integer when whole).
  static Fault rate_limited(double retry_after_s);
  // 400 with {"error":{"message":message,"type":"BadRequestError"}}.
  static Fault bad_request(const std::string& message);
  static Fault delay(double seconds);
  static Fault reset_mid_body();
  static Fault malformed_json();
  // Anything else: a raw reply.
  static Fault reply(int status, std::string body,
                     std::vector<std::pair<std::string, std::string>> headers = {});
};

class FakeOpenAIServer {
 public:
  // request json -> completion texts, one per choice (return fewer than n to mimic a capped n).
  using TextResponder = std::function<std::vector<std::string>(const nlohmann::json& request)>;
  // request -> the complete JSON body of a 200 response.
  using JsonResponder = std::function<nlohmann::json(const FakeRequest& request)>;

  FakeOpenAIServer();                                 // default responder (see above)
  explicit FakeOpenAIServer(TextResponder responder);
  ~FakeOpenAIServer();
  FakeOpenAIServer(const FakeOpenAIServer&) = delete;
  FakeOpenAIServer& operator=(const FakeOpenAIServer&) = delete;

  // "http://127.0.0.1:PORT" (no trailing slash, no /v1): pass as OpenAIBackendConfig::url.
  std::string url() const;
  int port() const { return port_; }
  void stop();  // idempotent; the destructor calls it

  void set_responder(TextResponder responder);    // replaces any JSON responder
  void set_json_responder(JsonResponder responder);
  void set_latency(double seconds);               // every normal answer waits this long first
  void set_max_choices(int max_choices);          // cap texts per response (TextResponder); 0 = none
  // Close every connection right after its response although the response said keep-alive
  // (mimics servers that drop idle connections; exercises the client's reconnect path).
  void set_drop_connections(bool drop);

  void push_fault(Fault fault);                   // FIFO, consumed by the next unscripted requests
  void set_fault(int request_number, Fault fault);
  void clear_faults();

  int request_count() const;
  std::vector<FakeRequest> requests() const;      // all recorded requests, in arrival order
  FakeRequest last_request() const;               // default-constructed when none
  int in_flight() const;                          // requests read but not yet fully answered
  int max_in_flight() const;                      // high-water mark of in_flight()
  int connection_count() const;                   // TCP connections accepted so far
  void reset_stats();  // forget requests and counters; numbering restarts at 1 (faults stay)

  // The standard body for `texts` (chat.completion or text_completion per request.chat()).
  static nlohmann::json make_response(const FakeRequest& request, const std::vector<std::string>& texts);
  static std::vector<std::string> default_texts(const nlohmann::json& request);

 private:
  void accept_loop();
  void serve(int fd);
  bool sleep_interruptible(double seconds);  // false when stopping
  bool read_request(int fd, std::string& buf, FakeRequest& req, bool& keep_alive, int& bad_status);
  std::pair<int, std::string> normal_reply(const FakeRequest& req);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex stop_mu_;  // serialises stop()

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  TextResponder text_responder_;
  JsonResponder json_responder_;
  double latency_s_ = 0;
  int max_choices_ = 0;
  bool drop_connections_ = false;
  std::deque<Fault> fault_queue_;
  std::map<int, Fault> scripted_faults_;
  std::vector<FakeRequest> requests_;
  int next_number_ = 1;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  int connections_ = 0;
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> conn_threads_;
};

}  // namespace crucible::testing
