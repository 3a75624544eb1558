// CUDA kernels for adaLN modulate and the gated residual, on the math of
// adaln_math.h. Row work (statistics, d_x) takes one block per row with block
// reductions; sums over rows (parameter gradients, d_gate) go through
// per-chunk partials and a fixed-order finish, so they are deterministic
// (no atomics) and match the CPU path's chunking.
#include <cuda_runtime.h>

#include "kernels/adaln/adaln_cuda.h"

namespace spo::kernels {
namespace {

constexpr int kMaxRowThreads = 256;
constexpr int kColWidth = 32;  // columns (d) per block: one warp, coalesced
constexpr int kColDepth = 8;   // rows walked in parallel per column
constexpr int kFinishThreads = 256;

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block, returned to every thread; blockDim.x is a multiple of 32.
// Two barriers per call make back-to-back calls safe with the same scratch.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  __shared__ float total;
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x >> 5) ? warp_sums[lane] : 0.0f;
    v = warp_sum(v);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

__global__ void adaln_forward_kernel(AdalnForwardArgs a) {
  const int64_t dim = a.shape.dim, row = blockIdx.x, b = row / a.shape.tokens;
  const float* x = a.x + row * dim;
  float s = 0.0f;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) s += x[d];
  const float mean = adaln_mean(block_sum(s), dim);
  float q = 0.0f;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    const float c = x[d] - mean;
    q += c * c;
  }
  const float rstd = adaln_rstd(block_sum(q), dim, a.eps);
  if (threadIdx.x == 0) {
    a.mean[row] = mean;
    a.rstd[row] = rstd;
  }
  const float* shift = a.shift + b * dim;
  const float* scale = a.scale + b * dim;
  float* y = a.y + row * dim;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
    y[d] = adaln_modulate_element(adaln_normalize(x[d], mean, rstd), a.weight[d], a.bias[d], scale[d], shift[d]);
}

// d_x: needs two row means of the per-element d_xhat, so a row per block.
__global__ void adaln_input_grad_kernel(AdalnBackwardArgs a) {
  const int64_t dim = a.shape.dim, row = blockIdx.x, b = row / a.shape.tokens;
  const float* x = a.x + row * dim;
  const float* dy = a.dy + row * dim;
  const float* scale = a.scale + b * dim;
  const float mean = a.mean[row], rstd = a.rstd[row];
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    const float xhat = adaln_normalize(x[d], mean, rstd);
    const float d_xhat = adaln_modulate_element_grad(dy[d], xhat, a.weight[d], a.bias[d], scale[d]).d_xhat;
    s1 += d_xhat;
    s2 += d_xhat * xhat;
  }
  const float m1 = block_sum(s1) / static_cast<float>(dim);
  const float m2 = block_sum(s2) / static_cast<float>(dim);
  float* dx = a.dx + row * dim;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    const float xhat = adaln_normalize(x[d], mean, rstd);
    const float d_xhat = adaln_modulate_element_grad(dy[d], xhat, a.weight[d], a.bias[d], scale[d]).d_xhat;
    dx[d] = adaln_input_grad(d_xhat, xhat, rstd, m1, m2);
  }
}

// Rows [first, end) of chunk `task` (batch-major), as on the CPU path.
struct Chunk {
  int64_t batch, first, end;
};

__device__ __forceinline__ Chunk chunk_of(int64_t task, int64_t tokens) {
  const int64_t chunks = adaln_row_chunks(tokens);
  const int64_t b = task / chunks, lo = (task % chunks) * kAdalnRowsPerChunk;
  const int64_t hi = lo + kAdalnRowsPerChunk < tokens ? lo + kAdalnRowsPerChunk : tokens;
  return {b, b * tokens + lo, b * tokens + hi};
}

// blockIdx.x: chunk of rows, blockIdx.y: 32 columns. Writes [task, 4, D] partials.
__global__ void adaln_param_partial_kernel(AdalnBackwardArgs a) {
  const int64_t dim = a.shape.dim, task = blockIdx.x;
  const int64_t d = static_cast<int64_t>(blockIdx.y) * kColWidth + threadIdx.x;
  const Chunk c = chunk_of(task, a.shape.tokens);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (d < dim) {
    const float w = a.weight[d], bias = a.bias[d], scale = a.scale[c.batch * dim + d];
    for (int64_t r = c.first + threadIdx.y; r < c.end; r += kColDepth) {
      const float xhat = adaln_normalize(a.x[r * dim + d], a.mean[r], a.rstd[r]);
      const AdalnElementGrad e = adaln_modulate_element_grad(a.dy[r * dim + d], xhat, w, bias, scale);
      acc[0] += e.d_shift;
      acc[1] += e.d_scale;
      acc[2] += e.d_bias;
      acc[3] += e.d_weight;
    }
  }
  __shared__ float sums[4][kColDepth][kColWidth];
  for (int q = 0; q < 4; ++q) sums[q][threadIdx.y][threadIdx.x] = acc[q];
  __syncthreads();
  if (threadIdx.y == 0 && d < dim) {
    for (int q = 0; q < 4; ++q) {
      float s = 0.0f;
      for (int j = 0; j < kColDepth; ++j) s += sums[q][j][threadIdx.x];
      a.partials[(task * 4 + q) * dim + d] = s;
    }
  }
}

// One thread per column: chunks summed in order, per batch item and overall.
__global__ void adaln_param_finish_kernel(AdalnBackwardArgs a) {
  const int64_t dim = a.shape.dim, d = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (d >= dim) return;
  const int64_t chunks = adaln_row_chunks(a.shape.tokens);
  float d_bias = 0.0f, d_weight = 0.0f;
  for (int64_t b = 0; b < a.shape.batch; ++b) {
    float d_shift = 0.0f, d_scale = 0.0f;
    for (int64_t k = 0; k < chunks; ++k) {
      const float* p = a.partials + (b * chunks + k) * 4 * dim;
      d_shift += p[d];
      d_scale += p[dim + d];
      d_bias += p[2 * dim + d];
      d_weight += p[3 * dim + d];
    }
    a.d_shift[b * dim + d] = d_shift;
    a.d_scale[b * dim + d] = d_scale;
  }
  a.d_bias[d] = d_bias;
  a.d_weight[d] = d_weight;
}

__global__ void gated_residual_forward_kernel(GatedResidualArgs a) {
  const int64_t dim = a.shape.dim, per_batch = a.shape.tokens * dim;
  const int64_t total = a.shape.batch * per_batch;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float gate = a.gate[(i / per_batch) * dim + i % dim];
    a.out[i] = gated_residual_element(a.residual[i], gate, a.y[i]);
  }
}

// d_y element-wise and d_gate partials per chunk, in one walk over the rows.
__global__ void gated_residual_partial_kernel(GatedResidualBackwardArgs a) {
  const int64_t dim = a.shape.dim, task = blockIdx.x;
  const int64_t d = static_cast<int64_t>(blockIdx.y) * kColWidth + threadIdx.x;
  const Chunk c = chunk_of(task, a.shape.tokens);
  float acc = 0.0f;
  if (d < dim) {
    const float gate = a.gate[c.batch * dim + d];
    for (int64_t r = c.first + threadIdx.y; r < c.end; r += kColDepth) {
      const GatedResidualElementGrad e = gated_residual_element_grad(a.dout[r * dim + d], gate, a.y[r * dim + d]);
      a.d_y[r * dim + d] = e.d_y;
      acc += e.d_gate;
    }
  }
  __shared__ float sums[kColDepth][kColWidth];
  sums[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && d < dim) {
    float s = 0.0f;
    for (int j = 0; j < kColDepth; ++j) s += sums[j][threadIdx.x];
    a.partials[task * dim + d] = s;
  }
}

__global__ void gated_residual_finish_kernel(GatedResidualBackwardArgs a) {
  const int64_t dim = a.shape.dim, i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= a.shape.batch * dim) return;
  const int64_t b = i / dim, d = i % dim, chunks = adaln_row_chunks(a.shape.tokens);
  float s = 0.0f;
  for (int64_t k = 0; k < chunks; ++k) s += a.partials[(b * chunks + k) * dim + d];
  a.d_gate[i] = s;
}

unsigned row_threads(int64_t dim) {
  const int64_t t = (dim + 31) / 32 * 32;
  return static_cast<unsigned>(t < kMaxRowThreads ? t : kMaxRowThreads);
}

unsigned blocks_for(int64_t n, int64_t threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

const dim3 kColBlock(kColWidth, kColDepth);

}  // namespace

int launch_adaln_forward_cuda(const AdalnForwardArgs& a, void* stream) {
  const int64_t rows = a.shape.batch * a.shape.tokens;
  if (rows == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  adaln_forward_kernel<<<static_cast<unsigned>(rows), row_threads(a.shape.dim), 0, s>>>(a);
  return static_cast<int>(cudaGetLastError());
}

int launch_adaln_backward_cuda(const AdalnBackwardArgs& a, void* stream) {
  const int64_t rows = a.shape.batch * a.shape.tokens, dim = a.shape.dim;
  if (dim == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (rows > 0) {
    adaln_input_grad_kernel<<<static_cast<unsigned>(rows), row_threads(dim), 0, s>>>(a);
    const dim3 grid(static_cast<unsigned>(a.shape.batch * adaln_row_chunks(a.shape.tokens)),
                    blocks_for(dim, kColWidth));
    adaln_param_partial_kernel<<<grid, kColBlock, 0, s>>>(a);
  }
  // Runs even without rows: the parameter gradients are then zeros.
  adaln_param_finish_kernel<<<blocks_for(dim, kFinishThreads), kFinishThreads, 0, s>>>(a);
  return static_cast<int>(cudaGetLastError());
}

int launch_gated_residual_forward_cuda(const GatedResidualArgs& a, void* stream) {
  const int64_t total = a.shape.batch * a.shape.tokens * a.shape.dim;
  if (total == 0) return 0;
  int64_t blocks = (total + 1023) / 1024;  // 4 elements per thread of 256
  if (blocks > 65535) blocks = 65535;
  gated_residual_forward_kernel<<<static_cast<unsigned>(blocks), 256, 0, static_cast<cudaStream_t>(stream)>>>(a);
  return static_cast<int>(cudaGetLastError());
}

int launch_gated_residual_backward_cuda(const GatedResidualBackwardArgs& a, void* stream) {
  const int64_t rows = a.shape.batch * a.shape.tokens, dim = a.shape.dim;
  if (a.shape.batch * dim == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (rows > 0) {
    const dim3 grid(static_cast<unsigned>(a.shape.batch * adaln_row_chunks(a.shape.tokens)),
                    blocks_for(dim, kColWidth));
    gated_residual_partial_kernel<<<grid, kColBlock, 0, s>>>(a);
  }
  gated_residual_finish_kernel<<<blocks_for(a.shape.batch * dim, kFinishThreads), kFinishThreads, 0, s>>>(a);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace spo::kernels
