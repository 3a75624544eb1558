#include "tensor_bridge.h"

#include <cmath>
#include <cstring>

#include "js_args.h"

namespace spo::addon {

namespace {
constexpr int kMaxRank = 8;
constexpr int64_t kMaxElements = int64_t{1} << 32;
}  // namespace

at::Tensor TensorFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  auto obj = RequireObject(env, v, what);
  auto data = obj.Get("data");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    ThrowInvalid(env, what + ".data must be a Float32Array");
  }
  auto arr = data.As<Napi::Float32Array>();
  auto shape_v = obj.Get("shape");
  if (!shape_v.IsArray()) ThrowInvalid(env, what + ".shape must be an array of integers");
  auto shape_a = shape_v.As<Napi::Array>();
  if (shape_a.Length() < 1 || shape_a.Length() > kMaxRank) {
    ThrowInvalid(env, what + ".shape must have 1 to " + std::to_string(kMaxRank) + " dimensions");
  }
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (uint32_t i = 0; i < shape_a.Length(); ++i) {
    const int64_t d = RequireInteger(env, shape_a.Get(i), what + ".shape[" + std::to_string(i) + "]", 0, kMaxElements);
    shape.push_back(d);
    if (d != 0 && count > kMaxElements / d) ThrowInvalid(env, what + " has too many elements");  // before it overflows
    count *= d;
  }
  if (count != static_cast<int64_t>(arr.ElementLength())) {
    ThrowInvalid(env, what + ".shape [" + [&] {
      std::string s;
      for (auto d : shape) s += (s.empty() ? "" : ", ") + std::to_string(d);
      return s;
    }() + "] holds " + std::to_string(count) + " elements but data has " + std::to_string(arr.ElementLength()));
  }
  auto t = at::empty(shape, at::kFloat);
  if (count > 0) std::memcpy(t.data_ptr<float>(), arr.Data(), static_cast<size_t>(count) * sizeof(float));
  return t;
}

Napi::Float32Array Float32ArrayFromTensor(Napi::Env env, const at::Tensor& tensor) {
  auto t = tensor.to(at::kCPU, at::kFloat).contiguous();
  // JavaScript may write into the array: it must own its memory, never share
  // it with engine state (a scheduler's alphas) or with another output.
  // When no conversion made a fresh tensor, `t` is the caller's own: copy it.
  if (t.is_alias_of(tensor)) t = t.clone();
  const size_t n = static_cast<size_t>(t.numel());
  const size_t bytes = n * sizeof(float);
  if (n == 0) return Napi::Float32Array::New(env, 0);
  // That tensor's memory then backs the ArrayBuffer (no second copy). V8 counts an
  // external ArrayBuffer's length as external memory by itself, so the GC
  // sees it (measured: process.memoryUsage().external grows by exactly
  // `bytes`); adjusting by hand as well would count it twice.
  auto* holder = new at::Tensor(t);
  auto buffer = Napi::ArrayBuffer::New(
      env, holder->data_ptr<float>(), bytes, [](Napi::Env, void*, at::Tensor* h) { delete h; }, holder);
  return Napi::Float32Array::New(env, n, buffer, 0);
}

Napi::Object TensorToJs(Napi::Env env, const at::Tensor& t) {
  auto out = Napi::Object::New(env);
  out.Set("data", Float32ArrayFromTensor(env, t));
  auto shape = Napi::Array::New(env, static_cast<size_t>(t.dim()));
  for (int64_t i = 0; i < t.dim(); ++i) shape.Set(static_cast<uint32_t>(i), static_cast<double>(t.size(i)));
  out.Set("shape", shape);
  return out;
}

at::Tensor TimestepsFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  const int64_t limit = int64_t{1} << 31;
  if (v.IsNumber()) return at::scalar_tensor(RequireInteger(env, v, what, 0, limit), at::kLong);
  if (!v.IsArray()) ThrowInvalid(env, what + " must be an integer or an array of integers (one per sample)");
  auto a = v.As<Napi::Array>();
  auto t = at::empty({static_cast<int64_t>(a.Length())}, at::kLong);
  for (uint32_t i = 0; i < a.Length(); ++i) {
    t.data_ptr<int64_t>()[i] = RequireInteger(env, a.Get(i), what + "[" + std::to_string(i) + "]", 0, limit);
  }
  return t;
}

}  // namespace spo::addon
