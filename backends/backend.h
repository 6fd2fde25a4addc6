// Backend: turns generation requests into completions. Concurrency limits, timeouts and retries
// live inside the backend; the harness just submits and waits.
#pragma once
#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace crucible {

// Open-R1 defaults: temperature 0.6, top_p 0.95, max_new_tokens 32768.
struct SamplingParams {
  int n = 1;
  double temperature = 0.6;
  double top_p = 0.95;
  int top_k = -1;                  // -1: not sent / disabled
  int max_tokens = 32768;
  std::optional<uint64_t> seed;    // per request; the harness derives one per (problem, sample)
  std::vector<std::string> stop;
};

struct ChatMessage {
  std::string role;     // "system" | "user" | "assistant"
  std::string content;
};

struct GenerationRequest {
  std::string problem_id;           // which problem (replay backends key on it)
  int first_sample = 0;             // index of the first of the n samples asked for
  bool chat = true;                 // chat: `messages`; completion mode: `prompt`
  std::vector<ChatMessage> messages;
  std::string prompt;
  SamplingParams params;
};

struct Completion {
  std::string text;                 // reasoning_content (if any) joined before content
  std::string finish_reason;        // "stop" | "length" | ...
  int prompt_tokens = -1;           // -1 when the server did not say
  int completion_tokens = -1;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Returns exactly params.n completions, or an error Status after retries are exhausted.
  virtual std::future<Result<std::vector<Completion>>> submit(GenerationRequest request) = 0;
  // Cancel everything in flight (eval interrupted); pending futures resolve with an error.
  virtual void cancel_all() {}
  virtual std::string name() const = 0;
};

}  // namespace crucible
