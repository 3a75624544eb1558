// Per-environment data of the addon (main thread, worker threads each have one).
#pragma once
#include <napi.h>

#include <memory>
#include <unordered_map>

#include "job_runner.h"

namespace spo::addon {

struct AddonData {
  std::shared_ptr<EnvJobs> jobs;
  Napi::FunctionReference cancel_token_ctor;
  // The constructor of each handle class (handle_binding.h), by the class's type tag.
  std::unordered_map<const napi_type_tag*, Napi::FunctionReference> handle_ctors;
  Napi::FunctionReference step_scorer_ctor;  // what a training run scores with
  static AddonData& Of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace spo::addon
