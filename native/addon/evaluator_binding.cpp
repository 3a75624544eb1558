#include "evaluator_binding.h"

#include "evaluator/latent_scoring.h"
#include "evaluator/pair_rule.h"
#include "evaluator/pairs_file.h"
#include "evaluator/preference_training.h"
#include "latent_evaluator_binding.h"
#include "pipeline_binding.h"
#include "runtime/errors.h"
#include "step_scorer_binding.h"
#include "tensor_bridge.h"
#include "trainer_binding.h"

namespace spo::addon {
namespace {

using ModelPtr = std::shared_ptr<evaluator::PreferenceModel>;

std::vector<std::string> StringsFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) ThrowInvalid(env, what + " must be an array of strings");
  auto arr = v.As<Napi::Array>();
  if (arr.Length() == 0 || arr.Length() > 10'000'000) ThrowInvalid(env, what + " must hold at least one string");
  std::vector<std::string> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(RequireString(env, arr.Get(i), what + "[" + std::to_string(i) + "]"));
  return out;
}

// The model as a training run's step scorer: the run reads it under its lock
// held shared (training it meanwhile waits), as scoring calls do.
class ModelScorerSource : public StepScorerSource {
 public:
  ModelScorerSource(ModelPtr model, std::shared_ptr<std::shared_mutex> lock) : model_(std::move(model)), lock_(std::move(lock)) {}
  std::shared_ptr<evaluator::ImageScorer> open(pipeline::Pipeline&, const ScoringSchedule&) override {
    struct Held {
      ModelPtr model;
      std::shared_lock<std::shared_mutex> hold;
    };
    auto held = std::make_shared<Held>(Held{model_, std::shared_lock(*lock_)});
    return {held, held->model.get()};  // the lock goes with the last copy of the scorer
  }

 private:
  ModelPtr model_;
  std::shared_ptr<std::shared_mutex> lock_;
};

}  // namespace

// { prompts, images0 [N,3,H,W], images1 [N,3,H,W], preferred0: number[] } -> pairs.
std::vector<evaluator::PreferencePair> PairSetFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  auto o = RequireObject(env, v, what);
  RejectUnknownKeys(env, o, {"prompts", "images0", "images1", "preferred0"}, what);
  const auto prompts = StringsFromJs(env, o.Get("prompts"), what + ".prompts");
  const auto images0 = TensorFromJs(env, o.Get("images0"), what + ".images0");
  const auto images1 = TensorFromJs(env, o.Get("images1"), what + ".images1");
  const auto n = static_cast<int64_t>(prompts.size());
  if (images0.dim() != 4 || images0.size(0) != n || images1.sizes() != images0.sizes())
    ThrowInvalid(env, what + ": images0 and images1 must both be [" + std::to_string(n) + ", 3, H, W]");
  auto labels = o.Get("preferred0");
  if (!labels.IsArray() || labels.As<Napi::Array>().Length() != static_cast<uint32_t>(n))
    ThrowInvalid(env, what + ".preferred0 must hold one number per pair");
  std::vector<evaluator::PreferencePair> pairs;
  for (int64_t i = 0; i < n; ++i) {
    const double l = RequireNumber(env, labels.As<Napi::Array>().Get(static_cast<uint32_t>(i)),
                                   what + ".preferred0[" + std::to_string(i) + "]");
    pairs.push_back({prompts[i], images0[i], images1[i], l});
  }
  return pairs;
}

namespace {

std::vector<int64_t> IntegersFromJs(Napi::Env env, Napi::Value v, const std::string& what, int64_t lo, int64_t hi) {
  if (!v.IsArray()) ThrowInvalid(env, what + " must be an array of integers");
  std::vector<int64_t> out;
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(RequireInteger(env, arr.Get(i), what, lo, hi));
  return out;
}

Napi::Array NumbersToJs(Napi::Env env, const std::vector<double>& values) {
  auto arr = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) arr.Set(static_cast<uint32_t>(i), values[i]);
  return arr;
}

Napi::Object ReportToJs(Napi::Env env, const evaluator::ValidationReport& r) {
  auto o = Napi::Object::New(env);
  o.Set("step", static_cast<double>(r.step));
  o.Set("timesteps", NumbersToJs(env, std::vector<double>(r.timesteps.begin(), r.timesteps.end())));
  o.Set("accuracy", NumbersToJs(env, r.accuracy));
  o.Set("pairs", static_cast<double>(r.pairs));
  return o;
}

}  // namespace

Napi::Function EvaluatorBinding::Define(Napi::Env env) {
  return DefineHandle(env, {Getter<&EvaluatorBinding::Info>("info"), Method<&EvaluatorBinding::ScoreImages>("scoreImages"),
                            Method<&EvaluatorBinding::ScoreLatents>("scoreLatents"),
                            Method<&EvaluatorBinding::Validate>("validate"), Method<&EvaluatorBinding::Train>("train"),
                            Method<&EvaluatorBinding::Save>("save"), Method<&EvaluatorBinding::StepScorer>("stepScorer")});
}

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

Napi::Value EvaluatorBinding::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto m = Get(env);
  auto o = ModelOptionsToJs(env, at::TensorOptions().device(m->options().device).dtype(m->options().dtype));
  o.Set("timeConditioning", models::time_conditioning_name(m->time_conditioning()));
  o.Set("imageSize", static_cast<double>(m->image_size()));
  o.Set("projectionDim", static_cast<double>(m->model()->config.projection_dim));
  return o;
}

// scoreImages({ images [B,3,H,W] in [-1,1], prompts, timesteps, maxBatch? }, token?, onProgress?) -> Promise<tensor [B]>
Napi::Value EvaluatorBinding::ScoreImages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "scoreImages arguments");
  RejectUnknownKeys(env, o, {"images", "prompts", "timesteps", "maxBatch"}, "scoreImages arguments");
  auto images = TensorFromJs(env, o.Get("images"), "images");
  auto prompts = StringsFromJs(env, o.Get("prompts"), "prompts");
  auto timesteps = TimestepsFromJs(env, o.Get("timesteps"), "timesteps");
  const int64_t max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
  auto out = std::make_shared<at::Tensor>();
  return SubmitLambdaJob(
      info, 1,
      [m, images, prompts, timesteps, max_batch, out, lock = lock_](const JobContext& ctx) {
        std::shared_lock hold(*lock);
        ctx.check_cancelled();
        *out = m->score_images(images, prompts, timesteps, max_batch);
      },
      [out](Napi::Env e) -> Napi::Value { return TensorToJs(e, *out); });
}

// scoreLatents({ pipeline, latents, prompts, timesteps, guidanceScale?, clean?, maxBatch? }, token?, onProgress?)
//   -> Promise<tensor [B]>
Napi::Value EvaluatorBinding::ScoreLatents(const Napi::CallbackInfo& info) {
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
  auto out = std::make_shared<at::Tensor>();
  return SubmitLambdaJob(
      info, 1,
      [m, pipe, req, out, lock = lock_](const JobContext& ctx) {
        std::shared_lock hold(*lock);
        std::shared_lock hold_pipe(*pipe.lock);
        *out = evaluator::score_latents(*m, *pipe.pipeline, *req, ctx);
      },
      [out](Napi::Env e) -> Napi::Value { return TensorToJs(e, *out); });
}

// validate({ pipeline, pairs, timesteps?, guidanceScale?, seed?, maxBatch? }, token?, onProgress?)
//   -> Promise<{ step, timesteps, accuracy, pairs }>
Napi::Value EvaluatorBinding::Validate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "validate arguments");
  RejectUnknownKeys(env, o, {"pipeline", "pairs", "timesteps", "guidanceScale", "seed", "maxBatch"}, "validate arguments");
  auto pipe = PipelineBinding::Borrow(env, o.Get("pipeline"), "pipeline");
  auto pairs = std::make_shared<std::vector<evaluator::PreferencePair>>(PairSetFromJs(env, o.Get("pairs"), "pairs"));
  std::vector<int64_t> timesteps{0, 251, 501, 701, 951};
  if (!o.Get("timesteps").IsUndefined()) timesteps = IntegersFromJs(env, o.Get("timesteps"), "timesteps", 0, 999);
  const double guidance = OptionalNumber(env, o, "guidanceScale").value_or(5.0);
  const uint64_t seed = o.Get("seed").IsUndefined() ? 42 : RequireSeed(env, o.Get("seed"), "seed");
  const int64_t max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
  auto out = std::make_shared<evaluator::ValidationReport>();
  return SubmitLambdaJob(
      info, 1,
      [m, pipe, pairs, timesteps, guidance, seed, max_batch, out, lock = lock_](const JobContext& ctx) {
        std::shared_lock hold(*lock);
        std::shared_lock hold_pipe(*pipe.lock);
        *out = evaluator::validate_preference_model(*m, *pipe.pipeline, *pairs, timesteps, guidance, seed, max_batch, ctx);
      },
      [out](Napi::Env e) -> Napi::Value { return ReportToJs(e, *out); });
}

// train({ pipeline, train, validation?, steps?, batchSize?, learningRate?, weightDecay?, warmupSteps?,
//         maxGradNorm?, guidanceScale?, seed?, validationTimesteps?, validateEvery?, checkpointDir?,
//         checkpointEvery?, resume?, maxBatch?, distributed? }, token?, onProgress?)
//   -> Promise<{ startStep, stepsDone, losses, validations, checkpoints, rank, worldSize }>
Napi::Value EvaluatorBinding::Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "train arguments");
  RejectUnknownKeys(env, o, {"pipeline", "train", "validation", "steps", "batchSize", "learningRate", "weightDecay",
                             "warmupSteps", "maxGradNorm", "guidanceScale", "seed", "validationTimesteps",
                             "validateEvery", "checkpointDir", "checkpointEvery", "resume", "maxBatch", "distributed"},
                    "train arguments");
  auto pipe = PipelineBinding::Borrow(env, o.Get("pipeline"), "pipeline");
  auto train = std::make_shared<std::vector<evaluator::PreferencePair>>(PairSetFromJs(env, o.Get("train"), "train"));
  auto validation = std::make_shared<std::vector<evaluator::PreferencePair>>();
  if (!o.Get("validation").IsUndefined()) *validation = PairSetFromJs(env, o.Get("validation"), "validation");
  evaluator::PreferenceTrainingOptions t;
  t.steps = OptionalInteger(env, o, "steps", 1, 100'000'000).value_or(t.steps);
  t.batch_size = OptionalInteger(env, o, "batchSize", 1, 4096).value_or(t.batch_size);
  t.learning_rate = OptionalNumber(env, o, "learningRate").value_or(t.learning_rate);
  t.weight_decay = OptionalNumber(env, o, "weightDecay").value_or(t.weight_decay);
  t.warmup_steps = OptionalInteger(env, o, "warmupSteps", 0, 100'000'000).value_or(t.warmup_steps);
  t.max_grad_norm = OptionalNumber(env, o, "maxGradNorm").value_or(t.max_grad_norm);
  t.guidance_scale = OptionalNumber(env, o, "guidanceScale").value_or(t.guidance_scale);
  if (!o.Get("seed").IsUndefined()) t.seed = RequireSeed(env, o.Get("seed"), "seed");
  if (!o.Get("validationTimesteps").IsUndefined())
    t.validation_timesteps = IntegersFromJs(env, o.Get("validationTimesteps"), "validationTimesteps", 0, 999);
  t.validate_every = OptionalInteger(env, o, "validateEvery", 0, 100'000'000).value_or(0);
  t.checkpoint_dir = OptionalString(env, o, "checkpointDir").value_or("");
  t.checkpoint_every = OptionalInteger(env, o, "checkpointEvery", 0, 100'000'000).value_or(0);
  t.resume = OptionalBool(env, o, "resume").value_or(true);
  t.max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
  if (!o.Get("distributed").IsUndefined()) t.distributed = RendezvousFromJs(env, o.Get("distributed"));
  auto out = std::make_shared<evaluator::PreferenceTrainingResult>();
  return SubmitLambdaJob(
      info, 1,
      [m, pipe, train, validation, t, out, lock = lock_](const JobContext& ctx) {
        std::unique_lock hold(*lock);
        std::shared_lock hold_pipe(*pipe.lock);
        *out = evaluator::train_preference_model(*m, *pipe.pipeline, *train, *validation, t, ctx);
      },
      [out](Napi::Env e) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("startStep", static_cast<double>(out->start_step));
        r.Set("stepsDone", static_cast<double>(out->steps_done));
        r.Set("losses", NumbersToJs(e, out->losses));
        auto reports = Napi::Array::New(e, out->validations.size());
        for (size_t i = 0; i < out->validations.size(); ++i) reports.Set(static_cast<uint32_t>(i), ReportToJs(e, out->validations[i]));
        r.Set("validations", reports);
        auto dirs = Napi::Array::New(e, out->checkpoints.size());
        for (size_t i = 0; i < out->checkpoints.size(); ++i) dirs.Set(static_cast<uint32_t>(i), out->checkpoints[i]);
        r.Set("checkpoints", dirs);
        r.Set("rank", static_cast<double>(out->rank));
        r.Set("worldSize", static_cast<double>(out->world_size));
        return r;
      });
}

// save(dir, token?, onProgress?) -> Promise<void>
Napi::Value EvaluatorBinding::Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  const std::string dir = RequireString(env, info[0], "dir");
  return SubmitLambdaJob(
      info, 1,
      [m, dir, lock = lock_](const JobContext&) {
        std::shared_lock hold(*lock);
        m->save(dir);
      },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

// stepScorer() -> StepScorer: this model as a training run's step scorer (trainSpo's `scorer`).
Napi::Value EvaluatorBinding::StepScorer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return StepScorerBinding::New(env, std::make_shared<ModelScorerSource>(Get(env), lock_));
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
