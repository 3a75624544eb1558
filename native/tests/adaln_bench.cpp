// Times the fused adaLN modulate + gated residual against the plain-ATen
// composition, forward alone (no grad) and forward + backward (not part of
// ctest): build/tests/spo_adaln_bench [reps]. Each shape runs twice: with
// glibc's default malloc, whose heap trimming makes large fresh buffers
// page-fault on every call, and with trimming off (the kernels' steady state).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <vector>

#include "kernels/adaln.h"
#include "runtime/threads.h"

using namespace spo::kernels;

namespace {

template <typename Fn>
double median_ms(Fn&& fn, int reps) {
  for (int i = 0; i < 3; ++i) fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Block {
  at::Tensor x, w, b, shift, scale, residual, gate;
};

Block make_block(int64_t batch, int64_t tokens, int64_t dim, bool grad) {
  Block k{at::randn({batch, tokens, dim}), at::randn({dim}), at::randn({dim}), at::randn({batch, dim}),
          at::randn({batch, dim}), at::randn({batch, tokens, dim}), at::randn({batch, dim})};
  for (auto* t : {&k.x, &k.w, &k.b, &k.shift, &k.scale, &k.residual, &k.gate}) t->requires_grad_(grad);
  return k;
}

template <typename Mod, typename Gate>
at::Tensor run_block(const Block& k, Mod modulate, Gate gate) {
  return gate(k.residual, modulate(k.x, k.w, k.b, k.shift, k.scale, 1e-6), k.gate);
}

void bench(int64_t batch, int64_t tokens, int64_t dim, int reps) {
  const auto fused = [](const Block& k) { return run_block(k, adaln_modulate, gated_residual); };
  const auto ref = [](const Block& k) { return run_block(k, adaln_modulate_reference, gated_residual_reference); };

  double fwd_fused, fwd_ref;
  {
    at::NoGradGuard no_grad;
    const Block k = make_block(batch, tokens, dim, false);
    fwd_fused = median_ms([&] { fused(k); }, reps);
    fwd_ref = median_ms([&] { ref(k); }, reps);
  }
  const Block k = make_block(batch, tokens, dim, true);
  const auto upstream = at::randn({batch, tokens, dim});
  const std::vector<at::Tensor> leaves{k.x, k.w, k.b, k.shift, k.scale, k.residual, k.gate};
  const auto train = [&](auto&& path) {
    return [&] { torch::autograd::grad({(path(k) * upstream).sum()}, leaves); };
  };
  const double bwd_fused = median_ms(train(fused), reps);
  const double bwd_ref = median_ms(train(ref), reps);
  std::printf("B=%lld N=%lld D=%lld fp32  forward: fused %.3f ms, ATen %.3f ms, ratio %.2fx  |  "
              "forward+backward: fused %.3f ms, ATen %.3f ms, ratio %.2fx\n",
              static_cast<long long>(batch), static_cast<long long>(tokens), static_cast<long long>(dim), fwd_fused,
              fwd_ref, fwd_ref / fwd_fused, bwd_fused, bwd_ref, bwd_ref / bwd_fused);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  const int threads = spo::configure_intra_op_threads();
  std::printf("adaLN modulate + gated residual, %d threads, median of %d\n", threads, reps);
  std::printf("default malloc:\n");
  bench(8, 257, 1280, reps);
  bench(2, 64, 96, reps);
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::printf("malloc without trimming (buffers reused, no page faults):\n");
  bench(8, 257, 1280, reps);
  bench(2, 64, 96, reps);
#endif
  return 0;
}
