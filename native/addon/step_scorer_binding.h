// A step scorer for JavaScript: the one opaque handle a training run takes to
// score SPO's candidates. Whatever can score them hands one out (the
// Evaluator's stepScorer(), the shapes world's worldJudgeScorer()); trainSpo
// opens it for the run without knowing what is inside.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "evaluator/image_scorer.h"
#include "pipeline/pipeline.h"

namespace spo::addon {

// The run's sampling schedule, for scorers that continue candidates themselves.
struct ScoringSchedule {
  int64_t steps = 20;
  double guidance_scale = 5.0;
};

class StepScorerSource {
 public:
  virtual ~StepScorerSource() = default;
  // The scorer for one training run, called on the job's thread once the run
  // holds `pipe`. The returned pointer keeps whatever the scorer needs (a
  // model, its lock held shared) until the run lets it go.
  virtual std::shared_ptr<evaluator::ImageScorer> open(pipeline::Pipeline& pipe, const ScoringSchedule& schedule) = 0;
};

class StepScorerBinding : public Napi::ObjectWrap<StepScorerBinding> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit StepScorerBinding(const Napi::CallbackInfo& info);

  // A new StepScorer object around `source`.
  static Napi::Value New(Napi::Env env, std::shared_ptr<StepScorerSource> source);
  // The source behind a StepScorer argument; ERR_SPO_INVALID_ARGUMENT for anything else.
  static std::shared_ptr<StepScorerSource> Borrow(Napi::Env env, Napi::Value v, const std::string& what);

 private:
  std::shared_ptr<StepScorerSource> source_;
};

}  // namespace spo::addon
