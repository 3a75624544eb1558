// The UNet's conditioning embeddings (diffusers models/embeddings.py):
// Timesteps (a fixed sinusoid, no parameters) and TimestepEmbedding
// (linear_1, act, linear_2), used for the diffusion timestep and, in SDXL,
// for the "text_time" added conditioning (pooled text + micro-conditioning ids).
#pragma once
#include "models/layers.h"

namespace spo::models {

// get_timestep_embedding: [N] timesteps (any real dtype) -> [N, dim] float32.
// Frequencies exp(-ln(10000) * i / (dim/2 - shift)); [sin, cos] halves,
// swapped to [cos, sin] when flip_sin_to_cos; a zero column when dim is odd.
at::Tensor timestep_sinusoid(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double freq_shift);

class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t in_channels, int64_t embed_dim, const std::string& act, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);
  Linear linear_1{nullptr}, linear_2{nullptr};
  std::string act;
};
TORCH_MODULE(TimestepEmbedding);

}  // namespace spo::models
