#include "kernels/ddim_step/ddim_step.h"

#include <sstream>

#include "runtime/errors.h"

namespace spo::kernels {

static_assert(sizeof(DdimCoefficients) == 7 * sizeof(float), "coefficient table layout");

namespace {

std::string shape_text(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

void check_same_shape(const at::Tensor& t, const at::Tensor& sample, const char* name) {
  require(t.defined(), std::string(name) + " is missing");
  require(t.sizes() == sample.sizes(), std::string(name) + " has shape " + shape_text(t) +
                                           " but the sample has shape " + shape_text(sample));
  require(t.device() == sample.device(), std::string(name) + " is on another device than the sample");
  require(at::isFloatingType(t.scalar_type()), std::string(name) + " must be a floating-point tensor");
}

at::Tensor as_fp32(const at::Tensor& t) { return t.to(at::kFloat).contiguous(); }

}  // namespace

void check_ddim_inputs(const DdimStepInputs& in) {
  require(in.sample.defined(), "sample is missing");
  require(in.sample.dim() >= 1 && in.sample.size(0) >= 1, "sample must have a batch dimension of at least 1");
  require(at::isFloatingType(in.sample.scalar_type()), "sample must be a floating-point tensor");
  check_same_shape(in.model_output, in.sample, "model output");
  const int64_t batch = in.sample.size(0);
  for (const auto* t : {&in.alpha_t, &in.alpha_prev}) {
    require(t->defined() && t->dim() == 1 && t->size(0) == batch,
            "per-sample alphas must have one value per sample (" + std::to_string(batch) + ")");
  }
  require(std::isfinite(in.eta) && in.eta >= 0.0, "eta must be a finite number >= 0");
  require(std::isfinite(in.clip_range), "clip range must be finite");
  if (in.noise) check_same_shape(*in.noise, in.sample, "noise");
  if (in.prev_sample) check_same_shape(*in.prev_sample, in.sample, "prev sample");
  require(!(in.noise && in.prev_sample), "give either noise or a prev sample, not both");
  require(in.eta == 0.0 || in.noise || in.prev_sample,
          "a stochastic step (eta > 0) needs noise or a prev sample");
}

at::Tensor ddim_coefficient_table(const at::Tensor& alpha_t, const at::Tensor& alpha_prev, double eta,
                                  at::Device device) {
  const int64_t batch = alpha_t.size(0);
  auto a_t = alpha_t.to(at::kDouble).cpu().contiguous();
  auto a_p = alpha_prev.to(at::kDouble).cpu().contiguous();
  auto table = at::empty({batch, 7}, at::kFloat);
  auto* rows = reinterpret_cast<DdimCoefficients*>(table.data_ptr<float>());
  for (int64_t b = 0; b < batch; ++b) {
    const double at_b = a_t.data_ptr<double>()[b], ap_b = a_p.data_ptr<double>()[b];
    require(at_b > 0.0 && at_b < 1.0 && ap_b > 0.0 && ap_b <= 1.0,
            "alpha_bar values must lie in (0, 1) for t and (0, 1] for prev_t");
    rows[b] = ddim_coefficients(at_b, ap_b, eta);
  }
  return table.to(device);
}

DdimStepOutputs ddim_step_fused(const DdimStepInputs& raw) {
  check_ddim_inputs(raw);
  DdimStepInputs in = raw;
  in.sample = as_fp32(raw.sample);
  in.model_output = as_fp32(raw.model_output);
  if (raw.noise) in.noise = as_fp32(*raw.noise);
  if (raw.prev_sample) in.prev_sample = as_fp32(*raw.prev_sample);
  const auto device = in.sample.device();
  const auto coeffs = ddim_coefficient_table(raw.alpha_t, raw.alpha_prev, raw.eta, device);

  DdimStepOutputs out;
  out.prev_sample = at::empty_like(in.sample);
  out.pred_original = at::empty_like(in.sample);
  out.mean = at::empty_like(in.sample);
  out.std = coeffs.select(1, 4).contiguous();
  out.log_prob = at::empty({in.sample.size(0)}, in.sample.options());
  if (device.is_cuda()) {
    ddim_step_cuda(coeffs, in, out);
  } else {
    require(device.is_cpu(), "the fused DDIM step runs on CPU or CUDA tensors only");
    ddim_step_cpu(coeffs, in, out);
  }
  return out;
}

}  // namespace spo::kernels
