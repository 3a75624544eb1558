#include "latent_evaluator_binding.h"

#include "evaluator/latent_preference_training.h"
#include "evaluator_binding.h"
#include "pipeline_binding.h"
#include "runtime/errors.h"
#include "step_scorer_binding.h"
#include "tensor_bridge.h"

namespace spo::addon {
namespace {

using ModelPtr = std::shared_ptr<evaluator::LatentPreferenceModel>;

std::vector<std::string> PromptsFromJs(Napi::Env env, Napi::Value v) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() == 0) ThrowInvalid(env, "prompts must be a non-empty array of strings");
  auto arr = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(RequireString(env, arr.Get(i), "prompts[" + std::to_string(i) + "]"));
  return out;
}

std::vector<int64_t> TimestepListFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) ThrowInvalid(env, what + " must be an array of integers");
  std::vector<int64_t> out;
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(RequireInteger(env, arr.Get(i), what, 0, 999));
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

// The model as a training run's step scorer, read under its lock held shared.
class LatentScorerSource : public StepScorerSource {
 public:
  LatentScorerSource(ModelPtr model, std::shared_ptr<std::shared_mutex> lock) : model_(std::move(model)), lock_(std::move(lock)) {}
  std::shared_ptr<evaluator::ImageScorer> open(pipeline::Pipeline&, const ScoringSchedule&) override {
    struct Held {
      ModelPtr model;
      std::shared_lock<std::shared_mutex> hold;
    };
    auto held = std::make_shared<Held>(Held{model_, std::shared_lock(*lock_)});
    return {held, held->model.get()};
  }

 private:
  ModelPtr model_;
  std::shared_ptr<std::shared_mutex> lock_;
};

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

Napi::Function LatentEvaluatorBinding::Define(Napi::Env env) {
  return DefineHandle(env, {Getter<&LatentEvaluatorBinding::Info>("info"),
                            Method<&LatentEvaluatorBinding::ScoreImages>("scoreImages"),
                            Method<&LatentEvaluatorBinding::ScoreLatents>("scoreLatents"),
                            Method<&LatentEvaluatorBinding::Validate>("validate"),
                            Method<&LatentEvaluatorBinding::Train>("train"), Method<&LatentEvaluatorBinding::Save>("save"),
                            Method<&LatentEvaluatorBinding::StepScorer>("stepScorer")});
}

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

Napi::Value LatentEvaluatorBinding::Info(const Napi::CallbackInfo& info) {
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

Napi::Value LatentEvaluatorBinding::ScoreImages(const Napi::CallbackInfo&) {
  throw InvalidArgument("a latent evaluator scores latents, not images: give latents (x_t) and their timesteps");
}

// scoreLatents({ latents, prompts, timesteps, maxBatch?, pipeline?, clean? }) -> Promise<tensor [B]>.
// The latents are scored as they are (x_t at t, or clean at t = 0): no pipeline is needed.
Napi::Value LatentEvaluatorBinding::ScoreLatents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "scoreLatents arguments");
  if (!o.Get("guidanceScale").IsUndefined())
    throw InvalidArgument("a latent evaluator scores the latents themselves: guidanceScale (of an x0 prediction) does not apply");
  RejectUnknownKeys(env, o, {"pipeline", "latents", "prompts", "timesteps", "clean", "maxBatch"}, "scoreLatents arguments");
  auto latents = TensorFromJs(env, o.Get("latents"), "latents");
  auto prompts = PromptsFromJs(env, o.Get("prompts"));
  auto timesteps = TimestepsFromJs(env, o.Get("timesteps"), "timesteps");
  const int64_t max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
  auto out = std::make_shared<at::Tensor>();
  return SubmitLambdaJob(
      info, 1,
      [m, latents, prompts, timesteps, max_batch, out, lock = lock_](const JobContext& ctx) {
        std::shared_lock hold(*lock);
        ctx.check_cancelled();
        *out = m->score(latents, prompts, timesteps, max_batch);
      },
      [out](Napi::Env e) -> Napi::Value { return TensorToJs(e, *out); });
}

// validate({ pipeline, pairs, timesteps?, seed?, maxBatch?, guidanceScale? (unused) }) -> Promise<report>
Napi::Value LatentEvaluatorBinding::Validate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "validate arguments");
  RejectUnknownKeys(env, o, {"pipeline", "pairs", "timesteps", "guidanceScale", "seed", "maxBatch"}, "validate arguments");
  auto pipe = PipelineBinding::Borrow(env, o.Get("pipeline"), "pipeline");
  auto pairs = std::make_shared<std::vector<evaluator::PreferencePair>>(PairSetFromJs(env, o.Get("pairs"), "pairs"));
  std::vector<int64_t> timesteps{0, 251, 501, 701, 951};
  if (!o.Get("timesteps").IsUndefined()) timesteps = TimestepListFromJs(env, o.Get("timesteps"), "timesteps");
  const uint64_t seed = o.Get("seed").IsUndefined() ? 42 : RequireSeed(env, o.Get("seed"), "seed");
  const int64_t max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
  auto out = std::make_shared<evaluator::ValidationReport>();
  return SubmitLambdaJob(
      info, 1,
      [m, pipe, pairs, timesteps, seed, max_batch, out, lock = lock_](const JobContext& ctx) {
        std::shared_lock hold(*lock);
        std::shared_lock hold_pipe(*pipe.lock);
        *out = evaluator::validate_latent_preference_model(*m, *pipe.pipeline, *pairs, timesteps, seed, max_batch, ctx);
      },
      [out](Napi::Env e) -> Napi::Value { return ReportToJs(e, *out); });
}

// train({ pipeline, train, validation?, steps?, batchSize?, learningRate?, weightDecay?, warmupSteps?,
//         maxGradNorm?, seed?, validationTimesteps?, validateEvery?, maxBatch? }) -> Promise<result>
Napi::Value LatentEvaluatorBinding::Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto m = Get(env);
  auto o = RequireObject(env, info[0], "train arguments");
  for (const char* key : {"checkpointDir", "checkpointEvery", "resume", "distributed"})
    if (!o.Get(key).IsUndefined())
      throw Unsupported(std::string("a latent evaluator trains in one process without checkpoints (") + key +
                        " is for pixel evaluators); its runs take minutes");
  RejectUnknownKeys(env, o, {"pipeline", "train", "validation", "steps", "batchSize", "learningRate", "weightDecay",
                             "warmupSteps", "maxGradNorm", "guidanceScale", "seed", "validationTimesteps",
                             "validateEvery", "maxBatch"},
                    "train arguments");
  auto pipe = PipelineBinding::Borrow(env, o.Get("pipeline"), "pipeline");
  auto train = std::make_shared<std::vector<evaluator::PreferencePair>>(PairSetFromJs(env, o.Get("train"), "train"));
  auto validation = std::make_shared<std::vector<evaluator::PreferencePair>>();
  if (!o.Get("validation").IsUndefined()) *validation = PairSetFromJs(env, o.Get("validation"), "validation");
  evaluator::LatentTrainingOptions t;
  t.steps = OptionalInteger(env, o, "steps", 1, 100'000'000).value_or(t.steps);
  t.batch_size = OptionalInteger(env, o, "batchSize", 1, 4096).value_or(t.batch_size);
  t.learning_rate = OptionalNumber(env, o, "learningRate").value_or(t.learning_rate);
  t.weight_decay = OptionalNumber(env, o, "weightDecay").value_or(t.weight_decay);
  t.warmup_steps = OptionalInteger(env, o, "warmupSteps", 0, 100'000'000).value_or(t.warmup_steps);
  t.max_grad_norm = OptionalNumber(env, o, "maxGradNorm").value_or(t.max_grad_norm);
  if (!o.Get("seed").IsUndefined()) t.seed = RequireSeed(env, o.Get("seed"), "seed");
  if (!o.Get("validationTimesteps").IsUndefined())
    t.validation_timesteps = TimestepListFromJs(env, o.Get("validationTimesteps"), "validationTimesteps");
  t.validate_every = OptionalInteger(env, o, "validateEvery", 0, 100'000'000).value_or(0);
  t.max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
  auto out = std::make_shared<evaluator::LatentTrainingResult>();
  return SubmitLambdaJob(
      info, 1,
      [m, pipe, train, validation, t, out, lock = lock_](const JobContext& ctx) {
        std::unique_lock hold(*lock);
        std::shared_lock hold_pipe(*pipe.lock);
        *out = evaluator::train_latent_preference_model(*m, *pipe.pipeline, *train, *validation, t, ctx);
      },
      [out](Napi::Env e) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("startStep", 0.0);
        r.Set("stepsDone", static_cast<double>(out->steps_done));
        r.Set("losses", NumbersToJs(e, out->losses));
        auto reports = Napi::Array::New(e, out->validations.size());
        for (size_t i = 0; i < out->validations.size(); ++i) reports.Set(static_cast<uint32_t>(i), ReportToJs(e, out->validations[i]));
        r.Set("validations", reports);
        r.Set("checkpoints", Napi::Array::New(e, 0));
        r.Set("rank", 0.0);
        r.Set("worldSize", 1.0);
        return r;
      });
}

Napi::Value LatentEvaluatorBinding::Save(const Napi::CallbackInfo& info) {
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

Napi::Value LatentEvaluatorBinding::StepScorer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return StepScorerBinding::New(env, std::make_shared<LatentScorerSource>(Get(env), lock_));
}

void RegisterLatentEvaluatorBindings(Napi::Env env, Napi::Object exports) {
  LatentEvaluatorBinding::Export(env, exports, "loadLatentEvaluator");
  exports.Set("createLatentEvaluator", Napi::Function::New<LatentEvaluatorBinding::Create>(env, "createLatentEvaluator"));
  exports.Set("isLatentEvaluatorFolder",
              Napi::Function::New<LatentEvaluatorBinding::IsLatentFolder>(env, "isLatentEvaluatorFolder"));
}

}  // namespace spo::addon
