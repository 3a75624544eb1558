#include "cancel_token.h"

#include "type_tags.h"
#include "js_args.h"

namespace spo::addon {

Napi::Function CancelToken::Define(Napi::Env env) {
  return DefineClass(env, "CancelToken",
                     {InstanceMethod<&CancelToken::Cancel>("cancel"),
                      InstanceAccessor<&CancelToken::Cancelled>("cancelled")});
}

CancelToken::CancelToken(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelToken>(info) {
  TagInstance<CancelToken>(info);
}

Napi::Value CancelToken::Cancel(const Napi::CallbackInfo& info) {
  RequireThis<CancelToken>(info, "CancelToken");
  flag_->store(true);
  return info.Env().Undefined();
}

Napi::Value CancelToken::Cancelled(const Napi::CallbackInfo& info) {
  RequireThis<CancelToken>(info, "CancelToken");
  return Napi::Boolean::New(info.Env(), flag_->load());
}

std::shared_ptr<std::atomic<bool>> CancelToken::FlagOf(Napi::Env env, Napi::Value v) {
  if (v.IsUndefined() || v.IsNull()) return std::make_shared<std::atomic<bool>>(false);
  if (!HasTag<CancelToken>(v)) ThrowInvalid(env, "the cancel token must be a CancelToken");
  return Unwrap(v.As<Napi::Object>())->flag_;
}

}  // namespace spo::addon
