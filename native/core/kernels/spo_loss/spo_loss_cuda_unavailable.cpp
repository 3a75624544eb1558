// Linked instead of the SPO loss CUDA launchers when this build has no CUDA
// kernels (no nvcc, or a CPU-only libtorch): CUDA tensors get a clear error.
#include "kernels/spo_loss/spo_loss.h"
#include "runtime/errors.h"

namespace spo::kernels {
namespace {

[[noreturn]] void no_cuda(const char* op) {
  throw Unsupported(std::string(op) +
                    ": this build of spo-diffusion has no CUDA kernels; rebuild with nvcc and a CUDA libtorch");
}

}  // namespace

void spo_loss_forward_cuda(const SpoLossBuffers&, at::Tensor&, at::Tensor&) { no_cuda("spo_loss"); }

void spo_loss_backward_cuda(const SpoLossBuffers&, const at::Tensor&, at::Tensor&) { no_cuda("spo_loss backward"); }

}  // namespace spo::kernels
