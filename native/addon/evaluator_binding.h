// Evaluator for JavaScript: the step-aware preference model as a handle loaded
// by a job (loadEvaluator), whose scoring, validation, training and saving are
// jobs too (Promise, cancel token, progress). Only conversion here: the model
// and its training live in native/core/evaluator.
#pragma once
#include <napi.h>

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "handle_binding.h"
#include "evaluator/preference_model.h"
#include "evaluator/preference_training.h"

namespace spo::addon {

class EvaluatorBinding : public HandleBinding<EvaluatorBinding, evaluator::PreferenceModel> {
 public:
  static constexpr const char* kClassName = "Evaluator";
  static Napi::Function Define(Napi::Env env);
  explicit EvaluatorBinding(const Napi::CallbackInfo& info) : HandleBinding(info) {}

  // loadEvaluator(dir, { device?, dtype?, timeConditioning?, initSeed? }?, token?, onProgress?) -> Promise<Evaluator>
  static Napi::Value Load(const Napi::CallbackInfo& info);
  // readPairsFile(path, token?, onProgress?) -> Promise<{ prompt, image0, image1, label, line }[]>
  static Napi::Value ReadPairsFile(const Napi::CallbackInfo& info);

  // The model behind an Evaluator argument, with its lock (another binding's job uses it).
  struct Borrowed {
    std::shared_ptr<evaluator::PreferenceModel> model;
    std::shared_ptr<std::shared_mutex> lock;
  };
  static Borrowed Borrow(Napi::Env env, Napi::Value v, const std::string& what);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ScoreImages(const Napi::CallbackInfo& info);
  Napi::Value ScoreLatents(const Napi::CallbackInfo& info);
  Napi::Value Validate(const Napi::CallbackInfo& info);
  Napi::Value Train(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value StepScorer(const Napi::CallbackInfo& info);

  // Scoring and saving hold it shared, training exclusively: weights never change under a running score.
  std::shared_ptr<std::shared_mutex> lock_ = std::make_shared<std::shared_mutex>();
};

void RegisterEvaluatorBindings(Napi::Env env, Napi::Object exports);

// { prompts, images0 [N,3,H,W], images1 [N,3,H,W], preferred0: number[] } -> preference pairs.
std::vector<evaluator::PreferencePair> PairSetFromJs(Napi::Env env, Napi::Value v, const std::string& what);

}  // namespace spo::addon
