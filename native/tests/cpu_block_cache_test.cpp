// The pool of large CPU buffers (runtime/cpu_block_cache.h): a scope reuses a
// freed block of the same size, nothing changes outside a scope, the idle bytes
// stay under the limit, and oneDNN's own buffers (raw_allocate) work through it.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "runtime/cpu_block_cache.h"

namespace {

constexpr int64_t kFloats = int64_t{1} << 20;  // 4 MiB: above the 1 MiB pooling floor

// Restores the limit and empties the pool, so tests do not see each other's blocks.
struct FreshPool {
  std::size_t limit = spo::cpu_block_cache_limit();
  FreshPool() {
    spo::release_cpu_block_cache();
    spo::set_cpu_block_cache_limit(std::size_t{256} << 20);
  }
  ~FreshPool() {
    spo::set_cpu_block_cache_limit(limit);
    spo::release_cpu_block_cache();
  }
};

TEST(CpuBlockCache, AScopeReusesAFreedBlockOfTheSameSize) {
  FreshPool fresh;
  spo::CpuBlockCacheScope scope;
  const auto before = spo::cpu_block_cache_stats();
  void* first = nullptr;
  {
    auto t = at::empty({kFloats});
    first = t.data_ptr();
    EXPECT_EQ(spo::cpu_block_cache_stats().live_bytes, before.live_bytes + 4 * kFloats);
  }
  EXPECT_EQ(spo::cpu_block_cache_stats().idle_bytes, static_cast<std::size_t>(4 * kFloats));
  auto again = at::empty({kFloats});
  EXPECT_EQ(again.data_ptr(), first);
  const auto after = spo::cpu_block_cache_stats();
  EXPECT_EQ(after.hits, before.hits + 1);
  EXPECT_EQ(after.misses, before.misses + 1);
  EXPECT_EQ(after.idle_bytes, 0u);
}

TEST(CpuBlockCache, ABlockMuchLargerThanAskedIsNotHandedOut) {
  FreshPool fresh;
  spo::CpuBlockCacheScope scope;
  { auto big = at::empty({4 * kFloats}); }  // 16 MiB idle
  const auto before = spo::cpu_block_cache_stats();
  auto small = at::empty({kFloats});  // 4 MiB: the 16 MiB block would waste three quarters
  EXPECT_EQ(spo::cpu_block_cache_stats().hits, before.hits);
  EXPECT_EQ(spo::cpu_block_cache_stats().idle_bytes, static_cast<std::size_t>(16 * kFloats));
}

TEST(CpuBlockCache, OutsideAScopeNothingIsPooled) {
  FreshPool fresh;
  { spo::CpuBlockCacheScope installs; }
  const auto before = spo::cpu_block_cache_stats();
  { auto t = at::empty({kFloats}); }
  auto t = at::empty({kFloats});
  const auto after = spo::cpu_block_cache_stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.idle_bytes, 0u);
  EXPECT_EQ(after.live_bytes, before.live_bytes);
}

TEST(CpuBlockCache, IdleBytesStayUnderTheLimitOldestOut) {
  FreshPool fresh;
  spo::set_cpu_block_cache_limit(static_cast<std::size_t>(2 * 4 * kFloats));  // two 4 MiB blocks
  spo::CpuBlockCacheScope scope;
  void* oldest = nullptr;
  {
    auto a = at::empty({kFloats}), b = at::empty({kFloats}), c = at::empty({kFloats});
    oldest = a.data_ptr();
    a.reset();  // freed first: the one evicted when c comes back
  }
  EXPECT_EQ(spo::cpu_block_cache_stats().idle_bytes, static_cast<std::size_t>(2 * 4 * kFloats));
  auto x = at::empty({kFloats}), y = at::empty({kFloats});
  EXPECT_NE(x.data_ptr(), oldest);
  EXPECT_NE(y.data_ptr(), oldest);

  spo::set_cpu_block_cache_limit(0);  // off: a scope allocates and frees as libtorch does
  x.reset();
  EXPECT_EQ(spo::cpu_block_cache_stats().idle_bytes, 0u);
}

TEST(CpuBlockCache, ConvolutionsGiveTheSameNumbersInAndOutOfAScope) {
  FreshPool fresh;
  at::manual_seed(0);
  const auto x = at::randn({2, 32, 96, 96}), w = at::randn({32, 32, 3, 3}), b = at::randn({32});
  const auto plain = at::conv2d(x, w, b, 1, 1);
  spo::CpuBlockCacheScope scope;
  for (int i = 0; i < 3; ++i) {  // the later rounds run on reused blocks
    const auto pooled = at::conv2d(at::silu(at::group_norm(x, 8)), w, b, 1, 1);
    EXPECT_TRUE(at::equal(pooled, at::conv2d(at::silu(at::group_norm(x, 8)), w, b, 1, 1)));
    EXPECT_TRUE(at::equal(at::conv2d(x, w, b, 1, 1), plain));
  }
  EXPECT_GT(spo::cpu_block_cache_stats().hits, 0);
}

}  // namespace
