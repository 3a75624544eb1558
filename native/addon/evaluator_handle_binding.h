// The handle pattern of both evaluator kinds (Evaluator: the pixel model,
// LatentEvaluator: the latent one), on top of HandleBinding: the same
// JavaScript members (info, scoreImages, scoreLatents, validate, train, save,
// stepScorer), so lib/models/evaluator.ts drives either through one class; a lock
// that scoring, validating and saving hold shared and training exclusively
// (weights never change under a running score); save() and stepScorer(). Each
// kind defines what differs (which core calls, which arguments) as its own
// Info, ScoreImages, ScoreLatents, Validate and Train: explicit
// specializations of the members below, in its binding's .cpp, before it
// exports the class (Define names them).
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "evaluator_js.h"
#include "handle_binding.h"
#include "step_scorer_binding.h"
#include "tensor_bridge.h"

namespace spo::addon {

template <typename Derived, typename Model>
class EvaluatorHandleBinding : public HandleBinding<Derived, Model> {
  using Base = HandleBinding<Derived, Model>;

 public:
  static Napi::Function Define(Napi::Env env) {
    return Base::DefineHandle(env, {Base::template Getter<&EvaluatorHandleBinding::Info>("info"),
                                    Base::template Method<&EvaluatorHandleBinding::ScoreImages>("scoreImages"),
                                    Base::template Method<&EvaluatorHandleBinding::ScoreLatents>("scoreLatents"),
                                    Base::template Method<&EvaluatorHandleBinding::Validate>("validate"),
                                    Base::template Method<&EvaluatorHandleBinding::Train>("train"),
                                    Base::template Method<&EvaluatorHandleBinding::Save>("save"),
                                    Base::template Method<&EvaluatorHandleBinding::StepScorer>("stepScorer")});
  }

 protected:
  using Base::Base;
  using Lock = std::shared_ptr<std::shared_mutex>;
  enum class Access { Read, Train };

  // A job (token at argument 1): `run(ctx)` on the job's thread under this
  // handle's lock (shared to read the weights, exclusive to train them) and,
  // when given, a borrowed pipeline's lock held shared; `to_js(env, result)`
  // on the JavaScript thread. `run` holds the model (from Get(), taken before
  // the arguments are read, so a disposed handle reports that first).
  template <typename Run, typename ToJs>
  Napi::Value LockedJob(const Napi::CallbackInfo& info, Access access, Lock pipeline_lock, Run run, ToJs to_js) {
    return SubmitResultJob(
        info, 1,
        [access, lock = lock_, pipeline_lock, run](const JobContext& ctx) {
          std::shared_lock<std::shared_mutex> read;
          std::unique_lock<std::shared_mutex> train;
          if (access == Access::Train) train = std::unique_lock(*lock);
          else read = std::shared_lock(*lock);
          std::shared_lock<std::shared_mutex> hold_pipeline;
          if (pipeline_lock) hold_pipeline = std::shared_lock(*pipeline_lock);
          return run(ctx);
        },
        to_js);
  }

  // A score without a pipeline, of `o`'s { <input>: tensor, prompts, timesteps, maxBatch? }
  // (its keys checked by the caller): `(model.*score)(input, prompts, timesteps,
  // max_batch)` in a job under the lock held shared, unless cancelled first.
  using ScoreFn = at::Tensor (Model::*)(const at::Tensor&, const std::vector<std::string>&, const at::Tensor&, int64_t);
  Napi::Value ScoreJob(const Napi::CallbackInfo& info, std::shared_ptr<Model> m, const Napi::Object& o,
                       const char* input, ScoreFn score) {
    Napi::Env env = info.Env();
    auto tensor = TensorFromJs(env, o.Get(input), input);
    auto prompts = StringsFromJs(env, o.Get("prompts"), "prompts");
    auto timesteps = TimestepsFromJs(env, o.Get("timesteps"), "timesteps");
    const int64_t max_batch = OptionalInteger(env, o, "maxBatch", 0, 1 << 20).value_or(0);
    return LockedJob(
        info, Access::Read, nullptr,
        [m, score, tensor, prompts, timesteps, max_batch](const JobContext& ctx) {
          ctx.check_cancelled();
          return ((*m).*score)(tensor, prompts, timesteps, max_batch);
        },
        TensorToJs);
  }

  Lock lock_ = std::make_shared<std::shared_mutex>();

 private:
  // Each kind's own (see the top of this file).
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ScoreImages(const Napi::CallbackInfo& info);
  Napi::Value ScoreLatents(const Napi::CallbackInfo& info);
  Napi::Value Validate(const Napi::CallbackInfo& info);
  Napi::Value Train(const Napi::CallbackInfo& info);

  // The model as a training run's step scorer: the run reads it under the
  // handle's lock held shared (training it meanwhile waits), as scoring calls do.
  class LockedScorerSource : public StepScorerSource {
   public:
    LockedScorerSource(std::shared_ptr<Model> model, Lock lock) : model_(std::move(model)), lock_(std::move(lock)) {}
    std::shared_ptr<evaluator::ImageScorer> open(pipeline::Pipeline&, const ScoringSchedule&) override {
      struct Held {
        std::shared_ptr<Model> model;
        std::shared_lock<std::shared_mutex> hold;
      };
      auto held = std::make_shared<Held>(Held{model_, std::shared_lock(*lock_)});
      return {held, held->model.get()};  // the lock goes with the last copy of the scorer
    }

   private:
    std::shared_ptr<Model> model_;
    Lock lock_;
  };

  // save(dir, token?, onProgress?) -> Promise<void>
  Napi::Value Save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = this->Get(env);
    const std::string dir = RequireString(env, info[0], "dir");
    return LockedJob(
        info, Access::Read, nullptr,
        [m, dir](const JobContext&) {
          m->save(dir);
          return true;
        },
        [](Napi::Env e, bool) -> Napi::Value { return e.Undefined(); });
  }

  // stepScorer() -> StepScorer: this model as a training run's step scorer (trainSpo's `scorer`).
  Napi::Value StepScorer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return StepScorerBinding::New(env, std::make_shared<LockedScorerSource>(this->Get(env), lock_));
  }
};

}  // namespace spo::addon
