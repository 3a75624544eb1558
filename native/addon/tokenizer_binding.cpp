#include "tokenizer_binding.h"

namespace spo::addon {
namespace {

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
  return DefineHandle(env, {Method<&TokenizerBinding::Encode>("encode"), Method<&TokenizerBinding::EncodePadded>("encodePadded"),
                            Method<&TokenizerBinding::EncodeBatch>("encodeBatch"), Getter<&TokenizerBinding::Info>("info")});
}

Napi::Value TokenizerBinding::Load(const Napi::CallbackInfo& info) {
  return LoadFromFolder(info, 1, [](const std::string& dir) {
    return std::make_shared<const text::ClipTokenizer>(text::ClipTokenizer::from_directory(dir));
  });
}

Napi::Value TokenizerBinding::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return IdsToJs(env, Get(env)->encode(RequireString(env, info[0], "text")));
}

Napi::Value TokenizerBinding::EncodePadded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto t = Get(env);
  const std::string text = RequireString(env, info[0], "text");
  return IdsToJs(env, t->encode_padded(text, MaxLength(env, info[1])));
}

// encodeBatch(texts, maxLength?) -> { data: Int32Array, shape: [B, maxLength] }
Napi::Value TokenizerBinding::EncodeBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto t = Get(env);
  if (!info[0].IsArray()) ThrowInvalid(env, "texts must be an array of strings");
  auto arr = info[0].As<Napi::Array>();
  std::vector<std::string> texts;
  for (uint32_t i = 0; i < arr.Length(); ++i) texts.push_back(RequireString(env, arr.Get(i), "texts[" + std::to_string(i) + "]"));
  const int64_t max_length = MaxLength(env, info[1]);
  const auto ids = t->encode_batch(texts, max_length).to(at::kInt).contiguous();
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
  const auto t = Get(env);
  auto o = Napi::Object::New(env);
  o.Set("bosId", static_cast<double>(t->bos_id()));
  o.Set("eosId", static_cast<double>(t->eos_id()));
  o.Set("padId", static_cast<double>(t->pad_id()));
  o.Set("unkId", static_cast<double>(t->unk_id()));
  o.Set("vocabSize", static_cast<double>(t->vocab_size()));
  o.Set("modelMaxLength", static_cast<double>(t->model_max_length()));
  return o;
}

}  // namespace spo::addon
