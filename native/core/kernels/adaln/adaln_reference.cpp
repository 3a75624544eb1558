// adaLN modulate and the gated residual as ordinary ATen ops: the independent
// reference the fused kernels are tested against, and the float64 path.
#include "kernels/adaln/adaln.h"

namespace spo::kernels {

at::Tensor adaln_modulate_reference(const at::Tensor& x, const at::Tensor& ln_weight, const at::Tensor& ln_bias,
                                    const at::Tensor& shift, const at::Tensor& scale, double eps) {
  check_adaln_modulate_inputs(x, ln_weight, ln_bias, shift, scale, eps);
  const auto normed = at::layer_norm(x, {x.size(2)}, ln_weight, ln_bias, eps);
  return normed * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

at::Tensor gated_residual_reference(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate) {
  check_gated_residual_inputs(residual, y, gate);
  return residual + gate.unsqueeze(1) * y;
}

}  // namespace spo::kernels
