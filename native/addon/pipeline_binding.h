// Pipeline for JavaScript: a handle loaded by a job (loadPipeline), whose
// generate / candidates calls are jobs too (Promise, cancel token, progress),
// as are loading, saving and merging a LoRA on its UNet.
// Only conversion here: the sampling itself is native/core/pipeline.
#pragma once
#include <napi.h>

#include <memory>
#include <shared_mutex>
#include <string>

#include "handle_binding.h"
#include "pipeline/pipeline.h"

namespace spo::addon {

class PipelineBinding : public HandleBinding<PipelineBinding, pipeline::Pipeline> {
 public:
  static constexpr const char* kClassName = "Pipeline";
  static Napi::Function Define(Napi::Env env);
  explicit PipelineBinding(const Napi::CallbackInfo& info) : HandleBinding(info) {}

  // loadPipeline(dir, options?, token?, onProgress?) -> Promise<Pipeline>
  static Napi::Value Load(const Napi::CallbackInfo& info);

  // The pipeline behind a Pipeline object passed as an argument (another
  // binding's job uses it), with the lock its jobs hold shared. Throws
  // ERR_SPO_INVALID_ARGUMENT for anything else, ERR_SPO_DISPOSED after dispose().
  struct Borrowed {
    std::shared_ptr<pipeline::Pipeline> pipeline;
    std::shared_ptr<std::shared_mutex> lock;
  };
  static Borrowed Borrow(Napi::Env env, Napi::Value v, const std::string& what);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Candidates(const Napi::CallbackInfo& info);
  Napi::Value HasLora(const Napi::CallbackInfo& info);
  Napi::Value LoadLora(const Napi::CallbackInfo& info);
  Napi::Value SaveLora(const Napi::CallbackInfo& info);
  Napi::Value SetLoraEnabled(const Napi::CallbackInfo& info);
  Napi::Value MergeLora(const Napi::CallbackInfo& info);

  // Sampling jobs hold it shared, LoRA changes exclusively: a LoRA is never
  // attached, merged or switched under a running UNet.
  std::shared_ptr<std::shared_mutex> lora_lock_ = std::make_shared<std::shared_mutex>();
};

void RegisterPipelineBindings(Napi::Env env, Napi::Object exports);

}  // namespace spo::addon
