#include "cancel_token.h"

#include "addon_data.h"
#include "js_args.h"

namespace spo::addon {

Napi::Function CancelToken::Define(Napi::Env env) {
  return DefineClass(env, "CancelToken",
                     {InstanceMethod<&CancelToken::Cancel>("cancel"),
                      InstanceAccessor<&CancelToken::Cancelled>("cancelled")});
}

CancelToken::CancelToken(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelToken>(info) {}

Napi::Value CancelToken::Cancel(const Napi::CallbackInfo& info) {
  flag_->store(true);
  return info.Env().Undefined();
}

Napi::Value CancelToken::Cancelled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), flag_->load());
}

std::shared_ptr<std::atomic<bool>> CancelToken::FlagOf(Napi::Env env, Napi::Value v) {
  if (v.IsUndefined() || v.IsNull()) return std::make_shared<std::atomic<bool>>(false);
  auto& data = AddonData::Of(env);
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data.cancel_token_ctor.Value())) {
    ThrowInvalid(env, "the cancel token must be a CancelToken");
  }
  return Unwrap(v.As<Napi::Object>())->flag_;
}

}  // namespace spo::addon
