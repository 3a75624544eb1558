// The arguments and results both evaluator handles (Evaluator, LatentEvaluator)
// take and give in the same shape: pair sets, validate()'s and train()'s shared
// arguments, validation reports and training results. Conversion only.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "evaluator/preference_training.h"
#include "js_args.h"
#include "pipeline_binding.h"

namespace spo::addon {

// A non-empty array of strings (prompts).
std::vector<std::string> StringsFromJs(Napi::Env env, Napi::Value v, const std::string& what);
// An array of integers in [lo, hi].
std::vector<int64_t> IntegersFromJs(Napi::Env env, Napi::Value v, const std::string& what, int64_t lo, int64_t hi);
Napi::Array NumbersToJs(Napi::Env env, const std::vector<double>& values);

// { prompts, images0 [N,3,H,W], images1 [N,3,H,W], preferred0: number[] } -> preference pairs.
std::vector<evaluator::PreferencePair> PairSetFromJs(Napi::Env env, Napi::Value v, const std::string& what);

using PairSet = std::shared_ptr<const std::vector<evaluator::PreferencePair>>;

// validate({ pipeline, pairs, timesteps?, guidanceScale?, seed?, maxBatch? }): all but
// guidanceScale, which only the pixel model reads (from `o`).
struct ValidateArgs {
  Napi::Object o;
  PipelineBinding::Borrowed pipe{};
  PairSet pairs{};
  std::vector<int64_t> timesteps{0, 251, 501, 701, 951};
  uint64_t seed = 42;
  int64_t max_batch = 0;
};
ValidateArgs ValidateArgsFromJs(Napi::Env env, Napi::Value v);

// train({ pipeline, train, validation?, steps?, batchSize?, learningRate?, weightDecay?, warmupSteps?,
// maxGradNorm?, guidanceScale?, seed?, validationTimesteps?, validateEvery?, maxBatch?, ...own_keys }):
// the pairs here, the options both recipes share into `t` (ReadTrainingOptions); a binding reads
// guidanceScale and its `own_keys` from `o` itself.
struct TrainArgs {
  Napi::Object o;
  PipelineBinding::Borrowed pipe{};
  PairSet train{}, validation{};
};
TrainArgs TrainArgsFromJs(Napi::Env env, Napi::Value v, const std::vector<std::string>& own_keys);

// The training options of either recipe (evaluator::PreferenceTrainingOptions,
// evaluator::LatentTrainingOptions) that have the same name and meaning.
template <typename Options>
void ReadTrainingOptions(Napi::Env env, const Napi::Object& o, Options& t) {
  t.steps = OptionalInteger(env, o, "steps", 1, 100'000'000).value_or(t.steps);
  t.batch_size = OptionalInteger(env, o, "batchSize", 1, 4096).value_or(t.batch_size);
  t.learning_rate = OptionalNumber(env, o, "learningRate").value_or(t.learning_rate);
  t.weight_decay = OptionalNumber(env, o, "weightDecay").value_or(t.weight_decay);
  t.warmup_steps = OptionalInteger(env, o, "warmupSteps", 0, 100'000'000).value_or(t.warmup_steps);
  t.max_grad_norm = OptionalNumber(env, o, "maxGradNorm").value_or(t.max_grad_norm);
  if (!o.Get("seed").IsUndefined()) t.seed = RequireSeed(env, o.Get("seed"), "seed");
  if (!o.Get("validationTimesteps").IsUndefined())
    t.validation_timesteps = IntegersFromJs(env, o.Get("validationTimesteps"), "validationTimesteps", 0, 999);
  t.validate_every = OptionalInteger(env, o, "validateEvery", 0, 100'000'000).value_or(0);
  t.max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
}

// { step, timesteps, accuracy, pairs }
Napi::Object ValidationReportToJs(Napi::Env env, const evaluator::ValidationReport& r);
// { startStep, stepsDone, losses, validations, checkpoints, rank, worldSize }
Napi::Object TrainingResultToJs(Napi::Env env, const evaluator::PreferenceTrainingResult& r);

}  // namespace spo::addon
