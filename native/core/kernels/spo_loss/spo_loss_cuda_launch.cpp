// ATen side of the SPO loss CUDA path: device guard, stream and pointers; the
// kernels live in spo_loss_cuda.cu. Compiled only when the CUDA kernels are built.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>

#include "kernels/spo_loss/spo_loss.h"
#include "kernels/spo_loss/spo_loss_cuda.h"
#include "runtime/errors.h"

namespace spo::kernels {
namespace {

void check_spo_loss_launch(int err, const char* what) {
  if (err != 0)
    throw Error(ErrorCode::Internal, std::string("CUDA launch of ") + what + " failed (cudaError " +
                                         std::to_string(err) + ")");
}

void* spo_loss_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

const SpoPairCoefficients* coefficients(const SpoLossBuffers& in) {
  return reinterpret_cast<const SpoPairCoefficients*>(in.coeffs.data_ptr<float>());
}

}  // namespace

void spo_loss_forward_cuda(const SpoLossBuffers& in, at::Tensor& pair_results, at::Tensor& loss) {
  const c10::cuda::CUDAGuard guard(in.policy.device());
  // One block per pair in gridDim.x.
  require(in.params.pairs <= std::numeric_limits<int32_t>::max(), "spo_loss: too many pairs for one CUDA launch");
  SpoForwardArgs a{};
  a.params = in.params;
  a.coeffs = coefficients(in);
  a.sample = in.sample.data_ptr<float>();
  a.policy = in.policy.data_ptr<float>();
  a.reference = in.reference.data_ptr<float>();
  a.winner = in.winner.data_ptr<float>();
  a.loser = in.loser.data_ptr<float>();
  a.results = reinterpret_cast<SpoPairResult*>(pair_results.data_ptr<float>());
  a.loss = loss.data_ptr<float>();
  check_spo_loss_launch(launch_spo_loss_forward_cuda(a, spo_loss_stream()), "spo_loss");
}

void spo_loss_backward_cuda(const SpoLossBuffers& in, const at::Tensor& pair_grads, at::Tensor& grad) {
  const c10::cuda::CUDAGuard guard(in.policy.device());
  SpoBackwardArgs a{};
  a.pairs = in.params.pairs;
  a.elements = in.params.elements;
  a.coeffs = coefficients(in);
  a.sample = in.sample.data_ptr<float>();
  a.policy = in.policy.data_ptr<float>();
  a.winner = in.winner.data_ptr<float>();
  a.loser = in.loser.data_ptr<float>();
  a.pair_grads = pair_grads.data_ptr<float>();
  a.grad = grad.data_ptr<float>();
  check_spo_loss_launch(launch_spo_loss_backward_cuda(a, spo_loss_stream()), "spo_loss backward");
}

}  // namespace spo::kernels
