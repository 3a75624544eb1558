// What the three model handles (UNet, VAE, TextEncoder) share: reading the
// { device, dtype } load options, moving JavaScript inputs to the model's
// device and dtype, and wrapping a loaded model into its JavaScript class.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <memory>
#include <string>

#include "js_errors.h"

namespace spo::addon {

// { device?: 'cpu' | 'cuda', dtype?: 'fp32' | 'fp16' | 'bf16' } (undefined: CPU, fp32).
// Unknown keys and values are ERR_SPO_INVALID_ARGUMENT; 'cuda' on a machine
// without a usable GPU is ERR_SPO_UNSUPPORTED, before any file is read.
at::TensorOptions ModelOptionsFromJs(Napi::Env env, Napi::Value v);

// 'cpu' / 'cuda' and 'fp32' / 'fp16' / 'bf16' for a model's options (the handle's `options`).
Napi::Object ModelOptionsToJs(Napi::Env env, const at::TensorOptions& options);

// A floating-point input copied from JavaScript, on the model's device in its dtype.
inline at::Tensor ToModel(const at::Tensor& t, const at::TensorOptions& model) {
  return t.defined() ? t.to(model.device(), model.dtype().toScalarType()) : t;
}

// A model and the options it was built with; shared by the handle and by
// every job running on it, so dispose() never frees a model in use.
template <typename Model>
struct LoadedModel {
  Model model;
  at::TensorOptions options;
};

// Builds the JavaScript object of a handle class whose constructor takes an
// External holding the shared model (the pattern of TokenizerBinding::Load).
template <typename T>
Napi::Value NewHandle(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<T> loaded) {
  auto external = Napi::External<std::shared_ptr<T>>::New(env, new std::shared_ptr<T>(std::move(loaded)),
                                                         [](Napi::Env, std::shared_ptr<T>* p) { delete p; });
  return ctor.New({external});
}

// The shared model inside a handle constructor's External (ERR_SPO_INVALID_ARGUMENT
// when JavaScript calls the constructor itself).
template <typename T>
std::shared_ptr<T> HandleFromExternal(const Napi::CallbackInfo& info, const std::string& class_name) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    ThrowJs(info.Env(), "ERR_SPO_INVALID_ARGUMENT", "use " + class_name + ".load(dir) to create a " + class_name);
  }
  return *info[0].As<Napi::External<std::shared_ptr<T>>>().Data();
}

}  // namespace spo::addon
