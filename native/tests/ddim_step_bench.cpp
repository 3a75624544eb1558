// Times the fused DDIM step + log-prob against its plain-ATen composition on
// SD-1.5-sized latents (not part of ctest): build/tests/spo_ddim_step_bench [batch] [reps]
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/ddim_step.h"
#include "runtime/threads.h"

using namespace spo::kernels;

template <typename Fn>
double median_ms(Fn&& fn, int reps) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::atoll(argv[1]) : 10;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 50;
  const int threads = spo::configure_intra_op_threads();
  DdimStepInputs in;
  in.sample = at::randn({batch, 4, 64, 64});
  in.model_output = at::randn({batch, 4, 64, 64});
  in.noise = at::randn({batch, 4, 64, 64});
  in.alpha_t = at::full({batch}, 0.276, at::kDouble);
  in.alpha_prev = at::full({batch}, 0.340, at::kDouble);
  in.eta = 1.0;
  for (int i = 0; i < 5; ++i) { ddim_step_fused(in); ddim_step_reference(in); }
  const double fused = median_ms([&] { ddim_step_fused(in); }, reps);
  const double ref = median_ms([&] { ddim_step_reference(in); }, reps);
  std::printf("DDIM step + log-prob, %lldx4x64x64 fp32, %d threads, median of %d: fused %.3f ms, ATen %.3f ms, ratio %.2fx\n",
              static_cast<long long>(batch), threads, reps, fused, ref, ref / fused);
  return 0;
}
