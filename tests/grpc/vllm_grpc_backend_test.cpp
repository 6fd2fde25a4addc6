// The vllm-grpc backend against loopback gRPC servers implementing vLLM's services from the
// project's protos (FakeVllmGrpcServer): both protocols, the legacy service name, probing,
// sampling parameters on the wire, retries per status code, deadlines, mid-stream failures,
// cancellation with Abort, bounded concurrency.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "backends/chat_template/chat_template.h"
#include "backends/grpc/vllm_grpc_backend.h"
#include "backends/tokenizer/tokenizer.h"
#include "harness/backend_factory.h"
#include "tests/grpc/fake_vllm_grpc_server.h"
#include "tests/grpc/grpc_test_util.h"

namespace crucible {
namespace {

using testing::FakeVllmGrpcServer;
using testing::GrpcCall;
using testing::GrpcFault;
using Flavor = FakeVllmGrpcServer::Flavor;

constexpr double kWait = 30.0;  // generous bound for anything that should take milliseconds

template <typename T>
T get(std::future<T>& f) {
  if (f.wait_for(std::chrono::duration<double>(kWait)) != std::future_status::ready)
    throw std::runtime_error("future not ready in time");
  return f.get();
}

GenerationRequest chat(const std::string& content, int n = 1, std::optional<uint64_t> seed = std::nullopt) {
  GenerationRequest r;
  r.problem_id = "p";
  r.chat = true;
  r.messages = {{"user", content}};
  r.params.n = n;
  r.params.seed = seed;
  r.params.max_tokens = 1000;
  return r;
}

class GrpcBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("grpc");
    tok_dir_ = test::write_test_tokenizer(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  FakeVllmGrpcServer::Options opts(Flavor f, int chunk = 3) const {
    FakeVllmGrpcServer::Options o;
    o.flavor = f;
    o.tokenizer_dir = tok_dir_;
    o.chunk_size = chunk;
    return o;
  }
  VllmGrpcBackendConfig config(const FakeVllmGrpcServer& s) const {
    VllmGrpcBackendConfig c;
    c.target = s.address();
    c.tokenizer_dir = tok_dir_;
    c.concurrency = 4;
    c.timeout_s = 10;
    c.max_retries = 3;
    c.backoff_initial_s = 0.005;
    c.backoff_max_s = 0.02;
    return c;
  }
  std::unique_ptr<VllmGrpcBackend> make(const VllmGrpcBackendConfig& c) {
    auto b = make_vllm_grpc_client(c);
    EXPECT_TRUE(b.is_ok()) << b.status().message();
    return b.is_ok() ? std::move(*b) : nullptr;
  }
  std::string rendered(const std::string& content) const {
    auto tpl = ChatTemplate::from_tokenizer_config(tok_dir_);
    return *tpl->render(nlohmann::json::array({{{"role", "user"}, {"content", content}}}), true);
  }
  Tokenizer tokenizer() const { return *Tokenizer::from_dir(tok_dir_); }

  std::string dir_, tok_dir_;
};

// ------------------------------------------------------------------------------------------------
// Helpers

TEST(GrpcHelpers, ParseTarget) {
  struct Case {
    const char* in;
    const char* address;
    bool tls;
  };
  for (const Case& c : {Case{"127.0.0.1:50051", "127.0.0.1:50051", false},
                        Case{"http://127.0.0.1:8000", "127.0.0.1:8000", false},
                        Case{" http://host:8000/ ", "host:8000", false},
                        Case{"grpc://host:1", "host:1", false},
                        Case{"https://vllm.example.com:443", "vllm.example.com:443", true},
                        Case{"[::1]:50051", "[::1]:50051", false},
                        Case{"dns:///vllm:50051", "dns:///vllm:50051", false},
                        Case{"unix:/tmp/vllm.sock", "unix:/tmp/vllm.sock", false}}) {
    auto t = parse_grpc_target(c.in);
    ASSERT_TRUE(t.is_ok()) << c.in << ": " << t.status().message();
    EXPECT_EQ(t->address, c.address) << c.in;
    EXPECT_EQ(t->tls, c.tls) << c.in;
  }
  for (const char* bad : {"", "host", "http://host", "http://host:8000/v1", "host:0", "host:99999", "host:8o",
                          "ftp://host:1", "[::1]"}) {
    auto t = parse_grpc_target(bad);
    EXPECT_FALSE(t.is_ok()) << bad;
    if (!t.is_ok()) {
      EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_NE(parse_grpc_target("http://h:8000/v1").status().message().find("no path"), std::string::npos);
  EXPECT_NE(parse_grpc_target("h").status().message().find("no port"), std::string::npos);
}

TEST(GrpcHelpers, RetryableCodes) {
  std::set<grpc::StatusCode> retried = {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::RESOURCE_EXHAUSTED,
                                        grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::ABORTED,
                                        grpc::StatusCode::INTERNAL, grpc::StatusCode::UNKNOWN,
                                        grpc::StatusCode::DATA_LOSS, grpc::StatusCode::CANCELLED};
  for (int c = 1; c <= 16; ++c)
    EXPECT_EQ(grpc_code_retryable(c), retried.count(static_cast<grpc::StatusCode>(c)) == 1) << grpc_code_name(c);
  EXPECT_EQ(grpc_code_name(3), "INVALID_ARGUMENT");
  EXPECT_EQ(grpc_code_name(14), "UNAVAILABLE");
}

TEST(GrpcHelpers, CutAtStopString) {
  EXPECT_EQ(cut_at_stop_string("a b STOP c END", {"END", "STOP"}), "a b ");
  EXPECT_EQ(cut_at_stop_string("abc", {"x", ""}), "abc");
  EXPECT_EQ(cut_at_stop_string("abc", {}), "abc");
}

TEST(GrpcHelpers, ConstructionErrors) {
  VllmGrpcBackendConfig c;
  c.target = "http://127.0.0.1:8000/v1";
  EXPECT_EQ(make_vllm_grpc_backend(c).status().code(), StatusCode::kInvalidArgument);
  c.target = "127.0.0.1:1";
  c.protocol = "websocket";
  EXPECT_NE(make_vllm_grpc_backend(c).status().message().find("auto, inference or engine"), std::string::npos);
  c.protocol = "engine";
  auto e = make_vllm_grpc_backend(c);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("--tokenizer"), std::string::npos) << e.status().message();
  c.protocol = "auto";
  c.tokenizer_dir = "/nonexistent/tokenizer/dir";
  EXPECT_FALSE(make_vllm_grpc_backend(c).is_ok());
  c.tokenizer_dir.clear();
  c.concurrency = 0;
  EXPECT_FALSE(make_vllm_grpc_backend(c).is_ok());
}

// ------------------------------------------------------------------------------------------------
// vllm.Inference

TEST_F(GrpcBackendTest, InferenceStreamSendsExplicitSamplingAndFansOutN) {
  FakeVllmGrpcServer server(opts(Flavor::kInference), [](const GrpcCall& c, int) {
    return "The answer is " + std::to_string(c.inference.sampling().seed()) + ".";
  });
  auto cfg = config(server);
  cfg.model = "fake-model";
  auto b = make(cfg);
  auto r = chat("What is 6*7?", 3, 100);
  r.params.temperature = 0.6;
  r.params.top_p = 0.95;
  r.params.top_k = 20;
  r.params.stop = {"\n\n"};
  auto f = b->submit(r);
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  ASSERT_EQ(res->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const Completion& c = (*res)[static_cast<size_t>(i)];
    EXPECT_EQ(c.text, "The answer is " + std::to_string(100 + i) + ".") << "sample order follows the seeds";
    EXPECT_EQ(c.finish_reason, "stop");
    EXPECT_EQ(c.completion_tokens, static_cast<int>(tokenizer().encode(c.text, false).size()));
    EXPECT_EQ(c.prompt_tokens, static_cast<int>(tokenizer().encode(rendered("What is 6*7?"), false).size()));
  }
  auto calls = server.calls();
  ASSERT_EQ(calls.size(), 3u) << "n = 3 becomes three calls";
  std::set<uint64_t> seeds;
  std::set<std::string> ids;
  for (const auto& call : calls) {
    const auto& q = call.inference;
    EXPECT_EQ(call.method, "vllm.Inference/GenerateStream");
    EXPECT_EQ(q.model(), "fake-model");
    ASSERT_TRUE(q.has_temperature()) << "unset temperature would mean greedy on vllm.Inference";
    EXPECT_FLOAT_EQ(q.temperature(), 0.6f);
    EXPECT_FLOAT_EQ(q.sampling().top_p(), 0.95f);
    EXPECT_EQ(q.sampling().top_k(), 20u);
    EXPECT_LE(q.sampling().num_sequences(), 1u);
    ASSERT_TRUE(q.sampling().has_seed());
    seeds.insert(static_cast<uint64_t>(q.sampling().seed()));
    EXPECT_EQ(q.stopping().max_new_tokens(), 1000u);
    ASSERT_EQ(q.stopping().stop_strings_size(), 1);
    EXPECT_EQ(q.stopping().stop_strings(0), "\n\n");
    EXPECT_FALSE(q.stopping().include_stop_strings());
    ASSERT_TRUE(q.response().has_output_text());
    EXPECT_TRUE(q.response().output_text());
    ASSERT_TRUE(q.response().has_skip_special_tokens());
    EXPECT_TRUE(q.response().skip_special_tokens());
    // Chat: the template rendered by the client, sent as token ids (no second BOS from the server).
    ASSERT_EQ(q.prompt_case(), ::vllm::GenerateRequest::kTokenIds);
    EXPECT_EQ(call.prompt, "<|im_start|>user\nWhat is 6*7?<|im_end|>\n<|im_start|>assistant\n");
    ids.insert(q.request_id());
  }
  EXPECT_EQ(seeds, (std::set<uint64_t>{100, 101, 102}));
  EXPECT_EQ(ids.size(), 3u) << "request ids are unique";
  EXPECT_EQ(b->protocol(), "inference");
  EXPECT_EQ(b->generate_method(), "vllm.Inference/GenerateStream");
  EXPECT_EQ(b->served_model(), "fake-model");
  EXPECT_EQ(server.probe_count(), 1);
}

TEST_F(GrpcBackendTest, InferenceUnaryGenerate) {
  FakeVllmGrpcServer server(opts(Flavor::kInference), [](const GrpcCall&, int) { return "unary answer"; });
  auto cfg = config(server);
  cfg.stream = false;
  cfg.protocol = "inference";
  auto b = make(cfg);
  auto f = b->submit(chat("hello", 2));
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  ASSERT_EQ(res->size(), 2u);
  EXPECT_EQ((*res)[0].text, "unary answer");
  EXPECT_EQ((*res)[0].finish_reason, "stop");
  for (const auto& c : server.calls()) {
    EXPECT_EQ(c.method, "vllm.Inference/Generate");
    EXPECT_FALSE(c.inference.sampling().has_seed()) << "no seed asked for, none sent";
    EXPECT_EQ(c.inference.sampling().top_k(), 0u) << "top_k -1 is not sent";
  }
}

TEST_F(GrpcBackendTest, InferenceCompletionModeSendsTextAndNeedsNoTokenizer) {
  FakeVllmGrpcServer server(opts(Flavor::kInference));
  auto cfg = config(server);
  cfg.tokenizer_dir.clear();
  auto b = make(cfg);
  GenerationRequest r;
  r.chat = false;
  r.prompt = "2+2=";
  auto f = b->submit(r);
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  EXPECT_EQ((*res)[0].text, "answer 0 to: 2+2=");
  ASSERT_EQ(server.call_count(), 1);
  EXPECT_EQ(server.calls()[0].inference.text(), "2+2=");

  // Chat needs the chat template: a clear, final error, nothing generated.
  auto f2 = b->submit(chat("hi"));
  auto res2 = get(f2);
  ASSERT_FALSE(res2.is_ok());
  EXPECT_EQ(res2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(res2.status().message().find("--tokenizer"), std::string::npos) << res2.status().message();
  EXPECT_EQ(server.call_count(), 1);
}

TEST_F(GrpcBackendTest, InferenceLengthFinishTokenIdsAndLogprobs) {
  FakeVllmGrpcServer server(opts(Flavor::kInference, 2), [](const GrpcCall&, int) { return "one two three four five six"; });
  auto b = make(config(server));
  auto r = chat("count", 1);
  r.params.max_tokens = 5;
  GrpcGenerateOptions o;
  o.logprobs = true;
  auto f = b->generate(r, o);
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  const GrpcSample& s = (*res)[0];
  EXPECT_EQ(s.completion.finish_reason, "length");
  EXPECT_EQ(s.completion.completion_tokens, 5);
  ASSERT_EQ(s.token_ids.size(), 5u);
  ASSERT_EQ(s.logprobs.size(), 5u);
  EXPECT_FLOAT_EQ(s.logprobs[4], -0.05f);
  EXPECT_EQ(s.completion.text, tokenizer().decode(s.token_ids, true));
  EXPECT_TRUE(server.calls()[0].inference.response().output_logprobs());

  // Token ids in: the prompt goes as is.
  GrpcGenerateOptions ids;
  ids.prompt_token_ids = {1, 2, 3};
  auto f2 = b->generate(chat("ignored"), ids);
  ASSERT_TRUE(get(f2).is_ok());
  auto q = server.calls().back().inference;
  ASSERT_EQ(q.prompt_case(), ::vllm::GenerateRequest::kTokenIds);
  EXPECT_EQ(std::vector<uint32_t>(q.token_ids().ids().begin(), q.token_ids().ids().end()),
            (std::vector<uint32_t>{1, 2, 3}));
}

TEST_F(GrpcBackendTest, InferenceStopStringReportedAndExcluded) {
  FakeVllmGrpcServer server(opts(Flavor::kInference), [](const GrpcCall&, int) { return "x = 7.\n\nBonus text"; });
  auto b = make(config(server));
  auto r = chat("q");
  r.params.stop = {"\n\n"};
  auto f = b->generate(r, {});
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  EXPECT_EQ((*res)[0].completion.text, "x = 7.");
  EXPECT_EQ((*res)[0].stop_reason, "\n\n");
}

TEST_F(GrpcBackendTest, LegacyGenerateServiceName) {
  FakeVllmGrpcServer server(opts(Flavor::kLegacyGenerate));
  auto b = make(config(server));
  auto f = b->submit(chat("hi", 2, 9));
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  EXPECT_EQ(res->size(), 2u);
  EXPECT_EQ(b->generate_method(), "vllm.Generate/GenerateStream");
  EXPECT_EQ(b->served_model(), "") << "old Control has Abort only";
  for (const auto& c : server.calls()) EXPECT_EQ(c.method, "vllm.Generate/GenerateStream");
  EXPECT_EQ(server.probe_count(), 1) << "vllm.Inference answered UNIMPLEMENTED, vllm.Generate the probe";
}

TEST_F(GrpcBackendTest, InferenceModelNotFoundIsFinal) {
  FakeVllmGrpcServer server(opts(Flavor::kInference));
  auto cfg = config(server);
  cfg.model = "some-other-model";
  auto b = make(cfg);
  auto f = b->submit(chat("hi"));
  auto res = get(f);
  ASSERT_FALSE(res.is_ok());
  EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(res.status().message().find("gRPC NOT_FOUND from " + server.address()), std::string::npos)
      << res.status().message();
  EXPECT_NE(res.status().message().find("some-other-model"), std::string::npos);
  EXPECT_NE(res.status().message().find("(not retried)"), std::string::npos);
}

// ------------------------------------------------------------------------------------------------
// vllm.grpc.engine.VllmEngine

TEST_F(GrpcBackendTest, EngineStreamsNSamplesInOneCallAndDetokenizes) {
  FakeVllmGrpcServer server(opts(Flavor::kEngine, 2), [](const GrpcCall&, int i) {
    return "Sample " + std::to_string(i) + ": the answer is " + std::to_string(40 + i) + ".";
  });
  auto cfg = config(server);
  cfg.protocol = "engine";
  cfg.model = "fake-model";
  auto b = make(cfg);
  auto r = chat("What is 6*7?", 3, 5);
  r.params.max_tokens = 777;
  GrpcGenerateOptions o;
  o.logprobs = true;
  auto f = b->generate(r, o);
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  ASSERT_EQ(res->size(), 3u);
  Tokenizer tok = tokenizer();
  const std::string prompt = rendered("What is 6*7?");
  for (int i = 0; i < 3; ++i) {
    const GrpcSample& s = (*res)[static_cast<size_t>(i)];
    const std::string want = "Sample " + std::to_string(i) + ": the answer is " + std::to_string(40 + i) + ".";
    EXPECT_EQ(s.completion.text, want) << "deltas accumulated per index, <|im_end|> skipped";
    EXPECT_EQ(s.completion.finish_reason, "stop");
    auto ids = tok.encode(want, false);
    ids.push_back(*tok.token_to_id("<|im_end|>"));
    EXPECT_EQ(s.token_ids, ids) << "the complete's repeated last delta is not appended twice";
    EXPECT_EQ(s.completion.completion_tokens, static_cast<int>(ids.size()));
    EXPECT_EQ(s.completion.prompt_tokens, static_cast<int>(tok.encode(prompt, false).size()));
    ASSERT_EQ(s.logprobs.size(), ids.size());
    EXPECT_FLOAT_EQ(s.logprobs[0], -0.01f);
  }
  auto calls = server.calls();
  ASSERT_EQ(calls.size(), 1u) << "VllmEngine takes n itself";
  const auto& q = calls[0].engine;
  const auto& sp = q.sampling_params();
  ASSERT_TRUE(sp.has_temperature()) << "unset temperature would mean 1.0 on VllmEngine";
  EXPECT_FLOAT_EQ(sp.temperature(), 0.6f);
  EXPECT_FLOAT_EQ(sp.top_p(), 0.95f);
  EXPECT_EQ(sp.top_k(), 0u);
  ASSERT_TRUE(sp.has_max_tokens());
  EXPECT_EQ(sp.max_tokens(), 777u);
  EXPECT_EQ(sp.n(), 3u);
  ASSERT_TRUE(sp.has_seed());
  EXPECT_EQ(sp.seed(), 5);
  EXPECT_TRUE(sp.skip_special_tokens());
  EXPECT_TRUE(sp.spaces_between_special_tokens());
  EXPECT_FALSE(sp.include_stop_str_in_output());
  ASSERT_TRUE(sp.has_logprobs());
  EXPECT_TRUE(q.stream());
  EXPECT_EQ(q.tokenized().original_text(), prompt);
  EXPECT_EQ(calls[0].prompt, prompt) << "prompt ids = the rendered template, no added BOS";
  EXPECT_EQ(b->protocol(), "engine");
  EXPECT_EQ(b->served_model(), "fake-model");
}

TEST_F(GrpcBackendTest, EngineStopStringCutLengthFinishAndBigSeed) {
  FakeVllmGrpcServer server(opts(Flavor::kEngine), [](const GrpcCall&, int) { return "x = 7.\n\nBonus text"; });
  auto cfg = config(server);
  cfg.protocol = "engine";
  auto b = make(cfg);
  auto r = chat("q", 1, (uint64_t{1} << 31) + 12);
  r.params.stop = {"\n\n"};
  auto f = b->generate(r, {});
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  EXPECT_EQ((*res)[0].completion.text, "x = 7.") << "cut at the stop string, as the server's text would be";
  EXPECT_EQ((*res)[0].stop_reason, "\n\n");
  EXPECT_EQ((*res)[0].completion.finish_reason, "stop");
  EXPECT_EQ(server.calls()[0].engine.sampling_params().seed(), 12) << "int32 field: seed mod 2^31";
  ASSERT_EQ(server.calls()[0].engine.sampling_params().stop_size(), 1);

  auto r2 = chat("q");
  r2.params.max_tokens = 4;
  auto f2 = b->submit(r2);
  auto res2 = get(f2);
  ASSERT_TRUE(res2.is_ok()) << res2.status().message();
  EXPECT_EQ((*res2)[0].finish_reason, "length");
  EXPECT_EQ((*res2)[0].completion_tokens, 4);
}

TEST_F(GrpcBackendTest, EngineCompletionModeEncodesWithSpecialTokens) {
  FakeVllmGrpcServer server(opts(Flavor::kEngine));
  auto cfg = config(server);
  cfg.protocol = "engine";
  auto b = make(cfg);
  GenerationRequest r;
  r.chat = false;
  r.prompt = "The sum is";
  auto f = b->submit(r);
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  EXPECT_EQ((*res)[0].text, "answer 0 to: The sum is");
  auto ids = server.calls()[0].engine.tokenized().input_ids();
  auto want = tokenizer().encode("The sum is", true);
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.end()), want);
}

TEST_F(GrpcBackendTest, EngineModelMismatchIsAClearError) {
  FakeVllmGrpcServer server(opts(Flavor::kEngine));
  for (const char* ok_name : {"fake-model", "/models/fake-model"}) {
    auto cfg = config(server);
    cfg.model = ok_name;
    auto b = make(cfg);
    auto f = b->submit(chat("hi"));
    EXPECT_TRUE(get(f).is_ok()) << ok_name;
  }
  auto cfg = config(server);
  cfg.model = "meta-llama/Other";
  auto b = make(cfg);
  int before = server.call_count();
  for (int i = 0; i < 2; ++i) {
    auto f = b->submit(chat("hi"));
    auto res = get(f);
    ASSERT_FALSE(res.is_ok());
    EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(res.status().message().find("serves 'fake-model'"), std::string::npos) << res.status().message();
  }
  EXPECT_EQ(server.call_count(), before) << "nothing generated for a model the server does not serve";
}

TEST_F(GrpcBackendTest, EngineWithoutTokenizerIsAClearError) {
  FakeVllmGrpcServer server(opts(Flavor::kEngine));
  auto cfg = config(server);
  cfg.tokenizer_dir.clear();
  auto b = make(cfg);  // auto: the probe finds VllmEngine
  auto f = b->submit(chat("hi"));
  auto res = get(f);
  ASSERT_FALSE(res.is_ok());
  EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(res.status().message().find("token ids only"), std::string::npos) << res.status().message();
  EXPECT_NE(res.status().message().find("--tokenizer"), std::string::npos);
  EXPECT_EQ(server.call_count(), 0);
}

// ------------------------------------------------------------------------------------------------
// Probing

TEST_F(GrpcBackendTest, AutoProbesOnceAndPicksEachProtocol) {
  struct Case {
    Flavor flavor;
    const char* protocol;
    const char* method;
  };
  for (const Case& c : {Case{Flavor::kInference, "inference", "vllm.Inference/GenerateStream"},
                        Case{Flavor::kLegacyGenerate, "inference", "vllm.Generate/GenerateStream"},
                        Case{Flavor::kEngine, "engine", "vllm.grpc.engine.VllmEngine/Generate"}}) {
    FakeVllmGrpcServer server(opts(c.flavor));
    auto b = make(config(server));
    EXPECT_EQ(b->protocol(), "") << "nothing is sent before the first request";
    std::vector<std::future<Result<std::vector<Completion>>>> fs;
    for (int i = 0; i < 6; ++i) fs.push_back(b->submit(chat("q" + std::to_string(i), 2)));
    for (auto& f : fs) {
      auto res = get(f);
      ASSERT_TRUE(res.is_ok()) << c.method << ": " << res.status().message();
      EXPECT_EQ(res->size(), 2u);
    }
    EXPECT_EQ(b->protocol(), c.protocol);
    EXPECT_EQ(b->generate_method(), c.method);
    EXPECT_EQ(server.probe_count(), 1) << c.method << ": probed once for all requests";
  }
}

TEST_F(GrpcBackendTest, ExplicitInferenceAgainstAnEngineServer) {
  FakeVllmGrpcServer server(opts(Flavor::kEngine));
  auto cfg = config(server);
  cfg.protocol = "inference";
  auto b = make(cfg);
  auto f = b->submit(chat("hi"));
  auto res = get(f);
  ASSERT_FALSE(res.is_ok());
  EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(res.status().message().find("no vLLM gRPC service at " + server.address()), std::string::npos)
      << res.status().message();
  EXPECT_NE(res.status().message().find("--grpc-protocol engine"), std::string::npos);
}

TEST_F(GrpcBackendTest, ServerDownRetriesThenUnavailable) {
  int port;
  {
    FakeVllmGrpcServer gone(opts(Flavor::kInference));
    port = gone.port();
  }
  VllmGrpcBackendConfig cfg;
  cfg.target = "127.0.0.1:" + std::to_string(port);
  cfg.max_retries = 2;
  cfg.backoff_initial_s = 0.005;
  cfg.backoff_max_s = 0.01;
  cfg.concurrency = 1;
  auto b = make(cfg);
  GenerationRequest r;
  r.chat = false;
  r.prompt = "x";
  auto f = b->submit(r);
  auto res = get(f);
  ASSERT_FALSE(res.is_ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(res.status().message().find("failed after 3 attempts"), std::string::npos) << res.status().message();
  EXPECT_NE(res.status().message().find("UNAVAILABLE"), std::string::npos) << res.status().message();
}

// ------------------------------------------------------------------------------------------------
// Status codes, retries, deadlines, mid-stream failures

struct CodeCase {
  Flavor flavor;
  grpc::StatusCode code;
};

void PrintTo(const CodeCase& c, std::ostream* os) {
  *os << (c.flavor == Flavor::kEngine ? "VllmEngine " : "vllm.Inference ") << grpc_code_name(static_cast<int>(c.code));
}

class GrpcStatusCodeTest : public GrpcBackendTest, public ::testing::WithParamInterface<CodeCase> {};

TEST_P(GrpcStatusCodeTest, RetriedOrFinal) {
  const CodeCase& p = GetParam();
  FakeVllmGrpcServer server(opts(p.flavor));
  const std::string name = grpc_code_name(static_cast<int>(p.code));
  server.push_fault(GrpcFault::status(p.code, "boom " + name));
  auto b = make(config(server));
  auto f = b->submit(chat("hi", 1));
  auto res = get(f);
  if (grpc_code_retryable(static_cast<int>(p.code))) {
    ASSERT_TRUE(res.is_ok()) << name << ": " << res.status().message();
    EXPECT_EQ(server.call_count(), 2) << name << " is retried";
  } else {
    ASSERT_FALSE(res.is_ok()) << name;
    EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(res.status().message().find("gRPC " + name + " from " + server.address()), std::string::npos)
        << res.status().message();
    EXPECT_NE(res.status().message().find("boom " + name), std::string::npos) << res.status().message();
    EXPECT_NE(res.status().message().find("(not retried)"), std::string::npos);
    EXPECT_EQ(server.call_count(), 1) << name << " is final";
  }
}

std::vector<CodeCase> all_codes() {
  std::vector<CodeCase> v;
  for (int c = 1; c <= 16; ++c) v.push_back({Flavor::kInference, static_cast<grpc::StatusCode>(c)});
  for (auto c : {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::INTERNAL,
                 grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::FAILED_PRECONDITION})
    v.push_back({Flavor::kEngine, c});
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllCodes, GrpcStatusCodeTest, ::testing::ValuesIn(all_codes()),
                         [](const ::testing::TestParamInfo<CodeCase>& i) {
                           return std::string(i.param.flavor == Flavor::kEngine ? "Engine_" : "Inference_") +
                                  grpc_code_name(static_cast<int>(i.param.code));
                         });

TEST_F(GrpcBackendTest, RetriesExhaustedNameTheLastError) {
  FakeVllmGrpcServer server(opts(Flavor::kInference));
  for (int i = 0; i < 3; ++i) server.push_fault(GrpcFault::status(grpc::StatusCode::UNAVAILABLE, "overloaded"));
  auto cfg = config(server);
  cfg.max_retries = 2;
  auto b = make(cfg);
  auto f = b->submit(chat("hi"));
  auto res = get(f);
  ASSERT_FALSE(res.is_ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(res.status().message().find("request to " + server.address() +
                                        " (vllm.Inference/GenerateStream) failed after 3 attempts; last error: "
                                        "UNAVAILABLE: overloaded"),
            std::string::npos)
      << res.status().message();
  EXPECT_EQ(server.call_count(), 3);
}

TEST_F(GrpcBackendTest, StallPastDeadlineIsRetriedAbortedThenTimeout) {
  for (Flavor flavor : {Flavor::kInference, Flavor::kEngine}) {
    FakeVllmGrpcServer server(opts(flavor));
    server.push_fault(GrpcFault::stall(1));  // first response, then nothing
    server.push_fault(GrpcFault::stall(0));
    auto cfg = config(server);
    cfg.timeout_s = 0.3;
    cfg.max_retries = 1;
    auto b = make(cfg);
    auto f = b->submit(chat("hi"));
    auto res = get(f);
    ASSERT_FALSE(res.is_ok());
    EXPECT_EQ(res.status().code(), StatusCode::kTimeout) << res.status().message();
    EXPECT_NE(res.status().message().find("DEADLINE_EXCEEDED after 0.3 s"), std::string::npos) << res.status().message();
    EXPECT_NE(res.status().message().find("failed after 2 attempts"), std::string::npos);
    // The server is told to stop working on each timed-out request.
    ASSERT_TRUE(server.wait_for_aborts(2, kWait));
    auto calls = server.calls();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(server.aborted(), (std::vector<std::string>{calls[0].request_id, calls[1].request_id}));

    // One stall, then an answer: retried after the deadline (a roomier deadline, so that the
    // answer itself never races it on a loaded machine).
    cfg.timeout_s = 1.5;
    auto b2 = make(cfg);
    server.push_fault(GrpcFault::stall(0));
    auto f2 = b2->submit(chat("again"));
    auto res2 = get(f2);
    EXPECT_TRUE(res2.is_ok()) << res2.status().message();
  }
}

TEST_F(GrpcBackendTest, MidStreamFailuresAreRetried) {
  struct Case {
    Flavor flavor;
    GrpcFault fault;
    const char* what;
  };
  std::vector<Case> cases = {
      {Flavor::kInference, GrpcFault::end_early(2), "stream closed with OK before finish_info"},
      {Flavor::kInference, GrpcFault::reset(2), "server RST_STREAM mid-stream"},
      {Flavor::kInference, GrpcFault::status(grpc::StatusCode::INTERNAL, "engine died", 3), "INTERNAL mid-stream"},
      {Flavor::kInference, GrpcFault::status(grpc::StatusCode::UNAVAILABLE, "conn lost", 2), "UNAVAILABLE mid-stream"},
      {Flavor::kEngine, GrpcFault::end_early(3), "stream closed before every sample completed"},
      {Flavor::kEngine, GrpcFault::reset(1), "server RST_STREAM mid-stream"},
  };
  for (const auto& c : cases) {
    FakeVllmGrpcServer server(opts(c.flavor, 1), [](const GrpcCall&, int i) { return "final answer " + std::to_string(i); });
    server.push_fault(c.fault);
    auto b = make(config(server));
    auto f = b->submit(chat("hi", 2));
    auto res = get(f);
    ASSERT_TRUE(res.is_ok()) << c.what << ": " << res.status().message();
    EXPECT_EQ((*res)[0].text, "final answer 0") << c.what << ": no partial text from the failed attempt";
    EXPECT_EQ((*res)[1].text, c.flavor == Flavor::kEngine ? "final answer 1" : "final answer 0") << c.what;
    int expected_calls = c.flavor == Flavor::kEngine ? 2 : 3;  // inference: two calls, one retried
    EXPECT_EQ(server.call_count(), expected_calls) << c.what;
  }
}

TEST_F(GrpcBackendTest, UnusableAnswersAreRetriedAtMostThreeTimes) {
  FakeVllmGrpcServer server(opts(Flavor::kInference));
  for (int i = 0; i < 5; ++i) server.push_fault(GrpcFault::end_early(1));
  auto cfg = config(server);
  cfg.max_retries = 5;
  auto b = make(cfg);
  auto f = b->submit(chat("hi"));
  auto res = get(f);
  ASSERT_FALSE(res.is_ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(res.status().message().find("failed after 4 attempts; last error: unusable answer: the stream ended "
                                        "without finish_info"),
            std::string::npos)
      << res.status().message();
}

// ------------------------------------------------------------------------------------------------
// Cancellation and concurrency

TEST_F(GrpcBackendTest, CancelAllResolvesEverythingAndAbortsInFlightCalls) {
  for (Flavor flavor : {Flavor::kInference, Flavor::kEngine}) {
    FakeVllmGrpcServer server(opts(flavor));
    server.push_fault(GrpcFault::stall(0));
    server.push_fault(GrpcFault::stall(1));
    auto cfg = config(server);
    cfg.concurrency = 2;
    cfg.timeout_s = 600;  // only the cancel can end the stalls
    auto b = make(cfg);
    std::vector<std::future<Result<std::vector<Completion>>>> fs;
    for (int i = 0; i < 4; ++i) fs.push_back(b->submit(chat("q" + std::to_string(i))));
    ASSERT_TRUE(server.wait_for_in_flight(2, kWait));
    b->cancel_all();
    for (auto& f : fs) {
      auto res = get(f);
      ASSERT_FALSE(res.is_ok());
      EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
      EXPECT_NE(res.status().message().find("cancelled"), std::string::npos) << res.status().message();
    }
    ASSERT_TRUE(server.wait_for_aborts(2, kWait)) << "Abort sent for both in-flight calls";
    auto calls = server.calls();
    ASSERT_EQ(calls.size(), 2u) << "queued requests were never sent";
    auto aborted_ids = server.aborted();
    std::set<std::string> aborted(aborted_ids.begin(), aborted_ids.end());
    EXPECT_EQ(aborted, (std::set<std::string>{calls[0].request_id, calls[1].request_id}));

    // The backend keeps working after a cancel.
    auto f = b->submit(chat("after"));
    auto res = get(f);
    EXPECT_TRUE(res.is_ok()) << res.status().message();
  }
}

TEST_F(GrpcBackendTest, FailedFanOutCallCancelsItsSiblings) {
  FakeVllmGrpcServer server(opts(Flavor::kInference));
  server.push_fault(GrpcFault::stall(0));
  server.push_fault(GrpcFault::stall(0));
  server.push_fault(GrpcFault::status(grpc::StatusCode::INVALID_ARGUMENT, "prompt too long"));
  auto cfg = config(server);
  cfg.concurrency = 3;
  cfg.timeout_s = 600;
  auto b = make(cfg);
  auto f = b->submit(chat("hi", 3));
  auto res = get(f);
  ASSERT_FALSE(res.is_ok());
  EXPECT_NE(res.status().message().find("prompt too long"), std::string::npos) << res.status().message();
  ASSERT_TRUE(server.wait_for_aborts(2, kWait)) << "the two stalled siblings are cancelled and aborted";
  EXPECT_EQ(server.call_count(), 3);
}

TEST_F(GrpcBackendTest, ConcurrencyIsBounded) {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  FakeVllmGrpcServer server(opts(Flavor::kInference), [&](const GrpcCall&, int) {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return open; });
    return std::string("done");
  });
  auto cfg = config(server);
  cfg.concurrency = 2;
  auto b = make(cfg);
  std::vector<std::future<Result<std::vector<Completion>>>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(b->submit(chat("q" + std::to_string(i), 2)));  // 6 calls
  ASSERT_TRUE(server.wait_for_in_flight(2, kWait));
  EXPECT_EQ(server.in_flight(), 2);
  {
    std::lock_guard<std::mutex> lk(m);
    open = true;
  }
  cv.notify_all();
  for (auto& f : fs) {
    auto res = get(f);
    ASSERT_TRUE(res.is_ok()) << res.status().message();
    EXPECT_EQ(res->size(), 2u);
  }
  EXPECT_EQ(server.call_count(), 6);
  EXPECT_EQ(server.max_in_flight(), 2);
}

TEST_F(GrpcBackendTest, DestructorCancelsInFlightCalls) {
  FakeVllmGrpcServer server(opts(Flavor::kEngine));
  server.push_fault(GrpcFault::stall(0));
  auto cfg = config(server);
  cfg.timeout_s = 600;
  auto b = make(cfg);
  auto f = b->submit(chat("hi"));
  ASSERT_TRUE(server.wait_for_in_flight(1, kWait));
  b.reset();
  auto res = get(f);
  ASSERT_FALSE(res.is_ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(server.wait_for_aborts(1, kWait));
}

TEST_F(GrpcBackendTest, MakeBackendFromEvalFlags) {
  FakeVllmGrpcServer server(opts(Flavor::kInference));
  BackendConfig bc;
  bc.backend = "vllm-grpc";
  bc.url = "http://127.0.0.1:" + std::to_string(server.port());  // --url's default form
  bc.tokenizer_dir = tok_dir_;
  bc.concurrency = 2;
  bc.timeout_s = 10;
  bc.max_retries = 1;
  auto b = make_backend(bc);
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ((*b)->name(), "vllm-grpc:@127.0.0.1:" + std::to_string(server.port()));
  auto f = (*b)->submit(chat("hi", 2));
  auto res = get(f);
  ASSERT_TRUE(res.is_ok()) << res.status().message();
  EXPECT_EQ(res->size(), 2u);
  bc.url = "http://127.0.0.1:8000/v1";
  EXPECT_FALSE(make_backend(bc).is_ok());
}

}  // namespace
}  // namespace crucible
