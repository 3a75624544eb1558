#include "bench_binding.h"

#include "bench/harness.h"
#include "evaluator_binding.h"
#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "js_json.h"
#include "pipeline_binding.h"
#include "step_scorer_binding.h"

namespace spo::addon {
namespace {

Napi::Value RunBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto o = RequireObject(env, info[0], "benchmark arguments");
    RejectUnknownKeys(env, o, {"pipeline", "evaluator", "latentScorer", "prompts", "settings", "warmup", "reps", "sections"},
                      "benchmark arguments");
    auto pipe = PipelineBinding::Borrow(env, o.Get("pipeline"), "pipeline");
    auto judge = EvaluatorBinding::Borrow(env, o.Get("evaluator"), "evaluator");
    // The latent evaluator's step scorer, for the round section's second round (opened in the job).
    std::shared_ptr<StepScorerSource> latent;
    if (!o.Get("latentScorer").IsUndefined()) latent = StepScorerBinding::Borrow(env, o.Get("latentScorer"), "latentScorer");
    auto options = std::make_shared<bench::BenchOptions>();
    const auto prompts = JsonFromJs(env, o.Get("prompts"), "prompts");
    if (!prompts.is_array() || prompts.empty()) ThrowInvalid(env, "prompts must be a non-empty array of strings");
    for (const auto& p : prompts) {
      if (!p.is_string()) ThrowInvalid(env, "prompts must be strings");
      options->prompts.push_back(p.get<std::string>());
    }
    options->settings = trainer::SpoSettings::from_json(
        o.Get("settings").IsUndefined() ? nlohmann::json::object() : JsonFromJs(env, o.Get("settings"), "settings"));
    options->warmup = static_cast<int>(OptionalInteger(env, o, "warmup", 0, 100).value_or(1));
    options->reps = static_cast<int>(OptionalInteger(env, o, "reps", 1, 1000).value_or(3));
    if (!o.Get("sections").IsUndefined()) {
      const auto sections = JsonFromJs(env, o.Get("sections"), "sections");
      if (!sections.is_array()) ThrowInvalid(env, "sections must be an array of names");
      options->sections.clear();
      for (const auto& s : sections) {
        if (!s.is_string()) ThrowInvalid(env, "sections must be strings");
        const auto name = s.get<std::string>();
        if (name != "ceiling" && name != "components" && name != "update" && name != "kernels" && name != "round")
          ThrowInvalid(env, "unknown bench section '" + name + "' (ceiling, components, update, kernels, round)");
        options->sections.push_back(name);
      }
    }
    auto out = std::make_shared<nlohmann::json>();
    return SubmitLambdaJob(
        info, 1,
        [pipe, judge, latent, options, out](const JobContext& ctx) {
          std::unique_lock hold_pipe(*pipe.lock);
          std::shared_lock hold_judge(*judge.lock);
          const auto& s = options->settings;
          const auto latent_judge = latent ? latent->open(*pipe.pipeline, {s.steps, s.guidance_scale}) : nullptr;
          *out = bench::run_bench(*pipe.pipeline, *judge.model, *options, ctx, latent_judge.get());
        },
        [out](Napi::Env e) -> Napi::Value { return JsonToJs(e, *out); });
  });
}

}  // namespace

void RegisterBenchBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("runBenchmark", Napi::Function::New<RunBenchmark>(env, "runBenchmark"));
}

}  // namespace spo::addon
