#include "diffusion/ddim_scheduler.h"

#include <cmath>
#include <limits>

#include "runtime/errors.h"

#include <ATen/CPUGeneratorImpl.h>

namespace spo::diffusion {
namespace {

// Cosine schedule of Nichol & Dhariwal as diffusers computes it (double, then float32).
at::Tensor squaredcos_betas(int64_t n) {
  auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  std::vector<double> betas(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double t1 = static_cast<double>(i) / n, t2 = static_cast<double>(i + 1) / n;
    betas[static_cast<size_t>(i)] = std::min(1.0 - alpha_bar(t2) / alpha_bar(t1), 0.999);
  }
  return at::tensor(betas, at::kDouble).to(at::kFloat);
}

}  // namespace

BetaSchedule parse_beta_schedule(const std::string& s) {
  if (s == "linear") return BetaSchedule::Linear;
  if (s == "scaled_linear") return BetaSchedule::ScaledLinear;
  if (s == "squaredcos_cap_v2") return BetaSchedule::SquaredCosCapV2;
  throw InvalidArgument("unknown beta schedule '" + s + "' (expected linear, scaled_linear or squaredcos_cap_v2)");
}

TimestepSpacing parse_timestep_spacing(const std::string& s) {
  if (s == "leading") return TimestepSpacing::Leading;
  if (s == "trailing") return TimestepSpacing::Trailing;
  if (s == "linspace") return TimestepSpacing::Linspace;
  throw InvalidArgument("unknown timestep spacing '" + s + "' (expected leading, trailing or linspace)");
}

PredictionType parse_prediction_type(const std::string& s) {
  if (s == "epsilon") return PredictionType::Epsilon;
  if (s == "v_prediction") return PredictionType::VPrediction;
  if (s == "sample") return PredictionType::Sample;
  throw InvalidArgument("unknown prediction type '" + s + "' (expected epsilon, v_prediction or sample)");
}

DdimScheduler::DdimScheduler(DdimConfig config) : config_(config) {
  const int64_t n = config_.num_train_timesteps;
  require(n >= 2 && n <= 100000, "numTrainTimesteps must be an integer in [2, 100000]");
  require(std::isfinite(config_.beta_start) && std::isfinite(config_.beta_end) && config_.beta_start > 0 &&
              config_.beta_end < 1 && config_.beta_start <= config_.beta_end,
          "betas must satisfy 0 < betaStart <= betaEnd < 1");
  require(config_.steps_offset >= 0 && config_.steps_offset < n, "stepsOffset must be in [0, numTrainTimesteps)");
  require(std::isfinite(config_.clip_sample_range) && config_.clip_sample_range > 0,
          "clipSampleRange must be a finite number > 0");
  switch (config_.beta_schedule) {
    case BetaSchedule::Linear:
      betas_ = at::linspace(config_.beta_start, config_.beta_end, n, at::kFloat);
      break;
    case BetaSchedule::ScaledLinear:
      betas_ = at::linspace(std::sqrt(config_.beta_start), std::sqrt(config_.beta_end), n, at::kFloat).pow(2);
      break;
    case BetaSchedule::SquaredCosCapV2:
      betas_ = squaredcos_betas(n);
      break;
  }
  alphas_cumprod_ = at::cumprod(1.0 - betas_, 0);
  final_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0 : alphas_cumprod_[0].item<double>();
}

void DdimScheduler::set_timesteps(int64_t steps) {
  const int64_t n = config_.num_train_timesteps;
  require(steps >= 1 && steps <= n, "the number of inference steps must be an integer in [1, " +
                                        std::to_string(n) + "], got " + std::to_string(steps));
  std::vector<int64_t> ts;
  ts.reserve(static_cast<size_t>(steps));
  switch (config_.timestep_spacing) {
    case TimestepSpacing::Leading: {
      const int64_t ratio = n / steps;
      for (int64_t i = steps - 1; i >= 0; --i) ts.push_back(i * ratio + config_.steps_offset);
      break;
    }
    case TimestepSpacing::Trailing: {
      // np.round(np.arange(n, 0, -n/steps)) - 1; nearbyint rounds half to even like numpy.
      const double ratio = static_cast<double>(n) / static_cast<double>(steps);
      for (int64_t i = 0; i < steps; ++i) {
        const double v = static_cast<double>(n) - static_cast<double>(i) * ratio;
        if (v <= 0) break;
        ts.push_back(static_cast<int64_t>(std::nearbyint(v)) - 1);
      }
      break;
    }
    case TimestepSpacing::Linspace: {
      for (int64_t i = steps - 1; i >= 0; --i) {
        const double v = steps == 1 ? 0.0 : static_cast<double>(i) * static_cast<double>(n - 1) / (steps - 1);
        ts.push_back(static_cast<int64_t>(std::nearbyint(v)));
      }
      break;
    }
  }
  for (auto t : ts) require(t >= 0 && t < n, "stepsOffset pushes a timestep outside [0, numTrainTimesteps)");
  timesteps_ = std::move(ts);
  num_inference_steps_ = steps;
}

int64_t DdimScheduler::prev_timestep(int64_t t) const {
  require(num_inference_steps_ > 0, "call setTimesteps(n) before stepping");
  return t - config_.num_train_timesteps / num_inference_steps_;
}

double DdimScheduler::alpha_cumprod_at(int64_t t) const {
  require(t >= 0 && t < config_.num_train_timesteps, "timestep " + std::to_string(t) + " is outside [0, " +
                                                         std::to_string(config_.num_train_timesteps) + ")");
  return static_cast<double>(alphas_cumprod_.data_ptr<float>()[t]);
}

double DdimScheduler::alpha_cumprod_prev(int64_t prev_t) const {
  if (prev_t >= 0) return alpha_cumprod_at(prev_t);
  return config_.clamp_prev_timestep ? alpha_cumprod_at(0) : final_alpha_cumprod_;
}

at::Tensor DdimScheduler::per_sample_timesteps(const at::Tensor& timesteps, int64_t batch) const {
  require(timesteps.defined(), "timesteps are missing");
  require(timesteps.dim() <= 1, "timesteps must be a scalar or a 1-D tensor");
  auto t = timesteps.to(at::kCPU);
  if (at::isFloatingType(t.scalar_type())) {
    require(at::equal(t, t.round()), "timesteps must be integers");
  }
  t = t.to(at::kLong).reshape({-1});
  if (t.numel() == 1 && batch > 1) t = t.expand({batch});
  require(t.numel() == batch, "got " + std::to_string(t.numel()) + " timesteps for a batch of " +
                                  std::to_string(batch) + " samples");
  t = t.contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch; ++i) {
    require(p[i] >= 0 && p[i] < config_.num_train_timesteps,
            "timestep " + std::to_string(p[i]) + " is outside [0, " + std::to_string(config_.num_train_timesteps) + ")");
  }
  return t;
}

kernels::DdimStepOutputs DdimScheduler::step(const StepRequest& r) const {
  require(num_inference_steps_ > 0, "call setTimesteps(n) before stepping");
  require(r.sample.defined() && r.sample.dim() >= 1, "sample must be a tensor with a batch dimension");
  require(std::isfinite(r.eta) && r.eta >= 0.0, "eta must be a finite number >= 0");
  const int64_t batch = r.sample.size(0);
  const auto t = per_sample_timesteps(r.timesteps, batch);
  auto a_t = at::empty({batch}, at::kDouble), a_prev = at::empty({batch}, at::kDouble);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t tb = t.data_ptr<int64_t>()[b];
    a_t.data_ptr<double>()[b] = alpha_cumprod_at(tb);
    a_prev.data_ptr<double>()[b] = alpha_cumprod_prev(prev_timestep(tb));
  }
  kernels::DdimStepInputs in;
  in.sample = r.sample;
  in.model_output = r.model_output;
  in.alpha_t = a_t;
  in.alpha_prev = a_prev;
  in.eta = r.eta;
  in.prediction = config_.prediction_type;
  in.clip_range = config_.clip_sample ? static_cast<float>(config_.clip_sample_range) : 0.0f;
  in.use_clipped_model_output = r.use_clipped_model_output;
  in.prev_sample = r.prev_sample;
  in.noise = r.noise;
  if (!r.prev_sample && !r.noise && r.eta > 0.0) {
    // Noise is drawn on the CPU so that a seed gives the same numbers on every device.
    const at::Generator gen = r.seed ? at::make_generator<at::CPUGeneratorImpl>(*r.seed)
                                     : at::detail::getDefaultCPUGenerator();
    in.noise = at::randn(r.sample.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(r.sample.device());
  }
  return kernels::ddim_step_fused(in);
}

at::Tensor DdimScheduler::gather_alphas(const at::Tensor& timesteps, const at::Tensor& like) const {
  require(like.defined() && like.dim() >= 1, "expected a tensor with a batch dimension");
  const auto t = per_sample_timesteps(timesteps, like.size(0));
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = like.size(0);
  return alphas_cumprod_.index_select(0, t).to(like.device()).view(shape);
}

at::Tensor DdimScheduler::add_noise(const at::Tensor& x0, const at::Tensor& noise, const at::Tensor& timesteps) const {
  require(noise.defined() && x0.defined() && noise.sizes() == x0.sizes(), "noise must have the sample's shape");
  const auto a = gather_alphas(timesteps, x0);
  return a.sqrt() * x0.to(at::kFloat) + (1 - a).sqrt() * noise.to(at::kFloat);
}

at::Tensor DdimScheduler::get_velocity(const at::Tensor& x0, const at::Tensor& noise, const at::Tensor& timesteps) const {
  require(noise.defined() && x0.defined() && noise.sizes() == x0.sizes(), "noise must have the sample's shape");
  const auto a = gather_alphas(timesteps, x0);
  return a.sqrt() * noise.to(at::kFloat) - (1 - a).sqrt() * x0.to(at::kFloat);
}

}  // namespace spo::diffusion
