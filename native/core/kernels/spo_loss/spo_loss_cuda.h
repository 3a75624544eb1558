// Plain-pointer interface between the ATen-side launchers and spo_loss_cuda.cu,
// so that nvcc never compiles ATen headers. All pointers are device memory,
// contiguous; the [N, M] tensors are fp32 with one pair per row.
#pragma once
#include <cstdint>

#include "kernels/spo_loss/spo_loss_math.h"

namespace spo::kernels {

struct SpoForwardArgs {
  SpoLossParams params;
  const SpoPairCoefficients* coeffs;  // [N]
  const float* sample;
  const float* policy;
  const float* reference;
  const float* winner;
  const float* loser;
  SpoPairResult* results;  // [N]
  float* loss;             // one value: the mean of results[i].loss
};

struct SpoBackwardArgs {
  int64_t pairs;
  int64_t elements;
  const SpoPairCoefficients* coeffs;
  const float* sample;
  const float* policy;
  const float* winner;
  const float* loser;
  const float* pair_grads;  // [N, 2]: (grad_w, grad_l) times the upstream gradient
  float* grad;              // [N, M]
};

// Each enqueues its kernels on `stream` (a cudaStream_t) and returns a CUDA error code (0 = success).
int launch_spo_loss_forward_cuda(const SpoForwardArgs& args, void* stream);
int launch_spo_loss_backward_cuda(const SpoBackwardArgs& args, void* stream);

}  // namespace spo::kernels
