// bench_decode: decode throughput of the LibTorch runtime (lm::generate) for a model shape with
// random weights. Default shape: Qwen2.5-0.5B (hidden 896, 24 layers, 14 heads, 2 kv heads,
// intermediate 4864, vocab 151936, tied embeddings).
//
//   bench_decode [--device cpu|cuda|cuda:N] [--dtype fp32|bf16|fp16] [--batch 8] [--prompt 64]
//                [--new 128] [--reps 3] [--temperature 0] [--hidden 896] [--layers 24] [--heads 14]
//                [--kv-heads 2] [--intermediate 4864] [--vocab 151936] [--small]
//
// --small: hidden 256, 4 layers, 4 heads, 2 kv heads, intermediate 1024, vocab 32000 (a CPU-sized
// shape). Each rep runs generate() twice with the same prompts: max_new_tokens = 1 (prefill plus
// one sampled token) and max_new_tokens = --new; decode time = the difference, so
// decode tokens/s = batch * (new - 1) / decode time. Prints the median over reps (after one warm-up).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "bench/bench_util.h"
#include "backends/torch/generate.h"
#include "backends/torch/model.h"

using crucible::lm::CausalLM;
using crucible::lm::GenerateOptions;
using crucible::lm::ModelConfig;

using crucible::bench::median;

namespace {

int usage(const char* why) {
  std::fprintf(stderr, "bench_decode: %s\n(see the comment at the top of bench/decode.cpp for the flags)\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cpu", dtype = "fp32";
  long batch = 8, prompt = 64, fresh = 128, reps = 3;
  double temperature = 0;
  nlohmann::json shape = {{"model_type", "qwen2"},      {"hidden_size", 896},        {"num_hidden_layers", 24},
                          {"num_attention_heads", 14},  {"num_key_value_heads", 2},  {"intermediate_size", 4864},
                          {"vocab_size", 151936},       {"tie_word_embeddings", true}, {"rope_theta", 1000000.0},
                          {"max_position_embeddings", 32768}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--small") {
      shape.update({{"hidden_size", 256}, {"num_hidden_layers", 4}, {"num_attention_heads", 4},
                    {"num_key_value_heads", 2}, {"intermediate_size", 1024}, {"vocab_size", 32000}});
      continue;
    }
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    std::string v = argv[++i];
    if (a == "--device") device = v;
    else if (a == "--dtype") dtype = v;
    else if (a == "--batch") batch = std::atol(v.c_str());
    else if (a == "--prompt") prompt = std::atol(v.c_str());
    else if (a == "--new") fresh = std::atol(v.c_str());
    else if (a == "--reps") reps = std::atol(v.c_str());
    else if (a == "--temperature") temperature = std::atof(v.c_str());
    else if (a == "--hidden") shape["hidden_size"] = std::atol(v.c_str());
    else if (a == "--layers") shape["num_hidden_layers"] = std::atol(v.c_str());
    else if (a == "--heads") shape["num_attention_heads"] = std::atol(v.c_str());
    else if (a == "--kv-heads") shape["num_key_value_heads"] = std::atol(v.c_str());
    else if (a == "--intermediate") shape["intermediate_size"] = std::atol(v.c_str());
    else if (a == "--vocab") shape["vocab_size"] = std::atol(v.c_str());
    else return usage(("unknown flag " + a).c_str());
  }
  if (batch < 1 || prompt < 1 || fresh < 2 || reps < 1) return usage("--batch, --prompt, --reps >= 1 and --new >= 2");
  auto config = ModelConfig::from_json(shape, "bench shape");
  if (!config) return usage(config.status().message().c_str());
  auto st = crucible::lm::parse_dtype(dtype);
  if (!st) return usage(st.status().message().c_str());
  torch::Device dev(device);
  if (dev.is_cuda() && !torch::cuda::is_available()) return usage("CUDA is not available");

  CausalLM model = crucible::lm::make_random_causal_lm(*config, 1);
  model->to(dev, *st);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();

  std::vector<std::vector<int64_t>> prompts(batch);
  for (long b = 0; b < batch; ++b)
    for (long t = 0; t < prompt; ++t) prompts[b].push_back((b * 7919 + t * 104729) % config->vocab_size);
  GenerateOptions o;
  o.temperature = temperature;
  o.top_p = temperature > 0 ? 0.95 : 1.0;
  o.logprobs = false;
  for (long b = 0; b < batch; ++b) o.seeds.push_back(b);
  auto seconds = [&](int new_tokens) {
    o.max_new_tokens = new_tokens;
    auto t0 = std::chrono::steady_clock::now();
    auto out = crucible::lm::generate(model, nullptr, prompts, o);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (static_cast<int>(out[0].token_ids.size()) != new_tokens) std::fprintf(stderr, "bench_decode: short output\n");
    return s;
  };
  seconds(2);  // warm-up (allocator, kernels)
  std::vector<double> prefill, total;
  for (long r = 0; r < reps; ++r) {
    prefill.push_back(seconds(1));
    total.push_back(seconds(static_cast<int>(fresh)));
  }
  const double p = median(prefill), t = median(total), decode = std::max(t - p, 1e-9);
  std::printf("shape: hidden %lld, layers %lld, heads %lld/%lld kv, intermediate %lld, vocab %lld, %.1f M params\n",
              static_cast<long long>(config->hidden_size), static_cast<long long>(config->num_hidden_layers),
              static_cast<long long>(config->num_attention_heads), static_cast<long long>(config->num_key_value_heads),
              static_cast<long long>(config->intermediate_size), static_cast<long long>(config->vocab_size), params / 1e6);
  std::printf("run: device %s, dtype %s, batch %ld, prompt %ld, new tokens %ld, %s, %ld reps (median), %d threads\n",
              device.c_str(), dtype.c_str(), batch, prompt, fresh, temperature > 0 ? "sampling (top_p 0.95)" : "greedy",
              reps, at::get_num_threads());
  std::printf("prefill+1 token: %.1f ms | decode: %.2f ms/step | %.1f tokens/s (batch x steps / decode time)\n",
              p * 1e3, decode / (fresh - 1) * 1e3, batch * (fresh - 1) / decode);
  return 0;
}
