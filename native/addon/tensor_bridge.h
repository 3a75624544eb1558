// Tensors cross the boundary as { data: Float32Array, shape: number[] }.
// Inputs are copied (the caller may reuse its buffer while the job runs).
// Outputs get memory of their own (never engine state a caller could write
// into), held by an external ArrayBuffer whose size V8 counts as external
// memory, so that garbage collection sees it.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <string>

namespace spo::addon {

at::Tensor TensorFromJs(Napi::Env env, Napi::Value v, const std::string& what);
Napi::Object TensorToJs(Napi::Env env, const at::Tensor& t);
Napi::Float32Array Float32ArrayFromTensor(Napi::Env env, const at::Tensor& t);  // flat
// A number or an array of numbers -> [n] int64 (or a 0-d tensor for a number).
at::Tensor TimestepsFromJs(Napi::Env env, Napi::Value v, const std::string& what);

}  // namespace spo::addon
