// UNet for JavaScript: a diffusers `unet` component loaded by a job, and
// forward(...) as a job returning the model's prediction.
#pragma once
#include <napi.h>

#include "handle_binding.h"
#include "models/unet_2d_condition.h"

namespace spo::addon {

class UNetBinding : public ModelHandleBinding<UNetBinding, models::UNet2DConditionModel> {
 public:
  static constexpr const char* kClassName = "UNet";
  static Napi::Function Define(Napi::Env env);
  explicit UNetBinding(const Napi::CallbackInfo& info) : ModelHandleBinding(info) {}

  // loadUNet(dir, options?, token?, onProgress?) -> Promise<UNet>
  static Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Config(const Napi::CallbackInfo& info);
};

}  // namespace spo::addon
