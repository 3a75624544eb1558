#include "vae_binding.h"

#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "models/autoencoder_kl_loading.h"
#include "tensor_bridge.h"

namespace spo::addon {
namespace {

// Reads argument 0, a tensor (`what` names it in errors).
auto ReadTensor(const Napi::CallbackInfo& info, const char* what) {
  return [&info, what](Napi::Env env) { return TensorFromJs(env, info[0], what); };
}

}  // namespace

Napi::Function VaeBinding::Define(Napi::Env env) {
  return DefineModel(env, {Method<&VaeBinding::Encode>("encode"), Method<&VaeBinding::Decode>("decode"),
                           Method<&VaeBinding::DecodeLatents>("decodeLatents"), Getter<&VaeBinding::Config>("config")});
}

Napi::Value VaeBinding::Load(const Napi::CallbackInfo& info) {
  return LoadModel(info, models::load_autoencoder_kl);
}

// encode(images, token?, onProgress?) -> Promise<{ mean, logvar }>: the latent distribution.
Napi::Value VaeBinding::Encode(const Napi::CallbackInfo& info) {
  return ModelJob(
      info, ReadTensor(info, "images"),
      [](Loaded& vae, const at::Tensor& images) { return vae.model->encode(ToModel(images, vae.options)); },
      [](Napi::Env e, const models::LatentDistribution& out) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("mean", TensorToJs(e, out.mean));
        r.Set("logvar", TensorToJs(e, out.logvar));
        return r;
      });
}

// decode(latents, token?, onProgress?) -> Promise<Tensor>: the raw decoder on unscaled latents.
Napi::Value VaeBinding::Decode(const Napi::CallbackInfo& info) {
  return ModelJob(
      info, ReadTensor(info, "latents"),
      [](Loaded& vae, const at::Tensor& z) { return vae.model->decode(ToModel(z, vae.options)); }, TensorResult);
}

// decodeLatents(latents, ...): the diffusion model's latents, unscaled first (1 / scaling_factor, + shift_factor).
Napi::Value VaeBinding::DecodeLatents(const Napi::CallbackInfo& info) {
  return ModelJob(
      info, ReadTensor(info, "latents"),
      [](Loaded& vae, const at::Tensor& latents) { return vae.model->decode_latents(ToModel(latents, vae.options)); },
      TensorResult);
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

}  // namespace spo::addon
