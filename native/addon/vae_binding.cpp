#include "vae_binding.h"

#include "type_tags.h"

#include <ATen/core/grad_mode.h>

#include <functional>

#include "addon_data.h"
#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "models/autoencoder_kl_loading.h"
#include "tensor_bridge.h"

namespace spo::addon {
namespace {

using Vae = VaeBinding::Loaded;

// One tensor in, one tensor out, on the job runner without gradients:
// decode and decodeLatents differ only in the model call.
Napi::Value TensorJob(const Napi::CallbackInfo& info, std::shared_ptr<Vae> vae, const char* what,
                      std::function<at::Tensor(Vae&, const at::Tensor&)> call) {
  auto input = TensorFromJs(info.Env(), info[0], what);
  auto out = std::make_shared<at::Tensor>();
  return SubmitLambdaJob(
      info, 1,
      [vae, input, out, call](const JobContext& ctx) {
        ctx.check_cancelled();
        at::NoGradGuard no_grad;
        *out = call(*vae, ToModel(input, vae->options));
      },
      [out](Napi::Env e) -> Napi::Value { return TensorToJs(e, *out); });
}

}  // namespace

Napi::Function VaeBinding::Define(Napi::Env env) {
  auto ctor = DefineClass(env, "VAE",
                          {InstanceMethod<&VaeBinding::Safe<&VaeBinding::Encode>>("encode"),
                           InstanceMethod<&VaeBinding::Safe<&VaeBinding::Decode>>("decode"),
                           InstanceMethod<&VaeBinding::Safe<&VaeBinding::DecodeLatents>>("decodeLatents"),
                           InstanceAccessor<&VaeBinding::Safe<&VaeBinding::Config>>("config"),
                           InstanceAccessor<&VaeBinding::Safe<&VaeBinding::Options>>("options"),
                           InstanceMethod<&VaeBinding::Safe<&VaeBinding::Dispose>>("dispose")});
  AddonData::Of(env).vae_ctor = Napi::Persistent(ctor);
  return ctor;
}

VaeBinding::VaeBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VaeBinding>(info) {
  TagInstance<VaeBinding>(info);
  vae_ = HandleFromExternal<Loaded>(info, "VAE");
}

template <Napi::Value (VaeBinding::*M)(const Napi::CallbackInfo&)>
Napi::Value VaeBinding::Safe(const Napi::CallbackInfo& info) {
  RequireThis<VaeBinding>(info, "VAE");
  // Pinned for the whole call: a JavaScript callback reached from inside it
  // (a getter, a setter) may call dispose().
  const auto keep = vae_;
  return Guard(info.Env(), [&] { return (this->*M)(info); });
}

std::shared_ptr<VaeBinding::Loaded> VaeBinding::Get(Napi::Env env) {
  if (!vae_) ThrowJs(env, "ERR_SPO_DISPOSED", "this VAE was disposed");
  return vae_;
}

Napi::Value VaeBinding::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string dir = RequireString(env, info[0], "dir");
    const at::TensorOptions options = ModelOptionsFromJs(env, info[1]);
    auto loaded = std::make_shared<std::shared_ptr<Loaded>>();
    return SubmitLambdaJob(
        info, 2,
        [dir, options, loaded](const JobContext&) {
          *loaded = std::make_shared<Loaded>(Loaded{models::load_autoencoder_kl(dir, options), options});
        },
        [loaded](Napi::Env e) { return NewHandle(e, AddonData::Of(e).vae_ctor, *loaded); });
  });
}

// encode(images, token?, onProgress?) -> Promise<{ mean, logvar }>: the latent distribution.
Napi::Value VaeBinding::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto vae = Get(env);
  auto images = TensorFromJs(env, info[0], "images");
  auto out = std::make_shared<models::LatentDistribution>();
  return SubmitLambdaJob(
      info, 1,
      [vae, images, out](const JobContext& ctx) {
        ctx.check_cancelled();
        at::NoGradGuard no_grad;
        *out = vae->model->encode(ToModel(images, vae->options));
      },
      [out](Napi::Env e) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("mean", TensorToJs(e, out->mean));
        r.Set("logvar", TensorToJs(e, out->logvar));
        return r;
      });
}

// decode(latents, token?, onProgress?) -> Promise<Tensor>: the raw decoder on unscaled latents.
Napi::Value VaeBinding::Decode(const Napi::CallbackInfo& info) {
  return TensorJob(info, Get(info.Env()), "latents", [](Vae& v, const at::Tensor& z) { return v.model->decode(z); });
}

// decodeLatents(latents, ...): the diffusion model's latents, unscaled first (1 / scaling_factor, + shift_factor).
Napi::Value VaeBinding::DecodeLatents(const Napi::CallbackInfo& info) {
  return TensorJob(info, Get(info.Env()), "latents",
                   [](Vae& v, const at::Tensor& latents) { return v.model->decode_latents(latents); });
}

Napi::Value VaeBinding::Config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& vae = Get(env)->model;
  const auto& c = vae->config;
  auto o = Napi::Object::New(env);
  o.Set("inChannels", static_cast<double>(c.in_channels));
  o.Set("outChannels", static_cast<double>(c.out_channels));
  o.Set("latentChannels", static_cast<double>(c.latent_channels));
  o.Set("sampleSize", static_cast<double>(c.sample_size));
  o.Set("scalingFactor", c.scaling_factor);
  o.Set("shiftFactor", c.shift_factor ? Napi::Number::New(env, *c.shift_factor) : env.Null());
  o.Set("forceUpcast", c.force_upcast);
  o.Set("downscaleFactor", static_cast<double>(vae->downscale_factor()));
  return o;
}

Napi::Value VaeBinding::Options(const Napi::CallbackInfo& info) {
  return ModelOptionsToJs(info.Env(), Get(info.Env())->options);
}

Napi::Value VaeBinding::Dispose(const Napi::CallbackInfo& info) {
  vae_.reset();  // running jobs hold their own reference
  return info.Env().Undefined();
}

}  // namespace spo::addon
