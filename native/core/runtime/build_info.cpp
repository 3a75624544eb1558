#include "runtime/build_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#if __has_include(<torch/headeronly/version.h>)
#include <torch/headeronly/version.h>
#else
#include <torch/version.h>
#endif

#include "kernels/ddim_step/ddim_step.h"

namespace spo {

BuildInfo build_info() {
  BuildInfo info;
  info.torch_version = TORCH_VERSION;
  info.cuda_kernels = kernels::cuda_kernels_compiled();
  info.cuda_available = at::hasCUDA();
  info.cuda_devices = info.cuda_available ? static_cast<int>(at::getNumGPUs()) : 0;
  info.intra_op_threads = at::get_num_threads();
  return info;
}

}  // namespace spo
