// Stand-in for builds without gloo's headers (Debian/Ubuntu: libgloo-dev, or
// -DSPO_GLOO_INCLUDE_DIR=<dir holding gloo/>).
#include "distributed/backends.h"
#include "runtime/errors.h"

namespace spo::distributed {

bool gloo_available() { return false; }

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>&, int, int,
                                                    std::chrono::milliseconds) {
  throw Unsupported("distributed: this build has no Gloo backend (gloo's headers were not found at build time; "
                    "install libgloo-dev or set SPO_GLOO_INCLUDE_DIR and rebuild)");
}

}  // namespace spo::distributed
