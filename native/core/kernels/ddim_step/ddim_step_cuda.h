// Plain-pointer interface between the ATen-side launcher and the .cu file, so
// that nvcc never compiles ATen headers.
#pragma once
#include <cstdint>

#include "kernels/ddim_step/ddim_step_math.h"

namespace spo::kernels {

struct DdimLaunchArgs {
  const DdimCoefficients* coeffs;  // [B], device memory
  const float* sample;
  const float* model_output;
  const float* noise;        // nullable
  const float* prev_given;   // nullable; when set x_prev is read, not drawn
  float* prev_out;
  float* x0_out;
  float* mean_out;
  double* log_prob_sum;      // [B], zeroed by the caller
  int64_t batch;
  int64_t elements_per_sample;
  PredictionType prediction;
  float clip_range;
  bool use_clipped_model_output;
};

// Enqueues the fused step on `stream` (a cudaStream_t). Returns a CUDA error code (0 = success).
int launch_ddim_step_cuda(const DdimLaunchArgs& args, void* stream);

}  // namespace spo::kernels
