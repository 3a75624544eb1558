#include "diagnostics.h"

#include <c10/util/Exception.h>

#include <chrono>
#include <new>
#include <thread>

#include "addon_data.h"
#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "runtime/errors.h"

namespace spo::addon {
namespace {

// steppedJob(steps, msPerStep, token?, onProgress?) -> Promise<number of steps run>
Napi::Value SteppedJob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const int64_t steps = RequireInteger(env, info[0], "steps", 0, 1000000);
    const int64_t ms = RequireInteger(env, info[1], "msPerStep", 0, 60000);
    auto done = std::make_shared<int64_t>(0);
    return SubmitLambdaJob(
        info, 2,
        [steps, ms, done](const JobContext& ctx) {
          for (int64_t i = 0; i < steps; ++i) {
            ctx.check_cancelled();
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            *done = i + 1;
            ctx.report({"step", i + 1, steps, static_cast<double>(i + 1)});
          }
        },
        [done](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, static_cast<double>(*done)); });
  });
}

// failingJob(kind) -> a Promise rejected by the native exception of that kind.
Napi::Value FailingJob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string kind = RequireString(env, info[0], "kind");
    if (kind != "invalid" && kind != "torch" && kind != "oom" && kind != "std" && kind != "unknown") {
      ThrowInvalid(env, "kind must be one of invalid, torch, oom, std, unknown");
    }
    return SubmitLambdaJob(
        info, 1,
        [kind](const JobContext&) {
          if (kind == "invalid") throw spo::InvalidArgument("diagnostic invalid argument");
          if (kind == "torch") TORCH_CHECK(false, "diagnostic libtorch check failed");
          if (kind == "oom") throw std::bad_alloc();
          if (kind == "std") throw std::runtime_error("diagnostic runtime error");
          throw 42;
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  });
}

// runningJobs() -> jobs of this environment submitted and not yet finished
// (queued or executing), so a caller can check that nothing was left behind.
Napi::Value RunningJobs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, static_cast<double>(AddonData::Of(env).jobs->RunningCount()));
}

}  // namespace

Napi::Object DefineDiagnostics(Napi::Env env) {
  auto o = Napi::Object::New(env);
  o.Set("steppedJob", Napi::Function::New<SteppedJob>(env, "steppedJob"));
  o.Set("failingJob", Napi::Function::New<FailingJob>(env, "failingJob"));
  o.Set("runningJobs", Napi::Function::New<RunningJobs>(env, "runningJobs"));
  return o;
}

}  // namespace spo::addon
