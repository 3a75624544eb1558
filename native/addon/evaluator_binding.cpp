#include "evaluator_binding.h"

#include "evaluator/latent_scoring.h"
#include "evaluator/pair_rule.h"
#include "evaluator/pairs_file.h"
#include "evaluator/preference_training.h"
#include "latent_evaluator_binding.h"
#include "pipeline_binding.h"
#include "runtime/errors.h"
#include "tensor_bridge.h"
#include "trainer_binding.h"

namespace spo::addon {

// The Evaluator's own members (evaluator_handle_binding.h) are defined below for this kind.
using PixelHandle = EvaluatorHandleBinding<EvaluatorBinding, evaluator::PreferenceModel>;

EvaluatorBinding::Borrowed EvaluatorBinding::Borrow(Napi::Env env, Napi::Value v, const std::string& what) {
  auto& self = FromArgument(env, v, what + " must be an Evaluator");
  return {self.Get(env), self.lock_};
}

// Options: { device?, dtype? } as every model reads them, plus the evaluator's own.
Napi::Value EvaluatorBinding::Load(const Napi::CallbackInfo& info) {
  return LoadFromFolder(
      info, 2,
      [&info](Napi::Env env) {
        evaluator::PreferenceModelOptions options;
        if (info[1].IsUndefined()) return options;
        auto o = RequireObject(env, info[1], "Evaluator.load options");
        RejectUnknownKeys(env, o, {"device", "dtype", "timeConditioning", "initSeed"}, "Evaluator.load options");
        auto model_options = Napi::Object::New(env);
        if (!o.Get("device").IsUndefined()) model_options.Set("device", o.Get("device"));
        if (!o.Get("dtype").IsUndefined()) model_options.Set("dtype", o.Get("dtype"));
        const auto tensor_options = ModelOptionsFromJs(env, model_options);
        options.device = tensor_options.device();
        options.dtype = tensor_options.dtype().toScalarType();
        if (auto mode = OptionalString(env, o, "timeConditioning")) options.time_conditioning = models::parse_time_conditioning(*mode);
        if (!o.Get("initSeed").IsUndefined()) options.init_seed = RequireSeed(env, o.Get("initSeed"), "initSeed");
        return options;
      },
      evaluator::PreferenceModel::load);
}

Napi::Value EvaluatorBinding::ReadPairsFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string path = RequireString(env, info[0], "path");
    auto pairs = std::make_shared<std::vector<evaluator::PairRecord>>();
    return SubmitLambdaJob(
        info, 1, [path, pairs](const JobContext&) { *pairs = evaluator::read_pairs_file(path); },
        [pairs](Napi::Env e) -> Napi::Value {
          auto arr = Napi::Array::New(e, pairs->size());
          for (size_t i = 0; i < pairs->size(); ++i) {
            const auto& p = (*pairs)[i];
            auto o = Napi::Object::New(e);
            o.Set("prompt", p.prompt);
            o.Set("image0", p.image_0);
            o.Set("image1", p.image_1);
            if (p.label_0 == 0.5) o.Set("label", "tie");
            else o.Set("label", p.label_0 == 1.0 ? 0.0 : 1.0);
            o.Set("line", static_cast<double>(p.line));
            arr.Set(static_cast<uint32_t>(i), o);
          }
          return arr;
        });
  });
}

template <>
Napi::Value PixelHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto m = Get(env);
  auto o = ModelOptionsToJs(env, at::TensorOptions().device(m->options().device).dtype(m->options().dtype));
  o.Set("timeConditioning", models::time_conditioning_name(m->time_conditioning()));
  o.Set("imageSize", static_cast<double>(m->image_size()));
  o.Set("projectionDim", static_cast<double>(m->model()->config.projection_dim));
  return o;
}

// scoreImages({ images [B,3,H,W] in [-1,1], prompts, timesteps, maxBatch? }, token?, onProgress?) -> Promise<tensor [B]>
template <>
Napi::Value PixelHandle::ScoreImages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "scoreImages arguments");
  RejectUnknownKeys(env, o, {"images", "prompts", "timesteps", "maxBatch"}, "scoreImages arguments");
  return ScoreJob(info, m, o, "images", &evaluator::PreferenceModel::score_images);
}

// scoreLatents({ pipeline, latents, prompts, timesteps, guidanceScale?, clean?, maxBatch? }, token?, onProgress?)
//   -> Promise<tensor [B]>
template <>
Napi::Value PixelHandle::ScoreLatents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "scoreLatents arguments");
  RejectUnknownKeys(env, o, {"pipeline", "latents", "prompts", "timesteps", "guidanceScale", "clean", "maxBatch"},
                    "scoreLatents arguments");
  auto pipe = PipelineBinding::Borrow(env, o.Get("pipeline"), "pipeline");
  auto req = std::make_shared<evaluator::LatentImagesRequest>();
  req->latents = TensorFromJs(env, o.Get("latents"), "latents");
  req->prompts = StringsFromJs(env, o.Get("prompts"), "prompts");
  req->timesteps = TimestepsFromJs(env, o.Get("timesteps"), "timesteps");
  req->guidance_scale = OptionalNumber(env, o, "guidanceScale").value_or(req->guidance_scale);
  req->clean = OptionalBool(env, o, "clean").value_or(false);
  req->max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
  return LockedJob(
      info, Access::Read, pipe.lock,
      [m, pipe = pipe.pipeline, req](const JobContext& ctx) { return evaluator::score_latents(*m, *pipe, *req, ctx); },
      TensorToJs);
}

// validate({ pipeline, pairs, timesteps?, guidanceScale?, seed?, maxBatch? }, token?, onProgress?)
//   -> Promise<{ step, timesteps, accuracy, pairs }>
template <>
Napi::Value PixelHandle::Validate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto a = ValidateArgsFromJs(env, info[0]);
  const double guidance = OptionalNumber(env, a.o, "guidanceScale").value_or(5.0);
  return LockedJob(
      info, Access::Read, a.pipe.lock,
      [m, pipe = a.pipe.pipeline, pairs = a.pairs, timesteps = a.timesteps, guidance, seed = a.seed,
       max_batch = a.max_batch](const JobContext& ctx) {
        return evaluator::validate_preference_model(*m, *pipe, *pairs, timesteps, guidance, seed, max_batch, ctx);
      },
      ValidationReportToJs);
}

// train({ pipeline, train, validation?, steps?, batchSize?, learningRate?, weightDecay?, warmupSteps?,
//         maxGradNorm?, guidanceScale?, seed?, validationTimesteps?, validateEvery?, checkpointDir?,
//         checkpointEvery?, resume?, maxBatch?, distributed? }, token?, onProgress?)
//   -> Promise<{ startStep, stepsDone, losses, validations, checkpoints, rank, worldSize }>
template <>
Napi::Value PixelHandle::Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto a = TrainArgsFromJs(env, info[0], {"checkpointDir", "checkpointEvery", "resume", "distributed"});
  evaluator::PreferenceTrainingOptions t;
  ReadTrainingOptions(env, a.o, t);
  t.guidance_scale = OptionalNumber(env, a.o, "guidanceScale").value_or(t.guidance_scale);
  t.checkpoint_dir = OptionalString(env, a.o, "checkpointDir").value_or("");
  t.checkpoint_every = OptionalInteger(env, a.o, "checkpointEvery", 0, 100'000'000).value_or(0);
  t.resume = OptionalBool(env, a.o, "resume").value_or(true);
  if (!a.o.Get("distributed").IsUndefined()) t.distributed = RendezvousFromJs(env, a.o.Get("distributed"));
  return LockedJob(
      info, Access::Train, a.pipe.lock,
      [m, pipe = a.pipe.pipeline, train = a.train, validation = a.validation, t](const JobContext& ctx) {
        return evaluator::train_preference_model(*m, *pipe, *train, *validation, t, ctx);
      },
      TrainingResultToJs);
}

// comparePairScores(scores: number[], threshold) -> { winner, loser, margin, kept } (synchronous)
Napi::Value ComparePairScores(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    if (!info[0].IsArray()) ThrowInvalid(env, "scores must be an array of numbers");
    auto arr = info[0].As<Napi::Array>();
    if (arr.Length() > 1'000'000) ThrowInvalid(env, "scores: too many candidates");
    std::vector<double> scores;
    for (uint32_t i = 0; i < arr.Length(); ++i) scores.push_back(RequireNumber(env, arr.Get(i), "scores[" + std::to_string(i) + "]"));
    const auto c = evaluator::choose_pair(scores, RequireNumber(env, info[1], "threshold"));
    auto o = Napi::Object::New(env);
    o.Set("winner", static_cast<double>(c.winner));
    o.Set("loser", static_cast<double>(c.loser));
    o.Set("margin", c.margin);
    o.Set("kept", c.kept);
    return o;
  });
}

void RegisterEvaluatorBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("comparePairScores", Napi::Function::New<ComparePairScores>(env, "comparePairScores"));
  EvaluatorBinding::Export(env, exports, "loadEvaluator");
  exports.Set("readPairsFile", Napi::Function::New<EvaluatorBinding::ReadPairsFile>(env, "readPairsFile"));
  RegisterLatentEvaluatorBindings(env, exports);  // the second kind: LatentEvaluator, loadLatentEvaluator, ...
}

}  // namespace spo::addon
