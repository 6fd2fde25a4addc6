#include "backends/remote/http_client.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>

namespace crucible {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// URL parsing

std::string HttpUrl::to_string() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "https://" : "http://") + h + ":" + std::to_string(port) + prefix;
}

Result<HttpUrl> parse_http_url(std::string_view url_in) {
  std::string url(url_in);
  auto bad = [&](const std::string& why) {
    return Status::invalid("invalid URL '" + url + "': " + why);
  };
  HttpUrl out;
  std::string lower = url;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string rest;
  if (lower.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (lower.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = url.substr(8);
  } else {
    return bad("expected http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string::npos) return bad("query strings and fragments are not supported");
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.find('@') != std::string::npos) return bad("user info in URLs is not supported (use api_key)");
  std::string port_str;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return bad("unterminated IPv6 literal");
    out.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("unexpected characters after IPv6 literal");
      port_str = after.substr(1);
      if (port_str.empty()) return bad("empty port");
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string::npos) {
      out.host = authority.substr(0, colon);
      port_str = authority.substr(colon + 1);
      if (port_str.empty()) return bad("empty port");
    } else {
      out.host = authority;
    }
  }
  if (out.host.empty()) return bad("missing host");
  if (!port_str.empty()) {
    if (port_str.size() > 5 || !std::all_of(port_str.begin(), port_str.end(),
                                            [](unsigned char c) { return std::isdigit(c); }))
      return bad("port '" + port_str + "' is not a number");
    int p = std::stoi(port_str);
    if (p < 1 || p > 65535) return bad("port " + port_str + " out of range");
    out.port = static_cast<uint16_t>(p);
  } else {
    out.port = out.tls ? 443 : 80;
  }
  out.prefix = path;
  return out;
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < k.size() && eq; ++i)
      eq = std::tolower(static_cast<unsigned char>(k[i])) == std::tolower(static_cast<unsigned char>(name[i]));
    if (eq) return v;
  }
  return std::nullopt;
}

const char* http_error_name(HttpError e) {
  switch (e) {
    case HttpError::kNone: return "ok";
    case HttpError::kConnect: return "connect error";
    case HttpError::kTimeout: return "timeout";
    case HttpError::kIo: return "I/O error";
    case HttpError::kCancelled: return "cancelled";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Client

struct HttpClient::Impl {
  HttpUrl base;
  HttpClientOptions options;
  asio::io_context ioc{1};
  tcp::resolver resolver{ioc};
  std::unique_ptr<ssl::context> ssl_ctx;
  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  bool connected = false;
  beast::flat_buffer buffer;

  // Per-call state.
  Clock::time_point deadline;
  const std::atomic<bool>* cancel = nullptr;
  bool timed_out = false;
  bool cancelled = false;

  Impl(HttpUrl b, HttpClientOptions o) : base(std::move(b)), options(std::move(o)) {
    if (base.tls) {  // built once, outside any request's deadline
      ssl_ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
      beast::error_code ec;
      ssl_ctx->set_default_verify_paths(ec);
      ssl_ctx->set_verify_mode(options.verify_tls ? ssl::verify_peer : ssl::verify_none);
    }
  }

  std::string host_port() const {
    return (base.host.find(':') != std::string::npos ? "[" + base.host + "]" : base.host) + ":" +
           std::to_string(base.port);
  }

  void force_close() {
    beast::error_code ec;
    resolver.cancel();
    if (plain) plain->close(ec);
    if (tls) tls->next_layer().close(ec);
    connected = false;
  }

  // Starts one async operation through `start(handler)` and drives the io_context until its
  // handler ran, enforcing the deadline and the cancel flag by closing the socket.
  template <class Start>
  beast::error_code await(Start&& start) {
    bool done = false;
    beast::error_code result;
    if (ioc.stopped()) ioc.restart();
    start([&](beast::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    bool closed = false;
    while (!done) {
      auto now = Clock::now();
      if (!closed) {
        if (now >= deadline) {
          timed_out = true;
        } else if (cancel && cancel->load(std::memory_order_relaxed)) {
          cancelled = true;
        }
        if (timed_out || cancelled) {
          force_close();
          closed = true;
        }
      }
      auto until = now + std::chrono::milliseconds(20);
      if (!closed && deadline < until) until = deadline;
      if (ioc.stopped()) ioc.restart();
      ioc.run_one_until(until);
    }
    return result;
  }

  HttpResult fail(HttpError kind, const std::string& what, const beast::error_code& ec) {
    force_close();
    HttpResult r;
    if (cancelled) {
      r.error = HttpError::kCancelled;
      r.message = "request to " + base.to_string() + " cancelled";
    } else if (timed_out) {
      r.error = HttpError::kTimeout;
      r.message = "timed out " + what + " " + host_port();
    } else {
      r.error = kind;
      r.message = what + " " + host_port() + " failed: " + ec.message();
    }
    return r;
  }

  // Establishes a new connection. Returns an error result, or nullopt on success.
  std::optional<HttpResult> connect() {
    force_close();
    plain.reset();
    tls.reset();
    buffer.clear();
    tcp::resolver::results_type endpoints;
    auto ec = await([&](auto handler) {
      resolver.async_resolve(base.host, std::to_string(base.port),
                             [&endpoints, handler](beast::error_code e, tcp::resolver::results_type r) mutable {
                               endpoints = std::move(r);
                               handler(e);
                             });
    });
    if (ec || timed_out || cancelled) return fail(HttpError::kConnect, "resolving", ec);
    tcp::socket* sock;
    if (base.tls) {
      tls.emplace(ioc, *ssl_ctx);
      sock = &tls->next_layer();
    } else {
      plain.emplace(ioc);
      sock = &*plain;
    }
    ec = await([&](auto handler) { asio::async_connect(*sock, endpoints, handler); });
    if (ec || timed_out || cancelled) return fail(HttpError::kConnect, "connecting to", ec);
    beast::error_code nd;
    sock->set_option(tcp::no_delay(true), nd);
    if (base.tls) {
      beast::error_code addr_ec;
      asio::ip::make_address(base.host, addr_ec);
      if (addr_ec) SSL_set_tlsext_host_name(tls->native_handle(), base.host.c_str());  // SNI
      if (options.verify_tls) tls->set_verify_callback(ssl::host_name_verification(base.host));
      ec = await([&](auto handler) { tls->async_handshake(ssl::stream_base::client, handler); });
      if (ec || timed_out || cancelled) return fail(HttpError::kConnect, "TLS handshake with", ec);
    }
    connected = true;
    return std::nullopt;
  }

  template <class Stream>
  HttpResult exchange(Stream& stream, http::request<http::string_body>& req, bool* retry_fresh) {
    *retry_fresh = false;
    auto ec = await([&](auto handler) { http::async_write(stream, req, handler); });
    if (ec || timed_out || cancelled) {
      *retry_fresh = !timed_out && !cancelled;
      return fail(HttpError::kIo, "sending request to", ec);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit((std::numeric_limits<std::uint64_t>::max)());
    ec = await([&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    if (ec || timed_out || cancelled) {
      *retry_fresh = !timed_out && !cancelled && !parser.got_some() && buffer.size() == 0;
      return fail(HttpError::kIo, "reading response from", ec);
    }
    HttpResult r;
    auto& msg = parser.get();
    r.response.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) r.response.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.response.body = std::move(msg.body());
    if (!msg.keep_alive()) force_close();
    return r;
  }

  HttpResult post(std::string_view path, std::string_view body, const HttpHeaders& headers,
                  double timeout_s, const std::atomic<bool>* cancel_flag) {
    timeout_s = std::clamp(timeout_s <= 0 ? 1e7 : timeout_s, 0.0, 1e7);
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    cancel = cancel_flag;
    timed_out = cancelled = false;

    http::request<http::string_body> req{http::verb::post, base.prefix + std::string(path), 11};
    bool default_port = base.port == (base.tls ? 443 : 80);
    std::string host_hdr = base.host.find(':') != std::string::npos ? "[" + base.host + "]" : base.host;
    if (!default_port) host_hdr += ":" + std::to_string(base.port);
    req.set(http::field::host, host_hdr);
    req.set(http::field::user_agent, options.user_agent);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.keep_alive(true);
    req.body() = std::string(body);
    req.prepare_payload();

    for (int round = 0;; ++round) {
      bool reused = connected;
      if (!connected) {
        if (auto err = connect()) return *err;
      }
      bool retry_fresh = false;
      HttpResult r = base.tls ? exchange(*tls, req, &retry_fresh) : exchange(*plain, req, &retry_fresh);
      if (r.ok() || !(reused && retry_fresh && round == 0)) return r;
      // A kept-alive connection the server had already closed: try once more on a fresh one.
    }
  }
};

HttpClient::HttpClient(HttpUrl base, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(base), std::move(options))) {}

HttpClient::~HttpClient() {
  if (impl_) impl_->force_close();
}

HttpResult HttpClient::post(std::string_view path, std::string_view body, const HttpHeaders& headers,
                            double timeout_s, const std::atomic<bool>* cancel) {
  return impl_->post(path, body, headers, timeout_s, cancel);
}

void HttpClient::close() { impl_->force_close(); }

const HttpUrl& HttpClient::base() const { return impl_->base; }

}  // namespace crucible
