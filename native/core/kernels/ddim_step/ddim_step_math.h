// The DDIM step with log-probability, written once for the CPU loop and the
// CUDA grid (docs/method.md §1). Per-sample coefficients are derived in double
// on the host (ddim_coefficients); the per-element work is ddim_element.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SPO_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SPO_HOST_DEVICE inline
#endif

namespace spo::kernels {

enum class PredictionType : int32_t { Epsilon = 0, VPrediction = 1, Sample = 2 };

// Everything one sample's step needs, precomputed from alpha_bar_t, alpha_bar_prev, eta.
struct DdimCoefficients {
  float sqrt_alpha;            // sqrt(a_t)
  float sqrt_one_minus_alpha;  // sqrt(1 - a_t)
  float sqrt_alpha_prev;       // sqrt(a_prev)
  float direction;             // sqrt(1 - a_prev - std^2), the eps coefficient of the mean
  float std;                   // eta * sqrt((1 - a_prev)/(1 - a_t) * (1 - a_t/a_prev))
  float inv_two_var;           // 1 / (2 std^2); 0 when std == 0
  float log_norm;              // -log(std) - log(sqrt(2 pi)): per-element constant of logp
};

inline DdimCoefficients ddim_coefficients(double a_t, double a_prev, double eta) {
  const double variance = (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev);
  const double std = eta * std::sqrt(variance > 0.0 ? variance : 0.0);
  const double dir2 = 1.0 - a_prev - std * std;
  DdimCoefficients c;
  c.sqrt_alpha = static_cast<float>(std::sqrt(a_t));
  c.sqrt_one_minus_alpha = static_cast<float>(std::sqrt(1.0 - a_t));
  c.sqrt_alpha_prev = static_cast<float>(std::sqrt(a_prev));
  c.direction = static_cast<float>(std::sqrt(dir2 > 0.0 ? dir2 : 0.0));
  c.std = static_cast<float>(std);
  c.inv_two_var = std > 0.0 ? static_cast<float>(1.0 / (2.0 * std * std)) : 0.0f;
  // A deterministic transition (std == 0) has no density: logp is NaN there.
  c.log_norm = std > 0.0 ? static_cast<float>(-std::log(std) - 0.5 * std::log(2.0 * M_PI))
                         : static_cast<float>(NAN);
  return c;
}

struct DdimElementOut {
  float x0;    // predicted original sample (after optional clipping)
  float eps;   // predicted noise used for the direction term
  float mean;  // mean of p(x_prev | x_t)
};

// model_out is interpreted by `pred`; clip_range <= 0 disables clipping.
SPO_HOST_DEVICE DdimElementOut ddim_element(const DdimCoefficients& c, PredictionType pred,
                                            float x, float model_out, float clip_range,
                                            bool use_clipped_model_output) {
  float x0, eps;
  if (pred == PredictionType::Epsilon) {
    eps = model_out;
    x0 = (x - c.sqrt_one_minus_alpha * eps) / c.sqrt_alpha;
  } else if (pred == PredictionType::VPrediction) {
    x0 = c.sqrt_alpha * x - c.sqrt_one_minus_alpha * model_out;
    eps = c.sqrt_alpha * model_out + c.sqrt_one_minus_alpha * x;
  } else {
    x0 = model_out;
    eps = (x - c.sqrt_alpha * x0) / c.sqrt_one_minus_alpha;
  }
  if (clip_range > 0.0f) {
    x0 = x0 < -clip_range ? -clip_range : (x0 > clip_range ? clip_range : x0);
    if (use_clipped_model_output) eps = (x - c.sqrt_alpha * x0) / c.sqrt_one_minus_alpha;
  }
  return {x0, eps, c.sqrt_alpha_prev * x0 + c.direction * eps};
}

// The element's share of logp without the constant: -(x_prev - mean)^2 / (2 std^2).
SPO_HOST_DEVICE float ddim_logp_quadratic(const DdimCoefficients& c, float x_prev, float mean) {
  const float d = x_prev - mean;
  return -d * d * c.inv_two_var;
}

}  // namespace spo::kernels
