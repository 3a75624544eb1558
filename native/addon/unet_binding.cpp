#include "unet_binding.h"

#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "models/unet_loading.h"
#include "tensor_bridge.h"

namespace spo::addon {
namespace {

struct UNetInputs {
  at::Tensor sample, timesteps, encoder_hidden_states;
  models::UNetAddedConditions added;
};

// { sample, timesteps, encoderHiddenStates, textEmbeds?, timeIds? }: copied
// here; shapes are checked by the model itself (its errors name them).
UNetInputs UNetInputsFromJs(Napi::Env env, Napi::Value v) {
  auto o = RequireObject(env, v, "UNet forward arguments");
  RejectUnknownKeys(env, o, {"sample", "timesteps", "encoderHiddenStates", "textEmbeds", "timeIds"},
                    "UNet forward arguments");
  UNetInputs in;
  in.sample = TensorFromJs(env, o.Get("sample"), "sample");
  in.timesteps = TimestepsFromJs(env, o.Get("timesteps"), "timesteps");
  in.encoder_hidden_states = TensorFromJs(env, o.Get("encoderHiddenStates"), "encoderHiddenStates");
  if (!o.Get("textEmbeds").IsUndefined()) in.added.text_embeds = TensorFromJs(env, o.Get("textEmbeds"), "textEmbeds");
  if (!o.Get("timeIds").IsUndefined()) in.added.time_ids = TensorFromJs(env, o.Get("timeIds"), "timeIds");
  return in;
}

Napi::Array IntArray(Napi::Env env, const std::vector<int64_t>& v) {
  auto a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(v[i]));
  return a;
}

}  // namespace

Napi::Function UNetBinding::Define(Napi::Env env) {
  return DefineModel(env, {Method<&UNetBinding::Forward>("forward"), Getter<&UNetBinding::Config>("config")});
}

Napi::Value UNetBinding::Load(const Napi::CallbackInfo& info) {
  return LoadModel(info, models::load_unet);
}

// forward(args, token?, onProgress?) -> Promise<Tensor> (the prediction, float32)
Napi::Value UNetBinding::Forward(const Napi::CallbackInfo& info) {
  return ModelJob(
      info, [&info](Napi::Env env) { return UNetInputsFromJs(env, info[0]); },
      [](Loaded& unet, const UNetInputs& in) {
        const auto& o = unet.options;
        return unet.model->forward(ToModel(in.sample, o), in.timesteps, ToModel(in.encoder_hidden_states, o),
                                   {ToModel(in.added.text_embeds, o), ToModel(in.added.time_ids, o)});
      },
      TensorResult);
}

Napi::Value UNetBinding::Config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& c = Get(env)->model->config;
  auto o = Napi::Object::New(env);
  o.Set("inChannels", static_cast<double>(c.in_channels));
  o.Set("outChannels", static_cast<double>(c.out_channels));
  o.Set("sampleSize", static_cast<double>(c.sample_size));
  o.Set("crossAttentionDim", static_cast<double>(c.cross_attention_dim.back()));
  o.Set("blockOutChannels", IntArray(env, c.block_out_channels));
  o.Set("additionEmbedType", c.addition_embed_type.empty() ? env.Null() : Napi::String::New(env, c.addition_embed_type));
  o.Set("additionTimeEmbedDim", static_cast<double>(c.addition_time_embed_dim));
  o.Set("projectionClassEmbeddingsInputDim", static_cast<double>(c.projection_class_embeddings_input_dim));
  return o;
}

}  // namespace spo::addon
