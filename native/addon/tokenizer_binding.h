// Tokenizer for JavaScript: loaded by a job (file reading), then synchronous
// encode calls (microseconds each: a Promise would cost more than the work).
#pragma once
#include <napi.h>

#include "handle_binding.h"
#include "text/clip_tokenizer.h"

namespace spo::addon {

class TokenizerBinding : public HandleBinding<TokenizerBinding, const text::ClipTokenizer> {
 public:
  static constexpr const char* kClassName = "Tokenizer";
  static Napi::Function Define(Napi::Env env);
  explicit TokenizerBinding(const Napi::CallbackInfo& info) : HandleBinding(info) {}

  // loadTokenizer(dir, token?, onProgress?) -> Promise<Tokenizer>
  static Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value EncodePadded(const Napi::CallbackInfo& info);
  Napi::Value EncodeBatch(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
};

}  // namespace spo::addon
