// The fused SPO loss: input checks, per-pair coefficients, fp32 conversion,
// CPU/CUDA dispatch, and the autograd Function whose backward runs the fused
// element pass. Without a graph to build (no grad mode, or a policy output
// that does not require grad) the forward kernel is called directly.
#include "kernels/spo_loss/spo_loss.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <sstream>
#include <utility>

#include "runtime/errors.h"

namespace spo::kernels {

static_assert(sizeof(SpoPairCoefficients) == 4 * sizeof(float), "coefficient table layout");
static_assert(sizeof(SpoPairResult) == 11 * sizeof(float), "pair result table layout");

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kResultColumns = 11;
constexpr int64_t kGradColumn = 9;  // grad_w, grad_l

std::string dims_of(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << sizes;
  return os.str();
}

std::string number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool is_supported_float(at::ScalarType t) {
  return t == at::kFloat || t == at::kHalf || t == at::kBFloat16 || t == at::kDouble;
}

std::string dtype_name(const at::Tensor& t) { return c10::toString(t.scalar_type()); }

// A [N, ...] operand shaped, typed and placed like the policy output.
void check_like(const at::Tensor& t, const char* name, const at::Tensor& policy) {
  const std::string what = std::string("spo_loss: ") + name;
  require(t.defined(), what + " is missing");
  require(t.sizes() == policy.sizes(),
          what + " must have the policy output's shape " + dims_of(policy.sizes()) + ", got " + dims_of(t.sizes()));
  require(is_supported_float(t.scalar_type()),
          what + " must be float32, float16, bfloat16 or float64, got " + dtype_name(t));
  require(t.device() == policy.device(),
          what + " is on " + t.device().str() + " but the policy output is on " + policy.device().str());
}

void check_alpha_shape(const at::Tensor& t, const char* name, int64_t pairs) {
  const std::string what = std::string("spo_loss: ") + name;
  require(t.defined(), what + " is missing");
  require(t.dim() == 1 && t.size(0) == pairs,
          what + " must be [N] = [" + std::to_string(pairs) + "], got " + dims_of(t.sizes()));
  require(at::isFloatingType(t.scalar_type()), what + " must be a floating-point tensor, got " + dtype_name(t));
}

void check_loss_scalars(const std::string& op, double beta, double clip_eps) {
  require(std::isfinite(beta) && beta > 0.0, op + ": beta must be finite and > 0, got " + number(beta));
  require(std::isfinite(clip_eps) && clip_eps > 0.0 && clip_eps < 1.0,
          op + ": clip_eps must lie in (0, 1), got " + number(clip_eps));
}

at::Tensor host_doubles(const at::Tensor& t) { return t.detach().to(at::kCPU, at::kDouble).contiguous(); }

// Every pair's step must be stochastic (std > 0): logp has no density otherwise.
void check_alpha_values(const at::Tensor& alpha_t, const at::Tensor& alpha_prev, double eta) {
  const auto a_t = host_doubles(alpha_t), a_p = host_doubles(alpha_prev);
  const double* at_v = a_t.data_ptr<double>();
  const double* ap_v = a_p.data_ptr<double>();
  for (int64_t i = 0; i < a_t.size(0); ++i) {
    const std::string pair = "spo_loss: pair " + std::to_string(i) + ": ";
    require(at_v[i] > 0.0 && at_v[i] < 1.0, pair + "alpha_t must lie in (0, 1), got " + number(at_v[i]));
    require(ap_v[i] > 0.0 && ap_v[i] <= 1.0, pair + "alpha_prev must lie in (0, 1], got " + number(ap_v[i]));
    const DdimCoefficients c = ddim_coefficients(at_v[i], ap_v[i], eta);
    require(c.std > 0.0f && std::isfinite(c.inv_two_var) && std::isfinite(c.log_norm),
            pair + "the step from alpha_t " + number(at_v[i]) + " to alpha_prev " + number(ap_v[i]) +
                " has std 0 (alpha_prev must exceed alpha_t, and 1 is excluded): a deterministic step has no density");
  }
}

at::Tensor flat_fp32(const at::Tensor& t, int64_t pairs) {
  return t.detach().to(at::kFloat).contiguous().view({pairs, -1});
}

// The backward needs no reference output and no loss scalars.
SpoLossBuffers make_buffers(const at::Tensor& policy, const at::Tensor& reference, const at::Tensor& sample,
                            const at::Tensor& winner, const at::Tensor& loser, const at::Tensor& coeffs,
                            double beta = 0.0, double clip_eps = 0.0) {
  const int64_t pairs = policy.size(0);
  SpoLossBuffers b;
  b.policy = flat_fp32(policy, pairs);
  if (reference.defined()) b.reference = flat_fp32(reference, pairs);
  b.sample = flat_fp32(sample, pairs);
  b.winner = flat_fp32(winner, pairs);
  b.loser = flat_fp32(loser, pairs);
  b.coeffs = coeffs;
  b.params = {pairs, b.policy.size(1), beta, 1.0 - clip_eps, 1.0 + clip_eps};
  return b;
}

struct ForwardResult {
  at::Tensor loss;          // 0-d fp32
  at::Tensor pair_results;  // [N, 11] fp32
};

ForwardResult run_forward(const SpoLossBuffers& b) {
  const auto opts = b.policy.options();
  ForwardResult r{at::empty({}, opts), at::empty({b.params.pairs, kResultColumns}, opts)};
  if (b.policy.is_cuda()) spo_loss_forward_cuda(b, r.pair_results, r.loss);
  else spo_loss_forward_cpu(b, r.pair_results, r.loss);
  return r;
}

SpoLossOutputs outputs_of(const at::Tensor& loss, const at::Tensor& results) {
  const auto column = [&](int64_t k) { return results.select(1, k).contiguous().detach(); };
  SpoLossOutputs o;
  o.loss = loss;
  o.policy_logp_w = column(0);
  o.policy_logp_l = column(1);
  o.ref_logp_w = column(2);
  o.ref_logp_l = column(3);
  o.ratio_w = column(4);
  o.ratio_l = column(5);
  o.inside_w = column(6).to(at::kBool);
  o.inside_l = column(7).to(at::kBool);
  return o;
}

// Inputs: policy output (differentiable), then data. Outputs: loss and the
// per-pair table (not differentiable).
class SpoLossFunction : public torch::autograd::Function<SpoLossFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& policy, const at::Tensor& reference,
                               const at::Tensor& sample, const at::Tensor& winner, const at::Tensor& loser,
                               const at::Tensor& coeffs, double beta, double clip_eps) {
    const auto r = run_forward(make_buffers(policy, reference, sample, winner, loser, coeffs, beta, clip_eps));
    // The original inputs (not fp32 copies) keep half-precision memory small;
    // the backward needs only the two per-pair gradient factors of the table.
    const auto factors = r.pair_results.slice(1, kGradColumn, kGradColumn + 2).clone();
    ctx->save_for_backward({policy, sample, winner, loser, coeffs, factors});
    ctx->mark_non_differentiable({r.pair_results});
    return {r.loss, r.pair_results};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto& policy = saved[0];
    const auto b = make_buffers(policy, at::Tensor(), saved[1], saved[2], saved[3], saved[4]);
    const auto pair_grads = (saved[5] * grad_out[0].to(at::kFloat)).contiguous();
    auto grad = at::empty_like(b.policy);
    if (grad.is_cuda()) spo_loss_backward_cuda(b, pair_grads, grad);
    else spo_loss_backward_cpu(b, pair_grads, grad);
    return {grad.view(policy.sizes()).to(policy.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

void check_spo_loss_inputs(const SpoLossInputs& in) {
  const auto& p = in.policy_output;
  require(p.defined(), "spo_loss: policy_output is missing");
  require(p.dim() >= 1 && p.size(0) >= 1,
          "spo_loss: needs at least one pair: policy_output must be [N, ...] with N >= 1, got " + dims_of(p.sizes()));
  require(p.numel() > 0, "spo_loss: every pair needs at least one element, got shape " + dims_of(p.sizes()));
  require(p.is_cpu() || p.is_cuda(), "spo_loss: runs on CPU or CUDA tensors only, got " + p.device().str());
  check_like(p, "policy_output", p);
  check_like(in.reference_output, "reference_output", p);
  check_like(in.sample, "sample (x_t)", p);
  check_like(in.winner, "winner (x_prev^w)", p);
  check_like(in.loser, "loser (x_prev^l)", p);
  check_alpha_shape(in.alpha_t, "alpha_t", p.size(0));
  check_alpha_shape(in.alpha_prev, "alpha_prev", p.size(0));
  require(std::isfinite(in.eta) && in.eta > 0.0,
          "spo_loss: eta must be finite and > 0 (a deterministic step has no density), got " + number(in.eta));
  const auto pred = static_cast<int32_t>(in.prediction);
  require(pred >= 0 && pred <= static_cast<int32_t>(PredictionType::Sample),
          "spo_loss: unknown prediction type " + std::to_string(pred));
  check_loss_scalars("spo_loss", in.beta, in.clip_eps);
  check_alpha_values(in.alpha_t, in.alpha_prev, in.eta);
}

void check_dpo_loss_inputs(const at::Tensor& lp_w, const at::Tensor& lp_l, const at::Tensor& ref_w,
                           const at::Tensor& ref_l, double beta, double clip_eps) {
  const std::string op = "dpo_loss_from_logps";
  require(lp_w.defined(), op + ": lp_w is missing");
  require(lp_w.dim() == 1 && lp_w.size(0) >= 1, op + ": lp_w must be [N] with N >= 1, got " + dims_of(lp_w.sizes()));
  const std::pair<const at::Tensor*, const char*> all[] = {{&lp_w, "lp_w"}, {&lp_l, "lp_l"}, {&ref_w, "ref_w"},
                                                           {&ref_l, "ref_l"}};
  for (const auto& [t, name] : all) {
    const std::string what = op + ": " + name;
    require(t->defined(), what + " is missing");
    require(t->sizes() == lp_w.sizes(), what + " must be " + dims_of(lp_w.sizes()) + ", got " + dims_of(t->sizes()));
    require(at::isFloatingType(t->scalar_type()), what + " must be a floating-point tensor, got " + dtype_name(*t));
    require(t->device() == lp_w.device(), what + " is on " + t->device().str() + " but lp_w is on " +
                                              lp_w.device().str());
  }
  check_loss_scalars(op, beta, clip_eps);
}

at::Tensor spo_pair_coefficient_table(const at::Tensor& alpha_t, const at::Tensor& alpha_prev, double eta,
                                      PredictionType prediction, at::Device device) {
  const auto a_t = host_doubles(alpha_t), a_p = host_doubles(alpha_prev);
  const int64_t pairs = a_t.size(0);
  auto table = at::empty({pairs, 4}, at::kFloat);
  auto* rows = reinterpret_cast<SpoPairCoefficients*>(table.data_ptr<float>());
  for (int64_t i = 0; i < pairs; ++i)
    rows[i] = spo_pair_coefficients(a_t.data_ptr<double>()[i], a_p.data_ptr<double>()[i], eta, prediction);
  return table.to(device);
}

SpoLossOutputs spo_loss(const SpoLossInputs& in) {
  check_spo_loss_inputs(in);
  const auto& p = in.policy_output;
  const auto coeffs = spo_pair_coefficient_table(in.alpha_t, in.alpha_prev, in.eta, in.prediction, p.device());
  // The data inputs never get a gradient: detached, they add no graph edges.
  const auto ref = in.reference_output.detach(), x = in.sample.detach();
  const auto w = in.winner.detach(), l = in.loser.detach();
  if (!at::GradMode::is_enabled() || !p.requires_grad()) {
    const auto r = run_forward(make_buffers(p, ref, x, w, l, coeffs, in.beta, in.clip_eps));
    return outputs_of(r.loss, r.pair_results);
  }
  const auto outs = SpoLossFunction::apply(p, ref, x, w, l, coeffs, in.beta, in.clip_eps);
  return outputs_of(outs[0], outs[1]);
}

}  // namespace spo::kernels
