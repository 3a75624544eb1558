// Linked instead of the CUDA launcher when this build has no CUDA kernels
// (no nvcc, or a CPU-only libtorch): CUDA tensors get a clear error.
#include "kernels/ddim_step/ddim_step.h"
#include "runtime/errors.h"

namespace spo::kernels {

bool cuda_kernels_compiled() { return false; }

void ddim_step_cuda(const at::Tensor&, const DdimStepInputs&, DdimStepOutputs&) {
  throw Unsupported("this build of spo-diffusion has no CUDA kernels; rebuild with nvcc and a CUDA libtorch");
}

}  // namespace spo::kernels
