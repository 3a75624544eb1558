// The CUDA caching allocator's peak of allocated bytes on a device: the
// benchmark's memory figure on a GPU (RSS says nothing about device memory).
// Built from device_memory_cuda_launch.cpp where CUDA kernels are linked,
// else from device_memory_cuda_unavailable.cpp (which reports "unavailable").
#pragma once
#include <cstdint>

namespace spo::kernels {

// Starts a new peak window on `device` (a CUDA device index). No-op without CUDA.
void reset_device_memory_peak(int device);

// Peak allocated bytes on `device` since the last reset; -1 without CUDA support.
int64_t device_memory_peak(int device);

// Bytes allocated on `device` now; -1 without CUDA support.
int64_t device_memory_allocated(int device);

}  // namespace spo::kernels
