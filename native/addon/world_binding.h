// The shapes world for JavaScript: its prompt splits, renderer and judge, its
// judge as a training run's step scorer (a StepScorer, like any other), and
// the pretraining of its tiny models (pretraining/world_pretraining.h).
#pragma once
#include <napi.h>

namespace spo::addon {

void RegisterWorldBindings(Napi::Env env, Napi::Object exports);

}  // namespace spo::addon
