// The latent step-aware evaluator for JavaScript (evaluator/latent_preference_model.h):
// a handle with the Evaluator handle's members (info, scoreImages, scoreLatents,
// validate, train, save, stepScorer), so lib/evaluator.ts drives either kind
// through one class. Only conversion here.
#pragma once
#include <napi.h>

#include <memory>
#include <shared_mutex>

#include "evaluator/latent_preference_model.h"
#include "handle_binding.h"

namespace spo::addon {

class LatentEvaluatorBinding : public HandleBinding<LatentEvaluatorBinding, evaluator::LatentPreferenceModel> {
 public:
  static constexpr const char* kClassName = "LatentEvaluator";
  static Napi::Function Define(Napi::Env env);
  explicit LatentEvaluatorBinding(const Napi::CallbackInfo& info) : HandleBinding(info) {}

  // loadLatentEvaluator(dir, { device? }?, token?, onProgress?) -> Promise<LatentEvaluator>
  static Napi::Value Load(const Napi::CallbackInfo& info);
  // createLatentEvaluator(textFrom, { latentChannels?, width?, blocks?, blocksPerLevel?, groups?, seed?, device? }?,
  //                       token?, onProgress?) -> Promise<LatentEvaluator>
  static Napi::Value Create(const Napi::CallbackInfo& info);
  // isLatentEvaluatorFolder(dir) -> boolean (synchronous): config.json names the latent kind.
  static Napi::Value IsLatentFolder(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ScoreImages(const Napi::CallbackInfo& info);
  Napi::Value ScoreLatents(const Napi::CallbackInfo& info);
  Napi::Value Validate(const Napi::CallbackInfo& info);
  Napi::Value Train(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value StepScorer(const Napi::CallbackInfo& info);

  // Scoring and saving hold it shared, training exclusively.
  std::shared_ptr<std::shared_mutex> lock_ = std::make_shared<std::shared_mutex>();
};

void RegisterLatentEvaluatorBindings(Napi::Env env, Napi::Object exports);

}  // namespace spo::addon
