#include "pipeline_binding.h"

#include <cstring>

#include "models/lora.h"
#include "models/lora_file.h"
#include "runtime/errors.h"
#include "tensor_bridge.h"

namespace spo::addon {
namespace {

std::vector<std::string> PromptsFromJs(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) ThrowInvalid(env, "prompts must be a non-empty array of strings");
  auto arr = v.As<Napi::Array>();
  if (arr.Length() == 0 || arr.Length() > 4096) ThrowInvalid(env, "prompts must hold between 1 and 4096 strings");
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(RequireString(env, arr.Get(i), "prompts[" + std::to_string(i) + "]"));
  return out;
}

// uint8 [..., H, W, 3] -> { data: Uint8Array, shape } (copied: the tensor is small next to the job).
Napi::Object PixelsToJs(Napi::Env env, const at::Tensor& pixels) {
  const auto t = pixels.contiguous();
  auto data = Napi::Uint8Array::New(env, static_cast<size_t>(t.numel()));
  std::memcpy(data.Data(), t.data_ptr<uint8_t>(), static_cast<size_t>(t.numel()));
  auto shape = Napi::Array::New(env, static_cast<size_t>(t.dim()));
  for (int64_t d = 0; d < t.dim(); ++d) shape.Set(static_cast<uint32_t>(d), static_cast<double>(t.size(d)));
  auto o = Napi::Object::New(env);
  o.Set("data", data);
  o.Set("shape", shape);
  return o;
}

void SetIfDefined(Napi::Env env, Napi::Object& o, const char* key, const at::Tensor& t) {
  if (t.defined()) o.Set(key, TensorToJs(env, t.contiguous()));
}

// The decoded images of a generate() or candidates() result, where it decoded.
void SetDecoded(Napi::Env env, Napi::Object& o, const at::Tensor& images, const at::Tensor& pixels) {
  SetIfDefined(env, o, "images", images);
  if (pixels.defined()) o.Set("pixels", PixelsToJs(env, pixels));
}

// The members generate() and candidates() share (GenerateRequest, CandidateRequest):
// same names, same ranges; an absent one keeps the request's default.
template <typename Request>
void ReadSamplingRequest(Napi::Env env, const Napi::Object& o, Request& req) {
  req.prompts = PromptsFromJs(env, o.Get("prompts"));
  req.negative_prompt = OptionalString(env, o, "negativePrompt");
  req.steps = OptionalInteger(env, o, "steps", 1, 1000).value_or(req.steps);
  req.guidance_scale = OptionalNumber(env, o, "guidanceScale").value_or(req.guidance_scale);
  req.eta = OptionalNumber(env, o, "eta").value_or(req.eta);
  if (!o.Get("seed").IsUndefined()) req.seed = RequireSeed(env, o.Get("seed"), "seed");
  req.decode = OptionalBool(env, o, "decode").value_or(req.decode);
  req.max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
}

}  // namespace

Napi::Function PipelineBinding::Define(Napi::Env env) {
  return DefineHandle(env, {Getter<&PipelineBinding::Info>("info"), Method<&PipelineBinding::Generate>("generate"),
                            Method<&PipelineBinding::Candidates>("candidates"), Getter<&PipelineBinding::HasLora>("hasLora"),
                            Method<&PipelineBinding::LoadLora>("loadLora"), Method<&PipelineBinding::SaveLora>("saveLora"),
                            Method<&PipelineBinding::SetLoraEnabled>("setLoraEnabled"),
                            Method<&PipelineBinding::MergeLora>("mergeLora")});
}

PipelineBinding::Borrowed PipelineBinding::Borrow(Napi::Env env, Napi::Value v, const std::string& what) {
  auto& self = FromArgument(env, v, what + " must be a Pipeline");
  return {self.Get(env), self.lora_lock_};
}

Napi::Value PipelineBinding::Load(const Napi::CallbackInfo& info) {
  return LoadFromFolder(
      info, 2,
      [&info](Napi::Env env) {
        const auto model = ModelOptionsFromJs(env, info[1]);
        pipeline::PipelineOptions options;
        options.device = model.device();
        options.dtype = model.dtype().toScalarType();
        return options;
      },
      pipeline::Pipeline::load);
}

Napi::Value PipelineBinding::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto p = Get(env);
  auto o = ModelOptionsToJs(env, at::TensorOptions().device(p->options().device).dtype(p->options().dtype));
  o.Set("kind", p->kind() == pipeline::PipelineKind::StableDiffusionXL ? "sdxl" : "sd15");
  o.Set("vaeScaleFactor", static_cast<double>(p->vae_scale_factor()));
  o.Set("latentChannels", static_cast<double>(p->latent_channels()));
  o.Set("defaultSize", static_cast<double>(p->default_size()));
  return o;
}

// generate({ prompts, negativePrompt?, steps?, guidanceScale?, eta?, seed?, width?, height?,
//            initialLatents?, decode?, maxBatch? }, token?, onProgress?)
//   -> Promise<{ latents, images?, pixels? }>
Napi::Value PipelineBinding::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = Get(env);
  auto o = RequireObject(env, info[0], "generate arguments");
  RejectUnknownKeys(env, o, {"prompts", "negativePrompt", "steps", "guidanceScale", "eta", "seed", "width", "height",
                             "initialLatents", "decode", "maxBatch"},
                    "generate arguments");
  auto req = std::make_shared<pipeline::GenerateRequest>();
  ReadSamplingRequest(env, o, *req);
  req->width = OptionalInteger(env, o, "width", 8, 16384).value_or(0);
  req->height = OptionalInteger(env, o, "height", 8, 16384).value_or(0);
  if (!o.Get("initialLatents").IsUndefined()) req->initial_latents = TensorFromJs(env, o.Get("initialLatents"), "initialLatents");
  return SubmitResultJob(
      info, 1,
      [p, req, lock = lora_lock_](const JobContext& ctx) {
        std::shared_lock hold(*lock);
        return p->generate(*req, ctx);
      },
      [](Napi::Env e, const pipeline::GenerateResult& out) -> Napi::Value {
        auto r = Napi::Object::New(e);
        SetIfDefined(e, r, "latents", out.latents);
        SetDecoded(e, r, out.images, out.pixels);
        return r;
      });
}

// candidates({ prompts, negativePrompt?, latents, modelOutput, timestep, steps?, k?, transitionsPerChain?, guidanceScale?,
//              eta?, seed?, predictX0?, decode?, maxBatch? }, token?, onProgress?)
//   -> Promise<{ prevTimestep, candidates, logProbs, chainTimesteps, chain, chainLogProbs, modelOutput?,
//                predOriginal?, images?, pixels? }>
Napi::Value PipelineBinding::Candidates(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = Get(env);
  auto o = RequireObject(env, info[0], "candidates arguments");
  RejectUnknownKeys(env, o, {"prompts", "negativePrompt", "latents", "modelOutput", "timestep", "steps", "k",
                             "transitionsPerChain", "guidanceScale", "eta", "seed", "predictX0", "decode", "maxBatch"},
                    "candidates arguments");
  auto req = std::make_shared<pipeline::CandidateRequest>();
  ReadSamplingRequest(env, o, *req);
  req->latents = TensorFromJs(env, o.Get("latents"), "latents");
  req->model_output = TensorFromJs(env, o.Get("modelOutput"), "modelOutput");
  req->timestep = RequireInteger(env, o.Get("timestep"), "timestep", 0, 100000);
  req->k = OptionalInteger(env, o, "k", 1, 1024).value_or(req->k);
  req->transitions_per_chain = OptionalInteger(env, o, "transitionsPerChain", 1, 1000).value_or(req->transitions_per_chain);
  req->predict_x0 = OptionalBool(env, o, "predictX0").value_or(true);
  return SubmitResultJob(
      info, 1,
      [p, req, lock = lora_lock_](const JobContext& ctx) {
        std::shared_lock hold(*lock);
        return p->candidates(*req, ctx);
      },
      [](Napi::Env e, const pipeline::CandidateResult& out) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("prevTimestep", static_cast<double>(out.prev_timestep));
        SetIfDefined(e, r, "candidates", out.candidates);
        SetIfDefined(e, r, "logProbs", out.log_probs);
        auto chain_timesteps = Napi::Array::New(e, out.chain_timesteps.size());
        for (size_t i = 0; i < out.chain_timesteps.size(); ++i) {
          chain_timesteps.Set(static_cast<uint32_t>(i), static_cast<double>(out.chain_timesteps[i]));
        }
        r.Set("chainTimesteps", chain_timesteps);
        SetIfDefined(e, r, "chain", out.chain);
        SetIfDefined(e, r, "chainLogProbs", out.chain_log_probs);
        SetIfDefined(e, r, "modelOutput", out.model_output);
        SetIfDefined(e, r, "predOriginal", out.pred_original);
        SetDecoded(e, r, out.images, out.pixels);
        return r;
      });
}

Napi::Value PipelineBinding::HasLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto p = Get(env);
  std::shared_lock hold(*lora_lock_, std::try_to_lock);  // never blocks the JavaScript thread
  if (!hold.owns_lock()) ThrowInvalid(env, "hasLora: a LoRA job is running on this pipeline; await it first");
  return Napi::Boolean::New(env, !models::find_lora(*p->unet()).layers.empty());
}

// loadLora(file, { prefix? }?, token?, onProgress?) -> Promise<{ layers, skippedKeys }>
// A diffusers / peft LoRA file onto the UNet (see models/lora_file.h).
Napi::Value PipelineBinding::LoadLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = Get(env);
  const std::string file = RequireString(env, info[0], "file");
  std::string prefix = "unet";
  if (!info[1].IsUndefined()) {
    auto o = RequireObject(env, info[1], "loadLora options");
    RejectUnknownKeys(env, o, {"prefix"}, "loadLora options");
    prefix = OptionalString(env, o, "prefix").value_or(prefix);
  }
  auto out = std::make_shared<models::LoraLoadResult>();
  return SubmitLambdaJob(
      info, 2,
      [p, file, prefix, out, lock = lora_lock_](const JobContext&) {
        std::unique_lock hold(*lock);
        *out = models::load_lora(file, *p->unet(), prefix);
      },
      [out](Napi::Env e) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("layers", static_cast<double>(out->set.layers.size()));
        r.Set("skippedKeys", static_cast<double>(out->skipped_keys));
        return r;
      });
}

// saveLora(file, token?, onProgress?) -> Promise<void>; refused when no LoRA is attached.
Napi::Value PipelineBinding::SaveLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = Get(env);
  const std::string file = RequireString(env, info[0], "file");
  return SubmitLambdaJob(
      info, 1,
      [p, file, lock = lora_lock_](const JobContext&) {
        std::shared_lock hold(*lock);
        models::save_lora(file, *p->unet());
      },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

// setLoraEnabled(enabled): synchronous, so refused (not waited for) while a job runs on this pipeline.
Napi::Value PipelineBinding::SetLoraEnabled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = Get(env);
  const bool enabled = RequireBool(env, info[0], "enabled");
  std::unique_lock hold(*lora_lock_, std::try_to_lock);
  if (!hold.owns_lock()) ThrowInvalid(env, "setLoraEnabled: a job is running on this pipeline; await it first");
  if (models::set_lora_enabled(*p->unet(), enabled) == 0) ThrowInvalid(env, "setLoraEnabled: this pipeline has no LoRA");
  return env.Undefined();
}

// mergeLora(token?, onProgress?) -> Promise<number>: folds the LoRA into the UNet's weights
// (enabled or not) and removes it; resolves to the number of layers merged.
Napi::Value PipelineBinding::MergeLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = Get(env);
  auto merged = std::make_shared<int64_t>(0);
  return SubmitLambdaJob(
      info, 0,
      [p, merged, lock = lora_lock_](const JobContext&) {
        std::unique_lock hold(*lock);
        *merged = models::merge_lora(*p->unet());
        require(*merged > 0, "mergeLora: this pipeline has no LoRA");
      },
      [merged](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, static_cast<double>(*merged)); });
}

void RegisterPipelineBindings(Napi::Env env, Napi::Object exports) {
  PipelineBinding::Export(env, exports, "loadPipeline");
}

}  // namespace spo::addon
