// The fused DDIM step + log-probability over a batch, and its plain-ATen
// reference. Inputs may be any floating dtype; the step math runs in fp32 and
// all outputs are fp32 (docs/method.md §3: step math always in fp32).
#pragma once
#include <ATen/ATen.h>

#include <optional>

#include "kernels/ddim_step/ddim_step_math.h"

namespace spo::kernels {

struct DdimStepInputs {
  at::Tensor sample;        // x_t, [B, ...]
  at::Tensor model_output;  // same shape as sample
  at::Tensor alpha_t;       // [B] alpha_bar at each sample's t (float64)
  at::Tensor alpha_prev;    // [B] alpha_bar at each sample's prev_t (float64)
  double eta = 1.0;
  PredictionType prediction = PredictionType::Epsilon;
  float clip_range = 0.0f;  // > 0 clips x0 to [-r, r]
  bool use_clipped_model_output = false;
  std::optional<at::Tensor> noise;        // x_prev = mean + std * noise
  std::optional<at::Tensor> prev_sample;  // or: score this given x_prev
};

struct DdimStepOutputs {
  at::Tensor prev_sample;      // [B, ...]
  at::Tensor pred_original;    // x0, [B, ...]
  at::Tensor mean;             // [B, ...]
  at::Tensor std;              // [B]
  at::Tensor log_prob;         // [B] mean over non-batch elements; NaN where std == 0
};

// Validates shapes and dtypes; throws spo::InvalidArgument with a clear message.
void check_ddim_inputs(const DdimStepInputs& in);

// One pass over the elements (CPU: parallel vectorised loop; CUDA: one grid).
DdimStepOutputs ddim_step_fused(const DdimStepInputs& in);

// The same computation composed from ordinary ATen ops, for tests and benchmarks.
DdimStepOutputs ddim_step_reference(const DdimStepInputs& in);

// Per-sample coefficients as a [B, 7] float tensor on `device` (layout of DdimCoefficients).
at::Tensor ddim_coefficient_table(const at::Tensor& alpha_t, const at::Tensor& alpha_prev,
                                  double eta, at::Device device);

// Backends, called by ddim_step_fused after validation and fp32 conversion.
void ddim_step_cpu(const at::Tensor& coeffs, const DdimStepInputs& in, DdimStepOutputs& out);
bool cuda_kernels_compiled();
void ddim_step_cuda(const at::Tensor& coeffs, const DdimStepInputs& in, DdimStepOutputs& out);

}  // namespace spo::kernels
