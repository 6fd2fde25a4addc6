// OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp server, TGI):
// POST {url}/v1/chat/completions (chat) or {url}/v1/completions (raw prompt).
// Bounded concurrency, per-request timeout, retries with exponential backoff + jitter on
// connection errors, timeouts, 429 (honouring Retry-After) and 5xx; a 4xx is a clear, final error.
#pragma once
#include <memory>
#include <string>

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
};

std::unique_ptr<Backend> make_openai_backend(const OpenAIBackendConfig& config);

}  // namespace crucible
