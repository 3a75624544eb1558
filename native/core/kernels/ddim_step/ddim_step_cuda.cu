// CUDA grid for the fused DDIM step + log-prob: blockIdx.y is the sample,
// a grid-stride loop covers its elements, and each block adds its partial
// log-prob sum into the sample's accumulator.
#include <cuda_runtime.h>

#include "kernels/ddim_step/ddim_step_cuda.h"

namespace spo::kernels {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0;
  if (warp == 0)
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

template <PredictionType kPred>
__global__ void ddim_step_kernel(DdimLaunchArgs a) {
  const int64_t b = blockIdx.y;
  const DdimCoefficients c = a.coeffs[b];
  const int64_t base = b * a.elements_per_sample;
  double acc = 0.0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < a.elements_per_sample;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t k = base + i;
    const DdimElementOut e =
        ddim_element(c, kPred, a.sample[k], a.model_output[k], a.clip_range, a.use_clipped_model_output);
    float xp = e.mean;
    if (a.prev_given) xp = a.prev_given[k];
    else if (a.noise) xp = e.mean + c.std * a.noise[k];
    a.prev_out[k] = xp;
    a.x0_out[k] = e.x0;
    a.mean_out[k] = e.mean;
    acc += ddim_logp_quadratic(c, xp, e.mean);
  }
  const double total = block_sum(acc);
  if (threadIdx.x == 0) atomicAdd(a.log_prob_sum + b, total);
}

}  // namespace

int launch_ddim_step_cuda(const DdimLaunchArgs& a, void* stream) {
  if (a.batch == 0 || a.elements_per_sample == 0) return 0;
  int64_t blocks = (a.elements_per_sample + kThreads * 4 - 1) / (kThreads * 4);
  if (blocks > 1024) blocks = 1024;
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(a.batch));
  auto s = static_cast<cudaStream_t>(stream);
  switch (a.prediction) {
    case PredictionType::Epsilon: ddim_step_kernel<PredictionType::Epsilon><<<grid, kThreads, 0, s>>>(a); break;
    case PredictionType::VPrediction: ddim_step_kernel<PredictionType::VPrediction><<<grid, kThreads, 0, s>>>(a); break;
    case PredictionType::Sample: ddim_step_kernel<PredictionType::Sample><<<grid, kThreads, 0, s>>>(a); break;
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace spo::kernels
