// Reuse of large CPU buffers from one tensor to the next.
//
// A fresh CPU allocation above glibc's mmap threshold (32 MiB at most; and any
// block over 64 MiB on a thread other than the main one, where the engine's
// jobs run) is a new mapping: the kernel faults in and zeroes each 4 KiB page
// on first touch, and unmaps it when the tensor dies. In the VAE decode at
// 256 px, whose activations are 67-270 MB, that was a third of the CPU time
// (the same in diffusers). Inside a CpuBlockCacheScope, allocations of 1 MiB
// or more are served from blocks freed earlier and go back to that pool when
// their tensor dies, so their pages stay mapped and faulted in. The pool's idle
// bytes are bounded (cpu_block_cache_limit); outside a scope the allocator is
// libtorch's own, untouched.
#pragma once
#include <cstddef>
#include <cstdint>

namespace spo {

// While one is alive on a thread, that thread's large CPU allocations use the
// pool (the first scope installs the pooling allocator over libtorch's).
class CpuBlockCacheScope {
 public:
  CpuBlockCacheScope();
  ~CpuBlockCacheScope();
  CpuBlockCacheScope(const CpuBlockCacheScope&) = delete;
  CpuBlockCacheScope& operator=(const CpuBlockCacheScope&) = delete;
};

struct CpuBlockCacheStats {
  int64_t hits = 0;           // large allocations served from the pool
  int64_t misses = 0;         // large allocations in a scope that found no block
  std::size_t idle_bytes = 0; // freed blocks kept for reuse
  std::size_t live_bytes = 0; // pooled blocks held by tensors now
};
CpuBlockCacheStats cpu_block_cache_stats();

// The most idle bytes kept: $SPO_CPU_BLOCK_CACHE_MB when set (0 turns pooling
// off), else a sixteenth of physical memory, at most 2 GiB.
std::size_t cpu_block_cache_limit();
void set_cpu_block_cache_limit(std::size_t bytes);  // also trims the idle blocks to it

// Frees every idle block now.
void release_cpu_block_cache();

}  // namespace spo
