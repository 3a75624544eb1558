// The SPO update (docs/method.md §3) for one pair, written once for the CPU
// loops and the CUDA kernels. Winner and loser share x_t, t and the prompt, so
// one policy output and one reference output give all four log-probs:
//   mean    = a * x_t + b * out            (the DDIM mean is linear in `out`)
//   logp(y) = MEAN over elements of -(y - mean)^2 / (2 std^2) + log_norm
//   r       = clamp(exp(lp - ref), 1 - eps, 1 + eps)
//   loss_i  = -log sigmoid(beta * (log r_w - log r_l))
// Backward (w.r.t. the policy output only), per element of pair i:
//   dL/dout = grad_w * (x_prev^w - mean) + grad_l * (x_prev^l - mean)
// with grad_w = (1/N) * g * inside_w * 2 * inv_two_var * b / M (d lp_w / d out
// over (x_prev^w - mean)), grad_l likewise with -inside_l, and
// g = d loss_i / dz = -beta * sigmoid(-z), z = beta * (log r_w - log r_l).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/ddim_step/ddim_step_math.h"  // SPO_HOST_DEVICE, PredictionType, ddim_coefficients

namespace spo::kernels {

// Per pair: the mean's coefficients and the Gaussian's constants.
struct SpoPairCoefficients {
  float a;            // coefficient of x_t in the mean
  float b;            // coefficient of the model output in the mean
  float inv_two_var;  // 1 / (2 std^2)
  float log_norm;     // -log(std) - log(sqrt(2 pi))
};

// Host only: (a, b) from the DDIM step of docs/method.md §1 rewritten as
// mean = sqrt(a_prev) * x0 + dir * eps with x0 and eps both linear in (x_t, out).
// x0 is never clipped in training (clipping would break the linearity and is
// off in the SD schedules anyway).
inline SpoPairCoefficients spo_pair_coefficients(double a_t, double a_prev, double eta, PredictionType pred) {
  const DdimCoefficients c = ddim_coefficients(a_t, a_prev, eta);
  const double sa = std::sqrt(a_t), s1 = std::sqrt(1.0 - a_t), sp = std::sqrt(a_prev);
  const double dir = c.direction;
  double a = 0.0, b = 0.0;
  switch (pred) {
    case PredictionType::Epsilon:  // x0 = (x - s1 eps) / sa
      a = sp / sa;
      b = dir - sp * s1 / sa;
      break;
    case PredictionType::VPrediction:  // x0 = sa x - s1 v, eps = sa v + s1 x
      a = sp * sa + dir * s1;
      b = dir * sa - sp * s1;
      break;
    case PredictionType::Sample:  // x0 = out, eps = (x - sa x0) / s1
      a = dir / s1;
      b = sp - dir * sa / s1;
      break;
  }
  return {static_cast<float>(a), static_cast<float>(b), c.inv_two_var, c.log_norm};
}

SPO_HOST_DEVICE float spo_mean(const SpoPairCoefficients& c, float x, float out) { return c.a * x + c.b * out; }

SPO_HOST_DEVICE float spo_squared_residual(float target, float mean) {
  const float d = target - mean;
  return d * d;
}

// The four sums of squared residuals of one pair (policy/reference x winner/loser).
struct SpoPairSums {
  double policy_w, policy_l, ref_w, ref_l;
};

struct SpoLossParams {
  int64_t pairs;     // N
  int64_t elements;  // M, elements per pair
  double beta;
  double ratio_lo;  // 1 - clip_eps
  double ratio_hi;  // 1 + clip_eps
};

// Everything the forward reports per pair, and the backward's two scalars.
// Stored as a float table [N, 11] (same field order).
struct SpoPairResult {
  float policy_logp_w, policy_logp_l, ref_logp_w, ref_logp_l;
  float ratio_w, ratio_l;    // clamped
  float inside_w, inside_l;  // 1 where the ratio was not clamped, else 0
  float loss;                // -log sigmoid(z), this pair's term before the mean
  float grad_w, grad_l;      // d loss / d (x_prev - mean) factors, see the top
};

SPO_HOST_DEVICE double spo_logp(const SpoPairCoefficients& c, double squared_sum, int64_t elements) {
  return -squared_sum * c.inv_two_var / static_cast<double>(elements) + c.log_norm;
}

// -log sigmoid(z) = log(1 + exp(-z)), and sigmoid(-z), without overflow.
SPO_HOST_DEVICE double spo_softplus_neg(double z) {
  return z >= 0.0 ? ::log1p(::exp(-z)) : -z + ::log1p(::exp(z));
}

SPO_HOST_DEVICE double spo_sigmoid_neg(double z) {
  if (z >= 0.0) {
    const double e = ::exp(-z);
    return e / (1.0 + e);
  }
  return 1.0 / (1.0 + ::exp(z));
}

struct SpoClampedRatio {
  double ratio;  // clamped
  bool inside;   // the clamp did not bite: gradient flows (bounds inclusive, as at::clamp)
};

// log r - log ref is taken from the residual sums directly: the log_norm
// constants cancel and the small difference keeps double precision.
SPO_HOST_DEVICE SpoClampedRatio spo_clamped_ratio(const SpoPairCoefficients& c, double policy_sum, double ref_sum,
                                                  const SpoLossParams& p) {
  const double raw = ::exp(-(policy_sum - ref_sum) * c.inv_two_var / static_cast<double>(p.elements));
  const bool inside = raw >= p.ratio_lo && raw <= p.ratio_hi;
  return {raw < p.ratio_lo ? p.ratio_lo : (raw > p.ratio_hi ? p.ratio_hi : raw), inside};
}

SPO_HOST_DEVICE SpoPairResult spo_pair_result(const SpoPairCoefficients& c, const SpoPairSums& s,
                                              const SpoLossParams& p) {
  const SpoClampedRatio rw = spo_clamped_ratio(c, s.policy_w, s.ref_w, p);
  const SpoClampedRatio rl = spo_clamped_ratio(c, s.policy_l, s.ref_l, p);
  const double z = p.beta * (::log(rw.ratio) - ::log(rl.ratio));
  const double g = -p.beta * spo_sigmoid_neg(z);
  // dlp/dout = 2 * inv_two_var * (x_prev - mean) * b / M; the 1/N is the mean over pairs.
  const double common = g * 2.0 * c.inv_two_var * c.b / static_cast<double>(p.elements) /
                        static_cast<double>(p.pairs);
  SpoPairResult r;
  r.policy_logp_w = static_cast<float>(spo_logp(c, s.policy_w, p.elements));
  r.policy_logp_l = static_cast<float>(spo_logp(c, s.policy_l, p.elements));
  r.ref_logp_w = static_cast<float>(spo_logp(c, s.ref_w, p.elements));
  r.ref_logp_l = static_cast<float>(spo_logp(c, s.ref_l, p.elements));
  r.ratio_w = static_cast<float>(rw.ratio);
  r.ratio_l = static_cast<float>(rl.ratio);
  r.inside_w = rw.inside ? 1.0f : 0.0f;
  r.inside_l = rl.inside ? 1.0f : 0.0f;
  r.loss = static_cast<float>(spo_softplus_neg(z));
  r.grad_w = rw.inside ? static_cast<float>(common) : 0.0f;
  r.grad_l = rl.inside ? static_cast<float>(-common) : 0.0f;
  return r;
}

// One element's gradient; grad_w/grad_l already carry the upstream gradient.
SPO_HOST_DEVICE float spo_grad_element(float grad_w, float grad_l, float winner, float loser, float mean) {
  return grad_w * (winner - mean) + grad_l * (loser - mean);
}

}  // namespace spo::kernels
