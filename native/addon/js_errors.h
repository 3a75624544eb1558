// C++ exceptions to JavaScript errors. A worker captures the exception as
// plain data (it may not touch V8); the JavaScript thread turns it into an
// Error whose `code` names its kind. lib/runtime/errors.ts maps codes to classes and
// attaches the caller's stack.
#pragma once
#include <napi.h>

#include <string>

namespace spo::addon {

struct CapturedError {
  std::string code;     // e.g. ERR_SPO_INVALID_ARGUMENT, ERR_SPO_TORCH, ABORT_ERR
  std::string message;
  Napi::Value ToJs(Napi::Env env) const;
};

// Classifies the exception in flight; call only inside a catch block.
CapturedError CaptureCurrentException();

// Throws a JavaScript error with `code` (for synchronous argument checks).
[[noreturn]] void ThrowJs(Napi::Env env, const std::string& code, const std::string& message);

// Runs `fn` on the JavaScript thread, converting C++ exceptions to JS errors.
template <typename Fn>
auto Guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    const auto e = CaptureCurrentException();
    throw Napi::Error(env, e.ToJs(env));
  }
}

}  // namespace spo::addon
