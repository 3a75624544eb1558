#pragma once
#include <napi.h>

namespace spo::addon {

void RegisterModelBindings(Napi::Env env, Napi::Object exports);

}  // namespace spo::addon
