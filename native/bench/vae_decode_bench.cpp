// The VAE decode on a diffusers `vae` directory, timed, and per ATen op where
// its time goes (not a test; run by hand, beside bench/vae_decode_profile.py
// which times diffusers' AutoencoderKL.decode on the same weights and shapes):
//   build/tests/spo_vae_decode_bench <vae dir> [batch] [latent side] [reps] [profile]
// Threads: $SPO_NUM_THREADS (else the machine's cores), as the engine uses.
// The decodes run on a second thread, as the engine's jobs do (glibc serves
// large blocks differently there). Each rep prints wall time and this
// process's CPU time and page faults, which a loaded machine distorts less.
// SPO_CPU_BLOCK_CACHE_MB=0 turns the buffer pool off (runtime/cpu_block_cache.h).
#include <ATen/ATen.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "models/autoencoder_kl_loading.h"
#include "op_self_times.h"
#include "runtime/threads.h"

using namespace spo;

namespace {

using Clock = std::chrono::steady_clock;

struct Usage {
  double cpu_s;
  long faults;
};

Usage usage() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return {sec(r.ru_utime) + sec(r.ru_stime), r.ru_minflt};
}

}  // namespace

int run(int argc, char** argv);

int main(int argc, char** argv) {
  int rc = 0;
  std::thread worker([&] { rc = run(argc, argv); });
  worker.join();
  return rc;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: spo_vae_decode_bench <vae dir> [batch] [latent side] [reps] [profile]\n");
    return 2;
  }
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 8;
  const int64_t side = argc > 3 ? std::atoll(argv[3]) : 32;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 3;
  const bool profile = argc > 5;
  const int threads = configure_intra_op_threads();
  at::NoGradGuard no_grad;
  auto vae = models::load_autoencoder_kl(argv[1], at::TensorOptions());
  vae->eval();
  const auto z = at::randn({batch, vae->config.latent_channels, side, side});
  vae->decode(z);  // warm-up
  std::printf("engine decode %lldx%lldx%lldx%lld, %d threads:\n", static_cast<long long>(batch),
              static_cast<long long>(z.size(1)), static_cast<long long>(side), static_cast<long long>(side), threads);
  for (int i = 0; i < reps; ++i) {
    const auto u0 = usage();
    const auto a = Clock::now();
    vae->decode(z);
    const double wall = std::chrono::duration<double>(Clock::now() - a).count();
    const auto u1 = usage();
    std::printf("  wall %.3f s, cpu %.3f s, page faults %ld\n", wall, u1.cpu_s - u0.cpu_s, u1.faults - u0.faults);
  }
  if (!profile) return 0;

  {
    bench::OpProfile profile_ops;
    vae->decode(z);
    profile_ops.print(1, 25);
  }
  return 0;
}
