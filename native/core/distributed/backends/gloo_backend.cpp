// Gloo from libtorch_cpu (which carries the library); only gloo's headers come
// from outside. Every gloo type in ProcessGroupGloo's layout sits behind a
// pointer, so the headers' version does not change the object we build.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "distributed/backends.h"

namespace spo::distributed {

bool gloo_available() { return true; }

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

}  // namespace spo::distributed
