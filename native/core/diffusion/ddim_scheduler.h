// DDIMScheduler as diffusers defines it (training schedule, inference
// timesteps, step, add_noise), plus the step's log-probability (docs/method.md §1).
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "kernels/ddim_step/ddim_step.h"

namespace spo::diffusion {

enum class BetaSchedule { Linear, ScaledLinear, SquaredCosCapV2 };
enum class TimestepSpacing { Leading, Trailing, Linspace };
using kernels::PredictionType;

struct DdimConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
  BetaSchedule beta_schedule = BetaSchedule::ScaledLinear;
  bool set_alpha_to_one = false;
  bool clip_sample = false;
  double clip_sample_range = 1.0;
  int64_t steps_offset = 1;
  TimestepSpacing timestep_spacing = TimestepSpacing::Leading;
  PredictionType prediction_type = PredictionType::Epsilon;
  // prev_t < 0 reads alpha_bar[0] (the SPO training code clamps prev_t) instead of
  // final_alpha_cumprod (the sampler). Equal unless set_alpha_to_one.
  bool clamp_prev_timestep = false;
};

BetaSchedule parse_beta_schedule(const std::string& s);
TimestepSpacing parse_timestep_spacing(const std::string& s);
PredictionType parse_prediction_type(const std::string& s);

struct StepRequest {
  at::Tensor sample;        // x_t [B, ...]
  at::Tensor model_output;  // eps, v or x0 per the config
  at::Tensor timesteps;     // [B] int64 (one per sample) or a scalar broadcast to B
  double eta = 0.0;
  std::optional<at::Tensor> noise;        // explicit noise for the stochastic part
  std::optional<uint64_t> seed;           // else drawn from this seed
  std::optional<at::Tensor> prev_sample;  // score this x_prev instead of drawing one
  bool use_clipped_model_output = false;
};

class DdimScheduler {
 public:
  explicit DdimScheduler(DdimConfig config);

  const DdimConfig& config() const { return config_; }
  const at::Tensor& betas() const { return betas_; }                  // float32 [T]
  const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }  // float32 [T]
  double final_alpha_cumprod() const { return final_alpha_cumprod_; }

  void set_timesteps(int64_t num_inference_steps);
  int64_t num_inference_steps() const { return num_inference_steps_; }
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  int64_t prev_timestep(int64_t t) const;             // t - T / n (may be negative)
  double alpha_cumprod_at(int64_t t) const;           // t in [0, T)
  double alpha_cumprod_prev(int64_t prev_t) const;    // handles prev_t < 0 per the config

  // One reverse step for every sample at its own timestep.
  kernels::DdimStepOutputs step(const StepRequest& request) const;
  // x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise, per-sample t.
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, const at::Tensor& timesteps) const;
  // v = sqrt(a_t) noise - sqrt(1 - a_t) x0 (the v-prediction training target).
  at::Tensor get_velocity(const at::Tensor& original, const at::Tensor& noise, const at::Tensor& timesteps) const;

  // timesteps as [B] int64 on CPU, validated against [0, T); a scalar is repeated B times.
  at::Tensor per_sample_timesteps(const at::Tensor& timesteps, int64_t batch) const;

 private:
  at::Tensor gather_alphas(const at::Tensor& timesteps, const at::Tensor& like) const;

  DdimConfig config_;
  at::Tensor betas_;
  at::Tensor alphas_cumprod_;
  double final_alpha_cumprod_ = 1.0;
  int64_t num_inference_steps_ = 0;
  std::vector<int64_t> timesteps_;
};

}  // namespace spo::diffusion
