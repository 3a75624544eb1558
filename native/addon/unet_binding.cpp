#include "unet_binding.h"

#include "type_tags.h"

#include <ATen/core/grad_mode.h>

#include "addon_data.h"
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
  auto ctor = DefineClass(env, "UNet",
                          {InstanceMethod<&UNetBinding::Safe<&UNetBinding::Forward>>("forward"),
                           InstanceAccessor<&UNetBinding::Safe<&UNetBinding::Config>>("config"),
                           InstanceAccessor<&UNetBinding::Safe<&UNetBinding::Options>>("options"),
                           InstanceMethod<&UNetBinding::Safe<&UNetBinding::Dispose>>("dispose")});
  AddonData::Of(env).unet_ctor = Napi::Persistent(ctor);
  return ctor;
}

UNetBinding::UNetBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UNetBinding>(info) {
  TagInstance<UNetBinding>(info);
  unet_ = HandleFromExternal<Loaded>(info, "UNet");
}

template <Napi::Value (UNetBinding::*M)(const Napi::CallbackInfo&)>
Napi::Value UNetBinding::Safe(const Napi::CallbackInfo& info) {
  RequireThis<UNetBinding>(info, "UNet");
  // Pinned for the whole call: a JavaScript callback reached from inside it
  // (a getter, a setter) may call dispose().
  const auto keep = unet_;
  return Guard(info.Env(), [&] { return (this->*M)(info); });
}

std::shared_ptr<UNetBinding::Loaded> UNetBinding::Get(Napi::Env env) {
  if (!unet_) ThrowJs(env, "ERR_SPO_DISPOSED", "this UNet was disposed");
  return unet_;
}

Napi::Value UNetBinding::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string dir = RequireString(env, info[0], "dir");
    const at::TensorOptions options = ModelOptionsFromJs(env, info[1]);
    auto loaded = std::make_shared<std::shared_ptr<Loaded>>();
    return SubmitLambdaJob(
        info, 2,
        [dir, options, loaded](const JobContext&) {
          *loaded = std::make_shared<Loaded>(Loaded{models::load_unet(dir, options), options});
        },
        [loaded](Napi::Env e) { return NewHandle(e, AddonData::Of(e).unet_ctor, *loaded); });
  });
}

// forward(args, token?, onProgress?) -> Promise<Tensor> (the prediction, float32)
Napi::Value UNetBinding::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto unet = Get(env);
  auto in = std::make_shared<UNetInputs>(UNetInputsFromJs(env, info[0]));
  auto out = std::make_shared<at::Tensor>();
  return SubmitLambdaJob(
      info, 1,
      [unet, in, out](const JobContext& ctx) {
        ctx.check_cancelled();
        at::NoGradGuard no_grad;
        const auto& o = unet->options;
        *out = unet->model->forward(ToModel(in->sample, o), in->timesteps, ToModel(in->encoder_hidden_states, o),
                                    {ToModel(in->added.text_embeds, o), ToModel(in->added.time_ids, o)});
      },
      [out](Napi::Env e) -> Napi::Value { return TensorToJs(e, *out); });
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

Napi::Value UNetBinding::Options(const Napi::CallbackInfo& info) {
  return ModelOptionsToJs(info.Env(), Get(info.Env())->options);
}

Napi::Value UNetBinding::Dispose(const Napi::CallbackInfo& info) {
  unet_.reset();  // running jobs hold their own reference
  return info.Env().Undefined();
}

}  // namespace spo::addon
