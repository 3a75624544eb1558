// Times the fused adaLN modulate + gated residual against the plain-ATen
// composition, forward alone (no grad) and forward + backward (not part of
// ctest): build/tests/spo_adaln_bench [reps] [cpu|cuda]. Fused and ATen calls
// alternate; medians, their ratio, and the ratio of the minima. On CPU each shape
// runs twice: with glibc's default malloc, whose heap trimming makes large
// fresh buffers page-fault on every call, and with trimming off (the kernels'
// steady state). On CUDA each shape runs in fp32 and bf16, with a synchronise
// around every timed call.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>

#include <cstdio>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string>
#include <utility>
#include <vector>

#include "bench_timing.h"
#include "kernels/adaln/adaln.h"
#include "kernels/ddim_step/ddim_step.h"  // cuda_kernels_compiled()
#include "runtime/threads.h"

using namespace spo::kernels;
using namespace spo::bench_timing;

namespace {

bool g_cuda = false;  // synchronise around timed calls

struct Times {
  double median = 0.0, min = 0.0;  // ms
};

// Times `a` and `b` alternately (a, b, a, b, ...) so that both see the same
// load on a shared machine; the min is what each does when not preempted.
template <typename A, typename B>
std::pair<Times, Times> time_pair(A&& a, B&& b, int reps) {
  for (int i = 0; i < 3; ++i) a(), b();  // warm-up
  synchronize_if(g_cuda);
  std::vector<double> ta, tb;
  for (int i = 0; i < reps; ++i) {
    ta.push_back(call_ms(a, g_cuda));
    tb.push_back(call_ms(b, g_cuda));
  }
  const auto summary = [](std::vector<double>& t) {
    const double median = median_of(t);  // sorts t
    return Times{median, t.front()};
  };
  return {summary(ta), summary(tb)};
}

struct Block {
  at::Tensor x, w, b, shift, scale, residual, gate;
};

Block make_block(int64_t batch, int64_t tokens, int64_t dim, bool grad, const at::TensorOptions& opts) {
  Block k{at::randn({batch, tokens, dim}), at::randn({dim}), at::randn({dim}), at::randn({batch, dim}),
          at::randn({batch, dim}), at::randn({batch, tokens, dim}), at::randn({batch, dim})};
  for (auto* t : {&k.x, &k.w, &k.b, &k.shift, &k.scale, &k.residual, &k.gate}) *t = t->to(opts).requires_grad_(grad);
  return k;
}

template <typename Mod, typename Gate>
at::Tensor run_block(const Block& k, Mod modulate, Gate gate) {
  return gate(k.residual, modulate(k.x, k.w, k.b, k.shift, k.scale, 1e-6), k.gate);
}

void bench(int64_t batch, int64_t tokens, int64_t dim, int reps,
           const at::TensorOptions& opts = at::TensorOptions()) {
  const auto fused = [](const Block& k) { return run_block(k, adaln_modulate, gated_residual); };
  const auto ref = [](const Block& k) { return run_block(k, adaln_modulate_reference, gated_residual_reference); };

  std::pair<Times, Times> fwd;
  {
    at::NoGradGuard no_grad;
    const Block k = make_block(batch, tokens, dim, false, opts);
    fwd = time_pair([&] { fused(k); }, [&] { ref(k); }, reps);
  }
  const Block k = make_block(batch, tokens, dim, true, opts);
  const auto upstream = at::randn({batch, tokens, dim}).to(opts);
  const std::vector<at::Tensor> leaves{k.x, k.w, k.b, k.shift, k.scale, k.residual, k.gate};
  const auto train = [&](auto&& path) {
    return [&] { torch::autograd::grad({(path(k) * upstream).sum()}, leaves); };
  };
  const auto bwd = time_pair(train(fused), train(ref), reps);
  std::printf("%s B=%lld N=%lld D=%lld %s  forward: fused %.3f ms, ATen %.3f ms, ratio %.2fx (min %.2fx)  |  "
              "forward+backward: fused %.3f ms, ATen %.3f ms, ratio %.2fx (min %.2fx)\n",
              opts.device().is_cuda() ? "cuda" : "cpu", static_cast<long long>(batch), static_cast<long long>(tokens),
              static_cast<long long>(dim), c10::toString(c10::typeMetaToScalarType(opts.dtype())), fwd.first.median,
              fwd.second.median, fwd.second.median / fwd.first.median, fwd.second.min / fwd.first.min,
              bwd.first.median, bwd.second.median, bwd.second.median / bwd.first.median,
              bwd.second.min / bwd.first.min);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  const std::string dev = argc > 2 ? argv[2] : "cpu";
  const int threads = spo::configure_intra_op_threads();
  if (dev == "cuda") {
    if (!(cuda_kernels_compiled() && torch::cuda::is_available())) {
      std::fprintf(stderr, "no CUDA kernels in this build or no CUDA device\n");
      return 1;
    }
    g_cuda = true;
    std::printf("adaLN modulate + gated residual on CUDA, median of %d (alternating)\n", reps);
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      const auto opts = at::TensorOptions().device(at::kCUDA, 0).dtype(dtype);
      bench(8, 257, 1280, reps, opts);
      bench(32, 1024, 640, reps, opts);
      bench(2, 64, 96, reps, opts);
    }
    return 0;
  }
  std::printf("adaLN modulate + gated residual, %d threads, median of %d\n", threads, reps);
  std::printf("default malloc:\n");
  bench(8, 257, 1280, reps);
  bench(2, 197, 768, reps);  // the preference model's vision tower, 2 images (the harness's kernel shape)
  bench(2, 64, 96, reps);
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::printf("malloc without trimming (buffers reused, no page faults):\n");
  bench(8, 257, 1280, reps);
  bench(2, 197, 768, reps);
  bench(2, 64, 96, reps);
#endif
  return 0;
}
