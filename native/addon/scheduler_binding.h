// DDIMScheduler for JavaScript: synchronous queries of the schedule, and
// step / addNoise / getVelocity / sampleGaussian as jobs on the runner.
#pragma once
#include <napi.h>

#include "diffusion/ddim_scheduler.h"
#include "handle_binding.h"

namespace spo::addon {

class SchedulerBinding : public HandleBinding<SchedulerBinding, diffusion::DdimScheduler> {
 public:
  static constexpr const char* kClassName = "DDIMScheduler";
  static Napi::Function Define(Napi::Env env);
  // new DDIMScheduler(config?)
  explicit SchedulerBinding(const Napi::CallbackInfo& info);

 private:
  Napi::Value SetTimesteps(const Napi::CallbackInfo& info);
  Napi::Value Timesteps(const Napi::CallbackInfo& info);
  Napi::Value NumInferenceSteps(const Napi::CallbackInfo& info);
  Napi::Value Config(const Napi::CallbackInfo& info);
  Napi::Value AlphasCumprod(const Napi::CallbackInfo& info);
  Napi::Value Betas(const Napi::CallbackInfo& info);
  Napi::Value PrevTimestep(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value AddNoise(const Napi::CallbackInfo& info);
  Napi::Value GetVelocity(const Napi::CallbackInfo& info);
  Napi::Value SampleGaussian(const Napi::CallbackInfo& info);
};

}  // namespace spo::addon
