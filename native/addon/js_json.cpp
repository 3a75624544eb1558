#include "js_json.h"

#include <cmath>

#include "js_args.h"

namespace spo::addon {

// A plain JavaScript value -> JSON (numbers, strings, booleans, null, arrays, plain objects).
nlohmann::json JsonFromJs(Napi::Env env, Napi::Value v, const std::string& what, int depth) {
  if (depth > 16) ThrowInvalid(env, what + ": nested too deeply");
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) ThrowInvalid(env, what + " must be a finite number");
    if (std::floor(d) == d && std::abs(d) < 9.007199254740992e15) return static_cast<int64_t>(d);
    return d;
  }
  if (v.IsBigInt()) {
    bool lossless = false;
    const uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowInvalid(env, what + " must fit an unsigned 64-bit integer");
    return u;
  }
  if (v.IsArray()) {
    auto arr = v.As<Napi::Array>();
    nlohmann::json out = nlohmann::json::array();
    for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(JsonFromJs(env, arr.Get(i), what, depth + 1));
    return out;
  }
  if (v.IsObject()) {
    auto o = v.As<Napi::Object>();
    nlohmann::json out = nlohmann::json::object();
    auto keys = o.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
      auto value = o.Get(key);
      if (value.IsUndefined()) continue;
      out[key] = JsonFromJs(env, value, what + "." + key, depth + 1);
    }
    return out;
  }
  ThrowInvalid(env, what + " must be plain data (numbers, strings, booleans, arrays, objects)");
}

Napi::Value JsonToJs(Napi::Env env, const nlohmann::json& j) {
  if (j.is_null()) return env.Null();
  if (j.is_boolean()) return Napi::Boolean::New(env, j.get<bool>());
  if (j.is_number()) return Napi::Number::New(env, j.get<double>());
  if (j.is_string()) return Napi::String::New(env, j.get<std::string>());
  if (j.is_array()) {
    auto arr = Napi::Array::New(env, j.size());
    for (size_t i = 0; i < j.size(); ++i) arr.Set(static_cast<uint32_t>(i), JsonToJs(env, j[i]));
    return arr;
  }
  auto o = Napi::Object::New(env);
  for (const auto& [k, v] : j.items()) o.Set(k, JsonToJs(env, v));
  return o;
}

}  // namespace spo::addon
