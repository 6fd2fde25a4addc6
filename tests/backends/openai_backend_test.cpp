// OpenAI-compatible backend against the in-process FakeOpenAIServer (real loopback HTTP).
#include "backends/remote/openai_backend.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "backends/remote/http_client.h"
#include "tests/support/fake_openai_server.h"

using namespace crucible;
using crucible::testing::FakeOpenAIServer;
using crucible::testing::FakeRequest;
using crucible::testing::Fault;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

OpenAIBackendConfig test_config(const std::string& url) {
  OpenAIBackendConfig c;
  c.url = url;
  c.model = "test-model";
  c.concurrency = 4;
  c.timeout_s = 5;
  c.max_retries = 3;
  c.backoff_initial_s = 0.01;
  c.backoff_max_s = 0.05;
  return c;
}

GenerationRequest chat_request(const std::string& question, int n = 1) {
  GenerationRequest r;
  r.problem_id = "p1";
  r.chat = true;
  r.messages = {{"system", "Be brief."}, {"user", question}};
  r.params.n = n;
  return r;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Result<std::vector<Completion>> get(std::future<Result<std::vector<Completion>>> f, double max_wait_s = 10) {
  if (f.wait_for(std::chrono::duration<double>(max_wait_s)) != std::future_status::ready)
    return Status::internal("test: future not ready in time");
  return f.get();
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// A loopback port with nothing listening.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Helpers

TEST(HttpUrl, Parses) {
  auto u = parse_http_url("http://127.0.0.1:8000");
  ASSERT_TRUE(u.is_ok()) << u.status().message();
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8000);
  EXPECT_EQ(u->prefix, "");
  u = parse_http_url("HTTPS://api.example.com/openai/v1/");
  ASSERT_TRUE(u.is_ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->prefix, "/openai/v1");
  u = parse_http_url("http://[::1]:9000/x");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9000);
  EXPECT_EQ(u->to_string(), "http://[::1]:9000/x");
  for (const char* bad : {"ftp://x", "localhost:8000", "http://", "http://h:99999", "http://h:abc", "http://h/?q=1",
                          "http://u:p@h"}) {
    auto r = parse_http_url(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
    if (!r.is_ok()) {
      EXPECT_TRUE(contains(r.status().message(), bad)) << r.status().message();
    }
  }
}

TEST(OpenAIHelpers, RetryAfterAndErrorMessages) {
  EXPECT_EQ(parse_retry_after("2"), 2.0);
  EXPECT_EQ(parse_retry_after(" 0.5 "), 0.5);
  EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
  EXPECT_FALSE(parse_retry_after("-1").has_value());
  EXPECT_EQ(extract_server_error_message(R"({"error":{"message":"bad top_p","type":"x"}})"), "bad top_p");
  EXPECT_EQ(extract_server_error_message(R"({"error":"nope"})"), "nope");
  EXPECT_EQ(extract_server_error_message(R"({"detail":"missing field"})"), "missing field");
  EXPECT_EQ(extract_server_error_message("plain text"), "plain text");
}

TEST(OpenAIHelpers, ParseResponseOrdersByIndexAndJoinsReasoning) {
  auto r = parse_openai_response(
      R"({"choices":[{"index":1,"message":{"content":"B"},"finish_reason":"length"},
                     {"index":0,"message":{"content":"A","reasoning_content":"think A"},"finish_reason":null}],
          "usage":{"prompt_tokens":7,"completion_tokens":9}})",
      true);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].text, "<think>\nthink A\n</think>\n\nA");
  EXPECT_EQ((*r)[0].finish_reason, "");
  EXPECT_EQ((*r)[1].text, "B");
  EXPECT_EQ((*r)[1].finish_reason, "length");
  EXPECT_EQ((*r)[1].prompt_tokens, 7);
  EXPECT_EQ((*r)[1].completion_tokens, -1);  // a total over 2 choices is not per-choice
  EXPECT_FALSE(parse_openai_response(R"({"choices":[{"index":0,"message":{"content":"A"}}]})", false).is_ok());
  EXPECT_FALSE(parse_openai_response(R"({"object":"error"})", true).is_ok());
  EXPECT_FALSE(parse_openai_response(R"({"choices":[)", true).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(OpenAIBackend, ChatRoundTripSendsAllSamplingFields) {
  FakeOpenAIServer server;
  auto backend = make_openai_backend(test_config(server.url()));
  auto req = chat_request("What is 2+2?");
  req.params.temperature = 0.7;
  req.params.top_p = 0.9;
  req.params.top_k = 20;
  req.params.max_tokens = 1234;
  req.params.seed = 99;
  req.params.stop = {"</answer>", "\n\n"};
  auto r = get(backend->submit(req));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].text, "completion 0 for: What is 2+2?");
  EXPECT_EQ((*r)[0].finish_reason, "stop");
  EXPECT_EQ((*r)[0].prompt_tokens, 5);  // words: "Be brief." + "What is 2+2?"
  EXPECT_EQ((*r)[0].completion_tokens, 6);

  ASSERT_EQ(server.request_count(), 1);
  FakeRequest rec = server.last_request();
  EXPECT_EQ(rec.method, "POST");
  EXPECT_EQ(rec.path, "/v1/chat/completions");
  EXPECT_EQ(rec.header("content-type"), "application/json");
  EXPECT_EQ(rec.header("authorization"), "");
  const json& b = rec.json;
  EXPECT_EQ(b["model"], "test-model");
  EXPECT_EQ(b["messages"], json::parse(R"([{"role":"system","content":"Be brief."},
                                           {"role":"user","content":"What is 2+2?"}])"));
  EXPECT_EQ(b["n"], 1);
  EXPECT_DOUBLE_EQ(b["temperature"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(b["top_p"].get<double>(), 0.9);
  EXPECT_EQ(b["top_k"], 20);
  EXPECT_EQ(b["max_tokens"], 1234);
  EXPECT_EQ(b["seed"], 99);
  EXPECT_EQ(b["stop"], json::array({"</answer>", "\n\n"}));
  EXPECT_FALSE(b.contains("prompt"));
}

TEST(OpenAIBackend, CompletionRoundTripOmitsUnsetFields) {
  FakeOpenAIServer server;
  auto backend = make_openai_backend(test_config(server.url()));
  GenerationRequest req;
  req.problem_id = "p2";
  req.chat = false;
  req.prompt = "Once upon a time";
  auto r = get(backend->submit(req));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].text, "completion 0 for: Once upon a time");
  FakeRequest rec = server.last_request();
  EXPECT_EQ(rec.path, "/v1/completions");
  const json& b = rec.json;
  EXPECT_EQ(b["prompt"], "Once upon a time");
  EXPECT_FALSE(b.contains("messages"));
  EXPECT_FALSE(b.contains("top_k"));  // -1: not sent
  EXPECT_FALSE(b.contains("seed"));
  EXPECT_FALSE(b.contains("stop"));
  EXPECT_DOUBLE_EQ(b["temperature"].get<double>(), 0.6);  // Open-R1 defaults
  EXPECT_DOUBLE_EQ(b["top_p"].get<double>(), 0.95);
  EXPECT_EQ(b["max_tokens"], 32768);
}

TEST(OpenAIBackend, BaseUrlEndingInV1IsNotDoubledAndPrefixIsKept) {
  FakeOpenAIServer server;
  {
    auto backend = make_openai_backend(test_config(server.url() + "/v1/"));
    ASSERT_TRUE(get(backend->submit(chat_request("q"))).is_ok());
    EXPECT_EQ(server.last_request().path, "/v1/chat/completions");
  }
  {
    auto backend = make_openai_backend(test_config(server.url() + "/proxy"));
    ASSERT_TRUE(get(backend->submit(chat_request("q"))).is_ok());
    EXPECT_EQ(server.last_request().path, "/proxy/v1/chat/completions");
  }
}

TEST(OpenAIBackend, ApiKeySentAsBearer) {
  FakeOpenAIServer server;
  auto cfg = test_config(server.url());
  cfg.api_key = "sk-test-123";
  auto backend = make_openai_backend(cfg);
  ASSERT_TRUE(get(backend->submit(chat_request("q"))).is_ok());
  EXPECT_EQ(server.last_request().header("Authorization"), "Bearer sk-test-123");
}

TEST(OpenAIBackend, MultipleChoicesOutOfOrderAreSortedByIndex) {
  FakeOpenAIServer server;
  server.set_json_responder([](const FakeRequest& r) {
    int n = r.json["n"];
    std::vector<std::string> texts;
    for (int i = 0; i < n; ++i) texts.push_back("sample " + std::to_string(i));
    json body = FakeOpenAIServer::make_response(r, texts);
    std::reverse(body["choices"].begin(), body["choices"].end());
    return body;
  });
  auto backend = make_openai_backend(test_config(server.url()));
  auto r = get(backend->submit(chat_request("q", 4)));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*r)[i].text, "sample " + std::to_string(i));
  EXPECT_EQ(server.last_request().json["n"], 4);
  EXPECT_EQ(server.request_count(), 1);
}

TEST(OpenAIBackend, ReasoningContentJoinedBeforeContent) {
  FakeOpenAIServer server;
  server.set_json_responder([](const FakeRequest& r) {
    json body = FakeOpenAIServer::make_response(r, {"The answer is 4.", "Four."});
    body["choices"][0]["message"]["reasoning_content"] = "2+2 is 4";
    body["choices"][1]["message"]["reasoning"] = "count";
    return body;
  });
  auto backend = make_openai_backend(test_config(server.url()));
  auto r = get(backend->submit(chat_request("q", 2)));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].text, "<think>\n2+2 is 4\n</think>\n\nThe answer is 4.");
  EXPECT_EQ((*r)[1].text, "<think>\ncount\n</think>\n\nFour.");
}

TEST(OpenAIBackend, ServerCappingNIsToppedUp) {
  FakeOpenAIServer server;
  server.set_max_choices(2);
  auto backend = make_openai_backend(test_config(server.url()));
  auto req = chat_request("q", 5);
  req.params.seed = 100;
  auto r = get(backend->submit(req));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->size(), 5u);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].json["n"], 5);
  EXPECT_EQ(reqs[1].json["n"], 3);
  EXPECT_EQ(reqs[2].json["n"], 1);
  EXPECT_EQ(reqs[0].json["seed"], 100);
  EXPECT_EQ(reqs[1].json["seed"], 102);
  EXPECT_EQ(reqs[2].json["seed"], 104);
}

TEST(OpenAIBackend, KeepAliveReusesOneConnection) {
  FakeOpenAIServer server;
  auto cfg = test_config(server.url());
  cfg.concurrency = 1;
  auto backend = make_openai_backend(cfg);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(get(backend->submit(chat_request("q"))).is_ok());
  EXPECT_EQ(server.request_count(), 5);
  EXPECT_EQ(server.connection_count(), 1);
}

TEST(OpenAIBackend, ServerDroppingKeptAliveConnectionsIsTransparent) {
  FakeOpenAIServer server;
  server.set_drop_connections(true);
  auto cfg = test_config(server.url());
  cfg.concurrency = 1;
  cfg.max_retries = 0;  // reconnecting a dead kept-alive connection is not a retry
  auto backend = make_openai_backend(cfg);
  for (int i = 0; i < 5; ++i) {
    auto r = get(backend->submit(chat_request("q")));
    ASSERT_TRUE(r.is_ok()) << r.status().message();
  }
  EXPECT_EQ(server.request_count(), 5);
  EXPECT_EQ(server.connection_count(), 5);
}

// ---------------------------------------------------------------------------------------------
// Faults and retries

TEST(OpenAIBackend, Retries500ThenSucceeds) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(500));
  server.push_fault(Fault::status_code(503));
  auto backend = make_openai_backend(test_config(server.url()));
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)[0].text, "completion 0 for: q");
  EXPECT_EQ(server.request_count(), 3);
}

TEST(OpenAIBackend, RateLimitHonoursRetryAfter) {
  FakeOpenAIServer server;
  server.push_fault(Fault::rate_limited(1));
  auto cfg = test_config(server.url());
  cfg.backoff_max_s = 5;  // Retry-After is capped by backoff_max_s
  auto backend = make_openai_backend(cfg);
  auto t0 = Clock::now();
  auto r = get(backend->submit(chat_request("q")));
  double elapsed = seconds_since(t0);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(server.request_count(), 2);
  EXPECT_GE(elapsed, 0.95);
  EXPECT_LT(elapsed, 3.0);
}

TEST(OpenAIBackend, RetryAfterCappedByBackoffMax) {
  FakeOpenAIServer server;
  server.push_fault(Fault::rate_limited(30));
  auto backend = make_openai_backend(test_config(server.url()));  // backoff_max_s = 0.05
  auto t0 = Clock::now();
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_LT(seconds_since(t0), 1.0);
}

TEST(OpenAIBackend, TimeoutThenSucceeds) {
  FakeOpenAIServer server;
  server.push_fault(Fault::delay(2.0));
  auto cfg = test_config(server.url());
  cfg.timeout_s = 0.3;
  auto backend = make_openai_backend(cfg);
  auto t0 = Clock::now();
  auto r = get(backend->submit(chat_request("q")));
  double elapsed = seconds_since(t0);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(server.request_count(), 2);
  EXPECT_GE(elapsed, 0.29);
  EXPECT_LT(elapsed, 1.5);
}

TEST(OpenAIBackend, ResetMidBodyThenSucceeds) {
  FakeOpenAIServer server;
  server.push_fault(Fault::reset_mid_body());
  auto backend = make_openai_backend(test_config(server.url()));
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)[0].text, "completion 0 for: q");
  EXPECT_EQ(server.request_count(), 2);
}

TEST(OpenAIBackend, MalformedJsonThenSucceeds) {
  FakeOpenAIServer server;
  server.push_fault(Fault::malformed_json());
  auto backend = make_openai_backend(test_config(server.url()));
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(server.request_count(), 2);
}

TEST(OpenAIBackend, MalformedJsonRetriedAFewTimesThenError) {
  FakeOpenAIServer server;
  for (int i = 0; i < 10; ++i) server.push_fault(Fault::malformed_json());
  auto cfg = test_config(server.url());
  cfg.max_retries = 8;
  auto backend = make_openai_backend(cfg);
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_TRUE(contains(r.status().message(), "malformed")) << r.status().message();
  EXPECT_EQ(server.request_count(), 4);  // first + min(max_retries, 3)
}

TEST(OpenAIBackend, BadRequestIsFinalWithServerMessage) {
  FakeOpenAIServer server;
  server.push_fault(Fault::bad_request("max_tokens is too large"));
  auto backend = make_openai_backend(test_config(server.url()));
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(r.status().message(), "400")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "max_tokens is too large")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), server.url())) << r.status().message();
  EXPECT_EQ(server.request_count(), 1);
}

TEST(OpenAIBackend, RetriesExhaustedNamesUrlAndAttempts) {
  FakeOpenAIServer server;
  for (int i = 0; i < 10; ++i) server.push_fault(Fault::status_code(502, "upstream down"));
  auto cfg = test_config(server.url());
  cfg.max_retries = 2;
  auto backend = make_openai_backend(cfg);
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_FALSE(r.is_ok());
  const std::string& m = r.status().message();
  EXPECT_TRUE(contains(m, server.url() + "/v1/chat/completions")) << m;
  EXPECT_TRUE(contains(m, "3 attempts")) << m;
  EXPECT_TRUE(contains(m, "502")) << m;
  EXPECT_TRUE(contains(m, "upstream down")) << m;
  EXPECT_EQ(server.request_count(), 3);
}

TEST(OpenAIBackend, TimeoutsExhaustedGiveTimeoutStatus) {
  FakeOpenAIServer server;
  server.set_latency(2.0);
  auto cfg = test_config(server.url());
  cfg.timeout_s = 0.15;
  cfg.max_retries = 1;
  auto backend = make_openai_backend(cfg);
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_TRUE(contains(r.status().message(), "timed out")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "2 attempts")) << r.status().message();
}

TEST(OpenAIBackend, ConnectionRefusedRetriedThenError) {
  std::string url = "http://127.0.0.1:" + std::to_string(closed_port());
  auto cfg = test_config(url);
  cfg.max_retries = 2;
  auto backend = make_openai_backend(cfg);
  auto t0 = Clock::now();
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(contains(r.status().message(), url)) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "3 attempts")) << r.status().message();
  EXPECT_LT(seconds_since(t0), 2.0);
}

TEST(OpenAIBackend, InvalidConfigResolvesEveryFutureWithError) {
  auto backend = make_openai_backend(test_config("localhost:8000"));
  auto r = get(backend->submit(chat_request("q")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(r.status().message(), "localhost:8000")) << r.status().message();

  FakeOpenAIServer server;
  auto cfg = test_config(server.url());
  cfg.concurrency = 0;
  EXPECT_FALSE(get(make_openai_backend(cfg)->submit(chat_request("q"))).is_ok());
  auto ok_backend = make_openai_backend(test_config(server.url()));
  auto req = chat_request("q", 0);
  EXPECT_FALSE(get(ok_backend->submit(req)).is_ok());
}

TEST(OpenAIBackend, HttpsAgainstPlainServerFailsCleanly) {
  FakeOpenAIServer server;
  auto cfg = test_config("https://127.0.0.1:" + std::to_string(server.port()));
  cfg.max_retries = 0;
  cfg.timeout_s = 0.5;  // the fake server waits for an HTTP header that never comes
  auto r = get(make_openai_backend(cfg)->submit(chat_request("q")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_TRUE(contains(r.status().message(), "TLS handshake")) << r.status().message();
}

// ---------------------------------------------------------------------------------------------
// Concurrency and cancellation

TEST(OpenAIBackend, ConcurrencyBoundRespected) {
  FakeOpenAIServer server;
  server.set_latency(0.15);
  auto cfg = test_config(server.url());
  cfg.concurrency = 3;
  auto backend = make_openai_backend(cfg);
  std::vector<std::future<Result<std::vector<Completion>>>> futures;
  auto t0 = Clock::now();
  for (int i = 0; i < 10; ++i) futures.push_back(backend->submit(chat_request("q" + std::to_string(i))));
  EXPECT_LT(seconds_since(t0), 0.1);  // submit() does not block
  for (int i = 0; i < 10; ++i) {
    auto r = get(std::move(futures[i]));
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ((*r)[0].text, "completion 0 for: q" + std::to_string(i));
  }
  EXPECT_EQ(server.request_count(), 10);
  EXPECT_LE(server.max_in_flight(), 3);
  EXPECT_GT(server.max_in_flight(), 1);
}

TEST(OpenAIBackend, CancelAllResolvesPendingAndInFlightQuickly) {
  FakeOpenAIServer server;
  server.set_latency(5.0);
  auto cfg = test_config(server.url());
  cfg.concurrency = 2;
  cfg.timeout_s = 30;
  auto backend = make_openai_backend(cfg);
  std::vector<std::future<Result<std::vector<Completion>>>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(backend->submit(chat_request("q")));
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (server.in_flight() < 2 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(server.in_flight(), 2);
  auto t0 = Clock::now();
  backend->cancel_all();
  for (auto& f : futures) {
    auto r = get(std::move(f), 2.0);
    ASSERT_FALSE(r.is_ok());
    EXPECT_TRUE(contains(r.status().message(), "cancelled")) << r.status().message();
  }
  EXPECT_LT(seconds_since(t0), 0.5);
  // The backend keeps working after a cancel.
  server.set_latency(0);
  auto r = get(backend->submit(chat_request("again")));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)[0].text, "completion 0 for: again");
}

TEST(OpenAIBackend, CancelAllInterruptsBackoff) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(500));
  auto cfg = test_config(server.url());
  cfg.backoff_initial_s = 10;
  cfg.backoff_max_s = 10;
  auto backend = make_openai_backend(cfg);
  auto f = backend->submit(chat_request("q"));
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (server.request_count() < 1 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto t0 = Clock::now();
  backend->cancel_all();
  auto r = get(std::move(f), 2.0);
  ASSERT_FALSE(r.is_ok());
  EXPECT_TRUE(contains(r.status().message(), "cancelled")) << r.status().message();
  EXPECT_LT(seconds_since(t0), 0.5);
}

TEST(OpenAIBackend, DestructorWithWorkInFlightJoinsQuickly) {
  FakeOpenAIServer server;
  server.set_latency(5.0);
  auto cfg = test_config(server.url());
  cfg.concurrency = 2;
  auto backend = make_openai_backend(cfg);
  std::vector<std::future<Result<std::vector<Completion>>>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(backend->submit(chat_request("q")));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto t0 = Clock::now();
  backend.reset();
  EXPECT_LT(seconds_since(t0), 0.5);
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    EXPECT_FALSE(f.get().is_ok());
  }
}

TEST(OpenAIBackend, ManyConcurrentRequestsWithMixedFaults) {
  FakeOpenAIServer server;
  for (int i = 0; i < 6; ++i) {
    server.push_fault(Fault::status_code(500));
    server.push_fault(Fault::reset_mid_body());
    if (i % 2 == 0) server.push_fault(Fault::malformed_json());  // 3 in all: never exhausts one request
  }
  auto cfg = test_config(server.url());
  cfg.concurrency = 8;
  cfg.max_retries = 10;
  auto backend = make_openai_backend(cfg);
  std::vector<std::future<Result<std::vector<Completion>>>> futures;
  for (int i = 0; i < 40; ++i) futures.push_back(backend->submit(chat_request("q" + std::to_string(i), 2)));
  for (int i = 0; i < 40; ++i) {
    auto r = get(std::move(futures[i]));
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[1].text, "completion 1 for: q" + std::to_string(i));
  }
  EXPECT_EQ(server.request_count(), 40 + 15);
}

// ---------------------------------------------------------------------------------------------
// The fake server itself (others reuse it).

TEST(FakeOpenAIServer, ScriptedFaultByNumberAndUnknownRoute) {
  FakeOpenAIServer server([](const json& req) { return std::vector<std::string>{"fixed"}; });
  server.set_fault(2, Fault::bad_request("second one fails"));
  HttpClient client(*parse_http_url(server.url()));
  auto r1 = client.post("/v1/completions", R"({"prompt":"x"})", {}, 2);
  ASSERT_TRUE(r1.ok()) << r1.message;
  EXPECT_EQ(r1.response.status, 200);
  EXPECT_EQ(json::parse(r1.response.body)["choices"][0]["text"], "fixed");
  auto r2 = client.post("/v1/completions", R"({"prompt":"x"})", {}, 2);
  ASSERT_TRUE(r2.ok()) << r2.message;
  EXPECT_EQ(r2.response.status, 400);
  EXPECT_EQ(extract_server_error_message(r2.response.body), "second one fails");
  auto r3 = client.post("/nope", "{}", {}, 2);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3.response.status, 404);
  auto r4 = client.post("/v1/chat/completions", "not json", {}, 2);
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(r4.response.status, 400);
  EXPECT_EQ(server.request_count(), 4);
  EXPECT_EQ(server.requests()[3].body, "not json");
  EXPECT_TRUE(server.requests()[3].json.is_null());
  server.push_fault(Fault::rate_limited(0.5));
  auto r6 = client.post("/v1/completions", "{}", {}, 2);
  ASSERT_TRUE(r6.ok());
  EXPECT_EQ(r6.response.status, 429);
  EXPECT_EQ(r6.response.header("retry-after").value_or(""), "0.5");
}

TEST(HttpClient, CancelFlagAbortsInFlightRequest) {
  FakeOpenAIServer server;
  server.set_latency(5);
  HttpClient client(*parse_http_url(server.url()));
  std::atomic<bool> cancel{false};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel = true;
  });
  auto t0 = Clock::now();
  auto r = client.post("/v1/completions", R"({"prompt":"x"})", {}, 30, &cancel);
  t.join();
  EXPECT_EQ(r.error, HttpError::kCancelled);
  EXPECT_LT(seconds_since(t0), 0.5);
}
