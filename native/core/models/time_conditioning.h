// The timestep conditioning of the step-aware preference model (docs/method.md
// §4), with the authors' module names so their state dict maps one to
// one: t_embedder.mlp.{0,2} and adaLN_modulation.1 (index 0 is the SiLU).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include "models/layers.h"

namespace spo::models {

// [cos(t f_i), sin(t f_i)] with f_i = exp(-ln(max_period) i / half), i < half = dim / 2
// (a zero column appended when dim is odd). t: [B] any numeric dtype -> [B, dim] fp32.
at::Tensor timestep_sinusoid(const at::Tensor& t, int64_t dim, double max_period = 10000.0);

// temb = Linear(freq_dim, D) -> SiLU -> Linear(D, D) of the sinusoid.
class TimestepEmbedderImpl : public torch::nn::Module {
 public:
  TimestepEmbedderImpl(int64_t hidden, int64_t frequency_dim, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& t);  // [B] -> [B, D] in the weights' dtype
  // docs/method.md §4: weights ~ N(0, 0.02), biases 0 (transformers zeroes Linear biases at post_init).
  void initialise(uint64_t seed);
  torch::nn::Sequential mlp{nullptr};
  int64_t frequency_dim;
};
TORCH_MODULE(TimestepEmbedder);

// SiLU -> Linear(D, chunks * D): per-sample modulation vectors from temb.
class AdaLnModulationImpl : public torch::nn::Module {
 public:
  AdaLnModulationImpl(int64_t hidden, int64_t chunks, const at::TensorOptions& options);
  // temb [B, D] -> `chunks` tensors [B, D] (in the order of the Linear's output rows).
  std::vector<at::Tensor> forward(const at::Tensor& temb);
  // Weight 0 and a bias whose chunks listed in `one_chunks` are 1, the rest 0,
  // so the output does not depend on t (gates = 1, shifts = scales = 0).
  void initialise_constant(const std::vector<int64_t>& one_chunks);
  Linear linear() const { return linear_; }
  int64_t chunks;

 private:
  Linear linear_{nullptr};
};
TORCH_MODULE(AdaLnModulation);

}  // namespace spo::models
