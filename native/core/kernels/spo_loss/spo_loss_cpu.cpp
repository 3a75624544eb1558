// CPU path of the fused SPO loss: parallel over (pair, chunk) tasks with SIMD
// inner loops. Each chunk's four residual sums are kept in double and added
// per pair in chunk order, so the log-probs, the loss and the gradient are
// bit-identical from run to run and for any thread count.
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "kernels/spo_loss/spo_loss.h"

namespace spo::kernels {
namespace {

constexpr int64_t kPairChunk = 8192;  // elements per task: large enough to amortise, small enough to balance

int64_t chunks_per_pair(int64_t elements) { return std::max<int64_t>(1, (elements + kPairChunk - 1) / kPairChunk); }

struct ChunkRange {
  int64_t pair, lo, hi;  // flat element range [lo, hi) of one pair
};

ChunkRange chunk_range(int64_t task, int64_t chunks, int64_t elements) {
  const int64_t i = task / chunks, k = task % chunks;
  return {i, i * elements + k * kPairChunk, i * elements + std::min(elements, (k + 1) * kPairChunk)};
}

}  // namespace

void spo_loss_forward_cpu(const SpoLossBuffers& in, at::Tensor& pair_results, at::Tensor& loss) {
  const SpoLossParams p = in.params;
  const int64_t chunks = chunks_per_pair(p.elements), tasks = p.pairs * chunks;
  const auto* coeffs = reinterpret_cast<const SpoPairCoefficients*>(in.coeffs.data_ptr<float>());
  const float* x = in.sample.data_ptr<float>();
  const float* pol = in.policy.data_ptr<float>();
  const float* ref = in.reference.data_ptr<float>();
  const float* win = in.winner.data_ptr<float>();
  const float* los = in.loser.data_ptr<float>();
  std::vector<SpoPairSums> partial(static_cast<size_t>(tasks));

  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const ChunkRange r = chunk_range(task, chunks, p.elements);
      const SpoPairCoefficients c = coeffs[r.pair];
      double pw = 0.0, pl = 0.0, rw = 0.0, rl = 0.0;
#pragma omp simd reduction(+ : pw, pl, rw, rl)
      for (int64_t j = r.lo; j < r.hi; ++j) {
        const float mp = spo_mean(c, x[j], pol[j]), mr = spo_mean(c, x[j], ref[j]);
        pw += spo_squared_residual(win[j], mp);
        pl += spo_squared_residual(los[j], mp);
        rw += spo_squared_residual(win[j], mr);
        rl += spo_squared_residual(los[j], mr);
      }
      partial[static_cast<size_t>(task)] = {pw, pl, rw, rl};
    }
  });

  auto* results = reinterpret_cast<SpoPairResult*>(pair_results.data_ptr<float>());
  double total = 0.0;
  for (int64_t i = 0; i < p.pairs; ++i) {
    SpoPairSums s{0.0, 0.0, 0.0, 0.0};
    for (int64_t k = 0; k < chunks; ++k) {
      const SpoPairSums& q = partial[static_cast<size_t>(i * chunks + k)];
      s.policy_w += q.policy_w;
      s.policy_l += q.policy_l;
      s.ref_w += q.ref_w;
      s.ref_l += q.ref_l;
    }
    results[i] = spo_pair_result(coeffs[i], s, p);
    total += results[i].loss;
  }
  loss.fill_(total / static_cast<double>(p.pairs));
}

void spo_loss_backward_cpu(const SpoLossBuffers& in, const at::Tensor& pair_grads, at::Tensor& grad) {
  const SpoLossParams p = in.params;
  const int64_t chunks = chunks_per_pair(p.elements);
  const auto* coeffs = reinterpret_cast<const SpoPairCoefficients*>(in.coeffs.data_ptr<float>());
  const float* factors = pair_grads.data_ptr<float>();
  const float* x = in.sample.data_ptr<float>();
  const float* pol = in.policy.data_ptr<float>();
  const float* win = in.winner.data_ptr<float>();
  const float* los = in.loser.data_ptr<float>();
  float* g = grad.data_ptr<float>();
  at::parallel_for(0, p.pairs * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const ChunkRange r = chunk_range(task, chunks, p.elements);
      const SpoPairCoefficients c = coeffs[r.pair];
      const float gw = factors[2 * r.pair], gl = factors[2 * r.pair + 1];
#pragma omp simd
      for (int64_t j = r.lo; j < r.hi; ++j) g[j] = spo_grad_element(gw, gl, win[j], los[j], spo_mean(c, x[j], pol[j]));
    }
  });
}

}  // namespace spo::kernels
