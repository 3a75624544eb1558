// CPU path of adaLN modulate and the gated residual: parallel over rows (or
// over fixed chunks of rows when the backward sums over them), SIMD over D.
// Chunk partial sums are reduced in a fixed order, so parameter gradients are
// bit-identical from run to run and for any thread count (on one machine).
// The row loops are compiled for AVX-512, AVX2 and the baseline, picked at
// load time (the build targets baseline x86-64, whose 4-lane SSE2 made the
// forward lose to ATen's AVX-512 layer_norm at 2x197x768). Reductions that
// are too small to share between threads run on the calling thread.
#include <ATen/Parallel.h>

#include <algorithm>

#include "kernels/adaln/adaln.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define SPO_ADALN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define SPO_ADALN_INLINE __attribute__((always_inline)) inline
#else
#define SPO_ADALN_CLONES
#define SPO_ADALN_INLINE inline
#endif

namespace spo::kernels {
namespace {

// Below this many elements a reduction over chunks runs on one thread.
constexpr int64_t kSerialReduction = 1 << 16;

// Rows per parallel_for grain: about 32k elements per task.
int64_t row_grain(int64_t dim) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, dim)); }

SPO_ADALN_INLINE AdalnRowStats row_stats(const float* x, int64_t dim, float eps) {
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

// Plain pointers of the modulate operands.
struct ModulateView {
  const float *x, *w, *bias, *shift, *scale;
  int64_t tokens, dim;
  float eps;
};

ModulateView view_of(const AdalnModulateInputs& in) {
  return {in.x.data_ptr<float>(),
          in.weight.data_ptr<float>(),
          in.bias.data_ptr<float>(),
          in.shift.defined() ? in.shift.data_ptr<float>() : nullptr,
          in.scale.data_ptr<float>(),
          in.x.size(1),
          in.x.size(2),
          in.eps};
}

SPO_ADALN_CLONES void modulate_rows(const ModulateView& v, int64_t begin, int64_t end, float* out, float* mean_out,
                                    float* rstd_out) {
  const int64_t dim = v.dim;
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = v.x + r * dim;
    const float* sh = v.shift + (r / v.tokens) * dim;
    const float* sc = v.scale + (r / v.tokens) * dim;
    const float* w = v.w;
    const float* bias = v.bias;
    float* yr = out + r * dim;
    const AdalnRowStats s = row_stats(xr, dim, v.eps);
    mean_out[r] = s.mean;
    rstd_out[r] = s.rstd;
#pragma omp simd
    for (int64_t d = 0; d < dim; ++d)
      yr[d] = adaln_modulate_element(adaln_normalize(xr[d], s.mean, s.rstd), w[d], bias[d], sc[d], sh[d]);
  }
}

// One chunk of the backward: d_x of its rows and its four [D] partial sums
// (shift, scale, bias, weight) at `part`.
SPO_ADALN_CLONES void modulate_backward_chunk(const ModulateView& v, const ChunkRows& c, const float* mean_in,
                                              const float* rstd_in, const float* g, float* dx, float* part) {
  const int64_t dim = v.dim;
  float* p_shift = part;
  float* p_scale = p_shift + dim;
  float* p_bias = p_scale + dim;
  float* p_weight = p_bias + dim;
  const float* sc = v.scale + c.batch * dim;
  const float* w = v.w;
  const float* bias = v.bias;
  for (int64_t r = c.first_row; r < c.end_row; ++r) {
    const float* xr = v.x + r * dim;
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
    for (int64_t d = 0; d < dim; ++d) dxr[d] = adaln_input_grad(dxr[d], adaln_normalize(xr[d], m, rs), rs, m1, m2);
  }
}

SPO_ADALN_CLONES void gated_rows(const float* r, const float* yv, const float* gt, int64_t tokens, int64_t dim,
                                 int64_t begin, int64_t end, float* o) {
  for (int64_t row = begin; row < end; ++row) {
    const float* g = gt + (row / tokens) * dim;
    const int64_t base = row * dim;
#pragma omp simd
    for (int64_t d = 0; d < dim; ++d) o[base + d] = gated_residual_element(r[base + d], g[d], yv[base + d]);
  }
}

SPO_ADALN_CLONES void gated_backward_chunk(const ChunkRows& c, const float* go, const float* yv, const float* gt,
                                           int64_t dim, float* dyv, float* p) {
  const float* g = gt + c.batch * dim;
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

// Grain for a reduction of `work` elements spread over `units` outputs: one
// task when the whole is small.
int64_t reduction_grain(int64_t units, int64_t work) {
  return work < kSerialReduction ? std::max<int64_t>(1, units) : 1;
}

}  // namespace

void adaln_modulate_forward_cpu(const AdalnModulateInputs& in, at::Tensor& y, at::Tensor& mean, at::Tensor& rstd) {
  const ModulateView v = view_of(in);
  const int64_t rows = in.x.size(0) * v.tokens;
  float* out = y.data_ptr<float>();
  float* mean_out = mean.data_ptr<float>();
  float* rstd_out = rstd.data_ptr<float>();
  at::parallel_for(0, rows, row_grain(v.dim),
                   [&](int64_t begin, int64_t end) { modulate_rows(v, begin, end, out, mean_out, rstd_out); });
}

void adaln_modulate_backward_cpu(const AdalnModulateInputs& in, const at::Tensor& mean, const at::Tensor& rstd,
                                 const at::Tensor& dy, AdalnModulateGrads& grads) {
  const ModulateView v = view_of(in);
  const int64_t batch = in.x.size(0), tokens = v.tokens, dim = v.dim;
  const int64_t chunks = adaln_row_chunks(tokens), tasks = batch * chunks;
  // Per chunk: four [D] partial sums (shift, scale, bias, weight).
  auto partials = at::zeros({tasks, 4, dim}, in.x.options());
  const float* mean_in = mean.data_ptr<float>();
  const float* rstd_in = rstd.data_ptr<float>();
  const float* g = dy.data_ptr<float>();
  float* dx = grads.x.data_ptr<float>();
  float* part = partials.data_ptr<float>();
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task)
      modulate_backward_chunk(v, chunk_rows(task, chunks, tokens), mean_in, rstd_in, g, dx, part + task * 4 * dim);
  });

  // Fixed-order sums over chunks: per batch item for shift/scale, over all for weight/bias.
  float* d_shift = grads.shift.data_ptr<float>();
  float* d_scale = grads.scale.data_ptr<float>();
  float* d_bias = grads.bias.data_ptr<float>();
  float* d_weight = grads.weight.data_ptr<float>();
  const int64_t grain = std::max<int64_t>(64, reduction_grain(dim, tasks * 4 * dim));
  at::parallel_for(0, dim, grain, [&](int64_t lo, int64_t hi) {
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
  at::parallel_for(0, rows, row_grain(dim),
                   [&](int64_t begin, int64_t end) { gated_rows(r, yv, gt, tokens, dim, begin, end, o); });
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
    for (int64_t task = begin; task < end; ++task)
      gated_backward_chunk(chunk_rows(task, chunks, tokens), go, yv, gt, dim, dyv, part + task * dim);
  });
  float* dg = d_gate.data_ptr<float>();
  at::parallel_for(0, batch, reduction_grain(batch, tasks * dim), [&](int64_t begin, int64_t end) {
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
