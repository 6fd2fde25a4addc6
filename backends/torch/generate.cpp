// Batched generation with a KV cache (see generate.h for the contract).
#include "backends/torch/generate.h"

#include <algorithm>
#include <limits>
#include <random>
#include <stdexcept>

namespace crucible::lm {
namespace {

struct Sampled {
  torch::Tensor tokens;    // [n] int64, on the logits' device
  torch::Tensor logprobs;  // [n] float32, or undefined
};

// One token per row of `logits` [n, V] (float32). `u` [n] float64 holds one uniform in [0, 1) per row.
// `seen` [n, V] bool (defined only with a repetition penalty): tokens of each row's prompt and output.
Sampled sample(torch::Tensor logits, const GenerateOptions& o, const torch::Tensor& u, const torch::Tensor& seen) {
  const int64_t vocab = logits.size(1);
  if (seen.defined()) {
    const double rp = o.repetition_penalty;
    logits = torch::where(seen, torch::where(logits > 0, logits / rp, logits * rp), logits);
  }
  if (o.valid_vocab > 0 && o.valid_vocab < vocab)
    logits.narrow(1, o.valid_vocab, vocab - o.valid_vocab).fill_(-std::numeric_limits<float>::infinity());
  Sampled out;
  if (o.temperature == 0) {
    out.tokens = logits.argmax(-1);
    if (o.logprobs) out.logprobs = torch::log_softmax(logits, -1).gather(1, out.tokens.unsqueeze(1)).squeeze(1);
    return out;
  }
  torch::Tensor logp = torch::log_softmax(logits / o.temperature, -1);
  torch::Tensor probs = logp.exp();
  torch::Tensor cand = probs, ids;  // candidates [n, C] and their vocabulary ids (undefined = identity)
  if (o.top_k > 0 && o.top_k < vocab) {
    std::tie(cand, ids) = probs.topk(o.top_k, -1, /*largest=*/true, /*sorted=*/true);
  } else if (o.top_p < 1.0) {
    std::tie(cand, ids) = probs.sort(/*stable=*/true, -1, /*descending=*/true);
  }
  cand = cand.to(torch::kFloat64);
  if (o.top_p < 1.0) {
    torch::Tensor before = cand.cumsum(-1) - cand;  // mass strictly before each candidate
    torch::Tensor keep = before < o.top_p;
    keep.select(1, 0).fill_(true);
    cand = cand * keep;
  }
  if (o.min_p > 0) {
    torch::Tensor top = std::get<0>(cand.max(-1, /*keepdim=*/true));
    cand = cand * (cand >= top * o.min_p);
  }
  torch::Tensor cdf = cand.cumsum(-1);
  torch::Tensor target = (u * cdf.select(1, -1)).unsqueeze(1);
  torch::Tensor pick = (cdf <= target).sum(-1);
  // Rounding can push the target to the total: never step past the last candidate with mass.
  torch::Tensor index = torch::arange(cand.size(1), torch::TensorOptions().dtype(torch::kLong).device(cand.device()));
  torch::Tensor last = torch::where(cand > 0, index.unsqueeze(0), torch::full_like(index, -1).unsqueeze(0)).amax(-1);
  pick = torch::minimum(pick, last).unsqueeze(1);
  out.tokens = (ids.defined() ? ids.gather(1, pick) : pick).squeeze(1);
  if (o.logprobs) out.logprobs = logp.gather(1, out.tokens.unsqueeze(1)).squeeze(1);
  return out;
}

// Per-sequence generation state on the host.
struct Row {
  size_t seq;              // index into prompts / results
  std::mt19937_64 rng;
  int64_t prompt_len;
  std::string bytes;       // decoded bytes so far (stop-string matching)
};

double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

std::vector<GeneratedSequence> generate(CausalLM& model, const Tokenizer* tok,
                                        const std::vector<std::vector<int64_t>>& prompts, const GenerateOptions& o) {
  const size_t batch = prompts.size();
  std::vector<GeneratedSequence> results(batch);
  if (batch == 0) return results;
  const int64_t vocab = model->config().vocab_size;
  if (!o.seeds.empty() && o.seeds.size() != batch)
    throw std::invalid_argument("generate: " + std::to_string(o.seeds.size()) + " seeds for " + std::to_string(batch) +
                                " prompts");
  if (!(o.temperature >= 0)) throw std::invalid_argument("generate: temperature must be >= 0");
  if (!(o.top_p > 0 && o.top_p <= 1)) throw std::invalid_argument("generate: top_p must be in (0, 1]");
  if (!o.stop.empty() && !tok) throw std::invalid_argument("generate: stop strings need a tokenizer");
  if (!(o.min_p >= 0 && o.min_p <= 1)) throw std::invalid_argument("generate: min_p must be in [0, 1]");
  if (!(o.repetition_penalty > 0)) throw std::invalid_argument("generate: repetition_penalty must be > 0");
  int64_t max_len = 0;
  for (const auto& p : prompts) {
    if (p.empty()) throw std::invalid_argument("generate: empty prompt");
    for (int64_t id : p)
      if (id < 0 || id >= vocab)
        throw std::invalid_argument("generate: prompt token " + std::to_string(id) + " outside the vocabulary");
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(p.size()));
  }
  for (auto& r : results) r.finish_reason = "length";
  if (o.max_new_tokens <= 0) return results;

  torch::NoGradGuard no_grad;
  const torch::Device dev = model->device();
  const auto long_opt = torch::TensorOptions().dtype(torch::kLong);
  size_t max_stop = 0;
  for (const auto& s : o.stop) max_stop = std::max(max_stop, s.size());

  // Left-padded prefill batch.
  std::vector<Row> rows;
  std::vector<int64_t> ids(batch * max_len, 0), pos(batch * max_len, 0), pad(batch);
  for (size_t i = 0; i < batch; ++i) {
    const auto& p = prompts[i];
    pad[i] = max_len - static_cast<int64_t>(p.size());
    for (size_t j = 0; j < p.size(); ++j) {
      ids[i * max_len + pad[i] + j] = p[j];
      pos[i * max_len + pad[i] + j] = static_cast<int64_t>(j);
    }
    rows.push_back({i, std::mt19937_64(o.seeds.empty() ? i : o.seeds[i]), static_cast<int64_t>(p.size()), {}});
  }
  const int64_t b = static_cast<int64_t>(batch);
  torch::Tensor pad_dev = torch::tensor(pad, long_opt).to(dev);
  bool padded = *std::max_element(pad.begin(), pad.end()) > 0;
  auto mask_for = [&](int64_t total_len) {  // [n, total_len]: 1 from each row's first real token
    return (torch::arange(total_len, long_opt.device(dev)).unsqueeze(0) >= pad_dev.unsqueeze(1)).to(torch::kLong);
  };

  KVCache cache;
  ForwardInput in;
  in.input_ids = torch::from_blob(ids.data(), {b, max_len}, long_opt).to(dev);
  in.position_ids = torch::from_blob(pos.data(), {b, max_len}, long_opt).to(dev);
  if (padded) in.attention_mask = mask_for(max_len);
  in.cache = &cache;
  torch::Tensor hidden = model->hidden_states(in).select(1, max_len - 1);
  torch::Tensor logits = model->logits_from_hidden(hidden).to(torch::kFloat32);
  std::vector<int64_t> lens;
  for (const Row& r : rows) lens.push_back(r.prompt_len);
  torch::Tensor next_pos = torch::tensor(lens, long_opt).to(dev);  // [n] position of the next input token
  torch::Tensor seen;  // [n, vocab] bool: tokens of the prompt and output (repetition penalty only)
  if (o.repetition_penalty != 1.0) {
    seen = torch::zeros({b, vocab}, torch::TensorOptions().dtype(torch::kBool).device(dev));
    seen.scatter_(1, in.input_ids, true);
    if (padded) {  // padding ids (0) are not prompt tokens: rebuild those rows from the prompts
      for (size_t i = 0; i < batch; ++i) {
        if (pad[i] == 0) continue;
        seen[static_cast<int64_t>(i)].zero_();
        seen[static_cast<int64_t>(i)].index_fill_(0, torch::tensor(prompts[i], long_opt).to(dev), true);
      }
    }
  }

  for (int step = 0;; ++step) {
    const int64_t n = static_cast<int64_t>(rows.size());
    std::vector<double> u(n);
    for (int64_t i = 0; i < n; ++i) u[i] = uniform(rows[i].rng);
    Sampled s = sample(logits, o, torch::from_blob(u.data(), {n}, torch::kFloat64).to(dev), seen);
    if (seen.defined()) seen.scatter_(1, s.tokens.unsqueeze(1), true);
    torch::Tensor host = s.tokens.to(torch::kFloat64).unsqueeze(1);
    if (s.logprobs.defined()) host = torch::cat({host, s.logprobs.to(torch::kFloat64).unsqueeze(1)}, 1);
    host = host.to(torch::kCPU).contiguous();
    const double* h = host.data_ptr<double>();
    const int64_t stride = host.size(1);

    const bool cancelled = o.cancel && o.cancel->load();
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < n; ++i) {
      Row& row = rows[i];
      GeneratedSequence& r = results[row.seq];
      const int64_t token = static_cast<int64_t>(h[i * stride]);
      r.token_ids.push_back(token);
      if (stride > 1) r.logprobs.push_back(static_cast<float>(h[i * stride + 1]));
      bool done = false;
      if (std::find(o.eos_token_ids.begin(), o.eos_token_ids.end(), token) != o.eos_token_ids.end()) {
        r.finish_reason = "stop";
        done = true;
      } else if (max_stop > 0) {
        size_t from = row.bytes.size() >= max_stop - 1 ? row.bytes.size() - (max_stop - 1) : 0;
        row.bytes += tok->decode_bytes({static_cast<int32_t>(token)}, /*skip_special_tokens=*/true);
        for (const auto& stop : o.stop)
          if (!stop.empty() && row.bytes.find(stop, from) != std::string::npos) {
            r.finish_reason = "stop";
            done = true;
          }
      }
      if (!done && static_cast<int>(r.token_ids.size()) >= o.max_new_tokens) done = true;  // "length"
      if (!done && cancelled) {
        r.finish_reason = "cancelled";
        done = true;
      }
      if (!done) keep.push_back(i);
    }
    if (keep.empty()) break;

    torch::Tensor next = s.tokens;
    if (static_cast<int64_t>(keep.size()) < n) {  // drop finished rows from the batch and the cache
      torch::Tensor k = torch::tensor(keep, long_opt).to(dev);
      cache.select_rows(k);
      next = next.index_select(0, k);
      next_pos = next_pos.index_select(0, k);
      if (seen.defined()) seen = seen.index_select(0, k);
      pad_dev = pad_dev.index_select(0, k);
      std::vector<Row> live;
      for (int64_t i : keep) live.push_back(std::move(rows[i]));
      rows = std::move(live);
      int64_t max_pad = 0;
      for (const Row& r : rows) max_pad = std::max(max_pad, max_len - r.prompt_len);
      padded = max_pad > 0;
    }
    in = ForwardInput();
    in.input_ids = next.unsqueeze(1);
    in.position_ids = next_pos.unsqueeze(1);
    if (padded) in.attention_mask = mask_for(cache.length() + 1);
    in.cache = &cache;
    hidden = model->hidden_states(in).select(1, 0);
    logits = model->logits_from_hidden(hidden).to(torch::kFloat32);
    next_pos = next_pos + 1;
  }

  if (tok) {
    for (auto& r : results) {
      std::vector<int32_t> ids32(r.token_ids.begin(), r.token_ids.end());
      if (!ids32.empty() && std::find(o.eos_token_ids.begin(), o.eos_token_ids.end(), r.token_ids.back()) !=
                                o.eos_token_ids.end())
        ids32.pop_back();  // the EOS token is not part of the text, special or not
      r.text = tok->decode(ids32, /*skip_special_tokens=*/true);
      size_t cut = std::string::npos;
      for (const auto& stop : o.stop)
        if (!stop.empty()) cut = std::min(cut, r.text.find(stop));
      if (cut != std::string::npos) r.text.resize(cut);
    }
  }
  return results;
}

}  // namespace crucible::lm
