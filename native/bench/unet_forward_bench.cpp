// A diffusers `unet` directory's forward, timed, and per ATen op where its time
// goes (not a test; run by hand, beside bench/unet_forward_profile.py, which
// profiles diffusers' UNet2DConditionModel on the same weights and shapes):
//   build/tests/spo_unet_forward_bench <unet dir> [rows] [reps] [profile] [lora]
// rows: the forward's batch (a guided call of B latents is 2B rows; default
// 16); latents of the config's sample_size, text states of 77 tokens, t = 500;
// the mean wall time of `reps` forwards (default 20) after 5 warm-ups, bare
// and then with SPO's LoRA attached (rank 4 on to_q/k/v/out, as sampling runs
// the policy); `profile` splits the bare forward by op, `lora` the LoRA one.
// Threads: $SPO_NUM_THREADS (else the machine's cores), as the engine uses;
// the forwards run on a second thread, as the engine's jobs do.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "models/lora.h"
#include "models/unet_loading.h"
#include "op_self_times.h"
#include "runtime/threads.h"

using namespace spo;

namespace {

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: spo_unet_forward_bench <unet dir> [rows] [reps] [profile]\n");
    return 2;
  }
  const int64_t rows = argc > 2 ? std::atoll(argv[2]) : 16;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 20;
  const bool profile = argc > 4 && std::string(argv[4]) == "profile";
  const bool profile_lora = argc > 5 || (argc > 4 && std::string(argv[4]) == "lora");
  if (rows < 1 || reps < 1) {
    std::fprintf(stderr, "rows and reps must be positive\n");
    return 2;
  }
  const int threads = configure_intra_op_threads();
  at::NoGradGuard no_grad;
  auto unet = models::load_unet(argv[1], at::TensorOptions());
  unet->eval();
  const auto& c = unet->config;
  const int64_t side = c.sample_size;
  at::manual_seed(0);
  const auto latents = at::randn({rows, c.in_channels, side, side});
  const auto text = at::randn({rows, 77, c.cross_attention_dim.front()});
  const auto t = at::full({rows}, 500, at::kLong);
  auto time_forwards = [&](const char* what, bool split) {
    for (int i = 0; i < 5; ++i) unet(latents, t, text);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) unet(latents, t, text);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps;
    std::printf("engine UNet forward %s, %lld rows of %lldx%lld, %d threads: %.2f ms per forward (mean of %d)\n", what,
                static_cast<long long>(rows), static_cast<long long>(side), static_cast<long long>(side), threads,
                wall * 1e3, reps);
    if (!split) return;
    bench::OpProfile ops;
    for (int i = 0; i < reps; ++i) unet(latents, t, text);
    ops.print(reps, 16);
  };
  time_forwards("bare", profile);
  auto lora = models::attach_lora(*unet, models::LoraConfig{}, latents.device());
  time_forwards("with LoRA", profile_lora);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int rc = 0;
  std::thread worker([&] { rc = run(argc, argv); });
  worker.join();
  return rc;
}
