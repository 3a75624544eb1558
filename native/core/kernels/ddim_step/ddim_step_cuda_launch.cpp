// ATen side of the CUDA path: device guard, stream, pointers; the grid itself
// lives in ddim_step_cuda.cu. Compiled only when the CUDA kernels are built.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/ddim_step/ddim_step.h"
#include "kernels/ddim_step/ddim_step_cuda.h"
#include "runtime/errors.h"

namespace spo::kernels {

bool cuda_kernels_compiled() { return true; }

void ddim_step_cuda(const at::Tensor& coeffs, const DdimStepInputs& in, DdimStepOutputs& out) {
  const int64_t batch = in.sample.size(0);
  require(batch <= 65535, "the CUDA DDIM step takes at most 65535 samples per call");
  const c10::cuda::CUDAGuard guard(in.sample.device());
  auto sums = at::zeros({batch}, in.sample.options().dtype(at::kDouble));
  DdimLaunchArgs a{};
  a.coeffs = reinterpret_cast<const DdimCoefficients*>(coeffs.data_ptr<float>());
  a.sample = in.sample.data_ptr<float>();
  a.model_output = in.model_output.data_ptr<float>();
  a.noise = in.noise ? in.noise->data_ptr<float>() : nullptr;
  a.prev_given = in.prev_sample ? in.prev_sample->data_ptr<float>() : nullptr;
  a.prev_out = out.prev_sample.data_ptr<float>();
  a.x0_out = out.pred_original.data_ptr<float>();
  a.mean_out = out.mean.data_ptr<float>();
  a.log_prob_sum = sums.data_ptr<double>();
  a.batch = batch;
  a.elements_per_sample = in.sample.numel() / batch;
  a.prediction = in.prediction;
  a.clip_range = in.clip_range;
  a.use_clipped_model_output = in.use_clipped_model_output;
  const int err = launch_ddim_step_cuda(a, c10::cuda::getCurrentCUDAStream().stream());
  if (err != 0) throw Error(ErrorCode::Internal, "CUDA launch of the DDIM step failed (cudaError " + std::to_string(err) + ")");
  const auto log_norm = coeffs.select(1, 6);
  out.log_prob.copy_((sums / static_cast<double>(a.elements_per_sample)).to(at::kFloat) + log_norm);
}

}  // namespace spo::kernels
