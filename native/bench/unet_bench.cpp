// UNet forward speed against the machine's own matrix-multiply rate, both
// measured in this run (not a test; run by hand):
//   build/tests/spo_unet_bench [batch] [latent size] [reps]
// The UNet is SD-1.5's architecture at half width (block_out_channels
// 160/320/640/640, 8 heads, 768-wide text context): mid-sized, random weights.
// FLOPs are counted from the layer shapes (models/flop_counter.h).
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_timing.h"
#include "io/json_file.h"
#include "models/flop_counter.h"
#include "models/unet_2d_condition.h"
#include "models/unet_config.h"
#include "runtime/threads.h"

using namespace spo;

template <typename Fn>
double median_seconds(Fn&& fn, int reps) {
  return bench_timing::median_ms(fn, reps, false) / 1000.0;
}

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::atoll(argv[1]) : 2;
  const int64_t size = argc > 2 ? std::atoll(argv[2]) : 32;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 3;
  const int threads = configure_intra_op_threads();
  at::NoGradGuard no_grad;

  const auto a = at::randn({2048, 2048}), b = at::randn({2048, 2048});
  at::mm(a, b);
  const double mm_s = median_seconds([&] { at::mm(a, b); }, 10);
  const double ceiling = 2.0 * 2048 * 2048 * 2048 / mm_s;

  auto json = io::read_json(std::string(SPO_MANIFEST_DIR) + "/sd15_unet.config.json");
  json["block_out_channels"] = {160, 320, 640, 640};
  models::UNet2DConditionModel unet(models::unet_config_from_json(json), at::TensorOptions());
  for (auto& p : unet->parameters()) p.data().normal_(0, 0.02);
  const auto x = at::randn({batch, 4, size, size}), ctx = at::randn({batch, 77, 768});
  const auto t = at::full({batch}, 500.0);
  unet(x, t, ctx);  // warm-up
  double counted = 0;
  {
    models::FlopCountScope scope;
    unet(x, t, ctx);
    counted = scope.flops();
  }
  const double fwd_s = median_seconds([&] { unet(x, t, ctx); }, reps);
  std::printf("fp32 matmul 2048^3, %d threads: %.1f GFLOP/s (ceiling)\n", threads, ceiling / 1e9);
  std::printf("UNet (SD-1.5 layout, half width) forward, %lldx4x%lldx%lld, context 77x768: %.3f s, %.1f GFLOP counted, "
              "%.1f GFLOP/s = %.0f%% of the matmul ceiling\n",
              static_cast<long long>(batch), static_cast<long long>(size), static_cast<long long>(size), fwd_s,
              counted / 1e9, counted / fwd_s / 1e9, 100.0 * counted / fwd_s / ceiling);
  return 0;
}
