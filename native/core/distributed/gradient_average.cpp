#include "distributed/gradient_average.h"

#include "distributed/collectives.h"

namespace spo::distributed {

bool average_gradients(Group& group, const std::vector<at::Tensor>& params, bool local_fault) {
  at::NoGradGuard no_grad;
  int64_t total = 0;
  for (const auto& p : params) total += p.numel();
  // fp32 gradients in one buffer (one collective per step), then the fault flag.
  auto flat = at::zeros({total + 1}, at::TensorOptions().dtype(at::kFloat).device(group.device()));
  int64_t at_ = 0;
  for (const auto& p : params) {
    if (p.grad().defined()) flat.slice(0, at_, at_ + p.numel()).copy_(p.grad().reshape({-1}));
    at_ += p.numel();
  }
  flat[total].fill_(local_fault ? 1.0 : 0.0);
  all_reduce_sum_(group, flat, "gradient all-reduce");
  if (flat[total].item<float>() > 0) return true;
  flat.div_(static_cast<double>(group.size()));
  at_ = 0;
  for (const auto& p : params) {
    auto g = flat.slice(0, at_, at_ + p.numel()).view(p.sizes()).to(p.device(), p.scalar_type());
    if (p.grad().defined()) p.mutable_grad().copy_(g);
    else p.mutable_grad() = g.clone();
    at_ += p.numel();
  }
  return false;
}

}  // namespace spo::distributed
