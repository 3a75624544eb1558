// The c10d backends this build can create. Each lives in its own file under
// backends/, compiled only where its headers exist (Gloo: gloo's headers;
// NCCL: a CUDA build of libtorch and nccl.h); otherwise a stand-in says why.
#pragma once
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

namespace spo::distributed {

bool gloo_available();
// Gloo over TCP between the ranks (CPU tensors); timeout bounds every collective.
c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout);

bool nccl_available();
// NCCL between CUDA devices (each rank uses its current device).
c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout);

}  // namespace spo::distributed
