// Reading arguments from JavaScript values with clear errors (code
// ERR_SPO_INVALID_ARGUMENT) for wrong types, NaN, fractions, out-of-range values.
#pragma once
#include <napi.h>

#include <optional>
#include <string>
#include <vector>

namespace spo::addon {

[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& message);

Napi::Object RequireObject(Napi::Env env, Napi::Value v, const std::string& what);
double RequireNumber(Napi::Env env, Napi::Value v, const std::string& what);  // finite
int64_t RequireInteger(Napi::Env env, Napi::Value v, const std::string& what, int64_t lo, int64_t hi);
bool RequireBool(Napi::Env env, Napi::Value v, const std::string& what);
std::string RequireString(Napi::Env env, Napi::Value v, const std::string& what);

// Optional members: undefined -> nullopt; anything else must be valid.
std::optional<double> OptionalNumber(Napi::Env env, const Napi::Object& o, const char* key);
std::optional<int64_t> OptionalInteger(Napi::Env env, const Napi::Object& o, const char* key, int64_t lo, int64_t hi);
std::optional<bool> OptionalBool(Napi::Env env, const Napi::Object& o, const char* key);
std::optional<std::string> OptionalString(Napi::Env env, const Napi::Object& o, const char* key);

// Refuses members outside `known` (catches typos such as `etta`).
void RejectUnknownKeys(Napi::Env env, const Napi::Object& o, const std::vector<std::string>& known,
                       const std::string& what);

// A seed: an integer in [0, 2^53) or a bigint in [0, 2^64).
uint64_t RequireSeed(Napi::Env env, Napi::Value v, const std::string& what);

}  // namespace spo::addon
