// A small synchronous HTTP/1.1 client (Boost.Beast underneath; no Beast in this header).
//
// One HttpClient talks to one base URL and keeps one keep-alive connection open between calls;
// it is NOT thread-safe: give each worker thread its own client. Every post() is bounded by a
// single overall deadline (resolve + connect + TLS handshake + send + read the whole response)
// and can be abandoned from another thread through an atomic cancel flag (polled every ~20 ms;
// the socket is closed, so the server sees the connection drop).
//
// Transport failures (connect, timeout, reset, truncated response) are reported as an error kind,
// never as an HTTP status; any HTTP status the server actually sent (200, 429, 503, ...) is a
// successful exchange with `response.status` set — the caller decides what it means.
//
// https:// is supported through OpenSSL (certificate + host name verification by default;
// HttpClientOptions::verify_tls = false for self-signed endpoints).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace crucible {

struct HttpUrl {
  bool tls = false;         // https
  std::string host;         // without brackets for IPv6 literals
  uint16_t port = 0;
  std::string prefix;       // path prefix without trailing '/', "" or "/something"
  // "http://host:port/prefix" (port always written).
  std::string to_string() const;
};

// Parses http[s]://host[:port][/prefix]. Rejects other schemes, user info, query strings and
// fragments with a message naming the URL.
Result<HttpUrl> parse_http_url(std::string_view url);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;      // as received
  std::string body;
  // Case-insensitive header lookup; the first match.
  std::optional<std::string> header(std::string_view name) const;
};

enum class HttpError {
  kNone,       // an HTTP response was received (any status)
  kConnect,    // resolve / connect / TLS handshake failed (nothing was sent)
  kTimeout,    // the per-call deadline passed
  kIo,         // send or receive failed: reset, EOF mid-response, unparsable HTTP
  kCancelled,  // the cancel flag was raised
};
const char* http_error_name(HttpError e);

struct HttpResult {
  HttpError error = HttpError::kNone;
  std::string message;      // human-readable transport error ("" when error == kNone)
  HttpResponse response;    // valid when error == kNone
  bool ok() const { return error == HttpError::kNone; }
};

struct HttpClientOptions {
  bool verify_tls = true;             // verify certificate chain and host name (https only)
  std::string user_agent = "crucible";
};

class HttpClient {
 public:
  explicit HttpClient(HttpUrl base, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POST {base.prefix}{path} with `body`; Host, Content-Type: application/json, Content-Length,
  // User-Agent and keep-alive are set, `headers` are added. The whole exchange must finish within
  // timeout_s. If a reused keep-alive connection turns out to be dead before any response byte
  // arrives, the request is re-sent once on a fresh connection (inside the same deadline).
  HttpResult post(std::string_view path, std::string_view body, const HttpHeaders& headers,
                  double timeout_s, const std::atomic<bool>* cancel = nullptr);

  // Drops the kept-alive connection, if any.
  void close();

  const HttpUrl& base() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crucible
