#include "model_bindings.h"

#include "text_encoder_binding.h"
#include "unet_binding.h"
#include "vae_binding.h"

namespace spo::addon {

// The low-level model handles: each class plus the load function that creates it.
void RegisterModelBindings(Napi::Env env, Napi::Object exports) {
  UNetBinding::Export(env, exports, "loadUNet");
  VaeBinding::Export(env, exports, "loadVAE");
  TextEncoderBinding::Export(env, exports, "loadTextEncoder");
}

}  // namespace spo::addon
