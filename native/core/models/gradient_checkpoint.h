// Gradient checkpointing: run a block without keeping its activations, and
// re-run it during the backward pass to get the gradients (PyTorch's
// reentrant torch.utils.checkpoint, for the C++ frontend). Trades one extra
// forward of the block for its activation memory: what large UNets (SDXL)
// need to train on one GPU. The block must be deterministic (no dropout).
#pragma once
#include <ATen/ATen.h>

#include <functional>

namespace spo::models {

using BlockFn = std::function<at::Tensor(const at::Tensor&)>;

// fn(x). When grad mode is on, the result's graph is one node that recomputes
// fn(x) with gradients in its backward: gradients reach x and every parameter
// fn uses that requires grad (the LoRA). `fn` must capture its other inputs by
// value: it runs again after the caller's scope is gone.
at::Tensor checkpointed(BlockFn fn, const at::Tensor& x);

}  // namespace spo::models
