// Linked instead of the adaLN CUDA launchers when this build has no CUDA
// kernels (no nvcc, or a CPU-only libtorch): CUDA tensors get a clear error.
#include "kernels/adaln/adaln.h"
#include "runtime/errors.h"

namespace spo::kernels {
namespace {

[[noreturn]] void no_adaln_cuda(const char* op) {
  throw Unsupported(std::string(op) +
                    ": this build of spo-diffusion has no CUDA kernels; rebuild with nvcc and a CUDA libtorch");
}

}  // namespace

void adaln_modulate_forward_cuda(const AdalnModulateInputs&, at::Tensor&, at::Tensor&, at::Tensor&) {
  no_adaln_cuda("adaln_modulate");
}

void adaln_modulate_backward_cuda(const AdalnModulateInputs&, const at::Tensor&, const at::Tensor&,
                                  const at::Tensor&, AdalnModulateGrads&) {
  no_adaln_cuda("adaln_modulate backward");
}

void gated_residual_forward_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::Tensor&) {
  no_adaln_cuda("gated_residual");
}

void gated_residual_backward_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::Tensor&,
                                  at::Tensor&) {
  no_adaln_cuda("gated_residual backward");
}

}  // namespace spo::kernels
