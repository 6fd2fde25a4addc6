#include "tests/support/fake_openai_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace crucible::testing {

using json = nlohmann::json;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int count_words(const std::string& s) {
  std::istringstream in(s);
  std::string w;
  int n = 0;
  while (in >> w) ++n;
  return n;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string error_body(int code, const std::string& message, const std::string& type) {
  return json{{"error", {{"message", message}, {"type", type}, {"code", code}}}}.dump();
}

std::string http_head(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                      size_t content_length, bool keep_alive) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  bool has_ct = false;
  for (const auto& [k, v] : headers) {
    if (lower(k) == "content-type") has_ct = true;
    h += k + ": " + v + "\r\n";
  }
  if (!has_ct) h += "Content-Type: application/json\r\n";
  h += "Content-Length: " + std::to_string(content_length) + "\r\n";
  h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  h += "\r\n";
  return h;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(w);
  }
  return true;
}

void reset_close(int fd) {
  struct linger lg {};
  lg.l_onoff = 1;
  lg.l_linger = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string FakeRequest::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? "" : it->second;
}

bool FakeRequest::chat() const { return ends_with(path, "/chat/completions"); }

Fault Fault::status_code(int code, const std::string& message) {
  Fault f;
  f.kind = Kind::kReply;
  f.status = code;
  f.body = error_body(code, message, code >= 500 ? "InternalServerError" : "Error");
  return f;
}

Fault Fault::rate_limited(double retry_after_s) {
  Fault f = status_code(429, "rate limited");
  std::string v;
  if (std::floor(retry_after_s) == retry_after_s) {
    v = std::to_string(static_cast<long long>(retry_after_s));
  } else {
    std::ostringstream os;
    os << retry_after_s;
    v = os.str();
  }
  f.headers.emplace_back("Retry-After", v);
  return f;
}

Fault Fault::bad_request(const std::string& message) {
  Fault f;
  f.kind = Kind::kReply;
  f.status = 400;
  f.body = error_body(400, message, "BadRequestError");
  return f;
}

Fault Fault::delay(double seconds) {
  Fault f;
  f.kind = Kind::kDelay;
  f.seconds = seconds;
  return f;
}

Fault Fault::reset_mid_body() {
  Fault f;
  f.kind = Kind::kResetMidBody;
  return f;
}

Fault Fault::malformed_json() {
  Fault f;
  f.kind = Kind::kMalformedJson;
  return f;
}

Fault Fault::reply(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers) {
  Fault f;
  f.kind = Kind::kReply;
  f.status = status;
  f.body = std::move(body);
  f.headers = std::move(headers);
  return f;
}

// ---------------------------------------------------------------------------------------------

std::vector<std::string> FakeOpenAIServer::default_texts(const json& request) {
  int n = 1;
  if (request.is_object() && request.contains("n") && request["n"].is_number_integer()) n = request["n"].get<int>();
  std::string about;
  if (request.is_object() && request.contains("messages") && request["messages"].is_array() &&
      !request["messages"].empty()) {
    const json& last = request["messages"].back();
    if (last.is_object() && last.contains("content") && last["content"].is_string())
      about = last["content"].get<std::string>();
  } else if (request.is_object() && request.contains("prompt") && request["prompt"].is_string()) {
    about = request["prompt"].get<std::string>();
  }
  std::vector<std::string> out;
  for (int i = 0; i < std::max(n, 0); ++i) out.push_back("completion " + std::to_string(i) + " for: " + about);
  return out;
}

json FakeOpenAIServer::make_response(const FakeRequest& request, const std::vector<std::string>& texts) {
  const json& rq = request.json;
  std::string model = rq.is_object() && rq.contains("model") && rq["model"].is_string() ? rq["model"].get<std::string>()
                                                                                      : "fake-model";
  int prompt_tokens = 0;
  if (rq.is_object() && rq.contains("messages") && rq["messages"].is_array()) {
    for (const auto& m : rq["messages"])
      if (m.is_object() && m.contains("content") && m["content"].is_string())
        prompt_tokens += count_words(m["content"].get<std::string>());
  } else if (rq.is_object() && rq.contains("prompt") && rq["prompt"].is_string()) {
    prompt_tokens = count_words(rq["prompt"].get<std::string>());
  }
  int completion_tokens = 0;
  json choices = json::array();
  for (size_t i = 0; i < texts.size(); ++i) {
    completion_tokens += count_words(texts[i]);
    json c = {{"index", i}, {"finish_reason", "stop"}};
    if (request.chat()) {
      c["message"] = {{"role", "assistant"}, {"content", texts[i]}};
    } else {
      c["text"] = texts[i];
    }
    choices.push_back(std::move(c));
  }
  return json{{"id", "fake-" + std::to_string(request.number)},
              {"object", request.chat() ? "chat.completion" : "text_completion"},
              {"created", 0},
              {"model", model},
              {"choices", std::move(choices)},
              {"usage",
               {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}}}};
}

FakeOpenAIServer::FakeOpenAIServer() : FakeOpenAIServer(TextResponder(&FakeOpenAIServer::default_texts)) {}

FakeOpenAIServer::FakeOpenAIServer(TextResponder responder) : text_responder_(std::move(responder)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("FakeOpenAIServer: socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 256) != 0) {
    int e = errno;
    ::close(listen_fd_);
    throw std::runtime_error(std::string("FakeOpenAIServer: bind/listen: ") + std::strerror(e));
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeOpenAIServer::~FakeOpenAIServer() { stop(); }

std::string FakeOpenAIServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FakeOpenAIServer::stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_.store(true);
  }
  stop_cv_.notify_all();
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> threads;
  {
    std::lock_guard<std::mutex> lk(mu_);
    threads.swap(conn_threads_);
  }
  for (auto& entry : threads)
    if (entry.first.joinable()) entry.first.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

void FakeOpenAIServer::accept_loop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 50);
    if (r <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard<std::mutex> lk(mu_);
    ++connections_;
    // Reap finished connection threads so a long test does not accumulate them.
    for (auto it = conn_threads_.begin(); it != conn_threads_.end();) {
      if (it->second->load()) {
        it->first.join();
        it = conn_threads_.erase(it);
      } else {
        ++it;
      }
    }
    conn_threads_.emplace_back(std::thread([this, fd, done] {
                                 serve(fd);
                                 done->store(true);
                               }),
                               done);
  }
}

bool FakeOpenAIServer::sleep_interruptible(double seconds) {
  if (seconds <= 0) return !stopping_.load();
  std::unique_lock<std::mutex> lk(mu_);
  auto until = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  return !stop_cv_.wait_until(lk, until, [&] { return stopping_.load(); });
}

// Reads one request from fd (bytes already buffered in `buf` first). Returns false when the
// connection closed or the server stops; bad_status != 0 for a request that must be refused.
bool FakeOpenAIServer::read_request(int fd, std::string& buf, FakeRequest& req, bool& keep_alive, int& bad_status) {
  auto fill = [&]() -> bool {
    for (;;) {
      if (stopping_.load()) return false;
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (r < 0 && errno != EINTR) return false;
      if (r <= 0) continue;
      char tmp[65536];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
      return true;
    }
  };
  size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > (1u << 20)) return false;
    if (!fill()) return false;
  }
  std::string head = buf.substr(0, head_end);
  size_t body_start = head_end + 4;
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::istringstream rl(line);
  std::string version;
  rl >> req.method >> req.path >> version;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    req.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  std::string conn = lower(req.header("connection"));
  keep_alive = version == "HTTP/1.0" ? conn == "keep-alive" : conn != "close";
  if (!req.header("transfer-encoding").empty()) {
    bad_status = 501;
    return true;
  }
  size_t content_length = 0;
  std::string cl = req.header("content-length");
  if (!cl.empty()) {
    if (cl.find_first_not_of("0123456789") != std::string::npos || cl.size() > 12) {
      bad_status = 400;
      return true;
    }
    content_length = std::stoull(cl);
  }
  while (buf.size() < body_start + content_length)
    if (!fill()) return false;
  req.body = buf.substr(body_start, content_length);
  buf.erase(0, body_start + content_length);
  req.json = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (req.json.is_discarded()) req.json = nullptr;
  return true;
}

std::pair<int, std::string> FakeOpenAIServer::normal_reply(const FakeRequest& req) {
  if (req.method == "GET" && ends_with(req.path, "/models"))
    return {200, json{{"object", "list"}, {"data", {{{"id", "fake-model"}, {"object", "model"}}}}}.dump()};
  if (req.method != "POST" || !ends_with(req.path, "/completions"))
    return {404, error_body(404, "no route for " + req.method + " " + req.path, "NotFoundError")};
  if (!req.json.is_object()) return {400, error_body(400, "request body is not a JSON object", "BadRequestError")};
  TextResponder text;
  JsonResponder full;
  int max_choices;
  {
    std::lock_guard<std::mutex> lk(mu_);
    text = text_responder_;
    full = json_responder_;
    max_choices = max_choices_;
  }
  try {
    if (full) return {200, full(req).dump()};
    std::vector<std::string> texts = text ? text(req.json) : default_texts(req.json);
    if (max_choices > 0 && static_cast<int>(texts.size()) > max_choices) texts.resize(max_choices);
    return {200, make_response(req, texts).dump()};
  } catch (const std::exception& e) {
    return {500, error_body(500, std::string("responder threw: ") + e.what(), "InternalServerError")};
  }
}

void FakeOpenAIServer::serve(int fd) {
  std::string buf;
  for (;;) {
    FakeRequest req;
    bool keep_alive = true;
    int bad_status = 0;
    if (!read_request(fd, buf, req, keep_alive, bad_status)) break;
    if (bad_status) {
      std::string body = error_body(bad_status,
                                    bad_status == 501 ? "chunked request bodies are not supported"
                                                      : "bad Content-Length",
                                    "Error");
      send_all(fd, http_head(bad_status, {}, body.size(), false) + body);
      break;
    }
    std::optional<Fault> fault;
    double latency;
    bool drop;
    {
      std::lock_guard<std::mutex> lk(mu_);
      req.number = next_number_++;
      requests_.push_back(req);
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
      latency = latency_s_;
      drop = drop_connections_;
      auto it = scripted_faults_.find(req.number);
      if (it != scripted_faults_.end()) {
        fault = it->second;
        scripted_faults_.erase(it);
      } else if (!fault_queue_.empty()) {
        fault = fault_queue_.front();
        fault_queue_.pop_front();
      }
    }
    bool ok = true;
    bool fd_closed = false;
    if (fault && fault->kind == Fault::Kind::kReply) {
      ok = send_all(fd, http_head(fault->status, fault->headers, fault->body.size(), keep_alive) + fault->body);
    } else {
      if (fault && fault->kind == Fault::Kind::kDelay) ok = sleep_interruptible(fault->seconds);
      if (ok) ok = sleep_interruptible(latency);
      if (ok) {
        auto [status, body] = normal_reply(req);
        if (fault && fault->kind == Fault::Kind::kResetMidBody) {
          send_all(fd, http_head(status, {}, body.size(), keep_alive) + body.substr(0, body.size() / 2));
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the partial body arrive
          reset_close(fd);
          fd_closed = true;
          ok = false;
        } else {
          if (fault && fault->kind == Fault::Kind::kMalformedJson) body = body.substr(0, body.size() / 2);
          ok = send_all(fd, http_head(status, {}, body.size(), keep_alive) + body);
        }
      }
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      --in_flight_;
    }
    if (fd_closed) return;
    if (!ok || !keep_alive || drop) break;
  }
  ::close(fd);
}

void FakeOpenAIServer::set_responder(TextResponder responder) {
  std::lock_guard<std::mutex> lk(mu_);
  text_responder_ = std::move(responder);
  json_responder_ = nullptr;
}

void FakeOpenAIServer::set_json_responder(JsonResponder responder) {
  std::lock_guard<std::mutex> lk(mu_);
  json_responder_ = std::move(responder);
}

void FakeOpenAIServer::set_latency(double seconds) {
  std::lock_guard<std::mutex> lk(mu_);
  latency_s_ = seconds;
}

void FakeOpenAIServer::set_max_choices(int max_choices) {
  std::lock_guard<std::mutex> lk(mu_);
  max_choices_ = max_choices;
}

void FakeOpenAIServer::set_drop_connections(bool drop) {
  std::lock_guard<std::mutex> lk(mu_);
  drop_connections_ = drop;
}

void FakeOpenAIServer::push_fault(Fault fault) {
  std::lock_guard<std::mutex> lk(mu_);
  fault_queue_.push_back(std::move(fault));
}

void FakeOpenAIServer::set_fault(int request_number, Fault fault) {
  std::lock_guard<std::mutex> lk(mu_);
  scripted_faults_[request_number] = std::move(fault);
}

void FakeOpenAIServer::clear_faults() {
  std::lock_guard<std::mutex> lk(mu_);
  fault_queue_.clear();
  scripted_faults_.clear();
}

int FakeOpenAIServer::request_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return static_cast<int>(requests_.size());
}

std::vector<FakeRequest> FakeOpenAIServer::requests() const {
  std::lock_guard<std::mutex> lk(mu_);
  return requests_;
}

FakeRequest FakeOpenAIServer::last_request() const {
  std::lock_guard<std::mutex> lk(mu_);
  return requests_.empty() ? FakeRequest{} : requests_.back();
}

int FakeOpenAIServer::in_flight() const {
  std::lock_guard<std::mutex> lk(mu_);
  return in_flight_;
}

int FakeOpenAIServer::max_in_flight() const {
  std::lock_guard<std::mutex> lk(mu_);
  return max_in_flight_;
}

int FakeOpenAIServer::connection_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return connections_;
}

void FakeOpenAIServer::reset_stats() {
  std::lock_guard<std::mutex> lk(mu_);
  requests_.clear();
  next_number_ = 1;
  max_in_flight_ = in_flight_;
  connections_ = 0;
}

}  // namespace crucible::testing
