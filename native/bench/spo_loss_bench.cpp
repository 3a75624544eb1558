// Times the fused SPO loss against the plain-ATen composition, forward alone
// (no grad) and forward + backward w.r.t. the policy output (not part of
// ctest): build/tests/spo_spo_loss_bench [reps] [cpu|cuda|all]. Shapes: 10 pairs of SD-1.5
// latents at 512 px (4 x 64 x 64) and a small case where fixed costs dominate.
// On CPU each shape runs with glibc's default malloc and with heap trimming
// off (large fresh buffers then stop page-faulting: the steady state); on a
// GPU, when there is one, with a synchronise around every timed call, in fp32
// and bf16 (the policy output's dtype in a bf16 run).
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
#include <vector>

#include "bench_timing.h"
#include "kernels/ddim_step/ddim_step.h"  // cuda_kernels_compiled()
#include "kernels/spo_loss/spo_loss.h"
#include "runtime/threads.h"

using namespace spo::kernels;
using spo::bench_timing::median_ms;

namespace {

constexpr int kWarmup = 3;  // untimed calls before the timed ones

// Ratios near 1 (the policy close to the reference), as in training.
SpoLossInputs make_inputs(int64_t pairs, std::vector<int64_t> element_shape, at::Device device,
                          at::ScalarType dtype) {
  std::vector<int64_t> shape{pairs};
  shape.insert(shape.end(), element_shape.begin(), element_shape.end());
  const auto opts = at::TensorOptions().device(device);
  SpoLossInputs in;
  in.sample = at::randn(shape, opts);
  in.reference_output = at::randn(shape, opts);
  in.policy_output = in.reference_output + 0.01 * at::randn(shape, opts);
  in.winner = 0.9 * in.sample + 0.3 * at::randn(shape, opts);
  in.loser = 0.9 * in.sample + 0.3 * at::randn(shape, opts);
  for (auto* t : {&in.sample, &in.reference_output, &in.policy_output, &in.winner, &in.loser}) *t = t->to(dtype);
  in.alpha_t = at::full({pairs}, 0.276, at::kDouble);
  in.alpha_prev = at::full({pairs}, 0.340, at::kDouble);
  return in;
}

void bench(int64_t pairs, std::vector<int64_t> element_shape, at::Device device, int reps,
           at::ScalarType dtype = at::kFloat) {
  const bool cuda = device.is_cuda();
  SpoLossInputs in = make_inputs(pairs, element_shape, device, dtype);
  double fwd_fused, fwd_ref;
  {
    at::NoGradGuard no_grad;
    fwd_fused = median_ms([&] { spo_loss(in); }, reps, cuda, kWarmup);
    fwd_ref = median_ms([&] { spo_loss_reference(in); }, reps, cuda, kWarmup);
  }
  in.policy_output.requires_grad_(true);
  const auto train = [&](auto path) {
    return [&, path] { torch::autograd::grad({path(in).loss}, {in.policy_output}); };
  };
  const double bwd_fused = median_ms(train(spo_loss), reps, cuda, kWarmup);
  const double bwd_ref = median_ms(train(spo_loss_reference), reps, cuda, kWarmup);
  int64_t m = 1;
  for (auto d : element_shape) m *= d;
  std::printf("%s N=%lld M=%lld %s  forward: fused %.3f ms, ATen %.3f ms, ratio %.2fx  |  "
              "forward+backward: fused %.3f ms, ATen %.3f ms, ratio %.2fx\n",
              cuda ? "cuda" : "cpu", static_cast<long long>(pairs), static_cast<long long>(m), c10::toString(dtype),
              fwd_fused, fwd_ref,
              fwd_ref / fwd_fused, bwd_fused, bwd_ref, bwd_ref / bwd_fused);
}

void bench_all(at::Device device, int reps, at::ScalarType dtype = at::kFloat) {
  bench(10, {4, 64, 64}, device, reps, dtype);
  bench(4, {4, 16, 16}, device, reps, dtype);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  const std::string which = argc > 2 ? argv[2] : "all";
  const int threads = spo::configure_intra_op_threads();
  std::printf("SPO loss (4 log-probs, clamped ratios, -log sigmoid), %d threads, median of %d\n", threads, reps);
  if (which != "cuda") {
    std::printf("default malloc:\n");
    bench_all(at::kCPU, reps);
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    std::printf("malloc without trimming (buffers reused, no page faults):\n");
    bench_all(at::kCPU, reps);
#endif
  }
  if (which != "cpu") {
    if (cuda_kernels_compiled() && torch::cuda::is_available()) {
      const at::Device gpu(at::kCUDA, 0);
      bench_all(gpu, reps);
      bench_all(gpu, reps, at::kBFloat16);
      bench(64, {4, 64, 64}, gpu, reps);
    } else if (which == "cuda") {
      std::fprintf(stderr, "no CUDA kernels in this build or no CUDA device\n");
      return 1;
    }
  }
  return 0;
}
