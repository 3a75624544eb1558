// ATen side of the adaLN CUDA path: device guard, stream, scratch buffers and
// pointers; the kernels live in adaln_cuda.cu. Compiled only when the CUDA
// kernels are built.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>

#include "kernels/adaln/adaln.h"
#include "kernels/adaln/adaln_cuda.h"
#include "runtime/errors.h"

namespace spo::kernels {
namespace {

AdalnShape shape_of(const at::Tensor& t) { return {t.size(0), t.size(1), t.size(2)}; }

// Grid limits: rows and row chunks go in gridDim.x, column tiles of 32 in gridDim.y.
void check_grid(const AdalnShape& s, const char* op) {
  require(s.batch * s.tokens <= std::numeric_limits<int32_t>::max(),
          std::string(op) + ": too many rows (B * N) for one CUDA launch");
  require((s.dim + 31) / 32 <= 65535, std::string(op) + ": D is too large for the CUDA kernels");
}

void check_launch(int err, const char* what) {
  if (err != 0)
    throw Error(ErrorCode::Internal, std::string("CUDA launch of ") + what + " failed (cudaError " +
                                         std::to_string(err) + ")");
}

void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

}  // namespace

void adaln_modulate_forward_cuda(const AdalnModulateInputs& in, at::Tensor& y, at::Tensor& mean, at::Tensor& rstd) {
  const c10::cuda::CUDAGuard guard(in.x.device());
  AdalnForwardArgs a{};
  a.shape = shape_of(in.x);
  check_grid(a.shape, "adaln_modulate");
  a.x = in.x.data_ptr<float>();
  a.weight = in.weight.data_ptr<float>();
  a.bias = in.bias.data_ptr<float>();
  a.shift = in.shift.data_ptr<float>();
  a.scale = in.scale.data_ptr<float>();
  a.y = y.data_ptr<float>();
  a.mean = mean.data_ptr<float>();
  a.rstd = rstd.data_ptr<float>();
  a.eps = in.eps;
  check_launch(launch_adaln_forward_cuda(a, current_stream()), "adaln_modulate");
}

void adaln_modulate_backward_cuda(const AdalnModulateInputs& in, const at::Tensor& mean, const at::Tensor& rstd,
                                  const at::Tensor& dy, AdalnModulateGrads& grads) {
  const c10::cuda::CUDAGuard guard(in.x.device());
  AdalnBackwardArgs a{};
  a.shape = shape_of(in.x);
  check_grid(a.shape, "adaln_modulate backward");
  auto partials = at::empty({a.shape.batch * adaln_row_chunks(a.shape.tokens), 4, a.shape.dim}, in.x.options());
  a.x = in.x.data_ptr<float>();
  a.weight = in.weight.data_ptr<float>();
  a.bias = in.bias.data_ptr<float>();
  a.scale = in.scale.data_ptr<float>();
  a.mean = mean.data_ptr<float>();
  a.rstd = rstd.data_ptr<float>();
  a.dy = dy.data_ptr<float>();
  a.dx = grads.x.data_ptr<float>();
  a.partials = partials.data_ptr<float>();
  a.d_weight = grads.weight.data_ptr<float>();
  a.d_bias = grads.bias.data_ptr<float>();
  a.d_shift = grads.shift.data_ptr<float>();
  a.d_scale = grads.scale.data_ptr<float>();
  check_launch(launch_adaln_backward_cuda(a, current_stream()), "adaln_modulate backward");
}

void gated_residual_forward_cuda(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate,
                                 at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(residual.device());
  GatedResidualArgs a{};
  a.shape = shape_of(residual);
  a.residual = residual.data_ptr<float>();
  a.y = y.data_ptr<float>();
  a.gate = gate.data_ptr<float>();
  a.out = out.data_ptr<float>();
  check_launch(launch_gated_residual_forward_cuda(a, current_stream()), "gated_residual");
}

void gated_residual_backward_cuda(const at::Tensor& dout, const at::Tensor& y, const at::Tensor& gate,
                                  at::Tensor& d_y, at::Tensor& d_gate) {
  const c10::cuda::CUDAGuard guard(y.device());
  GatedResidualBackwardArgs a{};
  a.shape = shape_of(y);
  check_grid(a.shape, "gated_residual backward");
  auto partials = at::empty({a.shape.batch * adaln_row_chunks(a.shape.tokens), a.shape.dim}, y.options());
  a.dout = dout.data_ptr<float>();
  a.y = y.data_ptr<float>();
  a.gate = gate.data_ptr<float>();
  a.d_y = d_y.data_ptr<float>();
  a.partials = partials.data_ptr<float>();
  a.d_gate = d_gate.data_ptr<float>();
  check_launch(launch_gated_residual_backward_cuda(a, current_stream()), "gated_residual backward");
}

}  // namespace spo::kernels
