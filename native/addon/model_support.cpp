#include "model_support.h"

#include <ATen/Context.h>

#include "js_args.h"

namespace spo::addon {

at::TensorOptions ModelOptionsFromJs(Napi::Env env, Napi::Value v) {
  at::TensorOptions options = at::TensorOptions().device(at::kCPU).dtype(at::kFloat);
  if (v.IsUndefined()) return options;
  auto o = RequireObject(env, v, "model options");
  RejectUnknownKeys(env, o, {"device", "dtype"}, "model options");
  if (auto device = OptionalString(env, o, "device")) {
    if (*device == "cuda") {
      if (!at::hasCUDA()) ThrowJs(env, "ERR_SPO_UNSUPPORTED", "device 'cuda' was asked for, but no CUDA GPU is usable here");
      options = options.device(at::kCUDA);
    } else if (*device != "cpu") {
      ThrowInvalid(env, "device must be 'cpu' or 'cuda', got '" + *device + "'");
    }
  }
  if (auto dtype = OptionalString(env, o, "dtype")) {
    if (*dtype == "fp16") options = options.dtype(at::kHalf);
    else if (*dtype == "bf16") options = options.dtype(at::kBFloat16);
    else if (*dtype != "fp32") ThrowInvalid(env, "dtype must be 'fp32', 'fp16' or 'bf16', got '" + *dtype + "'");
  }
  return options;
}

Napi::Object ModelOptionsToJs(Napi::Env env, const at::TensorOptions& options) {
  auto o = Napi::Object::New(env);
  o.Set("device", options.device().is_cuda() ? "cuda" : "cpu");
  const auto dtype = options.dtype().toScalarType();
  o.Set("dtype", dtype == at::kHalf ? "fp16" : dtype == at::kBFloat16 ? "bf16" : "fp32");
  return o;
}

}  // namespace spo::addon
