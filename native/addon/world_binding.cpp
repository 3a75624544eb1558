#include "world_binding.h"

#include "evaluator/rollout_scorer.h"
#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "js_json.h"
#include "pretraining/world_pretraining.h"
#include "step_scorer_binding.h"
#include "tensor_bridge.h"
#include "world/judge.h"
#include "world/judge_scorer.h"
#include "world/prompt_grammar.h"
#include "world/renderer.h"
#include "world/track.h"
#include "world/v2_defects.h"
#include "world/v2_renderer.h"

namespace spo::addon {
namespace {

world::Split SplitFromJs(Napi::Env env, Napi::Value v) {
  const std::string name = RequireString(env, v, "split");
  if (name == "train") return world::Split::Train;
  if (name == "validation") return world::Split::Validation;
  if (name == "test") return world::Split::Test;
  ThrowInvalid(env, "split must be 'train', 'validation' or 'test', not '" + name + "'");
  return world::Split::Train;
}

// An optional trailing track name: 'relations' (the default) or 'scenes' (world v2).
world::Track TrackFromJs(Napi::Env env, Napi::Value v) {
  if (v.IsUndefined()) return world::Track::Relations;
  return world::track_from_name(RequireString(env, v, "track"));
}

// worldPrompts(split, track?) -> string[] (the fixed split, in grammar order)
Napi::Value WorldPrompts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const auto prompts = world::track_prompts(TrackFromJs(env, info[1]), SplitFromJs(env, info[0]));
    auto arr = Napi::Array::New(env, prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) arr.Set(static_cast<uint32_t>(i), prompts[i]);
    return arr;
  });
}

// worldSplitOf(prompt, track?) -> 'train' | 'validation' | 'test'
Napi::Value WorldSplitOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string prompt = RequireString(env, info[0], "prompt");
    if (TrackFromJs(env, info[1]) == world::Track::Scenes) {
      switch (world::v2::split_of(prompt)) {
        case world::v2::Split::Train: return Napi::String::New(env, "train");
        case world::v2::Split::Validation: return Napi::String::New(env, "validation");
        case world::v2::Split::Test: return Napi::String::New(env, "test");
      }
      return env.Undefined();
    }
    switch (world::split_of(prompt)) {
      case world::Split::Train: return Napi::String::New(env, "train");
      case world::Split::Validation: return Napi::String::New(env, "validation");
      case world::Split::Test: return Napi::String::New(env, "test");
    }
    return env.Undefined();
  });
}

// A defect by its v2::defect_name; InvalidArgument listing the names otherwise.
world::v2::Defect DefectFromName(const std::string& name) {
  std::string known;
  for (int i = 0; i < world::v2::kDefectCount; ++i) {
    const auto d = static_cast<world::v2::Defect>(i);
    if (name == world::v2::defect_name(d)) return d;
    known += (known.empty() ? "" : ", ") + std::string(world::v2::defect_name(d));
  }
  throw InvalidArgument("renderWorld: no defect '" + name + "' (the defects are " + known + ")");
}

// renderWorld(prompt, size, seed, track?, defects?) -> tensor [3, size, size] in [-1, 1]:
// the clean render, or for scenes with `defects` (names) the render carrying them.
Napi::Value RenderWorld(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string prompt = RequireString(env, info[0], "prompt");
    const int64_t size = RequireInteger(env, info[1], "size", 16, 1024);
    const uint64_t seed = RequireSeed(env, info[2], "seed");
    const world::Track track = TrackFromJs(env, info[3]);
    if (info[4].IsUndefined()) {
      if (track == world::Track::Relations) return TensorToJs(env, world::render(world::parse_prompt(prompt), size, seed));
      return TensorToJs(env, world::v2::render(world::v2::parse_prompt(prompt), size, seed));
    }
    if (track != world::Track::Scenes) ThrowInvalid(env, "renderWorld: defects are drawn in the scenes world only");
    if (!info[4].IsArray()) ThrowInvalid(env, "defects must be an array of defect names");
    auto names = info[4].As<Napi::Array>();
    world::v2::Defects defects;
    for (uint32_t i = 0; i < names.Length(); ++i)
      defects.set(DefectFromName(RequireString(env, names.Get(i), "defects[" + std::to_string(i) + "]")));
    return TensorToJs(env, world::v2::render(world::v2::parse_prompt(prompt), size, seed, defects));
  });
}

Napi::Object ScoreToJs(Napi::Env env, const world::JudgeScore& s) {
  auto o = Napi::Object::New(env);
  o.Set("total", s.total);
  o.Set("alignment", s.alignment);
  o.Set("quality", s.quality);
  o.Set("colour", s.colour);
  o.Set("shape", s.shape);
  o.Set("count", s.count);
  o.Set("place", s.place);
  o.Set("background", s.background);
  o.Set("edges", s.edges);
  o.Set("blobs", static_cast<double>(s.blobs));
  return o;
}

// A track's verdict as an object of its parts by name (total first; the names are
// single lower-case words, so already camelCase).
Napi::Object VerdictToJs(Napi::Env env, const world::Verdict& v) {
  auto o = Napi::Object::New(env);
  for (const auto& [name, value] : v.parts) o.Set(name, value);
  return o;
}

// judgeWorld(images [B, 3, H, W] or [3, H, W], prompts string[], track?) -> JudgeScore[]
// (relations: judge.h's score with its blob count; scenes: judge v2's parts by name)
Napi::Value JudgeWorld(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto images = TensorFromJs(env, info[0], "images");
    if (images.dim() == 3) images = images.unsqueeze(0);
    if (images.dim() != 4) ThrowInvalid(env, "images must be [B, 3, H, W] or [3, H, W]");
    if (!info[1].IsArray()) ThrowInvalid(env, "prompts must be an array of strings");
    auto arr = info[1].As<Napi::Array>();
    if (arr.Length() != static_cast<uint32_t>(images.size(0)))
      ThrowInvalid(env, "judge: " + std::to_string(images.size(0)) + " images but " + std::to_string(arr.Length()) +
                            " prompts");
    const world::Track track = TrackFromJs(env, info[2]);
    auto out = Napi::Array::New(env, arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string prompt = RequireString(env, arr.Get(i), "prompts[" + std::to_string(i) + "]");
      if (track == world::Track::Relations) out.Set(i, ScoreToJs(env, world::judge(images[i], world::parse_prompt(prompt))));
      else out.Set(i, VerdictToJs(env, world::judge_prompt(track, images[i], prompt)));
    }
    return out;
  });
}

// The world's judge as a training run's step scorer: each candidate's decoded
// x0 prediction judged, or with `rollout` the final image it leads to (the
// candidate continued to t = 0 by deterministic DDIM under the run's
// pipeline and schedule).
class JudgeScorerSource : public StepScorerSource {
 public:
  JudgeScorerSource(double scale, world::Track track, bool rollout)
      : judge_(std::make_shared<world::JudgeScorer>(scale, track)), rollout_(rollout) {}
  std::shared_ptr<evaluator::ImageScorer> open(pipeline::Pipeline& pipe, const ScoringSchedule& schedule) override {
    if (!rollout_) return judge_;
    struct Rollout {
      std::shared_ptr<world::JudgeScorer> judge;
      evaluator::RolloutScorer scorer;
    };
    auto r = std::make_shared<Rollout>(
        Rollout{judge_, evaluator::RolloutScorer(pipe, *judge_, {schedule.steps, schedule.guidance_scale})});
    return {r, &r->scorer};
  }

 private:
  std::shared_ptr<world::JudgeScorer> judge_;
  bool rollout_;
};

// worldJudgeScorer({ scale, track?, rollout? }) -> StepScorer (trainSpo's `scorer`)
Napi::Value WorldJudgeScorer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto o = RequireObject(env, info[0], "judge scorer options");
    RejectUnknownKeys(env, o, {"scale", "track", "rollout"}, "judge scorer options");
    const double scale = RequireNumber(env, o.Get("scale"), "scale");
    const world::Track track = TrackFromJs(env, o.Get("track"));
    const bool rollout = OptionalBool(env, o, "rollout").value_or(false);
    return StepScorerBinding::New(env, std::make_shared<JudgeScorerSource>(scale, track, rollout));
  });
}

// pretrainWorld({ outDir, seed?, scale?, ...steps }, token?, onProgress?) -> Promise<report>
Napi::Value PretrainWorld(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto o = RequireObject(env, info[0], "pretraining options");
    RejectUnknownKeys(env, o, {"outDir", "seed", "scale", "vaeSteps", "diffusionSteps", "pairPrompts", "clipSteps",
                               "plainSteps", "noisySteps", "samplingSteps", "validationPrompts", "tieMargin",
                               "plainLearningRate", "noisyLearningRate", "rolloutPrompts", "rolloutValidationPrompts",
                               "rolloutSteps", "rolloutLearningRate", "prediction", "world", "samplesPerPrompt",
                               "captionShare"},
                      "pretraining options");
    pretraining::WorldPretrainingOptions p;
    p.out_dir = RequireString(env, o.Get("outDir"), "outDir");
    if (!o.Get("seed").IsUndefined()) p.seed = RequireSeed(env, o.Get("seed"), "seed");
    p.scale = OptionalNumber(env, o, "scale").value_or(p.scale);
    if (!o.Get("prediction").IsUndefined()) p.prediction = RequireString(env, o.Get("prediction"), "prediction");
    if (!o.Get("world").IsUndefined()) p.world = RequireString(env, o.Get("world"), "world");
    const int64_t big = 10'000'000;
    p.vae_steps = OptionalInteger(env, o, "vaeSteps", 1, big).value_or(p.vae_steps);
    p.diffusion_steps = OptionalInteger(env, o, "diffusionSteps", 1, big).value_or(p.diffusion_steps);
    p.pair_prompts = OptionalInteger(env, o, "pairPrompts", 1, 36'056).value_or(p.pair_prompts);
    p.clip_steps = OptionalInteger(env, o, "clipSteps", 1, big).value_or(p.clip_steps);
    p.plain_steps = OptionalInteger(env, o, "plainSteps", 1, big).value_or(p.plain_steps);
    p.noisy_steps = OptionalInteger(env, o, "noisySteps", 1, big).value_or(p.noisy_steps);
    p.sampling_steps = OptionalInteger(env, o, "samplingSteps", 1, 1000).value_or(p.sampling_steps);
    p.validation_prompts = OptionalInteger(env, o, "validationPrompts", 1, 500).value_or(p.validation_prompts);
    p.samples_per_prompt = OptionalInteger(env, o, "samplesPerPrompt", 2, 64).value_or(p.samples_per_prompt);
    p.caption_share = OptionalNumber(env, o, "captionShare").value_or(p.caption_share);
    if (!o.Get("captionShare").IsUndefined() && !(p.caption_share >= 0 && p.caption_share <= 1))
      throw InvalidArgument("captionShare must be in [0, 1]");
    p.tie_margin = OptionalNumber(env, o, "tieMargin").value_or(p.tie_margin);
    if (!(p.tie_margin >= 0 && p.tie_margin < 1)) throw InvalidArgument("tieMargin must be in [0, 1)");
    p.rollout_prompts = OptionalInteger(env, o, "rolloutPrompts", 0, 36'056).value_or(p.rollout_prompts);
    p.rollout_validation_prompts =
        OptionalInteger(env, o, "rolloutValidationPrompts", 1, 500).value_or(p.rollout_validation_prompts);
    p.rollout_steps = OptionalInteger(env, o, "rolloutSteps", 1, big).value_or(p.rollout_steps);
    for (auto [key, lr] : {std::pair{"plainLearningRate", &p.plain_learning_rate},
                           std::pair{"noisyLearningRate", &p.noisy_learning_rate},
                           std::pair{"rolloutLearningRate", &p.rollout_learning_rate}}) {
      *lr = OptionalNumber(env, o, key).value_or(*lr);
      if (!(*lr > 0 && *lr < 1)) throw InvalidArgument(std::string(key) + " must be in (0, 1)");
    }
    auto out = std::make_shared<nlohmann::json>();
    return SubmitLambdaJob(
        info, 1, [p, out](const JobContext& ctx) { *out = pretraining::pretrain_world(p, ctx); },
        [out](Napi::Env e) { return JsonToJs(e, *out); });
  });
}

}  // namespace

void RegisterWorldBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("worldPrompts", Napi::Function::New<WorldPrompts>(env, "worldPrompts"));
  exports.Set("worldSplitOf", Napi::Function::New<WorldSplitOf>(env, "worldSplitOf"));
  exports.Set("renderWorld", Napi::Function::New<RenderWorld>(env, "renderWorld"));
  exports.Set("judgeWorld", Napi::Function::New<JudgeWorld>(env, "judgeWorld"));
  exports.Set("worldJudgeScorer", Napi::Function::New<WorldJudgeScorer>(env, "worldJudgeScorer"));
  exports.Set("pretrainWorld", Napi::Function::New<PretrainWorld>(env, "pretrainWorld"));
}

}  // namespace spo::addon
