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

#include "evaluator/preference_model.h"
#include "evaluator/preference_training.h"
#include "evaluator_handle_binding.h"
#include "evaluator_js.h"  // PairSetFromJs, for the bindings that take pairs

namespace spo::addon {

class EvaluatorBinding : public EvaluatorHandleBinding<EvaluatorBinding, evaluator::PreferenceModel> {
 public:
  static constexpr const char* kClassName = "Evaluator";
  explicit EvaluatorBinding(const Napi::CallbackInfo& info) : EvaluatorHandleBinding(info) {}

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
};

void RegisterEvaluatorBindings(Napi::Env env, Napi::Object exports);

}  // namespace spo::addon
