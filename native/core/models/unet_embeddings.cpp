#include "models/unet_embeddings.h"

#include <ATen/ATen.h>

#include <cmath>

#include "runtime/errors.h"

namespace spo::models {

at::Tensor timestep_sinusoid(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double freq_shift) {
  require(timesteps.dim() == 1, "timestep embedding: timesteps must be a 1-D tensor");
  require(dim >= 2, "timestep embedding: the size must be at least 2");
  const int64_t half = dim / 2;
  const auto f32 = timesteps.options().dtype(at::kFloat);
  // Float32 whatever the run dtype, with diffusers' order of operations (the
  // phases of t = 999 are sensitive to the last bit of the frequencies).
  at::Tensor exponent = at::arange(half, f32) * (-std::log(10000.0));
  at::Tensor freqs = at::exp(exponent / (static_cast<double>(half) - freq_shift));
  at::Tensor args = timesteps.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);  // [N, half]
  at::Tensor emb = flip_sin_to_cos ? at::cat({at::cos(args), at::sin(args)}, 1) : at::cat({at::sin(args), at::cos(args)}, 1);
  if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1}, 0);
  return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t embed_dim, const std::string& act_,
                                             const at::TensorOptions& o)
    : act(act_) {
  require(in_channels > 0 && embed_dim > 0, "TimestepEmbedding: sizes must be positive");
  linear_1 = register_module("linear_1", Linear(in_channels, embed_dim, true, o));
  linear_2 = register_module("linear_2", Linear(embed_dim, embed_dim, true, o));
}

at::Tensor TimestepEmbeddingImpl::forward(const at::Tensor& x) { return linear_2(activation(act, linear_1(x))); }

}  // namespace spo::models
