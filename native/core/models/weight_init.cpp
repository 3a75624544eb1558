#include "models/weight_init.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "models/layers.h"

namespace spo::models {
namespace {

// Draws on the CPU (one generator, so the result does not depend on the
// device) and copies into the parameter in place.
void fill_uniform(at::Tensor& t, double bound, at::Generator& gen) {
  auto v = at::empty(t.sizes(), at::kFloat).uniform_(-bound, bound, gen);
  t.copy_(v);
}

void fill_normal(at::Tensor& t, double std, at::Generator& gen) {
  auto v = at::empty(t.sizes(), at::kFloat).normal_(0.0, std, gen);
  t.copy_(v);
}

}  // namespace

void initialise_weights(torch::nn::Module& module, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // The module itself first (it may live on the stack: named_modules() with
  // include_self needs a shared_ptr), then every submodule.
  std::vector<torch::nn::Module*> all{&module};
  for (const auto& sub : module.modules(/*include_self=*/false)) all.push_back(sub.get());
  for (auto* m : all) {
    if (auto* linear = dynamic_cast<LinearImpl*>(m)) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(linear->weight.size(1)));
      fill_uniform(linear->weight, bound, gen);
      if (linear->bias.defined()) fill_uniform(linear->bias, bound, gen);
    } else if (auto* conv = dynamic_cast<Conv2dImpl*>(m)) {
      const auto& w = conv->weight;
      const double bound = 1.0 / std::sqrt(static_cast<double>(w.size(1) * w.size(2) * w.size(3)));
      fill_uniform(conv->weight, bound, gen);
      if (conv->bias.defined()) fill_uniform(conv->bias, bound, gen);
    } else if (auto* gn = dynamic_cast<GroupNormImpl*>(m)) {
      if (gn->weight.defined()) gn->weight.fill_(1.0), gn->bias.fill_(0.0);
    } else if (auto* ln = dynamic_cast<LayerNormImpl*>(m)) {
      if (ln->weight.defined()) ln->weight.fill_(1.0), ln->bias.fill_(0.0);
    } else if (auto* emb = dynamic_cast<EmbeddingImpl*>(m)) {
      fill_normal(emb->weight, 0.02, gen);
    }
  }
}

}  // namespace spo::models
