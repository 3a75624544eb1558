// Tokenizer for JavaScript: loaded by a job (file reading), then synchronous
// encode calls (microseconds each: a Promise would cost more than the work).
#pragma once
#include <napi.h>

#include <memory>

#include "text/clip_tokenizer.h"

namespace spo::addon {

class TokenizerBinding : public Napi::ObjectWrap<TokenizerBinding> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit TokenizerBinding(const Napi::CallbackInfo& info);

  // loadTokenizer(dir, token?, onProgress?) -> Promise<Tokenizer>
  static Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  template <Napi::Value (TokenizerBinding::*M)(const Napi::CallbackInfo&)>
  Napi::Value Safe(const Napi::CallbackInfo& info);
  const text::ClipTokenizer& Get(Napi::Env env);

  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value EncodePadded(const Napi::CallbackInfo& info);
  Napi::Value EncodeBatch(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<const text::ClipTokenizer> tokenizer_;
};

}  // namespace spo::addon
