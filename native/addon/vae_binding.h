// VAE for JavaScript: a diffusers AutoencoderKL (`vae` component) loaded by a
// job; encode, decode and decodeLatents as jobs.
#pragma once
#include <napi.h>

#include "handle_binding.h"
#include "models/autoencoder_kl.h"

namespace spo::addon {

class VaeBinding : public ModelHandleBinding<VaeBinding, models::AutoencoderKL> {
 public:
  static constexpr const char* kClassName = "VAE";
  static Napi::Function Define(Napi::Env env);
  explicit VaeBinding(const Napi::CallbackInfo& info) : ModelHandleBinding(info) {}

  // loadVAE(dir, options?, token?, onProgress?) -> Promise<VAE>
  static Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value DecodeLatents(const Napi::CallbackInfo& info);
  Napi::Value Config(const Napi::CallbackInfo& info);
};

}  // namespace spo::addon
