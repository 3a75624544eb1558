// Times the fused DDIM step + log-prob against its plain-ATen composition on
// SD-1.5-sized latents (not part of ctest):
//   build/tests/spo_ddim_step_bench [batch] [reps] [cpu|cuda]
// On CUDA every dtype (fp32, fp16, bf16 inputs) is timed, with a synchronise
// around each call (so launch overhead counts, as it does in sampling).
#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "kernels/ddim_step/ddim_step.h"
#include "runtime/threads.h"

using namespace spo::kernels;
using spo::bench_timing::median_ms;

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::atoll(argv[1]) : 10;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 50;
  const std::string dev = argc > 3 ? argv[3] : "cpu";
  const int threads = spo::configure_intra_op_threads();
  const bool cuda = dev == "cuda";
  if (cuda && !(cuda_kernels_compiled() && torch::cuda::is_available())) {
    std::fprintf(stderr, "no CUDA kernels in this build or no CUDA device\n");
    return 1;
  }
  const at::Device device = cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  const std::vector<at::ScalarType> dtypes =
      cuda ? std::vector<at::ScalarType>{at::kFloat, at::kHalf, at::kBFloat16} : std::vector<at::ScalarType>{at::kFloat};
  for (auto dtype : dtypes) {
    DdimStepInputs in;
    in.sample = at::randn({batch, 4, 64, 64}).to(device, dtype);
    in.model_output = at::randn({batch, 4, 64, 64}).to(device, dtype);
    in.noise = at::randn({batch, 4, 64, 64}).to(device, dtype);
    in.alpha_t = at::full({batch}, 0.276, at::kDouble);
    in.alpha_prev = at::full({batch}, 0.340, at::kDouble);
    in.eta = 1.0;
    for (int i = 0; i < 5; ++i) { ddim_step_fused(in); ddim_step_reference(in); }
    const double fused = median_ms([&] { ddim_step_fused(in); }, reps, cuda);
    const double ref = median_ms([&] { ddim_step_reference(in); }, reps, cuda);
    std::printf("%s DDIM step + log-prob, %lldx4x64x64 %s, %d threads, median of %d: fused %.3f ms, ATen %.3f ms, "
                "ratio %.2fx\n",
                cuda ? "cuda" : "cpu", static_cast<long long>(batch), c10::toString(dtype), threads, reps, fused, ref,
                ref / fused);
  }
  return 0;
}
