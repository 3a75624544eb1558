// Jobs that exercise the runner itself (timed steps, each kind of native
// failure). Exported as `diagnostics` for the runner's tests and for users
// who want to check an installation; they do no engine work.
#pragma once
#include <napi.h>

namespace spo::addon {

Napi::Object DefineDiagnostics(Napi::Env env);

}  // namespace spo::addon
