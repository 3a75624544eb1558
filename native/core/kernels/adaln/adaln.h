// Fused adaLN modulation (LayerNorm over D, then per-batch scale and shift)
// and the gated residual of DiT-style blocks, with fused backward passes, and
// their plain-ATen references. x, residual, y: [B, N, D]; shift, scale,
// gate: [B, D]; ln_weight, ln_bias: [D] or undefined (no affine).
// float32/float16/bfloat16 inputs compute in fp32 and return x's (residual's)
// dtype; float64 inputs go through the reference composition.
#pragma once
#include <ATen/ATen.h>

#include "kernels/adaln/adaln_math.h"

namespace spo::kernels {

// y = LayerNorm(x) * (1 + scale[b]) + shift[b]; differentiable in every input.
at::Tensor adaln_modulate(const at::Tensor& x, const at::Tensor& ln_weight, const at::Tensor& ln_bias,
                          const at::Tensor& shift, const at::Tensor& scale, double eps);

// out = residual + gate[b] * y; differentiable in every input.
at::Tensor gated_residual(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate);

// The same, composed from ordinary ATen ops (at::layer_norm, broadcasting).
at::Tensor adaln_modulate_reference(const at::Tensor& x, const at::Tensor& ln_weight, const at::Tensor& ln_bias,
                                    const at::Tensor& shift, const at::Tensor& scale, double eps);
at::Tensor gated_residual_reference(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate);

// Validate shapes, dtypes and devices; throw spo::InvalidArgument with a clear message.
void check_adaln_modulate_inputs(const at::Tensor& x, const at::Tensor& ln_weight, const at::Tensor& ln_bias,
                                 const at::Tensor& shift, const at::Tensor& scale, double eps);
void check_gated_residual_inputs(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate);

// ---- Backends, called by adaln.cpp on fp32 contiguous tensors of one device.

struct AdalnModulateInputs {
  at::Tensor x;       // [B, N, D]
  at::Tensor weight;  // [D], ones when there is no affine weight
  at::Tensor bias;    // [D], zeros when there is no affine bias
  at::Tensor shift;   // [B, D]
  at::Tensor scale;   // [B, D]
  float eps = 1e-5f;
};

struct AdalnModulateGrads {
  at::Tensor x, weight, bias, shift, scale;  // shaped like the inputs, fp32
};

// Fills y [B, N, D] and the row statistics mean, rstd [B * N].
void adaln_modulate_forward_cpu(const AdalnModulateInputs& in, at::Tensor& y, at::Tensor& mean, at::Tensor& rstd);
void adaln_modulate_forward_cuda(const AdalnModulateInputs& in, at::Tensor& y, at::Tensor& mean, at::Tensor& rstd);

// All five gradients from dy (= dL/dy) and the forward's row statistics.
void adaln_modulate_backward_cpu(const AdalnModulateInputs& in, const at::Tensor& mean, const at::Tensor& rstd,
                                 const at::Tensor& dy, AdalnModulateGrads& grads);
void adaln_modulate_backward_cuda(const AdalnModulateInputs& in, const at::Tensor& mean, const at::Tensor& rstd,
                                  const at::Tensor& dy, AdalnModulateGrads& grads);

void gated_residual_forward_cpu(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate,
                                at::Tensor& out);
void gated_residual_forward_cuda(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate,
                                 at::Tensor& out);

// d_y and d_gate; d_residual is dout itself.
void gated_residual_backward_cpu(const at::Tensor& dout, const at::Tensor& y, const at::Tensor& gate,
                                 at::Tensor& d_y, at::Tensor& d_gate);
void gated_residual_backward_cuda(const at::Tensor& dout, const at::Tensor& y, const at::Tensor& gate,
                                  at::Tensor& d_y, at::Tensor& d_gate);

}  // namespace spo::kernels
