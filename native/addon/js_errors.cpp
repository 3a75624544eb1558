#include "js_errors.h"

#include <c10/util/Exception.h>

#include <new>

#include "runtime/errors.h"

namespace spo::addon {

CapturedError CaptureCurrentException() {
  try {
    throw;
  } catch (const spo::Error& e) {
    return {spo::error_code_name(e.code()), e.what()};
  } catch (const c10::Error& e) {
    // libtorch's own checks (shape mismatches, out of memory on a device, ...).
    return {"ERR_SPO_TORCH", e.what_without_backtrace()};
  } catch (const std::bad_alloc&) {
    return {"ERR_SPO_OUT_OF_MEMORY", "out of memory"};
  } catch (const std::exception& e) {
    return {"ERR_SPO_INTERNAL", e.what()};
  } catch (...) {
    return {"ERR_SPO_INTERNAL", "unknown native exception"};
  }
}

Napi::Value CapturedError::ToJs(Napi::Env env) const {
  auto err = Napi::Error::New(env, message).Value();
  err.Set("code", code);
  if (code == "ABORT_ERR") err.Set("name", "AbortError");
  return err;
}

void ThrowJs(Napi::Env env, const std::string& code, const std::string& message) {
  throw Napi::Error(env, CapturedError{code, message}.ToJs(env));
}

}  // namespace spo::addon
