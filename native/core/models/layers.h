// The basic layers of the diffusers / transformers models, as libtorch C++
// frontend modules whose parameter names match PyTorch's (weight, bias).
// Unlike torch::nn's, they take TensorOptions, so a model can be built on the
// meta device (shapes only, no memory: manifest checks) or directly in its
// run dtype and device (no second copy at load time). Parameters start
// uninitialised (torch::empty): weights come from a checkpoint.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>

namespace spo::models {

// An optional low-rank branch of a Linear (LoRA): y = W x + b + scale * up(down(x)).
// Its tensors are plain members, not registered parameters, so the base
// model's state-dict keys stay exactly those of the checkpoint. They are fp32
// whatever the base dtype (mixed precision: fp16/bf16 frozen weights, fp32 LoRA).
struct LoraBranch {
  at::Tensor down;  // [rank, in]  (peft lora_A)
  at::Tensor up;    // [out, rank] (peft lora_B)
  double alpha = 1;
  double scale = 1;  // alpha / rank (alpha / sqrt(rank) for rsLoRA)
  bool enabled = true;
  int64_t rank() const { return down.size(0); }
};

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias, const at::TensorOptions& options);
  // The base linear map exactly as before when no LoRA is attached or it is disabled.
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;  // [out, in], [out] (bias undefined when absent)
  std::shared_ptr<LoraBranch> lora;  // null when none is attached (see models/lora.h)
};
TORCH_MODULE(Linear);

class Conv2dImpl : public torch::nn::Module {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias,
             const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;
  int64_t stride, padding;
};
TORCH_MODULE(Conv2d);

class GroupNormImpl : public torch::nn::Module {
 public:
  GroupNormImpl(int64_t groups, int64_t channels, double eps, bool affine, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;
  int64_t groups;
  double eps;
};
TORCH_MODULE(GroupNorm);

class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, bool affine, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;
  int64_t dim;
  double eps;
};
TORCH_MODULE(LayerNorm);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t count, int64_t dim, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& ids);
  at::Tensor weight;  // [count, dim]
};
TORCH_MODULE(Embedding);

// Activations by their config names: silu, gelu, gelu_tanh ("gelu_pytorch_tanh"), quick_gelu.
at::Tensor activation(const std::string& name, const at::Tensor& x);

// softmax(q k^T / sqrt(d)) v with libtorch's fused attention (flash / memory-
// efficient kernels where available: no [L, L] matrix in memory on those paths).
// q, k, v: [B, heads, L, head_dim]; mask broadcastable to [B, heads, Lq, Lk] or undefined.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask = {},
                     bool causal = false);

// Every parameter and persistent buffer as (dotted name, shape): the state-dict view of a module.
std::vector<std::pair<std::string, std::vector<int64_t>>> state_shapes(const torch::nn::Module& module);

}  // namespace spo::models
