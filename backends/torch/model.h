// CausalLM: the Qwen2 / Llama decoder-only transformer in LibTorch, with Hugging Face parameter names
// so that named_parameters() maps 1:1 onto the tensors of a model.safetensors file.
//
//   auto m = crucible::lm::load_causal_lm("/models/Qwen2.5-0.5B-Instruct", torch::kCPU, torch::kFloat32);
//   torch::NoGradGuard g;
//   torch::Tensor logits = (*m)->forward({ids});          // ids [B,T] int64 -> logits [B,T,vocab]
//
// Architecture (per layer, pre-norm residual):
//   h = h + o_proj(Attention(RoPE(q_proj(n1)), RoPE(k_proj(n1)), v_proj(n1))), n1 = input_layernorm(h)
//   h = h + down_proj(silu(gate_proj(n2)) * up_proj(n2)),                       n2 = post_attention_layernorm(h)
// RMSNorm is computed in fp32 and cast back to the model dtype before the weight multiplies it;
// RoPE angles (position * inv_freq) and cos/sin are computed in fp32 and cast to the model dtype;
// rotate_half splits the head dim into halves (x1, x2) -> (-x2, x1); attention scores are scaled by
// 1/sqrt(head_dim), softmax runs in fp32; key/value heads are shared by num_key_value_groups query
// heads (head h uses kv head h / groups). These are the formulas of Hugging Face's Qwen2/Llama.
//
// Parameter names: model.embed_tokens.weight, model.layers.N.input_layernorm.weight,
// model.layers.N.self_attn.{q,k,v}_proj.{weight,bias} (biases: qwen2 always, llama when attention_bias),
// model.layers.N.self_attn.o_proj.weight (+ .bias for llama with attention_bias),
// model.layers.N.post_attention_layernorm.weight, model.layers.N.mlp.{gate,up,down}_proj.weight,
// model.norm.weight, lm_head.weight. With tie_word_embeddings there is no lm_head module at all:
// the output projection is model.embed_tokens.weight, so every parameter appears exactly once.
//
// Attention runs as matmul + fp32 softmax on LibTorch 1.x and through at::scaled_dot_product_attention
// on 2.x. Masking: a masked key gets no weight; a query whose keys are all masked (a padding position)
// attends to itself only, so no row is ever fully masked (no NaN) and padding never reaches a real
// position.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "backends/torch/model_config.h"
#include "core/status.h"

namespace crucible::lm {

// "fp32"/"float32", "bf16"/"bfloat16", "fp16"/"float16" -> the ScalarType; anything else is a
// kInvalidArgument naming the accepted names.
Result<torch::ScalarType> parse_dtype(const std::string& name);
// As parse_dtype, for names known to be valid; throws std::invalid_argument otherwise.
torch::ScalarType dtype_from_name(const std::string& name);
// The Hugging Face spelling ("float32", "bfloat16", "float16") for config.json's torch_dtype.
std::string dtype_hf_name(torch::ScalarType dtype);

// Keys and values of past positions, per layer [B, n_kv, S, head_dim] in the model dtype. k[l] and
// v[l] are views of preallocated storage (k_storage/v_storage, [B, n_kv, capacity, head_dim]) that
// grows by doubling, so appending a decode step copies only that step (amortised O(1) per token).
// Meant for inference under torch::NoGradGuard; when the new keys require grad, append
// concatenates instead (no in-place writes into tensors autograd has saved).
struct KVCache {
  std::vector<torch::Tensor> k, v;
  std::vector<torch::Tensor> k_storage, v_storage;

  int64_t length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(2); }
  // Appends this step's k_new/v_new [B, n_kv, T, head_dim] at `layer`; returns the full views
  // (past + T positions).
  std::pair<torch::Tensor, torch::Tensor> append(size_t layer, const torch::Tensor& k_new, const torch::Tensor& v_new);
  // Keeps only the batch rows in `rows` (int64 [B'], any device), in that order.
  void select_rows(const torch::Tensor& rows);
  void clear();
};

struct ForwardInput {
  torch::Tensor input_ids{};        // [B, T] int64, on the model's device
  torch::Tensor position_ids{};     // [B, T] int64; undefined = past_len + arange(T) for every row
  torch::Tensor attention_mask{};   // [B, S], S = past_len + T; 1 real / 0 padding; undefined = all real
  torch::Tensor document_ids{};     // [B, T]: packed rows, attention only among equal ids (and causal);
                                  // undefined = one document. Not allowed with a non-empty cache.
  KVCache* cache = nullptr;       // when set: attend to cached keys first, then append this step's
  // Recompute each decoder layer during backward instead of keeping its activations (training).
  // Implemented as a reentrant custom autograd function: parameter gradients are accumulated by
  // .backward() (as PyTorch's reentrant checkpoint), so use loss.backward(), not autograd::grad. Ignored when `cache` is set.
  bool checkpoint_activations = false;
};

namespace detail {
class DenseImpl;
class DecoderImpl;
}  // namespace detail

class CausalLMImpl : public torch::nn::Module {
 public:
  // Parameters are allocated with `options` (device, dtype) and left uninitialised: fill them with
  // load_causal_lm or make_random_causal_lm, or copy into named_parameters().
  explicit CausalLMImpl(const ModelConfig& config, torch::TensorOptions options = {});

  const ModelConfig& config() const { return config_; }
  torch::Device device() const;
  torch::ScalarType dtype() const;

  // Logits [B, T, vocab_size] in the model dtype.
  torch::Tensor forward(const ForwardInput& in);
  // Output of the final norm [B, T, hidden_size] in the model dtype.
  torch::Tensor hidden_states(const ForwardInput& in);
  // hidden [..., hidden_size] -> logits [..., vocab_size] (the lm_head, or embed_tokens when tied);
  // lets trainers compute log-probabilities a chunk of positions at a time.
  torch::Tensor logits_from_hidden(const torch::Tensor& hidden);
  // The output projection weight [vocab_size, hidden_size].
  torch::Tensor output_weight() const;

 private:
  ModelConfig config_;
  std::shared_ptr<detail::DecoderImpl> model_;
  std::shared_ptr<detail::DenseImpl> lm_head_;  // null when tied
};
TORCH_MODULE(CausalLM);

// Loads MODEL_DIR/config.json and model.safetensors (or model.safetensors.index.json + shards).
// F32/BF16/F16 tensors are converted to `dtype` and moved to `device`. Errors (Status, naming the
// file and tensor): unreadable files, a missing or wrongly shaped tensor, an unexpected dtype.
// lm_head.weight may be absent when tie_word_embeddings (it is ignored if present).
Result<CausalLM> load_causal_lm(const std::string& model_dir, torch::Device device, torch::ScalarType dtype);
// Writes DIR/config.json (torch_dtype = the model's dtype) and DIR/model.safetensors with the
// Hugging Face names, in the model's dtype; the tied lm_head is not written. Creates DIR.
Status save_causal_lm(CausalLM& model, const std::string& dir);
// A model with Hugging Face's initialisation: weights of linear layers and embeddings ~
// normal(0, initializer_range), biases 0, norm weights 1. fp32 on the CPU; deterministic in `seed`.
CausalLM make_random_causal_lm(const ModelConfig& config, uint64_t seed);

}  // namespace crucible::lm
