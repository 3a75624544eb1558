// Module entry: per-environment data, the job runner, and the exported classes.
#include <napi.h>

#include "addon_data.h"
#include "cancel_token.h"
#include "diagnostics.h"
#include "job_runner.h"
#include "js_errors.h"
#include "runtime/build_info.h"
#include "runtime/threads.h"
#include "scheduler_binding.h"
#include "tokenizer_binding.h"
#include "model_bindings.h"
#include "evaluator_binding.h"
#include "step_scorer_binding.h"
#include "pipeline_binding.h"
#include "trainer_binding.h"
#include "bench_binding.h"
#include "world_binding.h"

namespace spo::addon {
namespace {

Napi::Value BuildInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const auto b = spo::build_info();
    auto o = Napi::Object::New(env);
    o.Set("torchVersion", b.torch_version);
    o.Set("cudaKernels", b.cuda_kernels);
    o.Set("cudaAvailable", b.cuda_available);
    o.Set("cudaDevices", b.cuda_devices);
    o.Set("intraOpThreads", b.intra_op_threads);
    o.Set("jobThreads", JobThreadCount());
    o.Set("napiVersion", NAPI_VERSION);
    return o;
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  spo::configure_intra_op_threads();
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  data->jobs = EnvJobs::Create(env);
  auto token = CancelToken::Define(env);
  data->cancel_token_ctor = Napi::Persistent(token);
  exports.Set("CancelToken", token);
  exports.Set("DDIMScheduler", SchedulerBinding::Define(env));
  TokenizerBinding::Export(env, exports, "loadTokenizer");
  RegisterModelBindings(env, exports);     // UNet, VAE, TextEncoder handles
  RegisterPipelineBindings(env, exports);  // Pipeline, Sampler
  StepScorerBinding::Define(env);           // the handle Evaluator and the world hand a Trainer
  RegisterEvaluatorBindings(env, exports);  // Evaluator, loadEvaluator, readPairsFile
  RegisterTrainerBindings(env, exports);    // validateSpoSettings, readPromptFile, trainSpo, trainDiffusionDpo
  RegisterBenchBindings(env, exports);      // runBenchmark
  RegisterWorldBindings(env, exports);      // worldPrompts, renderWorld, judgeWorld, pretrainWorld
  exports.Set("buildInfo", Napi::Function::New<BuildInfoJs>(env, "buildInfo"));
  exports.Set("diagnostics", DefineDiagnostics(env));
  return exports;
}

}  // namespace spo::addon

// Registered by hand rather than with NODE_API_MODULE: when a Worker is
// terminated while it loads the addon, every Node-API call fails, and
// node-addon-api's own wrapper would then throw from its catch handler
// (std::terminate). Here a failure becomes a plain JavaScript exception, and
// if even that cannot be raised the load just returns nothing.
NAPI_MODULE_INIT() {
  try {
    return spo::addon::Init(Napi::Env(env), Napi::Object(env, exports));
  } catch (const Napi::Error& e) {
    try {
      napi_throw(env, e.Value());
    } catch (...) {
    }
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_SPO_NATIVE_LOAD", e.what());
  } catch (...) {
    napi_throw_error(env, "ERR_SPO_NATIVE_LOAD", "spo-diffusion: the native module failed to initialise");
  }
  return nullptr;
}
