// The local backend: a LocalBackend owns one CausalLM, its tokenizer and chat template, and one
// worker thread that turns queued requests into batched generate() calls.
//
// submit() renders and tokenizes on the caller's thread (errors resolve the future at once) and
// queues the request. The worker takes the oldest request plus every queued request with the same
// sampling settings (temperature, top_p, top_k, max_tokens, stop) until max_batch sequences
// (n per request) are gathered, and generates them together; a request with n > max_batch is split
// into several generate calls. Static batching: a batch ends when its longest sequence ends
// (finished rows leave the batch, so they cost nothing meanwhile), then the next batch starts.
#include "backends/torch/local_backend.h"

#include <torch/cuda.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "backends/chat_template/chat_template.h"
#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/generate.h"
#include "backends/torch/model.h"
#include "core/jsonl.h"

namespace crucible {
namespace {

using json = nlohmann::json;

struct Job {
  GenerationRequest request;
  std::vector<int64_t> prompt;
  std::promise<Result<std::vector<Completion>>> promise;
};

bool same_sampling(const SamplingParams& a, const SamplingParams& b) {
  return a.temperature == b.temperature && a.top_p == b.top_p && a.top_k == b.top_k && a.max_tokens == b.max_tokens &&
         a.stop == b.stop;
}

// EOS ids from config.json, generation_config.json (what vLLM stops on) and the tokenizer.
Result<std::vector<int64_t>> eos_ids(const lm::ModelConfig& config, const std::string& dir, const Tokenizer& tok) {
  std::vector<int64_t> ids = config.eos_token_ids;
  auto add = [&](int64_t id) {
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  std::string gen_path = (std::filesystem::path(dir) / "generation_config.json").string();
  if (std::filesystem::exists(gen_path)) {
    auto text = read_file(gen_path);
    if (!text) return text.status();
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Status::parse(gen_path + ": not a JSON object");
    if (j.contains("eos_token_id")) {
      const json& e = j["eos_token_id"];
      if (e.is_number_integer()) {
        add(e.get<int64_t>());
      } else if (e.is_array()) {
        for (const auto& x : e) {
          if (!x.is_number_integer()) return Status::parse(gen_path + ": key 'eos_token_id' must hold token ids");
          add(x.get<int64_t>());
        }
      } else if (!e.is_null()) {
        return Status::parse(gen_path + ": key 'eos_token_id' must be a token id or a list of them");
      }
    }
  }
  if (auto e = tok.eos_id()) add(*e);
  return ids;
}

class LocalBackend : public Backend {
 public:
  LocalBackend(lm::CausalLM model, Tokenizer tok, Result<ChatTemplate> chat, std::vector<int64_t> eos,
               int64_t valid_vocab, int max_batch)
      : model_(std::move(model)),
        tok_(std::move(tok)),
        chat_(std::move(chat)),
        eos_(std::move(eos)),
        valid_vocab_(valid_vocab),
        max_batch_(std::max(1, max_batch)) {
    worker_ = std::thread([this] { work(); });
  }

  ~LocalBackend() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cancel_all();
    cv_.notify_all();
    worker_.join();
  }

  std::string name() const override { return "local"; }

  std::future<Result<std::vector<Completion>>> submit(GenerationRequest request) override {
    auto job = std::make_unique<Job>();
    auto future = job->promise.get_future();
    auto prompt = tokenize(request);
    if (!prompt) {
      job->promise.set_value(prompt.status());
      return future;
    }
    job->prompt = std::move(*prompt);
    job->request = std::move(request);
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
    return future;
  }

  void cancel_all() override {
    std::deque<std::unique_ptr<Job>> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      dropped.swap(queue_);
      if (busy_) cancel_ = true;
    }
    for (auto& j : dropped) j->promise.set_value(Status::unavailable("local backend: request cancelled"));
  }

 private:
  Result<std::vector<int64_t>> tokenize(const GenerationRequest& r) {
    std::string text;
    bool special = true;
    if (r.chat) {
      if (!chat_) return Status(chat_.status().code(), "local backend: no chat template: " + chat_.status().message());
      json messages = json::array();
      for (const auto& m : r.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
      Result<std::string> rendered = Status::internal("unrendered");
      {
        std::lock_guard<std::mutex> lock(render_mu_);
        rendered = chat_->render(messages, /*add_generation_prompt=*/true);
      }
      if (!rendered) return rendered.status();
      text = std::move(*rendered);
      special = false;  // the template writes any BOS itself (as apply_chat_template + vLLM)
    } else {
      text = r.prompt;
    }
    std::vector<int32_t> ids = tok_.encode(text, special);
    if (ids.empty()) return Status::invalid("local backend: the prompt of problem '" + r.problem_id + "' has no tokens");
    return std::vector<int64_t>(ids.begin(), ids.end());
  }

  void work() {
    for (;;) {
      std::vector<std::unique_ptr<Job>> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_ && queue_.empty()) return;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
        int seqs = batch[0]->request.params.n;
        for (auto it = queue_.begin(); it != queue_.end() && seqs < max_batch_;) {
          const SamplingParams& p = (*it)->request.params;
          if (same_sampling(p, batch[0]->request.params) && seqs + p.n <= max_batch_) {
            seqs += p.n;
            batch.push_back(std::move(*it));
            it = queue_.erase(it);
          } else {
            ++it;
          }
        }
        busy_ = true;
        cancel_ = false;
      }
      run(batch);
      std::lock_guard<std::mutex> lock(mu_);
      busy_ = false;
      cancel_ = false;
    }
  }

  // Generates every sample of `batch` (requests with the same sampling settings), max_batch_
  // sequences per generate call, and resolves each request's future.
  void run(std::vector<std::unique_ptr<Job>>& batch) {
    struct Seq {
      size_t job;
      int sample;
    };
    std::vector<Seq> seqs;
    std::vector<std::vector<Completion>> out(batch.size());
    std::vector<Status> errors(batch.size());
    for (size_t j = 0; j < batch.size(); ++j) {
      out[j].resize(batch[j]->request.params.n);
      for (int k = 0; k < batch[j]->request.params.n; ++k) seqs.push_back({j, k});
    }
    const SamplingParams& sp = batch[0]->request.params;
    lm::GenerateOptions o;
    o.max_new_tokens = sp.max_tokens;
    o.temperature = sp.temperature;
    o.top_p = sp.top_p > 0 ? sp.top_p : 1e-9;  // top_p 0: only the most likely token
    o.top_k = sp.top_k;
    o.stop = sp.stop;
    o.eos_token_ids = eos_;
    o.valid_vocab = valid_vocab_;
    o.logprobs = false;
    o.cancel = &cancel_;
    for (size_t begin = 0; begin < seqs.size(); begin += max_batch_) {
      size_t end = std::min(seqs.size(), begin + static_cast<size_t>(max_batch_));
      std::vector<std::vector<int64_t>> prompts;
      o.seeds.clear();
      for (size_t i = begin; i < end; ++i) {
        const Job& job = *batch[seqs[i].job];
        prompts.push_back(job.prompt);
        o.seeds.push_back(job.request.params.seed ? *job.request.params.seed + static_cast<uint64_t>(seqs[i].sample)
                                                  : random_seed());
      }
      std::vector<lm::GeneratedSequence> gen;
      try {
        gen = lm::generate(model_, &tok_, prompts, o);
      } catch (const std::exception& e) {  // c10::Error (e.g. out of memory) or a rejected request
        for (size_t i = begin; i < end; ++i)
          errors[seqs[i].job] = Status::internal(std::string("local backend: generation failed: ") + e.what());
        continue;
      }
      for (size_t i = begin; i < end; ++i) {
        const lm::GeneratedSequence& g = gen[i - begin];
        const Seq& s = seqs[i];
        if (g.finish_reason == "cancelled") {
          errors[s.job] = Status::unavailable("local backend: request cancelled");
          continue;
        }
        Completion& c = out[s.job][s.sample];
        c.text = g.text;
        c.finish_reason = g.finish_reason;
        c.prompt_tokens = static_cast<int>(prompts[i - begin].size());
        c.completion_tokens = static_cast<int>(g.token_ids.size());
      }
    }
    for (size_t j = 0; j < batch.size(); ++j) {
      if (errors[j].is_ok())
        batch[j]->promise.set_value(std::move(out[j]));
      else
        batch[j]->promise.set_value(errors[j]);
    }
  }

  uint64_t random_seed() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng();
  }

  lm::CausalLM model_;
  Tokenizer tok_;
  Result<ChatTemplate> chat_;
  std::mutex render_mu_;
  std::vector<int64_t> eos_;
  int64_t valid_vocab_;
  int max_batch_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false, busy_ = false;
  std::atomic<bool> cancel_{false};
  std::thread worker_;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_local_backend(const LocalBackendConfig& config) {
  const std::string& dir = config.model_dir;
  if (dir.empty()) return Status::invalid("local backend: no model directory given (--model-dir)");
  c10::optional<torch::Device> device;
  try {
    device = torch::Device(config.device);
  } catch (const std::exception&) {
    return Status::invalid("local backend: --device must be cpu, cuda or cuda:N, got '" + config.device + "'");
  }
  if (!device->is_cpu() && !device->is_cuda())
    return Status::invalid("local backend: --device must be cpu, cuda or cuda:N, got '" + config.device + "'");
  if (device->is_cuda()) {
    if (!torch::cuda::is_available())
      return Status::unavailable("local backend: --device " + config.device +
                                 ": CUDA is not available (no GPU, or LibTorch built without CUDA)");
    if (device->has_index() && device->index() >= static_cast<int>(torch::cuda::device_count()))
      return Status::invalid("local backend: --device " + config.device + ": only " +
                             std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
  }
  auto model_config = lm::ModelConfig::load(dir);
  if (!model_config) return model_config.status();
  std::string dtype_name = config.dtype;
  if (dtype_name.empty()) {
    // cpu: fp32. cuda: the checkpoint's own half/float dtype when config.json names one, else bf16.
    dtype_name = "fp32";
    if (device->is_cuda()) dtype_name = lm::parse_dtype(model_config->torch_dtype) ? model_config->torch_dtype : "bf16";
  }
  auto dtype = lm::parse_dtype(dtype_name);
  if (!dtype) return Status::invalid("local backend: --dtype: " + dtype.status().message());

  auto tok = Tokenizer::from_dir(dir);
  if (!tok) return tok.status();
  Result<ChatTemplate> chat = ChatTemplate::from_tokenizer_config(dir);  // needed only in chat mode
  auto eos = eos_ids(*model_config, dir, *tok);
  if (!eos) return eos.status();

  auto model = lm::load_causal_lm(dir, *device, *dtype);
  if (!model) return model.status();
  // Padded vocabulary rows (config vocab_size > tokenizer ids) are never sampled.
  int64_t valid = model_config->vocab_size;
  while (valid > 0 && !tok->id_to_token(static_cast<int32_t>(valid - 1))) --valid;
  if (valid == 0) return Status::invalid(dir + ": the tokenizer has no id below config.json's vocab_size");
  std::unique_ptr<Backend> backend = std::make_unique<LocalBackend>(std::move(*model), std::move(*tok), std::move(chat),
                                                                    std::move(*eos), valid, config.max_batch);
  return backend;
}

}  // namespace crucible
