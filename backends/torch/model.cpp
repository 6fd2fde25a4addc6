// The Qwen2/Llama decoder forward pass (see model.h for the formulas and the contract).
#include "backends/torch/model.h"

#include <torch/autograd.h>
#include <torch/version.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <tuple>

namespace crucible::lm {

// ------------------------------------------------------------------------------------- dtypes

Result<torch::ScalarType> parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "float32" || name == "float") return torch::kFloat32;
  if (name == "bf16" || name == "bfloat16") return torch::kBFloat16;
  if (name == "fp16" || name == "float16" || name == "half") return torch::kFloat16;
  return Status::invalid("unknown dtype '" + name + "' (accepted: fp32, float32, bf16, bfloat16, fp16, float16)");
}

torch::ScalarType dtype_from_name(const std::string& name) {
  auto d = parse_dtype(name);
  if (!d) throw std::invalid_argument(d.status().message());
  return *d;
}

std::string dtype_hf_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: throw std::invalid_argument(std::string("no Hugging Face name for dtype ") + c10::toString(dtype));
  }
}

// ------------------------------------------------------------------------------------- KV cache

std::pair<torch::Tensor, torch::Tensor> KVCache::append(size_t layer, const torch::Tensor& k_new,
                                                        const torch::Tensor& v_new) {
  if (k.size() <= layer) {
    k.resize(layer + 1);
    v.resize(layer + 1);
    k_storage.resize(layer + 1);
    v_storage.resize(layer + 1);
  }
  torch::Tensor& kl = k[layer];
  torch::Tensor& vl = v[layer];
  if (torch::GradMode::is_enabled() && (k_new.requires_grad() || v_new.requires_grad())) {
    // Autograd may have saved the old views: never write into them.
    kl = kl.defined() ? torch::cat({kl, k_new}, 2) : k_new;
    vl = vl.defined() ? torch::cat({vl, v_new}, 2) : v_new;
    k_storage[layer] = torch::Tensor();
    v_storage[layer] = torch::Tensor();
    return {kl, vl};
  }
  const int64_t len = kl.defined() ? kl.size(2) : 0, t = k_new.size(2);
  TORCH_CHECK(!kl.defined() || kl.size(0) == k_new.size(0), "KVCache: batch size changed from ", kl.size(0), " to ",
              k_new.size(0), " without select_rows");
  for (int which = 0; which < 2; ++which) {
    torch::Tensor& store = which == 0 ? k_storage[layer] : v_storage[layer];
    torch::Tensor& view = which == 0 ? kl : vl;
    const torch::Tensor& add = which == 0 ? k_new : v_new;
    if (!store.defined() || store.size(2) < len + t) {
      int64_t cap = std::max<int64_t>(len + t, store.defined() ? 2 * store.size(2) : 0);
      cap = (cap + 15) / 16 * 16;
      auto sizes = add.sizes().vec();
      sizes[2] = cap;
      torch::Tensor grown = torch::empty(sizes, add.options());
      if (len > 0) grown.narrow(2, 0, len).copy_(view);
      store = grown;
    }
    store.narrow(2, len, t).copy_(add);
    view = store.narrow(2, 0, len + t);
  }
  return {kl, vl};
}

void KVCache::select_rows(const torch::Tensor& rows) {
  for (size_t l = 0; l < k.size(); ++l) {
    if (!k[l].defined()) continue;
    auto idx = rows.to(k[l].device(), torch::kLong);
    int64_t len = k[l].size(2);
    if (k_storage[l].defined()) {
      k_storage[l] = k_storage[l].index_select(0, idx);
      v_storage[l] = v_storage[l].index_select(0, idx);
      k[l] = k_storage[l].narrow(2, 0, len);
      v[l] = v_storage[l].narrow(2, 0, len);
    } else {
      k[l] = k[l].index_select(0, idx);
      v[l] = v[l].index_select(0, idx);
    }
  }
}

void KVCache::clear() {
  k.clear();
  v.clear();
  k_storage.clear();
  v_storage.clear();
}

// ------------------------------------------------------------------------------------- modules

namespace detail {

// What every layer of one forward call shares: rotary cos/sin and the attention mask.
struct LayerInputs {
  torch::Tensor cos, sin;   // [B, 1, T, head_dim], model dtype
  torch::Tensor allowed;    // [B|1, 1, T, S] bool (true = may attend); undefined = no mask needed
  bool causal = false;      // SDPA only: allowed is undefined and the mask is plain causal (past 0)
};

class DenseImpl : public torch::nn::Module {
 public:
  DenseImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& o) {
    weight = register_parameter("weight", torch::empty({out, in}, o));
    if (with_bias) bias = register_parameter("bias", torch::empty({out}, o));
  }
  torch::Tensor forward(const torch::Tensor& x) { return at::linear(x, weight, bias); }
  torch::Tensor weight, bias;
};

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& o) : eps_(eps) {
    weight = register_parameter("weight", torch::empty({dim}, o));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor xf = x.to(torch::kFloat32);
    torch::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
    return weight * (xf * torch::rsqrt(var + eps_)).to(x.scalar_type());
  }
  torch::Tensor weight;

 private:
  double eps_;
};

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t rows, int64_t dim, const torch::TensorOptions& o) {
    weight = register_parameter("weight", torch::empty({rows, dim}, o));
  }
  torch::Tensor forward(const torch::Tensor& ids) { return at::embedding(weight, ids); }
  torch::Tensor weight;
};

torch::Tensor rotate_half(const torch::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// [B, n_kv, S, d] -> [B, n_kv * groups, S, d]: kv head j serves query heads j*groups .. j*groups+groups-1.
torch::Tensor repeat_kv(const torch::Tensor& x, int64_t groups) {
  if (groups == 1) return x;
  auto b = x.size(0), h = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, h, groups, s, d}).reshape({b, h * groups, s, d});
}

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const torch::TensorOptions& o)
      : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
    q_proj = register_module("q_proj", std::make_shared<DenseImpl>(c.hidden_size, heads_ * head_dim_, c.attention_bias, o));
    k_proj = register_module("k_proj", std::make_shared<DenseImpl>(c.hidden_size, kv_heads_ * head_dim_, c.attention_bias, o));
    v_proj = register_module("v_proj", std::make_shared<DenseImpl>(c.hidden_size, kv_heads_ * head_dim_, c.attention_bias, o));
    // Llama's attention_bias also gives o_proj a bias; Qwen2's o_proj never has one.
    const bool o_bias = c.model_type == "llama" && c.attention_bias;
    o_proj = register_module("o_proj", std::make_shared<DenseImpl>(heads_ * head_dim_, c.hidden_size, o_bias, o));
  }

  torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, KVCache* cache, size_t layer) {
    const int64_t b = x.size(0), t = x.size(1);
    torch::Tensor q = q_proj->forward(x).view({b, t, heads_, head_dim_}).transpose(1, 2);
    torch::Tensor k = k_proj->forward(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    torch::Tensor v = v_proj->forward(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
    q = q * in.cos + rotate_half(q) * in.sin;
    k = k * in.cos + rotate_half(k) * in.sin;
    if (cache) std::tie(k, v) = cache->append(layer, k, v);
    const int64_t groups = heads_ / kv_heads_;
    k = repeat_kv(k, groups);
    v = repeat_kv(v, groups);
#if TORCH_VERSION_MAJOR >= 2
    c10::optional<torch::Tensor> mask;
    if (in.allowed.defined()) mask = in.allowed;
    torch::Tensor out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, in.causal);
#else
    torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim_)));
    if (in.allowed.defined())
      scores = scores.masked_fill(in.allowed.logical_not(), -std::numeric_limits<double>::infinity());
    torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
    torch::Tensor out = torch::matmul(probs, v);
#endif
    return o_proj->forward(out.transpose(1, 2).reshape({b, t, heads_ * head_dim_}));
  }

  std::shared_ptr<DenseImpl> q_proj, k_proj, v_proj, o_proj;

 private:
  int64_t heads_, kv_heads_, head_dim_;
};

class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(const ModelConfig& c, const torch::TensorOptions& o) {
    gate_proj = register_module("gate_proj", std::make_shared<DenseImpl>(c.hidden_size, c.intermediate_size, false, o));
    up_proj = register_module("up_proj", std::make_shared<DenseImpl>(c.hidden_size, c.intermediate_size, false, o));
    down_proj = register_module("down_proj", std::make_shared<DenseImpl>(c.intermediate_size, c.hidden_size, false, o));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return down_proj->forward(torch::silu(gate_proj->forward(x)) * up_proj->forward(x));
  }
  std::shared_ptr<DenseImpl> gate_proj, up_proj, down_proj;
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& o) {
    input_layernorm = register_module("input_layernorm", std::make_shared<RMSNormImpl>(c.hidden_size, c.rms_norm_eps, o));
    self_attn = register_module("self_attn", std::make_shared<AttentionImpl>(c, o));
    post_attention_layernorm =
        register_module("post_attention_layernorm", std::make_shared<RMSNormImpl>(c.hidden_size, c.rms_norm_eps, o));
    mlp = register_module("mlp", std::make_shared<MLPImpl>(c, o));
  }
  torch::Tensor forward(const torch::Tensor& h, const LayerInputs& in, KVCache* cache, size_t layer) {
    torch::Tensor x = h + self_attn->forward(input_layernorm->forward(h), in, cache, layer);
    return x + mlp->forward(post_attention_layernorm->forward(x));
  }
  std::shared_ptr<RMSNormImpl> input_layernorm, post_attention_layernorm;
  std::shared_ptr<AttentionImpl> self_attn;
  std::shared_ptr<MLPImpl> mlp;
};

// Activation checkpointing of one layer: forward keeps only the layer input; backward recomputes the
// layer with grad enabled and back-propagates through it (reentrant, like torch.utils.checkpoint
// with use_reentrant=True). `anchor` is a scalar that requires grad so the node is part of the graph
// even when the layer input does not require grad (frozen embeddings).
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor h, torch::Tensor anchor,
                               DecoderLayerImpl* layer, const LayerInputs* in) {
    ctx->save_for_backward({h});
    ctx->saved_data["layer"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(layer));
    ctx->saved_data["cos"] = in->cos;
    ctx->saved_data["sin"] = in->sin;
    ctx->saved_data["has_mask"] = in->allowed.defined();
    if (in->allowed.defined()) ctx->saved_data["allowed"] = in->allowed;
    ctx->saved_data["causal"] = in->causal;
    return layer->forward(h, *in, nullptr, 0);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    torch::Tensor h = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(static_cast<intptr_t>(ctx->saved_data["layer"].toInt()));
    LayerInputs in;
    in.cos = ctx->saved_data["cos"].toTensor();
    in.sin = ctx->saved_data["sin"].toTensor();
    if (ctx->saved_data["has_mask"].toBool()) in.allowed = ctx->saved_data["allowed"].toTensor();
    in.causal = ctx->saved_data["causal"].toBool();
    torch::Tensor out;
    {
      torch::AutoGradMode enable(true);
      out = layer->forward(h, in, nullptr, 0);
    }
    torch::autograd::backward({out}, {grads[0]});
    return {h.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

class DecoderImpl : public torch::nn::Module {
 public:
  DecoderImpl(const ModelConfig& c, const torch::TensorOptions& o) : config_(c) {
    embed_tokens = register_module("embed_tokens", std::make_shared<EmbeddingImpl>(c.vocab_size, c.hidden_size, o));
    auto list = register_module("layers", std::make_shared<torch::nn::Module>());
    for (int64_t i = 0; i < c.num_hidden_layers; ++i)
      layers.push_back(list->register_module(std::to_string(i), std::make_shared<DecoderLayerImpl>(c, o)));
    norm = register_module("norm", std::make_shared<RMSNormImpl>(c.hidden_size, c.rms_norm_eps, o));
    inv_freq_ = rope_inverse_frequencies(c);
  }

  torch::Tensor forward(const ForwardInput& in) {
    const torch::Tensor& ids = in.input_ids;
    TORCH_CHECK(ids.defined() && ids.dim() == 2 && ids.scalar_type() == torch::kLong,
                "CausalLM: input_ids must be int64 [B, T]");
    const int64_t b = ids.size(0), t = ids.size(1);
    const int64_t past = in.cache ? in.cache->length() : 0;
    const torch::Device dev = embed_tokens->weight.device();
    const torch::ScalarType dtype = embed_tokens->weight.scalar_type();

    torch::Tensor pos = in.position_ids;
    if (!pos.defined()) {
      pos = torch::arange(past, past + t, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(0).expand({b, t});
    }
    TORCH_CHECK(pos.sizes() == ids.sizes(), "CausalLM: position_ids must be [B, T] like input_ids");
    LayerInputs li;
    if (inv_freq_.device() != dev) inv_freq_ = inv_freq_.to(dev);
    torch::Tensor angles = pos.to(torch::kFloat32).unsqueeze(-1) * inv_freq_;  // [B, T, hd/2], fp32
    torch::Tensor emb = torch::cat({angles, angles}, -1);
    li.cos = emb.cos().to(dtype).unsqueeze(1);
    li.sin = emb.sin().to(dtype).unsqueeze(1);
    build_mask(in, b, t, past, dev, &li);

    torch::Tensor h = embed_tokens->forward(ids);
    const bool checkpoint = in.checkpoint_activations && torch::GradMode::is_enabled() && in.cache == nullptr;
    torch::Tensor anchor;
    if (checkpoint) anchor = torch::zeros({}, torch::TensorOptions().dtype(dtype).device(dev)).requires_grad_(true);
    for (size_t l = 0; l < layers.size(); ++l) {
      if (checkpoint)
        h = CheckpointedLayer::apply(h, anchor, layers[l].get(), &li);
      else
        h = layers[l]->forward(h, li, in.cache, l);
    }
    return norm->forward(h);
  }

  std::shared_ptr<EmbeddingImpl> embed_tokens;
  std::vector<std::shared_ptr<DecoderLayerImpl>> layers;
  std::shared_ptr<RMSNormImpl> norm;

 private:
  // inv_freq[i] = 1 / theta^(2i / head_dim), fp32, with Llama-3.1's frequency-dependent scaling:
  // wavelengths longer than original/low_freq_factor are divided by `factor`, those shorter than
  // original/high_freq_factor kept, and the band between interpolated smoothly.
  static torch::Tensor rope_inverse_frequencies(const ModelConfig& c) {
    torch::Tensor exponent = torch::arange(0, c.head_dim, 2, torch::kLong).to(torch::kFloat32) / static_cast<double>(c.head_dim);
    torch::Tensor inv = 1.0 / torch::pow(c.rope_theta, exponent);
    if (c.rope_scaling.type == "llama3") {
      const RopeScaling& s = c.rope_scaling;
      const double old_len = static_cast<double>(s.original_max_position_embeddings);
      const double low_wavelen = old_len / s.low_freq_factor, high_wavelen = old_len / s.high_freq_factor;
      const double two_pi = 2.0 * std::acos(-1.0);
      torch::Tensor wavelen = two_pi / inv;
      torch::Tensor scaled = torch::where(wavelen > low_wavelen, inv / s.factor, inv);
      torch::Tensor smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      torch::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
      torch::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
      inv = torch::where(medium, smoothed, scaled);
    }
    return inv.to(torch::kFloat32);
  }

  // Fills li.allowed / li.causal. Rules: key s is visible to query t (absolute position past + t)
  // iff s <= past + t, same document, and the key is real; a query may always see itself, so a
  // padding query (whose own key is masked) attends to itself only and no row is fully masked.
  void build_mask(const ForwardInput& in, int64_t b, int64_t t, int64_t past, torch::Device dev, LayerInputs* li) {
    const int64_t s = past + t;
    const bool padded = in.attention_mask.defined(), packed = in.document_ids.defined();
    TORCH_CHECK(!packed || past == 0, "CausalLM: document_ids cannot be combined with a non-empty KV cache");
    if (!padded && !packed) {
      if (t == 1) return;  // one new query sees every past key
#if TORCH_VERSION_MAJOR >= 2
      if (past == 0) {
        li->causal = true;
        return;
      }
#endif
    }
    auto lopt = torch::TensorOptions().dtype(torch::kLong).device(dev);
    torch::Tensor q_pos = torch::arange(past, s, lopt).unsqueeze(1);  // [T, 1]
    torch::Tensor k_pos = torch::arange(0, s, lopt).unsqueeze(0);     // [1, S]
    torch::Tensor allowed = (k_pos <= q_pos).unsqueeze(0);             // [1, T, S]
    if (packed) {
      TORCH_CHECK(in.document_ids.sizes() == in.input_ids.sizes(), "CausalLM: document_ids must be [B, T]");
      torch::Tensor d = in.document_ids.to(dev);
      allowed = allowed.logical_and(d.unsqueeze(2) == d.unsqueeze(1));  // [B, T, T]
    }
    if (padded) {
      TORCH_CHECK(in.attention_mask.dim() == 2 && in.attention_mask.size(0) == b && in.attention_mask.size(1) == s,
                  "CausalLM: attention_mask must be [B, past + T] = [", b, ", ", s, "]");
      torch::Tensor real = in.attention_mask.to(dev).ne(0).unsqueeze(1);  // [B, 1, S]
      torch::Tensor self = (k_pos == q_pos).unsqueeze(0);                 // [1, T, S]
      allowed = allowed.logical_and(real.logical_or(self));
    }
    li->allowed = allowed.unsqueeze(1);  // [B|1, 1, T, S]
  }

  ModelConfig config_;
  torch::Tensor inv_freq_;  // [head_dim / 2] fp32, moved to the model's device on first use
};

}  // namespace detail

// ------------------------------------------------------------------------------------- CausalLM

CausalLMImpl::CausalLMImpl(const ModelConfig& config, torch::TensorOptions options) : config_(config) {
  model_ = register_module("model", std::make_shared<detail::DecoderImpl>(config, options));
  if (!config.tie_word_embeddings)
    lm_head_ = register_module("lm_head", std::make_shared<detail::DenseImpl>(config.hidden_size, config.vocab_size, false, options));
}

torch::Device CausalLMImpl::device() const { return model_->embed_tokens->weight.device(); }
torch::ScalarType CausalLMImpl::dtype() const { return model_->embed_tokens->weight.scalar_type(); }

torch::Tensor CausalLMImpl::output_weight() const {
  return lm_head_ ? lm_head_->weight : model_->embed_tokens->weight;
}

torch::Tensor CausalLMImpl::hidden_states(const ForwardInput& in) { return model_->forward(in); }

torch::Tensor CausalLMImpl::logits_from_hidden(const torch::Tensor& hidden) {
  return at::linear(hidden, output_weight());
}

torch::Tensor CausalLMImpl::forward(const ForwardInput& in) { return logits_from_hidden(hidden_states(in)); }

}  // namespace crucible::lm
