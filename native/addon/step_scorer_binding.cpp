#include "step_scorer_binding.h"

#include "addon_data.h"
#include "js_args.h"
#include "js_errors.h"
#include "type_tags.h"

namespace spo::addon {

using SourcePtr = std::shared_ptr<StepScorerSource>;

Napi::Function StepScorerBinding::Define(Napi::Env env) {
  auto ctor = DefineClass(env, "StepScorer", {});
  AddonData::Of(env).step_scorer_ctor = Napi::Persistent(ctor);
  return ctor;
}

StepScorerBinding::StepScorerBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StepScorerBinding>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    ThrowJs(info.Env(), "ERR_SPO_INVALID_ARGUMENT", "a StepScorer comes from a scorer (an Evaluator, a WorldJudgeScorer)");
  }
  TagInstance<StepScorerBinding>(info);
  source_ = *info[0].As<Napi::External<SourcePtr>>().Data();
}

Napi::Value StepScorerBinding::New(Napi::Env env, SourcePtr source) {
  auto external = Napi::External<SourcePtr>::New(env, new SourcePtr(std::move(source)),
                                                 [](Napi::Env, SourcePtr* p) { delete p; });
  return AddonData::Of(env).step_scorer_ctor.New({external});
}

SourcePtr StepScorerBinding::Borrow(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!HasTag<StepScorerBinding>(v)) ThrowInvalid(env, what + " must be a step scorer");
  return StepScorerBinding::Unwrap(v.As<Napi::Object>())->source_;
}

}  // namespace spo::addon
