// Stand-in for builds without CUDA or without nccl.h.
#include "distributed/backends.h"
#include "runtime/errors.h"

namespace spo::distributed {

bool nccl_available() { return false; }

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>&, int, int,
                                                    std::chrono::milliseconds) {
  throw Unsupported("distributed: this build has no NCCL backend (it needs a CUDA build with nccl.h); use backend \"gloo\"");
}

}  // namespace spo::distributed
