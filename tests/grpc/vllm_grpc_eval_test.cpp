// End to end: `crucible eval --backend vllm-grpc` (the CRUCIBLE_BINARY child process) against the
// loopback gRPC servers of each protocol, compared with the same completions served over HTTP
// (`--backend openai` against FakeOpenAIServer): the graded samples and results.json must be
// identical.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/grpc/fake_vllm_grpc_server.h"
#include "tests/grpc/grpc_test_util.h"
#include "tests/support/fake_openai_server.h"

extern char** environ;

namespace crucible {
namespace {

using json = nlohmann::json;
using testing::FakeVllmGrpcServer;
using testing::GrpcCall;
using testing::GrpcFault;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Run {
  int code = -1;
  std::string out, err;
};

// Runs `crucible ARGS...` with stdout/stderr in files under `dir`.
Run run_crucible(const std::vector<std::string>& args, const std::string& dir) {
  static int k = 0;
  std::string o = dir + "/run" + std::to_string(k) + ".out", e = dir + "/run" + std::to_string(k) + ".err";
  ++k;
  std::vector<std::string> argv = {CRUCIBLE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, o.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, e.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  Run r;
  if (posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ) == 0) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&fa);
  r.out = slurp(o);
  r.err = slurp(e);
  return r;
}

// The answer to sample `sample` (its seed offset) of the problem whose statement is in `prompt`.
// Non-ASCII text makes the streamed deltas cross UTF-8 character boundaries.
std::string answer_for(const std::string& prompt, uint64_t seed) {
  std::vector<std::string> ans;
  if (prompt.find("6*7") != std::string::npos) ans = {"42", "41"};
  else if (prompt.find("half of one") != std::string::npos) ans = {"0.5", "\\frac{1}{2}", "3"};
  else ans = {"7"};
  const size_t sample = static_cast<size_t>(seed % 1000);  // seed = base + problem * 1000 + sample
  return "Think… x ≈ y.\nTherefore, the final answer is: $\\boxed{" + ans[sample % ans.size()] +
         "}$. I hope it is correct";
}

// samples.jsonl as (problem, sample) -> what must agree across backends.
std::map<std::pair<std::string, int>, json> graded_samples(const std::string& run_dir) {
  std::map<std::pair<std::string, int>, json> out;
  std::istringstream in(slurp(run_dir + "/samples.jsonl"));
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    out[{j["problem_id"].get<std::string>(), j["sample"].get<int>()}] =
        json{{"completion", j["completion"]}, {"finish_reason", j["finish_reason"]}, {"grade", j["grade"]}};
  }
  return out;
}

class GrpcEvalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("grpc-eval");
    tok_dir_ = dir_ + "/tokenizer";
    std::filesystem::create_directories(tok_dir_);
    test::write_test_tokenizer(tok_dir_);
    data_ = test::write_text(dir_ + "/data.jsonl",
                             R"({"id":"a","problem":"What is 6*7?","answer":"42"})" "\n"
                             R"({"unique_id":"b","problem":"What is half of one?","solution":"It is $\\boxed{\\frac{1}{2}}$."})" "\n"
                             R"({"id":"c","problem":"What is 3+4?","answer":7})" "\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> eval_args(const std::string& backend, const std::string& url, const std::string& out) {
    return {"eval", "--task", "math500", "--data", data_, "--backend", backend, "--url", url, "--model",
            "fake-model", "--seed", "7", "--concurrency", "4", "--no-progress", "--out", out};
  }

  std::string dir_, tok_dir_, data_;
};

TEST_F(GrpcEvalTest, SameResultsAsHttpOverEachProtocol) {
  // HTTP baseline: one request per problem with n = 4 choices.
  testing::FakeOpenAIServer http([](const json& req) {
    std::vector<std::string> out;
    const std::string content = req["messages"].back()["content"];
    for (int i = 0; i < req.value("n", 1); ++i) out.push_back(answer_for(content, req["seed"].get<uint64_t>() + i));
    return out;
  });
  auto base = run_crucible(eval_args("openai", http.url(), dir_ + "/http"), dir_);
  ASSERT_EQ(base.code, 0) << base.out << base.err;
  const auto want_samples = graded_samples(dir_ + "/http");
  const json want_results = json::parse(slurp(dir_ + "/http/results.json"));
  ASSERT_EQ(want_samples.size(), 12u);
  EXPECT_EQ(want_results["per_problem"][0]["correct"], 2) << "a sanity check of the baseline itself";

  // vllm.Inference: n = 4 fanned out into 4 calls per problem, seeds seed+0..seed+3.
  FakeVllmGrpcServer inference({FakeVllmGrpcServer::Flavor::kInference, tok_dir_, 4},
                               [](const GrpcCall& c, int) { return answer_for(c.prompt, c.inference.sampling().seed()); });
  auto args = eval_args("vllm-grpc", inference.address(), dir_ + "/inference");
  args.insert(args.end(), {"--tokenizer", tok_dir_});
  auto r1 = run_crucible(args, dir_);
  ASSERT_EQ(r1.code, 0) << r1.out << r1.err;
  EXPECT_EQ(inference.call_count(), 12);
  EXPECT_EQ(graded_samples(dir_ + "/inference"), want_samples);
  EXPECT_EQ(json::parse(slurp(dir_ + "/inference/results.json")), want_results);

  // VllmEngine: token ids only; one call per problem with n = 4. The URL in --url's default form.
  FakeVllmGrpcServer engine({FakeVllmGrpcServer::Flavor::kEngine, tok_dir_, 5}, [](const GrpcCall& c, int i) {
    return answer_for(c.prompt, static_cast<uint64_t>(c.engine.sampling_params().seed()) + static_cast<uint64_t>(i));
  });
  args = eval_args("vllm-grpc", "http://" + engine.address(), dir_ + "/engine");
  args.insert(args.end(), {"--model-dir", tok_dir_, "--grpc-protocol", "auto"});  // --tokenizer defaults to it
  auto r2 = run_crucible(args, dir_);
  ASSERT_EQ(r2.code, 0) << r2.out << r2.err;
  EXPECT_EQ(engine.call_count(), 3);
  for (const auto& c : engine.calls()) EXPECT_EQ(c.engine.sampling_params().n(), 4u);
  EXPECT_EQ(graded_samples(dir_ + "/engine"), want_samples);
  EXPECT_EQ(json::parse(slurp(dir_ + "/engine/results.json")), want_results);
}

TEST_F(GrpcEvalTest, FinalErrorThenResume) {
  FakeVllmGrpcServer server({FakeVllmGrpcServer::Flavor::kEngine, tok_dir_, 8}, [](const GrpcCall& c, int i) {
    return answer_for(c.prompt, static_cast<uint64_t>(c.engine.sampling_params().seed()) + static_cast<uint64_t>(i));
  });
  server.push_fault(GrpcFault::status(grpc::StatusCode::INVALID_ARGUMENT, "The prompt is longer than the maximum model length"));
  auto args = eval_args("vllm-grpc", server.address(), dir_ + "/run");
  args.insert(args.end(), {"--tokenizer", tok_dir_, "--grpc-protocol", "engine", "--retries", "0"});
  auto r = run_crucible(args, dir_);
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("gRPC INVALID_ARGUMENT"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("longer than the maximum model length"), std::string::npos) << r.err;
  json res = json::parse(slurp(dir_ + "/run/results.json"));
  ASSERT_EQ(res["errors"].size(), 1u);
  EXPECT_EQ(graded_samples(dir_ + "/run").size(), 8u);

  auto again = run_crucible(args, dir_);
  ASSERT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_EQ(graded_samples(dir_ + "/run").size(), 12u);
  EXPECT_EQ(server.call_count(), 4) << "3 calls, then only the failed problem again";
}

TEST_F(GrpcEvalTest, BadTargetsAndMissingTokenizerAreBadInput) {
  auto r = run_crucible(eval_args("vllm-grpc", "http://127.0.0.1:8000/v1", dir_ + "/x"), dir_);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("no path"), std::string::npos) << r.err;
  auto args = eval_args("vllm-grpc", "127.0.0.1:1", dir_ + "/y");
  args.insert(args.end(), {"--grpc-protocol", "engine"});
  auto r2 = run_crucible(args, dir_);
  EXPECT_EQ(r2.code, 2) << r2.out << r2.err;
  EXPECT_NE(r2.err.find("--tokenizer"), std::string::npos) << r2.err;
}

}  // namespace
}  // namespace crucible
