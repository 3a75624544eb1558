// Fresh weights for a model built from a config (the layers start
// uninitialised because they normally load a checkpoint): the initialisation
// PyTorch's own layers use, so a model trained from scratch by the engine
// starts where a diffusers / transformers model would.
#pragma once
#include <torch/nn/module.h>

#include <cstdint>

namespace spo::models {

// Walks every submodule of `module`:
//   Linear, Conv2d: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
//                   (torch.nn's kaiming_uniform(a=sqrt(5)) default)
//   GroupNorm, LayerNorm: weight 1, bias 0
//   Embedding:      weight ~ N(0, 0.02) (CLIP's token and position tables)
// Any other parameter (CLIP's class embedding, logit_scale...) is left to the
// caller. Deterministic: every draw comes from a CPU generator seeded by `seed`.
void initialise_weights(torch::nn::Module& module, uint64_t seed);

}  // namespace spo::models
