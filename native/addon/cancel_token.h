// A cancel flag shared between JavaScript (which sets it when an AbortSignal
// fires) and the job that checks it between steps.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

namespace spo::addon {

class CancelToken : public Napi::ObjectWrap<CancelToken> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CancelToken(const Napi::CallbackInfo& info);
  const std::shared_ptr<std::atomic<bool>>& flag() const { return flag_; }

  // The flag of a CancelToken passed as `v`, or a fresh one for undefined.
  static std::shared_ptr<std::atomic<bool>> FlagOf(Napi::Env env, Napi::Value v);

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Cancelled(const Napi::CallbackInfo& info);
  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace spo::addon
