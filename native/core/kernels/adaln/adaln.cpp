// adaLN modulate and the gated residual: input checks, fp32 conversion,
// CPU/CUDA dispatch, and the autograd Functions whose backward runs the fused
// backward kernels. Without a graph to build (no grad mode, or no input that
// requires grad) the forward kernel is called directly.
#include "kernels/adaln/adaln.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <initializer_list>
#include <sstream>

#include "runtime/errors.h"

namespace spo::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::string dims(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << sizes;
  return os.str();
}

bool supported_dtype(at::ScalarType t) {
  return t == at::kFloat || t == at::kHalf || t == at::kBFloat16 || t == at::kDouble;
}

// Defined, of shape `want` (named by `layout`, e.g. "[B, D]"), a float dtype, on `device`.
void check_operand(const at::Tensor& t, const std::string& op, const char* name, const char* layout,
                   at::IntArrayRef want, at::Device device) {
  const std::string what = op + ": " + name;
  require(t.defined(), what + " is missing");
  require(t.sizes() == want, what + " must be " + layout + " = " + dims(want) + ", got " + dims(t.sizes()));
  require(supported_dtype(t.scalar_type()), what + " must be float32, float16, bfloat16 or float64, got " +
                                                std::string(c10::toString(t.scalar_type())));
  require(t.device() == device, what + " is on " + t.device().str() + " but the input is on " + device.str());
}

// x-like [B, N, D] operand that fixes B, N, D for the others.
void check_rows(const at::Tensor& t, const std::string& op, const char* name) {
  require(t.defined(), op + ": " + name + " is missing");
  require(t.dim() == 3, op + ": " + name + " must be [B, N, D], got " + dims(t.sizes()));
  require(t.size(2) >= 1, op + ": " + name + " must have D >= 1");
  require(t.is_cpu() || t.is_cuda(), op + ": runs on CPU or CUDA tensors only, got " + t.device().str());
  check_operand(t, op, name, "[B, N, D]", t.sizes(), t.device());
}

at::Tensor fp32(const at::Tensor& t) { return t.to(at::kFloat).contiguous(); }

// A graph is needed only when autograd is on and some input requires grad.
bool needs_graph(std::initializer_list<at::Tensor> inputs) {
  if (!at::GradMode::is_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

// fp32 contiguous buffers; a missing affine weight/bias becomes ones/zeros, a
// missing shift (not needed by the backward) stays undefined.
AdalnModulateInputs modulate_buffers(const at::Tensor& x, const at::Tensor& ln_weight, const at::Tensor& ln_bias,
                                     const at::Tensor& shift, const at::Tensor& scale, double eps) {
  AdalnModulateInputs in;
  in.x = fp32(x);
  const auto dim = x.size(2);
  in.weight = ln_weight.defined() ? fp32(ln_weight) : at::ones({dim}, in.x.options());
  in.bias = ln_bias.defined() ? fp32(ln_bias) : at::zeros({dim}, in.x.options());
  if (shift.defined()) in.shift = fp32(shift);
  in.scale = fp32(scale);
  in.eps = static_cast<float>(eps);
  return in;
}

struct ModulateResult {
  at::Tensor y, mean, rstd;  // fp32
};

ModulateResult modulate_forward(const AdalnModulateInputs& in) {
  const int64_t rows = in.x.size(0) * in.x.size(1);
  ModulateResult r{at::empty_like(in.x), at::empty({rows}, in.x.options()), at::empty({rows}, in.x.options())};
  if (in.x.is_cuda()) adaln_modulate_forward_cuda(in, r.y, r.mean, r.rstd);
  else adaln_modulate_forward_cpu(in, r.y, r.mean, r.rstd);
  return r;
}

at::Tensor gated_forward(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate) {
  const auto r = fp32(residual), yv = fp32(y), g = fp32(gate);
  auto out = at::empty_like(r);
  if (r.is_cuda()) gated_residual_forward_cuda(r, yv, g, out);
  else gated_residual_forward_cpu(r, yv, g, out);
  return out;
}

// Gradients go back in each input's own dtype; -1 marks an absent input.
int64_t dtype_code(const at::Tensor& t) { return t.defined() ? static_cast<int64_t>(t.scalar_type()) : -1; }

at::Tensor grad_as(const at::Tensor& grad, int64_t code) {
  return code < 0 ? at::Tensor() : grad.to(static_cast<at::ScalarType>(code));
}

class AdalnModulateFunction : public torch::autograd::Function<AdalnModulateFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& ln_weight,
                            const at::Tensor& ln_bias, const at::Tensor& shift, const at::Tensor& scale,
                            double eps) {
    const auto in = modulate_buffers(x, ln_weight, ln_bias, shift, scale, eps);
    auto r = modulate_forward(in);
    // The original inputs (not their fp32 copies) keep half-precision memory small.
    ctx->save_for_backward({x, ln_weight, ln_bias, scale, r.mean, r.rstd});
    ctx->saved_data["dtypes"] = std::vector<int64_t>{dtype_code(x), dtype_code(ln_weight), dtype_code(ln_bias),
                                                     dtype_code(shift), dtype_code(scale)};
    return r.y.to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto dtypes = ctx->saved_data["dtypes"].toIntVector();
    const auto in = modulate_buffers(saved[0], saved[1], saved[2], at::Tensor(), saved[3], 0.0);
    const auto dy = fp32(grad_out[0]);
    AdalnModulateGrads g{at::empty_like(in.x), at::empty_like(in.weight), at::empty_like(in.bias),
                         at::empty_like(in.scale), at::empty_like(in.scale)};
    if (in.x.is_cuda()) adaln_modulate_backward_cuda(in, saved[4], saved[5], dy, g);
    else adaln_modulate_backward_cpu(in, saved[4], saved[5], dy, g);
    return {grad_as(g.x, dtypes[0]),     grad_as(g.weight, dtypes[1]), grad_as(g.bias, dtypes[2]),
            grad_as(g.shift, dtypes[3]), grad_as(g.scale, dtypes[4]),  at::Tensor()};
  }
};

class GatedResidualFunction : public torch::autograd::Function<GatedResidualFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& residual, const at::Tensor& y,
                            const at::Tensor& gate) {
    ctx->save_for_backward({y, gate});
    ctx->saved_data["dtypes"] = std::vector<int64_t>{dtype_code(residual), dtype_code(y), dtype_code(gate)};
    return gated_forward(residual, y, gate).to(residual.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto dtypes = ctx->saved_data["dtypes"].toIntVector();
    const auto y = fp32(saved[0]), gate = fp32(saved[1]), dout = fp32(grad_out[0]);
    auto d_y = at::empty_like(y), d_gate = at::empty_like(gate);
    if (y.is_cuda()) gated_residual_backward_cuda(dout, y, gate, d_y, d_gate);
    else gated_residual_backward_cpu(dout, y, gate, d_y, d_gate);
    return {grad_as(grad_out[0], dtypes[0]), grad_as(d_y, dtypes[1]), grad_as(d_gate, dtypes[2])};
  }
};

}  // namespace

void check_adaln_modulate_inputs(const at::Tensor& x, const at::Tensor& ln_weight, const at::Tensor& ln_bias,
                                 const at::Tensor& shift, const at::Tensor& scale, double eps) {
  const std::string op = "adaln_modulate";
  check_rows(x, op, "x");
  const int64_t batch = x.size(0), dim = x.size(2);
  if (ln_weight.defined()) check_operand(ln_weight, op, "ln_weight", "[D]", {dim}, x.device());
  if (ln_bias.defined()) check_operand(ln_bias, op, "ln_bias", "[D]", {dim}, x.device());
  check_operand(shift, op, "shift", "[B, D]", {batch, dim}, x.device());
  check_operand(scale, op, "scale", "[B, D]", {batch, dim}, x.device());
  require(std::isfinite(eps) && eps >= 0.0, op + ": eps must be finite and >= 0, got " + std::to_string(eps));
}

void check_gated_residual_inputs(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate) {
  const std::string op = "gated_residual";
  check_rows(residual, op, "residual");
  check_operand(y, op, "y", "[B, N, D]", residual.sizes(), residual.device());
  check_operand(gate, op, "gate", "[B, D]", {residual.size(0), residual.size(2)}, residual.device());
}

at::Tensor adaln_modulate(const at::Tensor& x, const at::Tensor& ln_weight, const at::Tensor& ln_bias,
                          const at::Tensor& shift, const at::Tensor& scale, double eps) {
  check_adaln_modulate_inputs(x, ln_weight, ln_bias, shift, scale, eps);
  if (x.scalar_type() == at::kDouble) return adaln_modulate_reference(x, ln_weight, ln_bias, shift, scale, eps);
  if (!needs_graph({x, ln_weight, ln_bias, shift, scale}))
    return modulate_forward(modulate_buffers(x, ln_weight, ln_bias, shift, scale, eps)).y.to(x.scalar_type());
  // Custom autograd Functions take no undefined tensors: a missing affine
  // weight/bias goes in as constant ones/zeros that need no gradient.
  const auto opts = x.options().dtype(at::kFloat);
  const auto w = ln_weight.defined() ? ln_weight : at::ones({x.size(2)}, opts);
  const auto b = ln_bias.defined() ? ln_bias : at::zeros({x.size(2)}, opts);
  return AdalnModulateFunction::apply(x, w, b, shift, scale, eps);
}

at::Tensor gated_residual(const at::Tensor& residual, const at::Tensor& y, const at::Tensor& gate) {
  check_gated_residual_inputs(residual, y, gate);
  if (residual.scalar_type() == at::kDouble) return gated_residual_reference(residual, y, gate);
  if (!needs_graph({residual, y, gate})) return gated_forward(residual, y, gate).to(residual.scalar_type());
  return GatedResidualFunction::apply(residual, y, gate);
}

}  // namespace spo::kernels
