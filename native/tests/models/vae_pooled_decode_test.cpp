// AutoencoderKL.decode runs its large activations on the CPU buffer pool
// (runtime/cpu_block_cache.h): a second decode of the same shape reuses the
// first one's blocks, and the images are bit for bit those of a decode with
// the pool off. (The numbers against diffusers: vae_test.cpp, same weights.)
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "models/autoencoder_kl_loading.h"
#include "runtime/cpu_block_cache.h"

namespace {

TEST(VaePooledDecode, ReusesBlocksAndMatchesTheUnpooledDecode) {
  const std::string dir = std::string(SPO_FIXTURE_ROOT) + "/models/vae/tiny";
  if (!std::filesystem::exists(dir + "/config.json")) GTEST_SKIP() << "missing fixture " << dir;
  auto vae = spo::models::load_autoencoder_kl(dir, at::TensorOptions().dtype(at::kFloat));
  at::NoGradGuard no_grad;
  // 64x64 latents: the last up block's activations are 2 x 8 x 128 x 128 floats (1 MiB) and more.
  const auto z = at::randn({2, 4, 64, 64}, at::make_generator<at::CPUGeneratorImpl>(7));
  const std::size_t limit = spo::cpu_block_cache_limit();

  spo::set_cpu_block_cache_limit(0);  // pool off: libtorch's allocator throughout
  const auto plain = vae->decode(z);
  spo::set_cpu_block_cache_limit(std::size_t{256} << 20);
  spo::release_cpu_block_cache();
  vae->decode(z);
  const auto before = spo::cpu_block_cache_stats();
  const auto pooled = vae->decode(z);
  const auto after = spo::cpu_block_cache_stats();
  spo::set_cpu_block_cache_limit(limit);

  EXPECT_GT(after.hits, before.hits) << "the second decode found none of the first one's blocks";
  EXPECT_EQ(after.misses, before.misses) << "the second decode allocated fresh large blocks";
  EXPECT_TRUE(at::equal(pooled, plain));
}

}  // namespace
