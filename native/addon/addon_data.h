// Per-environment data of the addon (main thread, worker threads each have one).
#pragma once
#include <napi.h>

#include <memory>

#include "job_runner.h"

namespace spo::addon {

struct AddonData {
  std::shared_ptr<EnvJobs> jobs;
  Napi::FunctionReference cancel_token_ctor;
  Napi::FunctionReference tokenizer_ctor;
  Napi::FunctionReference unet_ctor, vae_ctor, text_encoder_ctor;  // model handles
  Napi::FunctionReference pipeline_ctor;
  Napi::FunctionReference evaluator_ctor;
  Napi::FunctionReference step_scorer_ctor;  // what a training run scores with
  static AddonData& Of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace spo::addon
