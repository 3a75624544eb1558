// CUDA kernels of the fused SPO loss, on the math of spo_loss_math.h. The
// forward takes one block per pair for its four residual sums (double
// accumulators, a fixed-shape block reduction) and finishes the pair in
// thread 0; one thread then averages the pair terms in order. The backward is
// a grid-stride element pass. No atomics anywhere: results are deterministic.
#include <cuda_runtime.h>

#include "kernels/spo_loss/spo_loss_cuda.h"

namespace spo::kernels {
namespace {

constexpr int kPairThreads = 512;  // per pair block; a multiple of 32
constexpr int kGradThreads = 256;
constexpr int kMaxGradBlocks = 4096;

__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// The four sums over the block, valid in thread 0.
__device__ SpoPairSums block_sums(SpoPairSums s) {
  __shared__ double partial[4][kPairThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  double v[4] = {warp_sum(s.policy_w), warp_sum(s.policy_l), warp_sum(s.ref_w), warp_sum(s.ref_l)};
  if (lane == 0)
    for (int q = 0; q < 4; ++q) partial[q][warp] = v[q];
  __syncthreads();
  if (warp == 0) {
    for (int q = 0; q < 4; ++q) v[q] = warp_sum(lane < kPairThreads / 32 ? partial[q][lane] : 0.0);
  }
  return {v[0], v[1], v[2], v[3]};
}

__global__ void __launch_bounds__(kPairThreads) spo_pair_kernel(SpoForwardArgs a) {
  const int64_t i = blockIdx.x, m = a.params.elements, base = i * m;
  const SpoPairCoefficients c = a.coeffs[i];
  SpoPairSums s{0.0, 0.0, 0.0, 0.0};
  for (int64_t j = base + threadIdx.x; j < base + m; j += kPairThreads) {
    const float x = a.sample[j], w = a.winner[j], l = a.loser[j];
    const float mp = spo_mean(c, x, a.policy[j]), mr = spo_mean(c, x, a.reference[j]);
    s.policy_w += spo_squared_residual(w, mp);
    s.policy_l += spo_squared_residual(l, mp);
    s.ref_w += spo_squared_residual(w, mr);
    s.ref_l += spo_squared_residual(l, mr);
  }
  s = block_sums(s);
  if (threadIdx.x == 0) a.results[i] = spo_pair_result(c, s, a.params);
}

// N is a training minibatch (tens of pairs): one thread, in pair order.
__global__ void spo_mean_loss_kernel(SpoForwardArgs a) {
  double total = 0.0;
  for (int64_t i = 0; i < a.params.pairs; ++i) total += a.results[i].loss;
  *a.loss = static_cast<float>(total / static_cast<double>(a.params.pairs));
}

__global__ void spo_grad_kernel(SpoBackwardArgs a) {
  const int64_t total = a.pairs * a.elements;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = k / a.elements;
    const float mean = spo_mean(a.coeffs[i], a.sample[k], a.policy[k]);
    a.grad[k] = spo_grad_element(a.pair_grads[2 * i], a.pair_grads[2 * i + 1], a.winner[k], a.loser[k], mean);
  }
}

}  // namespace

int launch_spo_loss_forward_cuda(const SpoForwardArgs& a, void* stream) {
  if (a.params.pairs == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  spo_pair_kernel<<<static_cast<unsigned>(a.params.pairs), kPairThreads, 0, s>>>(a);
  spo_mean_loss_kernel<<<1, 1, 0, s>>>(a);
  return static_cast<int>(cudaGetLastError());
}

int launch_spo_loss_backward_cuda(const SpoBackwardArgs& a, void* stream) {
  const int64_t total = a.pairs * a.elements;
  if (total == 0) return 0;
  int64_t blocks = (total + kGradThreads * 4 - 1) / (kGradThreads * 4);  // about 4 elements per thread
  if (blocks > kMaxGradBlocks) blocks = kMaxGradBlocks;
  spo_grad_kernel<<<static_cast<unsigned>(blocks), kGradThreads, 0, static_cast<cudaStream_t>(stream)>>>(a);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace spo::kernels
