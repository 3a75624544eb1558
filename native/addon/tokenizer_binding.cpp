#include "tokenizer_binding.h"

#include "type_tags.h"

#include "addon_data.h"
#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"

namespace spo::addon {
namespace {

using TokenizerPtr = std::shared_ptr<const text::ClipTokenizer>;

Napi::Array IdsToJs(Napi::Env env, const std::vector<int64_t>& ids) {
  auto a = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(ids[i]));
  return a;
}

int64_t MaxLength(Napi::Env env, Napi::Value v) {
  return v.IsUndefined() ? 77 : RequireInteger(env, v, "maxLength", 2, 1 << 16);
}

}  // namespace

Napi::Function TokenizerBinding::Define(Napi::Env env) {
  auto ctor = DefineClass(env, "Tokenizer",
                          {InstanceMethod<&TokenizerBinding::Safe<&TokenizerBinding::Encode>>("encode"),
                           InstanceMethod<&TokenizerBinding::Safe<&TokenizerBinding::EncodePadded>>("encodePadded"),
                           InstanceMethod<&TokenizerBinding::Safe<&TokenizerBinding::EncodeBatch>>("encodeBatch"),
                           InstanceAccessor<&TokenizerBinding::Safe<&TokenizerBinding::Info>>("info"),
                           InstanceMethod<&TokenizerBinding::Safe<&TokenizerBinding::Dispose>>("dispose")});
  AddonData::Of(env).tokenizer_ctor = Napi::Persistent(ctor);
  return ctor;
}

// Constructed only by Load, with the tokenizer in an External.
TokenizerBinding::TokenizerBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenizerBinding>(info) {
  TagInstance<TokenizerBinding>(info);
  if (info.Length() != 1 || !info[0].IsExternal()) {
    ThrowJs(info.Env(), "ERR_SPO_INVALID_ARGUMENT", "use Tokenizer.load(dir) to create a tokenizer");
  }
  tokenizer_ = *info[0].As<Napi::External<TokenizerPtr>>().Data();
}

template <Napi::Value (TokenizerBinding::*M)(const Napi::CallbackInfo&)>
Napi::Value TokenizerBinding::Safe(const Napi::CallbackInfo& info) {
  RequireThis<TokenizerBinding>(info, "Tokenizer");
  // Pinned for the whole call: a JavaScript callback reached from inside it
  // (a getter, a setter) may call dispose().
  const auto keep = tokenizer_;
  return Guard(info.Env(), [&] { return (this->*M)(info); });
}

const text::ClipTokenizer& TokenizerBinding::Get(Napi::Env env) {
  if (!tokenizer_) ThrowJs(env, "ERR_SPO_DISPOSED", "this Tokenizer was disposed");
  return *tokenizer_;
}

Napi::Value TokenizerBinding::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string dir = RequireString(env, info[0], "dir");
    auto loaded = std::make_shared<TokenizerPtr>();
    return SubmitLambdaJob(
        info, 1,
        [dir, loaded](const JobContext&) {
          *loaded = std::make_shared<const text::ClipTokenizer>(text::ClipTokenizer::from_directory(dir));
        },
        [loaded](Napi::Env e) -> Napi::Value {
          TokenizerPtr copy = *loaded;
          auto external = Napi::External<TokenizerPtr>::New(e, new TokenizerPtr(copy),
                                                            [](Napi::Env, TokenizerPtr* p) { delete p; });
          return AddonData::Of(e).tokenizer_ctor.New({external});
        });
  });
}

Napi::Value TokenizerBinding::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return IdsToJs(env, Get(env).encode(RequireString(env, info[0], "text")));
}

Napi::Value TokenizerBinding::EncodePadded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = Get(env);
  const std::string text = RequireString(env, info[0], "text");
  return IdsToJs(env, t.encode_padded(text, MaxLength(env, info[1])));
}

// encodeBatch(texts, maxLength?) -> { data: Int32Array, shape: [B, maxLength] }
Napi::Value TokenizerBinding::EncodeBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = Get(env);
  if (!info[0].IsArray()) ThrowInvalid(env, "texts must be an array of strings");
  auto arr = info[0].As<Napi::Array>();
  std::vector<std::string> texts;
  for (uint32_t i = 0; i < arr.Length(); ++i) texts.push_back(RequireString(env, arr.Get(i), "texts[" + std::to_string(i) + "]"));
  const int64_t max_length = MaxLength(env, info[1]);
  const auto ids = t.encode_batch(texts, max_length).to(at::kInt).contiguous();
  auto data = Napi::Int32Array::New(env, static_cast<size_t>(ids.numel()));
  std::copy(ids.data_ptr<int32_t>(), ids.data_ptr<int32_t>() + ids.numel(), data.Data());
  auto out = Napi::Object::New(env);
  out.Set("data", data);
  auto shape = Napi::Array::New(env, 2);
  shape.Set(0u, static_cast<double>(texts.size()));
  shape.Set(1u, static_cast<double>(max_length));
  out.Set("shape", shape);
  return out;
}

Napi::Value TokenizerBinding::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = Get(env);
  auto o = Napi::Object::New(env);
  o.Set("bosId", static_cast<double>(t.bos_id()));
  o.Set("eosId", static_cast<double>(t.eos_id()));
  o.Set("padId", static_cast<double>(t.pad_id()));
  o.Set("unkId", static_cast<double>(t.unk_id()));
  o.Set("vocabSize", static_cast<double>(t.vocab_size()));
  o.Set("modelMaxLength", static_cast<double>(t.model_max_length()));
  return o;
}

Napi::Value TokenizerBinding::Dispose(const Napi::CallbackInfo& info) {
  tokenizer_.reset();
  return info.Env().Undefined();
}

}  // namespace spo::addon
