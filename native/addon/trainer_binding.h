// The SPO trainer for JavaScript: settings validation (synchronous), prompt
// files, and a training run as one job whose progress events carry the
// round, sampling, pairs, update and checkpoint figures. Only conversion here:
// the method lives in native/core/spo.
#pragma once
#include <napi.h>

#include "distributed/rendezvous.h"

namespace spo::addon {

// validateSpoSettings(overrides) -> the full settings object (throws on a bad one)
// readPromptFile(path, token?, onProgress?) -> Promise<string[]>
// trainSpo({ pipeline, scorer: StepScorer, prompts, settings, outputDir?, checkpointDir?, resume?, maxRounds? },
//          token?, onProgress?) -> Promise<result>
void RegisterTrainerBindings(Napi::Env env, Napi::Object exports);

// A `distributed` option ({ rank?, worldSize?, masterAddr?, masterPort?, fileStore?, backend?,
// timeoutSeconds? }) as rendezvous options; shared by trainSpo and the evaluator's train.
distributed::RendezvousOptions RendezvousFromJs(Napi::Env env, Napi::Value v);

}  // namespace spo::addon
