#include "evaluator/preference_loss.h"

#include <cmath>

#include "runtime/errors.h"

namespace spo::evaluator {

at::Tensor preference_loss(const at::Tensor& s0, const at::Tensor& s1, const at::Tensor& label_0,
                           const at::Tensor& pairs_per_prompt) {
  require(s0.dim() == 1 && s0.sizes() == s1.sizes() && s0.sizes() == label_0.sizes() &&
              s0.sizes() == pairs_per_prompt.sizes(),
          "preference loss: s0, s1, labels and pairs-per-prompt must all be [batch]");
  const auto dev = s0.device();
  auto l0 = label_0.to(dev, at::kFloat), l1 = 1 - l0;
  auto logp = at::log_softmax(at::stack({s0.to(at::kFloat), s1.to(at::kFloat)}, 1), 1);
  auto per_pair = -(l0 * logp.select(1, 0) + l1 * logp.select(1, 1));
  per_pair = per_pair + l0.eq(0.5).to(at::kFloat) * static_cast<float>(std::log(0.5));
  auto weight = 1.0 / pairs_per_prompt.to(dev, at::kFloat);
  return (per_pair * (weight / weight.sum())).sum();
}

}  // namespace spo::evaluator
