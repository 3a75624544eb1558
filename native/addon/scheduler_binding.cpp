#include "scheduler_binding.h"

#include "diffusion/ddim_sampler.h"
#include "diffusion/gaussian_denoiser.h"
#include "tensor_bridge.h"

namespace spo::addon {
namespace {

using diffusion::DdimConfig;
using diffusion::DdimScheduler;

const char* spacing_name(diffusion::TimestepSpacing s) {
  switch (s) {
    case diffusion::TimestepSpacing::Leading: return "leading";
    case diffusion::TimestepSpacing::Trailing: return "trailing";
    default: return "linspace";
  }
}
const char* schedule_name(diffusion::BetaSchedule s) {
  switch (s) {
    case diffusion::BetaSchedule::Linear: return "linear";
    case diffusion::BetaSchedule::ScaledLinear: return "scaled_linear";
    default: return "squaredcos_cap_v2";
  }
}
const char* prediction_name(diffusion::PredictionType p) {
  switch (p) {
    case diffusion::PredictionType::Epsilon: return "epsilon";
    case diffusion::PredictionType::VPrediction: return "v_prediction";
    default: return "sample";
  }
}

DdimConfig ConfigFromJs(Napi::Env env, Napi::Value v) {
  DdimConfig c;
  if (v.IsUndefined()) return c;
  auto o = RequireObject(env, v, "scheduler config");
  RejectUnknownKeys(env, o,
                    {"numTrainTimesteps", "betaStart", "betaEnd", "betaSchedule", "setAlphaToOne", "clipSample",
                     "clipSampleRange", "stepsOffset", "timestepSpacing", "predictionType", "clampPrevTimestep"},
                    "scheduler config");
  if (auto x = OptionalInteger(env, o, "numTrainTimesteps", 2, 100000)) c.num_train_timesteps = *x;
  if (auto x = OptionalNumber(env, o, "betaStart")) c.beta_start = *x;
  if (auto x = OptionalNumber(env, o, "betaEnd")) c.beta_end = *x;
  if (auto x = OptionalString(env, o, "betaSchedule")) c.beta_schedule = diffusion::parse_beta_schedule(*x);
  if (auto x = OptionalBool(env, o, "setAlphaToOne")) c.set_alpha_to_one = *x;
  if (auto x = OptionalBool(env, o, "clipSample")) c.clip_sample = *x;
  if (auto x = OptionalNumber(env, o, "clipSampleRange")) c.clip_sample_range = *x;
  if (auto x = OptionalInteger(env, o, "stepsOffset", 0, 100000)) c.steps_offset = *x;
  if (auto x = OptionalString(env, o, "timestepSpacing")) c.timestep_spacing = diffusion::parse_timestep_spacing(*x);
  if (auto x = OptionalString(env, o, "predictionType")) c.prediction_type = diffusion::parse_prediction_type(*x);
  if (auto x = OptionalBool(env, o, "clampPrevTimestep")) c.clamp_prev_timestep = *x;
  return c;
}

Napi::Array TimestepArray(Napi::Env env, const std::vector<int64_t>& ts) {
  auto a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(ts[i]));
  return a;
}

}  // namespace

Napi::Function SchedulerBinding::Define(Napi::Env env) {
  return DefineHandle(env, {Method<&SchedulerBinding::SetTimesteps>("setTimesteps"),
                            Getter<&SchedulerBinding::Timesteps>("timesteps"),
                            Getter<&SchedulerBinding::NumInferenceSteps>("numInferenceSteps"),
                            Getter<&SchedulerBinding::Config>("config"),
                            Method<&SchedulerBinding::AlphasCumprod>("alphasCumprod"),
                            Method<&SchedulerBinding::Betas>("betas"),
                            Method<&SchedulerBinding::PrevTimestep>("prevTimestep"),
                            Method<&SchedulerBinding::Step>("step"),
                            Method<&SchedulerBinding::AddNoise>("addNoise"),
                            Method<&SchedulerBinding::GetVelocity>("getVelocity"),
                            Method<&SchedulerBinding::SampleGaussian>("sampleGaussian")});
}

SchedulerBinding::SchedulerBinding(const Napi::CallbackInfo& info) : HandleBinding(info, MadeInJs{}) {
  Napi::Env env = info.Env();
  held_ = Guard(env, [&] { return std::make_shared<DdimScheduler>(ConfigFromJs(env, info[0])); });
}

Napi::Value SchedulerBinding::SetTimesteps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto s = Get(env);
  const int64_t n = RequireInteger(env, info[0], "steps", 1, s->config().num_train_timesteps);
  Guard(env, [&] { s->set_timesteps(n); });
  return TimestepArray(env, s->timesteps());
}

Napi::Value SchedulerBinding::Timesteps(const Napi::CallbackInfo& info) {
  return TimestepArray(info.Env(), Get(info.Env())->timesteps());
}

Napi::Value SchedulerBinding::NumInferenceSteps(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Get(info.Env())->num_inference_steps()));
}

Napi::Value SchedulerBinding::Config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& c = Get(env)->config();
  auto o = Napi::Object::New(env);
  o.Set("numTrainTimesteps", static_cast<double>(c.num_train_timesteps));
  o.Set("betaStart", c.beta_start);
  o.Set("betaEnd", c.beta_end);
  o.Set("betaSchedule", schedule_name(c.beta_schedule));
  o.Set("setAlphaToOne", c.set_alpha_to_one);
  o.Set("clipSample", c.clip_sample);
  o.Set("clipSampleRange", c.clip_sample_range);
  o.Set("stepsOffset", static_cast<double>(c.steps_offset));
  o.Set("timestepSpacing", spacing_name(c.timestep_spacing));
  o.Set("predictionType", prediction_name(c.prediction_type));
  o.Set("clampPrevTimestep", c.clamp_prev_timestep);
  return o;
}

Napi::Value SchedulerBinding::AlphasCumprod(const Napi::CallbackInfo& info) {
  return Float32ArrayFromTensor(info.Env(), Get(info.Env())->alphas_cumprod());
}

Napi::Value SchedulerBinding::Betas(const Napi::CallbackInfo& info) {
  return Float32ArrayFromTensor(info.Env(), Get(info.Env())->betas());
}

Napi::Value SchedulerBinding::PrevTimestep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto s = Get(env);
  const int64_t t = RequireInteger(env, info[0], "timestep", 0, s->config().num_train_timesteps - 1);
  return Napi::Number::New(env, static_cast<double>(Guard(env, [&] { return s->prev_timestep(t); })));
}

// step(args, token?, onProgress?) -> Promise<{prevSample, predOriginalSample, mean, std, logProb}>
Napi::Value SchedulerBinding::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto snapshot = std::make_shared<DdimScheduler>(*Get(env));  // later setTimesteps calls do not race the job
  if (snapshot->num_inference_steps() == 0) ThrowJs(env, "ERR_SPO_INVALID_ARGUMENT", "call setTimesteps(n) before step()");
  auto o = RequireObject(env, info[0], "step arguments");
  RejectUnknownKeys(env, o, {"sample", "modelOutput", "timestep", "eta", "noise", "seed", "prevSample", "useClippedModelOutput"},
                    "step arguments");
  auto req = std::make_shared<diffusion::StepRequest>();
  req->sample = TensorFromJs(env, o.Get("sample"), "sample");
  req->model_output = TensorFromJs(env, o.Get("modelOutput"), "modelOutput");
  req->timesteps = TimestepsFromJs(env, o.Get("timestep"), "timestep");
  req->eta = OptionalNumber(env, o, "eta").value_or(0.0);
  if (!o.Get("noise").IsUndefined()) req->noise = TensorFromJs(env, o.Get("noise"), "noise");
  if (!o.Get("prevSample").IsUndefined()) req->prev_sample = TensorFromJs(env, o.Get("prevSample"), "prevSample");
  if (!o.Get("seed").IsUndefined()) req->seed = RequireSeed(env, o.Get("seed"), "seed");
  req->use_clipped_model_output = OptionalBool(env, o, "useClippedModelOutput").value_or(false);
  auto out = std::make_shared<kernels::DdimStepOutputs>();
  return SubmitLambdaJob(
      info, 1, [snapshot, req, out](const JobContext&) { *out = snapshot->step(*req); },
      [out](Napi::Env e) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("prevSample", TensorToJs(e, out->prev_sample));
        r.Set("predOriginalSample", TensorToJs(e, out->pred_original));
        r.Set("mean", TensorToJs(e, out->mean));
        r.Set("std", Float32ArrayFromTensor(e, out->std));
        r.Set("logProb", Float32ArrayFromTensor(e, out->log_prob));
        return r;
      });
}

namespace {
Napi::Value NoiseJob(Napi::Env env, const Napi::CallbackInfo& info, std::shared_ptr<DdimScheduler> s, bool velocity) {
  auto x0 = TensorFromJs(env, info[0], "original");
  auto noise = TensorFromJs(env, info[1], "noise");
  auto t = TimestepsFromJs(env, info[2], "timesteps");
  auto out = std::make_shared<at::Tensor>();
  return SubmitLambdaJob(
      info, 3,
      [s, x0, noise, t, out, velocity](const JobContext&) {
        *out = velocity ? s->get_velocity(x0, noise, t) : s->add_noise(x0, noise, t);
      },
      [out](Napi::Env e) -> Napi::Value { return TensorToJs(e, *out); });
}
}  // namespace

Napi::Value SchedulerBinding::AddNoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return NoiseJob(env, info, std::make_shared<DdimScheduler>(*Get(env)), false);
}

Napi::Value SchedulerBinding::GetVelocity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return NoiseJob(env, info, std::make_shared<DdimScheduler>(*Get(env)), true);
}

// sampleGaussian({shape, steps, eta, seed, mean, std}, token?, onProgress?): a full
// DDIM run driven by the exact denoiser of a Gaussian target.
Napi::Value SchedulerBinding::SampleGaussian(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto snapshot = std::make_shared<DdimScheduler>(*Get(env));
  auto o = RequireObject(env, info[0], "sampling options");
  RejectUnknownKeys(env, o, {"shape", "steps", "eta", "seed", "mean", "std"}, "sampling options");
  diffusion::SampleRequest req;
  auto shape_v = o.Get("shape");
  if (!shape_v.IsArray()) ThrowJs(env, "ERR_SPO_INVALID_ARGUMENT", "shape must be an array of integers");
  auto shape_a = shape_v.As<Napi::Array>();
  if (shape_a.Length() < 1 || shape_a.Length() > 8) ThrowJs(env, "ERR_SPO_INVALID_ARGUMENT", "shape must have 1 to 8 dimensions");
  for (uint32_t i = 0; i < shape_a.Length(); ++i) {
    req.shape.push_back(RequireInteger(env, shape_a.Get(i), "shape[" + std::to_string(i) + "]", 1, 1 << 20));
  }
  req.steps = OptionalInteger(env, o, "steps", 1, snapshot->config().num_train_timesteps).value_or(20);
  req.eta = OptionalNumber(env, o, "eta").value_or(1.0);
  if (req.eta < 0) ThrowJs(env, "ERR_SPO_INVALID_ARGUMENT", "eta must be >= 0");
  if (!o.Get("seed").IsUndefined()) req.seed = RequireSeed(env, o.Get("seed"), "seed");
  diffusion::GaussianDenoiser target;
  target.mean = OptionalNumber(env, o, "mean").value_or(0.0);
  target.std = OptionalNumber(env, o, "std").value_or(1.0);
  if (target.std <= 0) ThrowJs(env, "ERR_SPO_INVALID_ARGUMENT", "std must be > 0");
  auto result = std::make_shared<diffusion::SampleResult>();
  auto expected = std::make_shared<std::pair<double, double>>();
  return SubmitLambdaJob(
      info, 1,
      [snapshot, req, target, result, expected](const JobContext& ctx) {
        auto model = [&](const at::Tensor& x, const at::Tensor&, const at::Tensor& a) {
          return target.predict_noise(x, a);
        };
        *result = diffusion::ddim_sample(*snapshot, model, req, ctx);
        *expected = target.chain_moments(*snapshot, req.eta);
      },
      [result, expected](Napi::Env e) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("sample", TensorToJs(e, result->sample));
        auto ts = Napi::Array::New(e, static_cast<size_t>(result->timesteps.numel()));
        for (int64_t i = 0; i < result->timesteps.numel(); ++i) {
          ts.Set(static_cast<uint32_t>(i), static_cast<double>(result->timesteps[i].item<int64_t>()));
        }
        r.Set("timesteps", ts);
        r.Set("logProbs", TensorToJs(e, result->log_probs));
        auto means = Napi::Array::New(e), stds = Napi::Array::New(e);
        for (size_t i = 0; i < result->step_means.size(); ++i) {
          means.Set(static_cast<uint32_t>(i), result->step_means[i]);
          stds.Set(static_cast<uint32_t>(i), result->step_stds[i]);
        }
        r.Set("stepMeans", means);
        r.Set("stepStds", stds);
        r.Set("expectedMean", expected->first);
        r.Set("expectedStd", expected->second);
        return r;
      });
}

}  // namespace spo::addon
