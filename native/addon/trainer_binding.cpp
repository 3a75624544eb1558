#include "trainer_binding.h"

#include "evaluator_binding.h"
#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "js_json.h"
#include "pipeline_binding.h"
#include "step_scorer_binding.h"
#include "runtime/errors.h"
#include "spo/diffusion_dpo.h"
#include "spo/prompt_file.h"
#include "spo/spo_settings.h"
#include "spo/spo_trainer.h"

namespace spo::addon {
namespace {

Napi::Value ValidateSpoSettings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto settings = trainer::SpoSettings::from_json(JsonFromJs(env, info[0], "settings"));
    return JsonToJs(env, settings.to_json());
  });
}

// The settings' one declaration as data (lib/generated/spo-settings.ts is generated from it).
Napi::Value SpoSettingsSchema(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value { return JsonToJs(env, trainer::spo_settings_schema()); });
}

Napi::Value ReadPromptFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string path = RequireString(env, info[0], "path");
    auto prompts = std::make_shared<std::vector<std::string>>();
    return SubmitLambdaJob(
        info, 1, [path, prompts](const JobContext&) { *prompts = trainer::read_prompt_file(path); },
        [prompts](Napi::Env e) -> Napi::Value {
          auto arr = Napi::Array::New(e, prompts->size());
          for (size_t i = 0; i < prompts->size(); ++i) arr.Set(static_cast<uint32_t>(i), (*prompts)[i]);
          return arr;
        });
  });
}

}  // namespace

// distributed: { rank?, worldSize?, masterAddr?, masterPort?, fileStore?, backend?, timeoutSeconds? };
// unset fields come from RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT in the core.
distributed::RendezvousOptions RendezvousFromJs(Napi::Env env, Napi::Value v) {
  auto o = RequireObject(env, v, "distributed");
  RejectUnknownKeys(env, o, {"rank", "worldSize", "masterAddr", "masterPort", "fileStore", "backend", "timeoutSeconds"},
                    "distributed");
  distributed::RendezvousOptions r;
  r.rank = OptionalInteger(env, o, "rank", 0, 65535).value_or(-1);
  r.world_size = OptionalInteger(env, o, "worldSize", 1, 65536).value_or(-1);
  r.master_addr = OptionalString(env, o, "masterAddr").value_or("");
  r.master_port = OptionalInteger(env, o, "masterPort", 1, 65535).value_or(0);
  r.file_store = OptionalString(env, o, "fileStore").value_or("");
  r.backend = OptionalString(env, o, "backend").value_or("auto");
  r.timeout_seconds = OptionalNumber(env, o, "timeoutSeconds").value_or(r.timeout_seconds);
  return r;
}

namespace {

Napi::Value TrainSpo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto o = RequireObject(env, info[0], "train arguments");
    RejectUnknownKeys(env, o, {"pipeline", "scorer", "prompts", "settings", "outputDir", "checkpointDir", "resume",
                               "maxRounds", "distributed"},
                      "train arguments");
    auto pipe = PipelineBinding::Borrow(env, o.Get("pipeline"), "pipeline");
    // Whatever scores the candidates (an Evaluator's model, the world's judge, ...): opened in the job.
    auto source = StepScorerBinding::Borrow(env, o.Get("scorer"), "scorer");
    if (!o.Get("prompts").IsArray()) ThrowInvalid(env, "prompts must be an array of strings");
    auto arr = o.Get("prompts").As<Napi::Array>();
    if (arr.Length() == 0) ThrowInvalid(env, "prompts must hold at least one prompt");
    auto prompts = std::make_shared<std::vector<std::string>>();
    for (uint32_t i = 0; i < arr.Length(); ++i) prompts->push_back(RequireString(env, arr.Get(i), "prompts[" + std::to_string(i) + "]"));
    const auto settings = trainer::SpoSettings::from_json(JsonFromJs(env, o.Get("settings"), "settings"));
    trainer::TrainRunOptions run;
    run.output_dir = OptionalString(env, o, "outputDir").value_or("");
    run.checkpoint_dir = OptionalString(env, o, "checkpointDir").value_or("");
    run.resume = OptionalBool(env, o, "resume").value_or(true);
    run.max_rounds = OptionalInteger(env, o, "maxRounds", 0, int64_t(1) << 40).value_or(0);
    if (!o.Get("distributed").IsUndefined()) run.distributed = RendezvousFromJs(env, o.Get("distributed"));
    auto out = std::make_shared<trainer::TrainRunResult>();
    return SubmitLambdaJob(
        info, 1,
        [pipe, source, prompts, settings, run, out](const JobContext& ctx) {
          // The whole run owns the pipeline (its LoRA changes) and holds the scorer open.
          std::unique_lock hold_pipe(*pipe.lock);
          const auto scorer = source->open(*pipe.pipeline, {settings.steps, settings.guidance_scale});
          *out = trainer::train_spo(*pipe.pipeline, *scorer, *prompts, settings, run, ctx);
        },
        [out](Napi::Env e) -> Napi::Value {
          auto r = Napi::Object::New(e);
          r.Set("startRound", static_cast<double>(out->start_round));
          r.Set("roundsDone", static_cast<double>(out->rounds_done));
          r.Set("totalRounds", static_cast<double>(out->total_rounds));
          r.Set("optimizerSteps", static_cast<double>(out->optimizer_steps));
          r.Set("skippedUpdates", static_cast<double>(out->skipped_updates));
          auto losses = Napi::Array::New(e, out->losses.size());
          for (size_t i = 0; i < out->losses.size(); ++i) losses.Set(static_cast<uint32_t>(i), out->losses[i]);
          r.Set("losses", losses);
          r.Set("pairsKept", static_cast<double>(out->pairs_kept));
          r.Set("pairsTied", static_cast<double>(out->pairs_tied));
          r.Set("pairsCut", static_cast<double>(out->pairs_cut));
          r.Set("samplingEvaluations", static_cast<double>(out->sampling_evaluations));
          r.Set("updateEvaluations", static_cast<double>(out->update_evaluations));
          r.Set("samplingSeconds", out->sampling_seconds);
          r.Set("updateSeconds", out->update_seconds);
          if (!out->lora_file.empty()) r.Set("loraFile", out->lora_file);
          r.Set("rank", static_cast<double>(out->rank));
          r.Set("worldSize", static_cast<double>(out->world_size));
          auto comm = Napi::Object::New(e);
          comm.Set("collectives", static_cast<double>(out->communication.collectives));
          comm.Set("allReduceBytes", static_cast<double>(out->communication.all_reduce_bytes));
          comm.Set("allGatherBytes", static_cast<double>(out->communication.all_gather_bytes));
          comm.Set("broadcastBytes", static_cast<double>(out->communication.broadcast_bytes));
          r.Set("communication", comm);
          return r;
        });
  });
}

// trainDiffusionDpo({ pipeline, pairs: { prompts, images0, images1, preferred0 }, steps?, batchSize?, beta?,
//                     learningRate?, weightDecay?, maxGradNorm?, loraRank?, loraAlpha?, seed?, checkpointDir?,
//                     checkpointEvery?, resume?, outputDir? }, token?, onProgress?) -> Promise<result>
Napi::Value TrainDiffusionDpo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto o = RequireObject(env, info[0], "Diffusion-DPO arguments");
    RejectUnknownKeys(env, o, {"pipeline", "pairs", "steps", "batchSize", "beta", "learningRate", "weightDecay",
                               "maxGradNorm", "loraRank", "loraAlpha", "seed", "checkpointDir", "checkpointEvery",
                               "resume", "outputDir"},
                      "Diffusion-DPO arguments");
    auto pipe = PipelineBinding::Borrow(env, o.Get("pipeline"), "pipeline");
    auto pairs = std::make_shared<std::vector<evaluator::PreferencePair>>(PairSetFromJs(env, o.Get("pairs"), "pairs"));
    trainer::DiffusionDpoOptions d;
    d.steps = OptionalInteger(env, o, "steps", 1, 100'000'000).value_or(d.steps);
    d.batch_size = OptionalInteger(env, o, "batchSize", 1, 4096).value_or(d.batch_size);
    d.beta = OptionalNumber(env, o, "beta").value_or(d.beta);
    d.learning_rate = OptionalNumber(env, o, "learningRate").value_or(d.learning_rate);
    d.weight_decay = OptionalNumber(env, o, "weightDecay").value_or(d.weight_decay);
    d.max_grad_norm = OptionalNumber(env, o, "maxGradNorm").value_or(d.max_grad_norm);
    d.lora_rank = OptionalInteger(env, o, "loraRank", 1, 4096).value_or(d.lora_rank);
    d.lora_alpha = OptionalNumber(env, o, "loraAlpha").value_or(d.lora_alpha);
    if (!o.Get("seed").IsUndefined()) d.seed = RequireSeed(env, o.Get("seed"), "seed");
    d.checkpoint_dir = OptionalString(env, o, "checkpointDir").value_or("");
    d.checkpoint_every = OptionalInteger(env, o, "checkpointEvery", 0, 100'000'000).value_or(0);
    d.resume = OptionalBool(env, o, "resume").value_or(true);
    d.output_dir = OptionalString(env, o, "outputDir").value_or("");
    auto out = std::make_shared<trainer::DiffusionDpoResult>();
    return SubmitLambdaJob(
        info, 1,
        [pipe, pairs, d, out](const JobContext& ctx) {
          std::unique_lock hold(*pipe.lock);
          *out = trainer::train_diffusion_dpo(*pipe.pipeline, *pairs, d, ctx);
        },
        [out](Napi::Env e) -> Napi::Value {
          auto r = Napi::Object::New(e);
          r.Set("startStep", static_cast<double>(out->start_step));
          r.Set("stepsDone", static_cast<double>(out->steps_done));
          auto losses = Napi::Array::New(e, out->losses.size());
          auto acc = Napi::Array::New(e, out->implicit_accuracy.size());
          for (size_t i = 0; i < out->losses.size(); ++i) {
            losses.Set(static_cast<uint32_t>(i), out->losses[i]);
            acc.Set(static_cast<uint32_t>(i), out->implicit_accuracy[i]);
          }
          r.Set("losses", losses);
          r.Set("implicitAccuracy", acc);
          r.Set("pairsUsed", static_cast<double>(out->pairs_used));
          r.Set("updateEvaluations", static_cast<double>(out->update_evaluations));
          if (!out->lora_file.empty()) r.Set("loraFile", out->lora_file);
          return r;
        });
  });
}

}  // namespace

void RegisterTrainerBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("validateSpoSettings", Napi::Function::New<ValidateSpoSettings>(env, "validateSpoSettings"));
  exports.Set("spoSettingsSchema", Napi::Function::New<SpoSettingsSchema>(env, "spoSettingsSchema"));
  exports.Set("readPromptFile", Napi::Function::New<ReadPromptFile>(env, "readPromptFile"));
  exports.Set("trainSpo", Napi::Function::New<TrainSpo>(env, "trainSpo"));
  exports.Set("trainDiffusionDpo", Napi::Function::New<TrainDiffusionDpo>(env, "trainDiffusionDpo"));
}

}  // namespace spo::addon
