#include "models/gradient_checkpoint.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/variable.h>

#include <memory>
#include <type_traits>

namespace spo::models {
namespace {

// The backward node: recomputes the block with gradients and back-propagates
// through it, which accumulates the parameters' gradients on the way (a
// reentrant backward, as torch.utils.checkpoint's original variant does).
struct CheckpointBackward : public torch::autograd::Node {
  BlockFn fn;
  at::Tensor input;  // detached
  bool input_requires_grad = false;

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    if (grads.empty() || !grads[0].defined()) return {at::Tensor()};  // the output did not reach the loss
    at::Tensor x = input.detach().requires_grad_(input_requires_grad);
    at::Tensor y;
    {
      at::AutoGradMode enable(true);
      y = fn(x);
    }
    if (y.requires_grad()) torch::autograd::backward({y}, {grads[0]});
    fn = nullptr;  // free the captured tensors once used
    input = at::Tensor();
    return {input_requires_grad ? x.grad() : at::Tensor()};
  }
  std::string name() const override { return "spo::CheckpointBackward"; }
};

// Autograd nodes are held by c10::intrusive_ptr in recent libtorch and by
// std::shared_ptr in older ones (2.11 among them); set_history takes either.
template <typename N>
auto make_node() {
  if constexpr (std::is_base_of_v<c10::intrusive_ptr_target, N>) {
    return c10::make_intrusive<N>();
  } else {
    return std::make_shared<N>();
  }
}

}  // namespace

at::Tensor checkpointed(BlockFn fn, const at::Tensor& x) {
  if (!at::GradMode::is_enabled()) return fn(x);
  at::Tensor y;
  {
    at::NoGradGuard no_grad;
    y = fn(x);
  }
  auto node = make_node<CheckpointBackward>();
  node->fn = std::move(fn);
  node->input = x.detach();
  node->input_requires_grad = x.requires_grad();
  node->add_next_edge(x.requires_grad() ? torch::autograd::impl::gradient_edge(x) : torch::autograd::Edge());
  torch::autograd::set_history(y, node);
  return y;
}

}  // namespace spo::models
