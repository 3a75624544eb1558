// CPU path of adaLN modulate and the gated residual: parallel over rows (or
// over fixed chunks of rows when the backward sums over them), SIMD over D.
// Chunk partial sums are reduced in a fixed order, so parameter gradients are
// bit-identical from run to run and for any thread count.
#include <ATen/Parallel.h>

#include <algorithm>

#include "kernels/adaln.h"

namespace spo::kernels {
namespace {

// Rows per parallel_for grain: about 32k elements per task.
int64_t row_grain(int64_t dim) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, dim)); }

AdalnRowStats row_stats(const float* x, int64_t dim, float eps) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t d = 0; d < dim; ++d) sum += x[d];
  const float mean = adaln_mean(sum, dim);
  float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
  for (int64_t d = 0; d < dim; ++d) {
    const float c = x[d] - mean;
    sq += c * c;
  }
  return {mean, adaln_rstd(sq, dim, eps)};
}

// Rows [lo, hi) of chunk `task`, chunks numbered batch-major.
struct ChunkRows {
  int64_t batch, first_row, end_row;
};

ChunkRows chunk_rows(int64_t task, int64_t chunks, int64_t tokens) {
  const int64_t b = task / chunks, k = task % chunks;
  const int64_t lo = k * kAdalnRowsPerChunk, hi = std::min(tokens, lo + kAdalnRowsPerChunk);
  return {b, b * tokens + lo, b * tokens + hi};
}

}  // namespace

void adaln_modulate_forward_cpu(const AdalnModulateInputs& in, at::Tensor& y, at::Tensor& mean, at::Tensor& rstd) {
  const int64_t tokens = in.x.size(1), dim = in.x.size(2), rows = in.x.size(0) * tokens;
  const float* x = in.x.data_ptr<float>();
  const float* w = in.weight.data_ptr<float>();
  const float* bias = in.bias.data_ptr<float>();
  const float* shift = in.shift.data_ptr<float>();
  const float* scale = in.scale.data_ptr<float>();
  float* out = y.data_ptr<float>();
  float* mean_out = mean.data_ptr<float>();
  float* rstd_out = rstd.data_ptr<float>();
  const float eps = in.eps;
  at::parallel_for(0, rows, row_grain(dim), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * dim;
      const float* sh = shift + (r / tokens) * dim;
      const float* sc = scale + (r / tokens) * dim;
      float* yr = out + r * dim;
      const AdalnRowStats s = row_stats(xr, dim, eps);
      mean_out[r] = s.mean;
      rstd_out[r] = s.rstd;
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d)
        yr[d] = adaln_modulate_element(adaln_normalize(xr[d], s.mean, s.rstd), w[d], bias[d], sc[d], sh[d]);
    }
  });
}

void adaln_modulate_backward_cpu(const AdalnModulateInputs& in, const at::Tensor& mean, const at::Tensor& rstd,
                                 const at::Tensor& dy, AdalnModulateGrads& grads) {
  const int64_t batch = in.x.size(0), tokens = in.x.size(1), dim = in.x.size(2);
  const int64_t chunks = adaln_row_chunks(tokens), tasks = batch * chunks;
  // Per chunk: four [D] partial sums (shift, scale, bias, weight).
  auto partials = at::zeros({tasks, 4, dim}, in.x.options());
  const float* x = in.x.data_ptr<float>();
  const float* w = in.weight.data_ptr<float>();
  const float* bias = in.bias.data_ptr<float>();
  const float* scale = in.scale.data_ptr<float>();
  const float* mean_in = mean.data_ptr<float>();
  const float* rstd_in = rstd.data_ptr<float>();
  const float* g = dy.data_ptr<float>();
  float* dx = grads.x.data_ptr<float>();
  float* part = partials.data_ptr<float>();

  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const ChunkRows c = chunk_rows(task, chunks, tokens);
      float* p_shift = part + task * 4 * dim;
      float* p_scale = p_shift + dim;
      float* p_bias = p_scale + dim;
      float* p_weight = p_bias + dim;
      const float* sc = scale + c.batch * dim;
      for (int64_t r = c.first_row; r < c.end_row; ++r) {
        const float* xr = x + r * dim;
        const float* gr = g + r * dim;
        float* dxr = dx + r * dim;
        const float m = mean_in[r], rs = rstd_in[r];
        float sum_dxhat = 0.0f, sum_dxhat_xhat = 0.0f;
#pragma omp simd reduction(+ : sum_dxhat, sum_dxhat_xhat)
        for (int64_t d = 0; d < dim; ++d) {
          const float xhat = adaln_normalize(xr[d], m, rs);
          const AdalnElementGrad e = adaln_modulate_element_grad(gr[d], xhat, w[d], bias[d], sc[d]);
          p_shift[d] += e.d_shift;
          p_scale[d] += e.d_scale;
          p_bias[d] += e.d_bias;
          p_weight[d] += e.d_weight;
          dxr[d] = e.d_xhat;  // kept here until the row means are known
          sum_dxhat += e.d_xhat;
          sum_dxhat_xhat += e.d_xhat * xhat;
        }
        const float m1 = sum_dxhat / static_cast<float>(dim), m2 = sum_dxhat_xhat / static_cast<float>(dim);
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d)
          dxr[d] = adaln_input_grad(dxr[d], adaln_normalize(xr[d], m, rs), rs, m1, m2);
      }
    }
  });

  // Fixed-order sums over chunks: per batch item for shift/scale, over all for weight/bias.
  float* d_shift = grads.shift.data_ptr<float>();
  float* d_scale = grads.scale.data_ptr<float>();
  float* d_bias = grads.bias.data_ptr<float>();
  float* d_weight = grads.weight.data_ptr<float>();
  at::parallel_for(0, dim, 64, [&](int64_t lo, int64_t hi) {
    std::fill(d_bias + lo, d_bias + hi, 0.0f);
    std::fill(d_weight + lo, d_weight + hi, 0.0f);
    for (int64_t b = 0; b < batch; ++b) {
      float* ds = d_shift + b * dim;
      float* dc = d_scale + b * dim;
      std::fill(ds + lo, ds + hi, 0.0f);
      std::fill(dc + lo, dc + hi, 0.0f);
      for (int64_t k = 0; k < chunks; ++k) {
        const float* p = part + (b * chunks + k) * 4 * dim;
#pragma omp simd
        for (int64_t d = lo; d < hi; ++d) {
          ds[d] += p[d];
          dc[d] += p[dim + d];
          d_bias[d] += p[2 * dim + d];
          d_weight[d] += p[3 * dim + d];
        }
      }
    }
  });
}

void gated_residual_forward_cpu(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate,
                                at::Tensor& out) {
  const int64_t tokens = residual.size(1), dim = residual.size(2), rows = residual.size(0) * tokens;
  const float* r = residual.data_ptr<float>();
  const float* yv = y.data_ptr<float>();
  const float* gt = gate.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows, row_grain(dim), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const float* g = gt + (row / tokens) * dim;
      const int64_t base = row * dim;
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) o[base + d] = gated_residual_element(r[base + d], g[d], yv[base + d]);
    }
  });
}

void gated_residual_backward_cpu(const at::Tensor& dout, const at::Tensor& y, const at::Tensor& gate,
                                 at::Tensor& d_y, at::Tensor& d_gate) {
  const int64_t batch = y.size(0), tokens = y.size(1), dim = y.size(2);
  const int64_t chunks = adaln_row_chunks(tokens), tasks = batch * chunks;
  auto partials = at::zeros({tasks, dim}, y.options());
  const float* go = dout.data_ptr<float>();
  const float* yv = y.data_ptr<float>();
  const float* gt = gate.data_ptr<float>();
  float* dyv = d_y.data_ptr<float>();
  float* part = partials.data_ptr<float>();
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const ChunkRows c = chunk_rows(task, chunks, tokens);
      const float* g = gt + c.batch * dim;
      float* p = part + task * dim;
      for (int64_t row = c.first_row; row < c.end_row; ++row) {
        const int64_t base = row * dim;
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) {
          const GatedResidualElementGrad e = gated_residual_element_grad(go[base + d], g[d], yv[base + d]);
          dyv[base + d] = e.d_y;
          p[d] += e.d_gate;
        }
      }
    }
  });
  float* dg = d_gate.data_ptr<float>();
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      float* row = dg + b * dim;
      std::fill(row, row + dim, 0.0f);
      for (int64_t k = 0; k < chunks; ++k) {
        const float* p = part + (b * chunks + k) * dim;
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) row[d] += p[d];
      }
    }
  });
}

}  // namespace spo::kernels
