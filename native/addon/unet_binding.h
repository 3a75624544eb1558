// UNet for JavaScript: a diffusers `unet` component loaded by a job, and
// forward(...) as a job returning the model's prediction.
#pragma once
#include <napi.h>

#include <memory>

#include "model_support.h"
#include "models/unet_2d_condition.h"

namespace spo::addon {

class UNetBinding : public Napi::ObjectWrap<UNetBinding> {
 public:
  using Loaded = LoadedModel<models::UNet2DConditionModel>;

  static Napi::Function Define(Napi::Env env);
  explicit UNetBinding(const Napi::CallbackInfo& info);

  // loadUNet(dir, options?, token?, onProgress?) -> Promise<UNet>
  static Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  template <Napi::Value (UNetBinding::*M)(const Napi::CallbackInfo&)>
  Napi::Value Safe(const Napi::CallbackInfo& info);
  std::shared_ptr<Loaded> Get(Napi::Env env);  // ERR_SPO_DISPOSED after dispose()

  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Config(const Napi::CallbackInfo& info);
  Napi::Value Options(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Loaded> unet_;
};

}  // namespace spo::addon
