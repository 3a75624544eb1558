// The latent step-aware evaluator for JavaScript (evaluator/latent_preference_model.h):
// a handle with the Evaluator handle's members (evaluator_handle_binding.h), so
// lib/models/evaluator.ts drives either kind through one class. Only conversion here.
#pragma once
#include <napi.h>

#include "evaluator/latent_preference_model.h"
#include "evaluator_handle_binding.h"

namespace spo::addon {

class LatentEvaluatorBinding
    : public EvaluatorHandleBinding<LatentEvaluatorBinding, evaluator::LatentPreferenceModel> {
 public:
  static constexpr const char* kClassName = "LatentEvaluator";
  explicit LatentEvaluatorBinding(const Napi::CallbackInfo& info) : EvaluatorHandleBinding(info) {}

  // loadLatentEvaluator(dir, { device? }?, token?, onProgress?) -> Promise<LatentEvaluator>
  static Napi::Value Load(const Napi::CallbackInfo& info);
  // createLatentEvaluator(textFrom, { latentChannels?, width?, blocks?, blocksPerLevel?, groups?, seed?, device? }?,
  //                       token?, onProgress?) -> Promise<LatentEvaluator>
  static Napi::Value Create(const Napi::CallbackInfo& info);
  // isLatentEvaluatorFolder(dir) -> boolean (synchronous): config.json names the latent kind.
  static Napi::Value IsLatentFolder(const Napi::CallbackInfo& info);
};

void RegisterLatentEvaluatorBindings(Napi::Env env, Napi::Object exports);

}  // namespace spo::addon
