// The SPO loss as ordinary ATen ops, one line per formula of docs/method.md
// §1 and §3: the independent reference the fused kernel is tested against (its
// autograd gives the reference gradient), and dpo_loss_from_logps for
// transitions that do not share x_t. The DDIM mean is built from x0 and eps
// here, not from the fused path's linear coefficients.
#include <cmath>
#include <vector>

#include "kernels/spo_loss/spo_loss.h"

namespace spo::kernels {
namespace {

struct DpoTerms {
  at::Tensor loss;                // 0-d, differentiable through lp_w and lp_l
  at::Tensor ratio_w, ratio_l;    // clamped
  at::Tensor inside_w, inside_l;  // bool, detached
};

DpoTerms dpo_terms(const at::Tensor& lp_w, const at::Tensor& lp_l, const at::Tensor& ref_w, const at::Tensor& ref_l,
                   double beta, double clip_eps) {
  const double lo = 1.0 - clip_eps, hi = 1.0 + clip_eps;
  const auto raw_w = at::exp(lp_w - ref_w.detach());
  const auto raw_l = at::exp(lp_l - ref_l.detach());
  DpoTerms t;
  // at::clamp passes the gradient only inside [lo, hi]: the clamp stops it outside (no PPO min).
  t.ratio_w = at::clamp(raw_w, lo, hi);
  t.ratio_l = at::clamp(raw_l, lo, hi);
  t.inside_w = ((raw_w >= lo) & (raw_w <= hi)).detach();
  t.inside_l = ((raw_l >= lo) & (raw_l <= hi)).detach();
  t.loss = -at::log_sigmoid(beta * (at::log(t.ratio_w) - at::log(t.ratio_l))).mean();
  return t;
}

// Float64 stays float64; anything narrower computes in fp32 (SPEC: step math in fp32).
at::ScalarType math_dtype(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

}  // namespace

at::Tensor dpo_loss_from_logps(const at::Tensor& lp_w, const at::Tensor& lp_l, const at::Tensor& ref_w,
                               const at::Tensor& ref_l, double beta, double clip_eps) {
  check_dpo_loss_inputs(lp_w, lp_l, ref_w, ref_l, beta, clip_eps);
  const auto dt = math_dtype(lp_w);
  return dpo_terms(lp_w.to(dt), lp_l.to(dt), ref_w.to(dt), ref_l.to(dt), beta, clip_eps).loss;
}

SpoLossOutputs spo_loss_reference(const SpoLossInputs& in) {
  check_spo_loss_inputs(in);
  const auto dt = math_dtype(in.policy_output);
  const auto out = in.policy_output.to(dt);
  const auto ref_out = in.reference_output.detach().to(dt);
  const auto x = in.sample.detach().to(dt);
  const auto winner = in.winner.detach().to(dt), loser = in.loser.detach().to(dt);

  std::vector<int64_t> per_pair_shape(static_cast<size_t>(x.dim()), 1);
  per_pair_shape[0] = x.size(0);
  const auto per_pair = [&](const at::Tensor& v) { return v.to(x.device(), dt).view(per_pair_shape); };

  const auto a_t = in.alpha_t.to(at::kDouble), a_prev = in.alpha_prev.to(at::kDouble);
  const auto variance = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev);
  const auto std_dev = per_pair(in.eta * variance.clamp_min(0).sqrt());
  const auto dir = per_pair((1 - a_prev - in.eta * in.eta * variance.clamp_min(0)).clamp_min(0).sqrt());
  const auto sqrt_a = per_pair(a_t.sqrt()), sqrt_1ma = per_pair((1 - a_t).sqrt());
  const auto sqrt_a_prev = per_pair(a_prev.sqrt());

  // No x0 clipping in training.
  const auto mean_of = [&](const at::Tensor& model_out) {
    at::Tensor x0, eps;
    switch (in.prediction) {
      case PredictionType::Epsilon:
        eps = model_out;
        x0 = (x - sqrt_1ma * eps) / sqrt_a;
        break;
      case PredictionType::VPrediction:
        x0 = sqrt_a * x - sqrt_1ma * model_out;
        eps = sqrt_a * model_out + sqrt_1ma * x;
        break;
      case PredictionType::Sample:
        x0 = model_out;
        eps = (x - sqrt_a * x0) / sqrt_1ma;
        break;
    }
    return sqrt_a_prev * x0 + dir * eps;
  };

  std::vector<int64_t> element_dims;
  for (int64_t d = 1; d < x.dim(); ++d) element_dims.push_back(d);
  // logp is a MEAN over the pair's elements, not a sum.
  const auto logp = [&](const at::Tensor& x_prev, const at::Tensor& mean) {
    const auto per_element = -(x_prev - mean).pow(2) / (2 * std_dev.pow(2)) - std_dev.log() -
                             std::log(std::sqrt(2 * M_PI));
    return element_dims.empty() ? per_element : per_element.mean(element_dims);
  };

  const auto policy_mean = mean_of(out), ref_mean = mean_of(ref_out);
  const auto lp_w = logp(winner, policy_mean), lp_l = logp(loser, policy_mean);
  const auto ref_w = logp(winner, ref_mean), ref_l = logp(loser, ref_mean);
  const auto terms = dpo_terms(lp_w, lp_l, ref_w, ref_l, in.beta, in.clip_eps);

  const auto report = [](const at::Tensor& t) { return t.detach().to(at::kFloat); };
  SpoLossOutputs o;
  o.loss = terms.loss.to(at::kFloat);
  o.policy_logp_w = report(lp_w);
  o.policy_logp_l = report(lp_l);
  o.ref_logp_w = report(ref_w);
  o.ref_logp_l = report(ref_l);
  o.ratio_w = report(terms.ratio_w);
  o.ratio_l = report(terms.ratio_l);
  o.inside_w = terms.inside_w;
  o.inside_l = terms.inside_l;
  return o;
}

}  // namespace spo::kernels
