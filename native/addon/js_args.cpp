#include "js_args.h"

#include <algorithm>
#include <cmath>

#include "js_errors.h"

namespace spo::addon {

void ThrowInvalid(Napi::Env env, const std::string& message) { ThrowJs(env, "ERR_SPO_INVALID_ARGUMENT", message); }

Napi::Object RequireObject(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) ThrowInvalid(env, what + " must be an object");
  return v.As<Napi::Object>();
}

double RequireNumber(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsNumber()) ThrowInvalid(env, what + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) ThrowInvalid(env, what + " must be finite, got " + std::to_string(d));
  return d;
}

int64_t RequireInteger(Napi::Env env, Napi::Value v, const std::string& what, int64_t lo, int64_t hi) {
  const double d = RequireNumber(env, v, what);
  if (d != std::floor(d)) ThrowInvalid(env, what + " must be an integer, got " + std::to_string(d));
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    ThrowInvalid(env, what + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                          std::to_string(static_cast<long long>(d)));
  }
  return static_cast<int64_t>(d);
}

bool RequireBool(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsBoolean()) ThrowInvalid(env, what + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string RequireString(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsString()) ThrowInvalid(env, what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::optional<double> OptionalNumber(Napi::Env env, const Napi::Object& o, const char* key) {
  auto v = o.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  return RequireNumber(env, v, key);
}

std::optional<int64_t> OptionalInteger(Napi::Env env, const Napi::Object& o, const char* key, int64_t lo, int64_t hi) {
  auto v = o.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  return RequireInteger(env, v, key, lo, hi);
}

std::optional<bool> OptionalBool(Napi::Env env, const Napi::Object& o, const char* key) {
  auto v = o.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  return RequireBool(env, v, key);
}

std::optional<std::string> OptionalString(Napi::Env env, const Napi::Object& o, const char* key) {
  auto v = o.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  return RequireString(env, v, key);
}

void RejectUnknownKeys(Napi::Env env, const Napi::Object& o, const std::vector<std::string>& known,
                       const std::string& what) {
  const auto names = o.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const auto name = names.Get(i).ToString().Utf8Value();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      ThrowInvalid(env, what + " has an unknown option '" + name + "' (known: " + list + ")");
    }
  }
}

uint64_t RequireSeed(Napi::Env env, Napi::Value v, const std::string& what) {
  if (v.IsBigInt()) {
    bool lossless = false;
    const uint64_t s = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowInvalid(env, what + " must be a bigint in [0, 2^64)");
    return s;
  }
  return static_cast<uint64_t>(RequireInteger(env, v, what, 0, (int64_t{1} << 53) - 1));
}

}  // namespace spo::addon
