// Plain-pointer interface between the ATen-side launchers and adaln_cuda.cu,
// so that nvcc never compiles ATen headers. All pointers are fp32 device
// memory, contiguous; shapes as in adaln.h ([B, N, D] rows, [B, D], [D]).
#pragma once
#include <cstdint>

#include "kernels/adaln/adaln_math.h"

namespace spo::kernels {

struct AdalnShape {
  int64_t batch;   // B
  int64_t tokens;  // N
  int64_t dim;     // D
};

struct AdalnForwardArgs {
  AdalnShape shape;
  const float* x;
  const float* weight;  // [D], never null (ones without affine)
  const float* bias;    // [D], never null (zeros without affine)
  const float* shift;
  const float* scale;
  float* y;
  float* mean;  // [B * N]
  float* rstd;  // [B * N]
  float eps;
};

struct AdalnBackwardArgs {
  AdalnShape shape;
  const float* x;
  const float* weight;
  const float* bias;
  const float* scale;
  const float* mean;
  const float* rstd;
  const float* dy;
  float* dx;
  float* partials;  // [B * row_chunks(N), 4, D] scratch
  float* d_weight;  // [D]
  float* d_bias;    // [D]
  float* d_shift;   // [B, D]
  float* d_scale;   // [B, D]
};

struct GatedResidualArgs {
  AdalnShape shape;
  const float* residual;
  const float* y;
  const float* gate;
  float* out;
};

struct GatedResidualBackwardArgs {
  AdalnShape shape;
  const float* dout;
  const float* y;
  const float* gate;
  float* d_y;
  float* partials;  // [B * row_chunks(N), D] scratch
  float* d_gate;    // [B, D]
};

// Each enqueues its kernels on `stream` (a cudaStream_t) and returns a CUDA error code (0 = success).
int launch_adaln_forward_cuda(const AdalnForwardArgs& args, void* stream);
int launch_adaln_backward_cuda(const AdalnBackwardArgs& args, void* stream);
int launch_gated_residual_forward_cuda(const GatedResidualArgs& args, void* stream);
int launch_gated_residual_backward_cuda(const GatedResidualBackwardArgs& args, void* stream);

}  // namespace spo::kernels
