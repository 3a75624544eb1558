#include "runtime/cpu_block_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace spo {
namespace {

constexpr std::size_t kMinPooled = std::size_t{1} << 20;  // smaller blocks come from malloc's own free lists
constexpr std::size_t kGranule = std::size_t{64} << 10;

thread_local int scope_depth = 0;

std::size_t default_limit() {
  if (const char* env = std::getenv("SPO_CPU_BLOCK_CACHE_MB")) {
    char* end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    if (end != env && mb >= 0) return static_cast<std::size_t>(mb) << 20;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const std::size_t phys = pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) : 0;
  return std::min(phys / 16, std::size_t{2} << 30);
}

// Wraps libtorch's CPU allocator; pools only what a scope allocates. Every
// DataPtr has context == data, so raw_allocate (oneDNN's buffers) works too.
class PoolingCpuAllocator final : public c10::Allocator {
 public:
  explicit PoolingCpuAllocator(c10::Allocator* base) : base_(base), limit_(default_limit()) {}

  c10::DataPtr allocate(std::size_t n) override {
    if (scope_depth == 0 || n < kMinPooled) return base_->allocate(n);
    const std::size_t want = (n + kGranule - 1) / kGranule * kGranule;
    void* p = nullptr;
    std::size_t size = want;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (limit_ == 0) return base_->allocate(n);
      // Best fit, wasting at most an eighth: the same shapes recur call after call.
      auto it = idle_.lower_bound(want);
      if (it != idle_.end() && it->first <= want + want / 8) {
        p = it->second.ptr;
        size = it->first;
        idle_bytes_ -= size;
        idle_.erase(it);
        ++hits_;
      } else {
        ++misses_;
      }
    }
    if (!p) {
      try {
        p = c10::alloc_cpu(size);
      } catch (const c10::Error&) {  // out of memory: idle blocks first, then try once more
        release();
        p = c10::alloc_cpu(size);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_[p] = size;
      live_bytes_ += size;
    }
    return {p, p, &free_any, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &free_any; }

  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }

  // A pooled block goes back to the pool; anything else to the allocator that made it.
  void free(void* p) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = live_.find(p);
      if (it != live_.end()) {
        const std::size_t size = it->second;
        live_.erase(it);
        live_bytes_ -= size;
        if (size > limit_) {
          c10::free_cpu(p);
          return;
        }
        while (idle_bytes_ + size > limit_) c10::free_cpu(evict_oldest_locked());
        idle_.emplace(size, Idle{p, ++tick_});
        idle_bytes_ += size;
        return;
      }
    }
    base_->raw_deleter()(p);
  }

  void release() {
    std::vector<void*> victims;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [size, idle] : idle_) victims.push_back(idle.ptr);
      idle_.clear();
      idle_bytes_ = 0;
    }
    for (void* v : victims) c10::free_cpu(v);
  }

  void set_limit(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = bytes;
    while (idle_bytes_ > limit_) c10::free_cpu(evict_oldest_locked());
  }

  std::size_t limit() {
    std::lock_guard<std::mutex> lock(mu_);
    return limit_;
  }

  CpuBlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {hits_, misses_, idle_bytes_, live_bytes_};
  }

  static void free_any(void* p);

 private:
  struct Idle {
    void* ptr;
    uint64_t tick;  // when it went idle: the oldest is evicted first
  };

  void* evict_oldest_locked() {
    auto oldest = idle_.begin();
    for (auto it = idle_.begin(); it != idle_.end(); ++it)
      if (it->second.tick < oldest->second.tick) oldest = it;
    void* p = oldest->second.ptr;
    idle_bytes_ -= oldest->first;
    idle_.erase(oldest);
    return p;
  }

  c10::Allocator* base_;
  std::mutex mu_;
  std::size_t limit_;
  std::multimap<std::size_t, Idle> idle_;
  std::unordered_map<void*, std::size_t> live_;
  std::size_t idle_bytes_ = 0, live_bytes_ = 0;
  uint64_t tick_ = 0;
  int64_t hits_ = 0, misses_ = 0;
};

// Never destroyed: tensors may outlive static destruction.
PoolingCpuAllocator* instance() {
  static PoolingCpuAllocator* pool = [] {
    auto* p = new PoolingCpuAllocator(c10::GetCPUAllocator());
    c10::SetCPUAllocator(p, /*priority=*/1);  // above libtorch's default (0)
    return p;
  }();
  return pool;
}

void PoolingCpuAllocator::free_any(void* p) { instance()->free(p); }

}  // namespace

CpuBlockCacheScope::CpuBlockCacheScope() {
  instance();
  ++scope_depth;
}

CpuBlockCacheScope::~CpuBlockCacheScope() { --scope_depth; }

CpuBlockCacheStats cpu_block_cache_stats() { return instance()->stats(); }
std::size_t cpu_block_cache_limit() { return instance()->limit(); }
void set_cpu_block_cache_limit(std::size_t bytes) { instance()->set_limit(bytes); }
void release_cpu_block_cache() { instance()->release(); }

}  // namespace spo
