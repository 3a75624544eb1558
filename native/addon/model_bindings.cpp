#include "model_bindings.h"

#include "text_encoder_binding.h"
#include "unet_binding.h"
#include "vae_binding.h"

namespace spo::addon {

// The low-level model handles: each class plus the load function that creates it.
void RegisterModelBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("UNet", UNetBinding::Define(env));
  exports.Set("loadUNet", Napi::Function::New<UNetBinding::Load>(env, "loadUNet"));
  exports.Set("VAE", VaeBinding::Define(env));
  exports.Set("loadVAE", Napi::Function::New<VaeBinding::Load>(env, "loadVAE"));
  exports.Set("TextEncoder", TextEncoderBinding::Define(env));
  exports.Set("loadTextEncoder", Napi::Function::New<TextEncoderBinding::Load>(env, "loadTextEncoder"));
}

}  // namespace spo::addon
