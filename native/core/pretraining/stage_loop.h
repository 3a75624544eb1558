// The optimisation loop every pretraining stage shares: AdamW, linear
// warm-up then cosine decay to 10% of the rate, gradient-norm clipping, a
// NaN / Inf check, cancellation between steps and one progress event per step.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "runtime/job_context.h"
#include "world/track.h"

namespace spo::pretraining {

struct StageOptions {
  int64_t steps = 1000;
  int64_t batch_size = 32;
  double learning_rate = 1e-3;
  int64_t warmup_steps = 100;
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;
  uint64_t seed = 1;
  world::Track track = world::Track::Relations;  // whose renders the stage trains on
};

struct StageResult {
  std::vector<double> losses;  // one per step
  double seconds = 0;
};

// The rate of (0-based) step `step` of `total`.
double warmup_cosine_lr(double base, int64_t step, int64_t warmup, int64_t total);

// step_loss(step) builds the step's loss (a scalar with its graph) over `params`.
// Throws NumericFault on a non-finite loss, Cancelled when the job is cancelled.
StageResult run_stage(const std::string& stage, const std::vector<at::Tensor>& params, const StageOptions& options,
                      const std::function<at::Tensor(int64_t)>& step_loss, const JobContext& ctx);

}  // namespace spo::pretraining
