// TextEncoder for JavaScript: a transformers CLIPTextModel or
// CLIPTextModelWithProjection (`text_encoder` / `text_encoder_2`) loaded by a
// job; forward(inputIds) as a job.
#pragma once
#include <napi.h>

#include "handle_binding.h"
#include "models/clip_text_model.h"

namespace spo::addon {

// Either CLIP text model, whichever the directory holds.
struct ClipTextEncoder {
  models::ClipTextModel plain{nullptr};
  models::ClipTextModelWithProjection projected{nullptr};

  bool has_projection() const { return !projected.is_empty(); }
  const models::ClipTextConfig& config() const;
  models::ClipTextOutput forward(const at::Tensor& input_ids);
};

class TextEncoderBinding : public ModelHandleBinding<TextEncoderBinding, ClipTextEncoder> {
 public:
  static constexpr const char* kClassName = "TextEncoder";
  static Napi::Function Define(Napi::Env env);
  explicit TextEncoderBinding(const Napi::CallbackInfo& info) : ModelHandleBinding(info) {}

  // loadTextEncoder(dir, options?, token?, onProgress?) -> Promise<TextEncoder>
  static Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Config(const Napi::CallbackInfo& info);
};

}  // namespace spo::addon
