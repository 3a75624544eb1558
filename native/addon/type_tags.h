// Every wrapped class tags its instances, and every entry point checks the
// tag of `this` (and a CancelToken argument) before unwrapping: an object of
// another class, or a plain object given a borrowed prototype, is refused
// instead of having its native pointer reinterpreted.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <typeinfo>

#include "js_errors.h"

namespace spo::addon {

template <typename T>
const napi_type_tag* TypeTagOf() {
  static const napi_type_tag tag{static_cast<uint64_t>(std::hash<std::string>{}(typeid(T).name())),
                                 0x53504f2d44494646ULL /* "SPO-DIFF" */};
  return &tag;
}

template <typename T>
void TagInstance(const Napi::CallbackInfo& info) {
  info.This().As<Napi::Object>().TypeTag(TypeTagOf<T>());
}

template <typename T>
bool HasTag(Napi::Value v) {
  return v.IsObject() && v.As<Napi::Object>().CheckTypeTag(TypeTagOf<T>());
}

// Throws ERR_SPO_INVALID_ARGUMENT unless `this` is an instance of T.
template <typename T>
void RequireThis(const Napi::CallbackInfo& info, const char* class_name) {
  if (!HasTag<T>(info.This())) {
    ThrowJs(info.Env(), "ERR_SPO_INVALID_ARGUMENT", std::string("this method needs a ") + class_name + " as `this`");
  }
}

}  // namespace spo::addon
