#include "models/layers.h"

#include <ATen/ATen.h>

#include "models/flop_counter.h"
#include "runtime/errors.h"

namespace spo::models {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool has_bias, const at::TensorOptions& o) {
  weight = register_parameter("weight", at::empty({out, in}, o));
  if (has_bias) bias = register_parameter("bias", at::empty({out}, o));
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  if (flops::counting()) flops::add(2.0 * static_cast<double>(x.numel() / x.size(-1)) * weight.size(0) * weight.size(1));
  at::Tensor y = at::linear(x, weight, bias);
  if (!lora || !lora->enabled) return y;
  // The branch runs in fp32 (its weights' dtype) and is added in fp32, as
  // peft does, before the sum goes back to the base dtype.
  const at::Tensor delta = at::linear(at::linear(x.to(at::kFloat), lora->down), lora->up) * lora->scale;
  return (y.to(at::kFloat) + delta).to(y.scalar_type());
}

Conv2dImpl::Conv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_, bool has_bias,
                       const at::TensorOptions& o)
    : stride(stride_), padding(padding_) {
  weight = register_parameter("weight", at::empty({out, in, kernel, kernel}, o));
  if (has_bias) bias = register_parameter("bias", at::empty({out}, o));
}

at::Tensor Conv2dImpl::forward(const at::Tensor& x) {
  at::Tensor y = at::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
  if (flops::counting()) {  // 2 * output elements * (in_channels * k * k)
    flops::add(2.0 * static_cast<double>(y.numel()) * weight.size(1) * weight.size(2) * weight.size(3));
  }
  return y;
}

GroupNormImpl::GroupNormImpl(int64_t groups_, int64_t channels, double eps_, bool affine, const at::TensorOptions& o)
    : groups(groups_), eps(eps_) {
  require(groups_ > 0 && channels % groups_ == 0, "GroupNorm: channels must be a multiple of the group count");
  if (affine) {
    weight = register_parameter("weight", at::empty({channels}, o));
    bias = register_parameter("bias", at::empty({channels}, o));
  }
}

at::Tensor GroupNormImpl::forward(const at::Tensor& x) { return at::group_norm(x, groups, weight, bias, eps); }

LayerNormImpl::LayerNormImpl(int64_t dim_, double eps_, bool affine, const at::TensorOptions& o) : dim(dim_), eps(eps_) {
  if (affine) {
    weight = register_parameter("weight", at::empty({dim_}, o));
    bias = register_parameter("bias", at::empty({dim_}, o));
  }
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x) { return at::layer_norm(x, {dim}, weight, bias, eps); }

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim, const at::TensorOptions& o) {
  weight = register_parameter("weight", at::empty({count, dim}, o));
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) { return at::embedding(weight, ids); }

at::Tensor activation(const std::string& name, const at::Tensor& x) {
  if (name == "silu" || name == "swish") return at::silu(x);
  if (name == "gelu") return at::gelu(x);
  if (name == "gelu_tanh" || name == "gelu_pytorch_tanh") return at::gelu(x, "tanh");
  if (name == "quick_gelu") return x * at::sigmoid(1.702 * x);
  throw Unsupported("unsupported activation '" + name + "'");
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask, bool causal) {
  if (flops::counting()) {  // q k^T and (softmax) v: 2 * 2 * B * heads * Lq * Lk * d
    flops::add(4.0 * static_cast<double>(q.numel() / q.size(-1)) * k.size(-2) * q.size(-1));
  }
  return at::scaled_dot_product_attention(q, k, v, mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt, 0.0,
                                          causal);
}

std::vector<std::pair<std::string, std::vector<int64_t>>> state_shapes(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : module.named_parameters(true)) out.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : module.named_buffers(true)) out.emplace_back(b.key(), b.value().sizes().vec());
  return out;
}

}  // namespace spo::models
