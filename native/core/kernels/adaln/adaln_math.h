// adaLN modulation and the gated residual, written once for the CPU loops and
// the CUDA kernels. Forward:
//   xhat = (x - mean) * rstd                  (per row of D, statistics in fp32)
//   y    = (xhat * w + b) * (1 + scale) + shift
//   out  = residual + gate * y
// Backward: per-element terms here; the row means and the sums over rows are
// done by the callers (a SIMD loop on CPU, block reductions on CUDA).
#pragma once
#include <cmath>
#include <cstdint>

#ifndef SPO_HOST_DEVICE
#if defined(__CUDACC__)
#define SPO_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SPO_HOST_DEVICE inline
#endif
#endif

namespace spo::kernels {

// Parameter gradients are summed per chunk of rows of one batch item, then
// over chunks in a fixed order: deterministic for any thread count.
constexpr int64_t kAdalnRowsPerChunk = 32;

SPO_HOST_DEVICE int64_t adaln_row_chunks(int64_t tokens) {
  return (tokens + kAdalnRowsPerChunk - 1) / kAdalnRowsPerChunk;
}

struct AdalnRowStats {
  float mean;
  float rstd;  // 1 / sqrt(biased variance + eps)
};

// Row statistics, two-pass: mean from the sum of x, then the biased variance
// from the sum of (x - mean)^2 (stable where E[x^2] - mean^2 is not).
SPO_HOST_DEVICE float adaln_mean(float sum, int64_t dim) { return sum / static_cast<float>(dim); }

SPO_HOST_DEVICE float adaln_rstd(float centered_square_sum, int64_t dim, float eps) {
  return 1.0f / sqrtf(centered_square_sum / static_cast<float>(dim) + eps);
}

SPO_HOST_DEVICE float adaln_normalize(float x, float mean, float rstd) { return (x - mean) * rstd; }

// LN(x) for one element: the affine part of LayerNorm (w = 1, b = 0 without affine).
SPO_HOST_DEVICE float adaln_layer_norm(float xhat, float w, float b) { return xhat * w + b; }

SPO_HOST_DEVICE float adaln_modulate_element(float xhat, float w, float b, float scale, float shift) {
  return adaln_layer_norm(xhat, w, b) * (1.0f + scale) + shift;
}

// One element's share of each gradient of adaln_modulate, given dy = dL/dy.
struct AdalnElementGrad {
  float d_xhat;    // feeds the row-wise d_x formula below
  float d_shift;   // summed over tokens -> d_shift[b, d]
  float d_scale;   // summed over tokens -> d_scale[b, d]
  float d_bias;    // summed over all rows -> d_bias[d]
  float d_weight;  // summed over all rows -> d_weight[d]
};

SPO_HOST_DEVICE AdalnElementGrad adaln_modulate_element_grad(float dy, float xhat, float w, float b,
                                                             float scale) {
  const float d_ln = dy * (1.0f + scale);
  return {d_ln * w, dy, dy * adaln_layer_norm(xhat, w, b), d_ln, d_ln * xhat};
}

// d_x of LayerNorm from d_xhat and two row means: mean(d_xhat), mean(d_xhat * xhat).
SPO_HOST_DEVICE float adaln_input_grad(float d_xhat, float xhat, float rstd, float mean_d_xhat,
                                       float mean_d_xhat_xhat) {
  return rstd * (d_xhat - mean_d_xhat - xhat * mean_d_xhat_xhat);
}

SPO_HOST_DEVICE float gated_residual_element(float residual, float gate, float y) {
  return residual + gate * y;
}

struct GatedResidualElementGrad {
  float d_residual;
  float d_y;
  float d_gate;  // summed over tokens -> d_gate[b, d]
};

SPO_HOST_DEVICE GatedResidualElementGrad gated_residual_element_grad(float dout, float gate, float y) {
  return {dout, dout * gate, dout * y};
}

}  // namespace spo::kernels
