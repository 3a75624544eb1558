// Plain JavaScript values <-> JSON, for settings objects and reports.
#pragma once
#include <napi.h>

#include <nlohmann/json.hpp>
#include <string>

namespace spo::addon {

// Numbers, strings, booleans, null, arrays and plain objects (16 levels at most);
// anything else, or a non-finite number, is ERR_SPO_INVALID_ARGUMENT naming `what`.
nlohmann::json JsonFromJs(Napi::Env env, Napi::Value v, const std::string& what, int depth = 0);
Napi::Value JsonToJs(Napi::Env env, const nlohmann::json& j);

}  // namespace spo::addon
