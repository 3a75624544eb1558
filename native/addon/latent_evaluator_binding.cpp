#include "latent_evaluator_binding.h"

#include "evaluator/latent_preference_training.h"
#include "evaluator_js.h"
#include "pipeline_binding.h"
#include "runtime/errors.h"
#include "tensor_bridge.h"

namespace spo::addon {

// The LatentEvaluator's own members (evaluator_handle_binding.h) are defined below for this kind.
using LatentHandle = EvaluatorHandleBinding<LatentEvaluatorBinding, evaluator::LatentPreferenceModel>;

namespace {

using ModelPtr = std::shared_ptr<evaluator::LatentPreferenceModel>;

evaluator::LatentPreferenceModelOptions DeviceOption(Napi::Env env, const Napi::Object& o) {
  evaluator::LatentPreferenceModelOptions options;
  if (!o.Get("device").IsUndefined()) {
    auto model_options = Napi::Object::New(env);
    model_options.Set("device", o.Get("device"));
    options.device = ModelOptionsFromJs(env, model_options).device();
  }
  return options;
}

}  // namespace

Napi::Value LatentEvaluatorBinding::Load(const Napi::CallbackInfo& info) {
  return LoadFromFolder(
      info, 2,
      [&info](Napi::Env env) {
        if (info[1].IsUndefined()) return evaluator::LatentPreferenceModelOptions{};
        auto o = RequireObject(env, info[1], "Evaluator.load options");
        // The pixel model's own options have no meaning for a latent folder: refused, not ignored.
        if (!o.Get("timeConditioning").IsUndefined() || !o.Get("initSeed").IsUndefined() || !o.Get("dtype").IsUndefined())
          throw Unsupported("a latent evaluator folder takes only the device option (timeConditioning, initSeed and "
                            "dtype apply to pixel evaluators)");
        RejectUnknownKeys(env, o, {"device"}, "Evaluator.load options");
        return DeviceOption(env, o);
      },
      [](const std::string& dir, const evaluator::LatentPreferenceModelOptions& o) {
        return evaluator::LatentPreferenceModel::load(dir, o);
      });
}

Napi::Value LatentEvaluatorBinding::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string from = RequireString(env, info[0], "textFrom");
    evaluator::LatentNetConfig config;
    uint64_t seed = 42;
    evaluator::LatentPreferenceModelOptions options;
    if (!info[1].IsUndefined()) {
      auto o = RequireObject(env, info[1], "Evaluator.createLatent options");
      RejectUnknownKeys(env, o, {"latentChannels", "width", "blocks", "blocksPerLevel", "groups", "seed", "device"},
                        "Evaluator.createLatent options");
      config.latent_channels = OptionalInteger(env, o, "latentChannels", 1, 64).value_or(config.latent_channels);
      config.width = OptionalInteger(env, o, "width", 1, 4096).value_or(config.width);
      config.blocks = OptionalInteger(env, o, "blocks", 0, 64).value_or(config.blocks);
      config.blocks_per_level = OptionalInteger(env, o, "blocksPerLevel", 1, 64).value_or(config.blocks_per_level);
      config.groups = OptionalInteger(env, o, "groups", 1, 4096).value_or(config.groups);
      if (!o.Get("seed").IsUndefined()) seed = RequireSeed(env, o.Get("seed"), "seed");
      options = DeviceOption(env, o);
    }
    auto made = std::make_shared<ModelPtr>();
    return SubmitLambdaJob(
        info, 2,
        [from, config, seed, options, made](const JobContext&) {
          *made = evaluator::LatentPreferenceModel::create(from, config, seed, options);
        },
        [made](Napi::Env e) { return NewInstance(e, *made); });
  });
}

Napi::Value LatentEvaluatorBinding::IsLatentFolder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    return Napi::Boolean::New(env, evaluator::LatentPreferenceModel::is_latent_folder(RequireString(env, info[0], "dir")));
  });
}

template <>
Napi::Value LatentHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto m = Get(env);
  auto o = ModelOptionsToJs(env, at::TensorOptions().device(m->options().device).dtype(at::kFloat));
  const auto& c = m->config();
  o.Set("kind", evaluator::kLatentEvaluatorKind);
  o.Set("timeConditioning", "step-aware");
  o.Set("imageSize", 0.0);  // it never sees images
  o.Set("projectionDim", static_cast<double>(c.text_dim));
  o.Set("latentChannels", static_cast<double>(c.latent_channels));
  o.Set("width", static_cast<double>(c.width));
  o.Set("blocks", static_cast<double>(c.blocks));
  return o;
}

template <>
Napi::Value LatentHandle::ScoreImages(const Napi::CallbackInfo&) {
  throw InvalidArgument("a latent evaluator scores latents, not images: give latents (x_t) and their timesteps");
}

// scoreLatents({ latents, prompts, timesteps, maxBatch?, pipeline?, clean? }) -> Promise<tensor [B]>.
// The latents are scored as they are (x_t at t, or clean at t = 0): no pipeline is needed.
template <>
Napi::Value LatentHandle::ScoreLatents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "scoreLatents arguments");
  if (!o.Get("guidanceScale").IsUndefined())
    throw InvalidArgument("a latent evaluator scores the latents themselves: guidanceScale (of an x0 prediction) does not apply");
  RejectUnknownKeys(env, o, {"pipeline", "latents", "prompts", "timesteps", "clean", "maxBatch"}, "scoreLatents arguments");
  return ScoreJob(info, m, o, "latents", &evaluator::LatentPreferenceModel::score);
}

// validate({ pipeline, pairs, timesteps?, seed?, maxBatch?, guidanceScale? (unused) }) -> Promise<report>
template <>
Napi::Value LatentHandle::Validate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto a = ValidateArgsFromJs(env, info[0]);
  return LockedJob(
      info, Access::Read, a.pipe.lock,
      [m, pipe = a.pipe.pipeline, pairs = a.pairs, timesteps = a.timesteps, seed = a.seed,
       max_batch = a.max_batch](const JobContext& ctx) {
        return evaluator::validate_latent_preference_model(*m, *pipe, *pairs, timesteps, seed, max_batch, ctx);
      },
      ValidationReportToJs);
}

// train({ pipeline, train, validation?, steps?, batchSize?, learningRate?, weightDecay?, warmupSteps?,
//         maxGradNorm?, seed?, validationTimesteps?, validateEvery?, maxBatch? }) -> Promise<result>
// (guidanceScale is accepted and unused: the latent recipe denoises nothing.)
template <>
Napi::Value LatentHandle::Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "train arguments");
  for (const char* key : {"checkpointDir", "checkpointEvery", "resume", "distributed"})
    if (!o.Get(key).IsUndefined())
      throw Unsupported(std::string("a latent evaluator trains in one process without checkpoints (") + key +
                        " is for pixel evaluators); its runs take minutes");
  auto a = TrainArgsFromJs(env, o, {});
  evaluator::LatentTrainingOptions t;
  ReadTrainingOptions(env, a.o, t);
  return LockedJob(
      info, Access::Train, a.pipe.lock,
      [m, pipe = a.pipe.pipeline, train = a.train, validation = a.validation, t](const JobContext& ctx) {
        auto r = evaluator::train_latent_preference_model(*m, *pipe, *train, *validation, t, ctx);
        // As a pixel run in one process that started at step 0 and wrote no checkpoints.
        evaluator::PreferenceTrainingResult result;
        result.steps_done = r.steps_done;
        result.losses = std::move(r.losses);
        result.validations = std::move(r.validations);
        return result;
      },
      TrainingResultToJs);
}

void RegisterLatentEvaluatorBindings(Napi::Env env, Napi::Object exports) {
  LatentEvaluatorBinding::Export(env, exports, "loadLatentEvaluator");
  exports.Set("createLatentEvaluator", Napi::Function::New<LatentEvaluatorBinding::Create>(env, "createLatentEvaluator"));
  exports.Set("isLatentEvaluatorFolder",
              Napi::Function::New<LatentEvaluatorBinding::IsLatentFolder>(env, "isLatentEvaluatorFolder"));
}

}  // namespace spo::addon
