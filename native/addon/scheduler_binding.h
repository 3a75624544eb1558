// DDIMScheduler for JavaScript: synchronous queries of the schedule, and
// step / addNoise / getVelocity / sampleGaussian as jobs on the runner.
#pragma once
#include <napi.h>

#include <memory>

#include "diffusion/ddim_scheduler.h"

namespace spo::addon {

class SchedulerBinding : public Napi::ObjectWrap<SchedulerBinding> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SchedulerBinding(const Napi::CallbackInfo& info);

 private:
  // Every JavaScript entry point goes through Safe, so no C++ exception can
  // escape into node-addon-api (which would terminate the process).
  template <Napi::Value (SchedulerBinding::*M)(const Napi::CallbackInfo&)>
  Napi::Value Safe(const Napi::CallbackInfo& info);

  // Throws ERR_SPO_DISPOSED after dispose().
  diffusion::DdimScheduler& Get(Napi::Env env);

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
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<diffusion::DdimScheduler> scheduler_;
};

}  // namespace spo::addon
