// OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp server, TGI):
// POST {url}/v1/chat/completions (chat) or {url}/v1/completions (raw prompt).
// Bounded concurrency, per-request timeout, retries with exponential backoff + jitter on
// connection errors, timeouts, 429 (honouring Retry-After) and 5xx; a 4xx is a clear, final error.
//
// Behaviour in detail (openai_backend.cpp):
// - Request body: {"model", "messages" | "prompt", "n", "temperature", "top_p", "max_tokens",
//   "top_k" (only when > 0), "seed" (only when set), "stop" (only when non-empty)}.
// - Endpoint: {url}/v1/chat/completions or {url}/v1/completions; when the URL path already ends
//   with "/v1" it is not doubled. http:// and https:// (OpenSSL, verified unless tls_verify=false).
// - Response: choices are ordered by their "index". Chat: message.content; when the server
//   separates reasoning (message.reasoning_content, or message.reasoning) the completion text is
//   "<think>\n" + reasoning + "\n</think>\n\n" + content, so answer extraction after "</think>"
//   works the same as for models that emit their reasoning inline. Completion mode: choices[].text.
//   finish_reason is copied ("" when null). usage.prompt_tokens goes on every completion;
//   usage.completion_tokens only when the response carried a single choice (it is a total over
//   choices, so with several choices completion_tokens stays -1).
// - A server that returns fewer than n choices (some cap n) is asked again for the remainder
//   (seed shifted by the number already received); a 2xx with zero choices counts as malformed.
// - Concurrency: `concurrency` worker threads, each with one keep-alive connection; submit()
//   never blocks. Retries (up to max_retries after the first attempt, counted per request) on
//   connect errors, resets, timeouts, 408, 429 and 5xx, sleeping backoff_initial_s * 2^k
//   (+-20% jitter, capped by backoff_max_s); a Retry-After of N seconds on 429/503 raises the
//   sleep to min(N, backoff_max_s). A malformed 2xx body is retried at most min(max_retries, 3)
//   times. Any other status is final at once: Status kInvalidArgument "HTTP 400 from URL: <server
//   message> (not retried)". Exhausted retries: kTimeout (last error a timeout) or kUnavailable,
//   "request to URL failed after K attempts; last error: ...".
// - cancel_all(): queued requests resolve at once, in-flight ones within ~20 ms (their sockets
//   are closed, backoff sleeps interrupted), all with kUnavailable "... cancelled ...". Requests
//   submitted afterwards run normally. The destructor does the same and joins the workers.
// - An invalid URL or concurrency < 1 does not throw: every submit() resolves with that error.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace crucible {

struct OpenAIBackendConfig {
  std::string url = "http://127.0.0.1:8000";  // base URL; "/v1" suffix optional
  std::string model;                          // "model" field of each request
  std::string api_key;                        // sent as "Authorization: Bearer ..." when set
  int concurrency = 64;                       // requests in flight at once
  double timeout_s = 600;                     // per attempt, connect + full response
  int max_retries = 5;                        // attempts after the first
  double backoff_initial_s = 1.0;             // first retry delay; doubles each time, +-jitter
  double backoff_max_s = 60.0;
  bool tls_verify = true;                     // https: verify certificate and host name
};

std::unique_ptr<Backend> make_openai_backend(const OpenAIBackendConfig& config);

// Helpers, exposed for tests and for other OpenAI-shaped clients.
// Parses a /v1/chat/completions (chat) or /v1/completions body into completions ordered by index.
Result<std::vector<Completion>> parse_openai_response(const std::string& body, bool chat);
// The human-readable message of an error body ({"error":{"message":..}}, {"error":".."},
// {"message":..}, {"detail":..}); otherwise the body itself, truncated.
std::string extract_server_error_message(const std::string& body);
// Retry-After in delta-seconds form (fractions accepted); nullopt for dates or garbage.
std::optional<double> parse_retry_after(const std::string& value);

}  // namespace crucible
