// The benchmark harness for JavaScript: one job running native/core/bench's
// measurements on a loaded Pipeline and Evaluator; the report comes back as a
// plain object (the JSON the harness writes).
#pragma once
#include <napi.h>

namespace spo::addon {

// runBenchmark({ pipeline, evaluator, prompts, settings?, warmup?, reps?, sections? }, token?, onProgress?)
//   -> Promise<object>
void RegisterBenchBindings(Napi::Env env, Napi::Object exports);

}  // namespace spo::addon
