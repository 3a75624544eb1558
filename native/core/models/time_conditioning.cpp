#include "models/time_conditioning.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/activation.h>

#include <cmath>

#include "runtime/errors.h"

namespace spo::models {

at::Tensor timestep_sinusoid(const at::Tensor& t, int64_t dim, double max_period) {
  require(t.dim() == 1, "timestep embedding: t must be [batch], got " + std::to_string(t.dim()) + " dimensions");
  const int64_t half = dim / 2;
  auto freqs = at::exp(at::arange(half, at::TensorOptions().dtype(at::kFloat).device(t.device())) *
                       static_cast<float>(-std::log(max_period) / static_cast<double>(half)));
  auto args = t.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  auto emb = at::cat({at::cos(args), at::sin(args)}, -1);
  if (dim % 2) emb = at::cat({emb, at::zeros_like(emb.slice(1, 0, 1))}, -1);
  return emb;
}

TimestepEmbedderImpl::TimestepEmbedderImpl(int64_t hidden, int64_t frequency_dim_, const at::TensorOptions& o)
    : frequency_dim(frequency_dim_) {
  // Index 1 is the parameterless SiLU, so the keys are mlp.0.* and mlp.2.* as in the authors' nn.Sequential.
  mlp = register_module("mlp", torch::nn::Sequential(Linear(frequency_dim_, hidden, true, o), torch::nn::SiLU(),
                                                     Linear(hidden, hidden, true, o)));
}

at::Tensor TimestepEmbedderImpl::forward(const at::Tensor& t) {
  auto weight = mlp[0]->as<LinearImpl>()->weight;
  return mlp->forward(timestep_sinusoid(t.to(weight.device()), frequency_dim).to(weight.scalar_type()));
}

void TimestepEmbedderImpl::initialise(uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (int index : {0, 2}) {
    auto* layer = mlp[index]->as<LinearImpl>();
    layer->weight.copy_(at::normal(0.0, 0.02, layer->weight.sizes(), gen, at::TensorOptions().dtype(at::kFloat)));
    layer->bias.zero_();
  }
}

AdaLnModulationImpl::AdaLnModulationImpl(int64_t hidden, int64_t chunks_, const at::TensorOptions& o) : chunks(chunks_) {
  // A parameterless child "0" keeps the Linear at index 1, as in the authors' nn.Sequential(SiLU, Linear).
  register_module("0", torch::nn::SiLU());
  linear_ = register_module("1", Linear(hidden, chunks_ * hidden, true, o));
}

std::vector<at::Tensor> AdaLnModulationImpl::forward(const at::Tensor& temb) {
  return linear_(at::silu(temb)).chunk(chunks, 1);
}

void AdaLnModulationImpl::initialise_constant(const std::vector<int64_t>& one_chunks) {
  at::NoGradGuard no_grad;
  linear_->weight.zero_();
  linear_->bias.zero_();
  const int64_t d = linear_->weight.size(1);
  for (int64_t c : one_chunks) linear_->bias.slice(0, c * d, (c + 1) * d).fill_(1.0);
}

}  // namespace spo::models
