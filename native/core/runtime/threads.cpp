#include "runtime/threads.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <mutex>
#include <thread>

namespace spo {

int configure_intra_op_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("SPO_NUM_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    if (n < 1) n = 1;
    at::set_num_threads(n);
  });
  return at::get_num_threads();
}

}  // namespace spo
