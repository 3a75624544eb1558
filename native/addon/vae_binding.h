// VAE for JavaScript: a diffusers AutoencoderKL (`vae` component) loaded by a
// job; encode, decode and decodeLatents as jobs.
#pragma once
#include <napi.h>

#include <memory>

#include "model_support.h"
#include "models/autoencoder_kl.h"

namespace spo::addon {

class VaeBinding : public Napi::ObjectWrap<VaeBinding> {
 public:
  using Loaded = LoadedModel<models::AutoencoderKL>;

  static Napi::Function Define(Napi::Env env);
  explicit VaeBinding(const Napi::CallbackInfo& info);

  // loadVAE(dir, options?, token?, onProgress?) -> Promise<VAE>
  static Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  template <Napi::Value (VaeBinding::*M)(const Napi::CallbackInfo&)>
  Napi::Value Safe(const Napi::CallbackInfo& info);
  std::shared_ptr<Loaded> Get(Napi::Env env);  // ERR_SPO_DISPOSED after dispose()

  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value DecodeLatents(const Napi::CallbackInfo& info);
  Napi::Value Config(const Napi::CallbackInfo& info);
  Napi::Value Options(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Loaded> vae_;
};

}  // namespace spo::addon
