// The update half of an SPO round (docs/method.md §3): the kept pairs trained once in
// the given minibatches, with gradient accumulation, gradient-norm clipping and
// AdamW on the LoRA. With a process group the gradients are averaged across
// ranks before every optimizer step (one flat all-reduce), so every rank takes
// the same step; without one this is the single-process update.
#pragma once
#include <torch/optim/adamw.h>

#include <vector>

#include "distributed/group.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"
#include "spo/sampling_round.h"
#include "spo/spo_settings.h"
#include "spo/spo_trainer.h"

namespace spo::trainer {

// The trainer's AdamW over the LoRA tensors, from the settings.
torch::optim::AdamW make_lora_optimizer(const std::vector<at::Tensor>& tensors, const SpoSettings& settings);

// Trains on pairs[i] for the i in each minibatch; `cond` holds the round's
// conditioning (pair.prompt indexes its rows). Adds optimizer steps, skipped
// updates, losses and evaluations to `result`; emits "update" and "skip"
// events (rank 0 only, with a group). `round` is 0-based; result.rounds_done names the last checkpoint in
// a NumericFault. `reference` is parity mode's copied UNet (else null).
void update_round(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond,
                  const std::vector<TransitionPair>& pairs, const std::vector<std::vector<int64_t>>& minibatches,
                  const SpoSettings& settings, torch::optim::AdamW& optimizer, const std::vector<at::Tensor>& tensors,
                  models::UNet2DConditionModel* reference, int64_t round, distributed::Group* group,
                  const JobContext& ctx, TrainRunResult& result);

}  // namespace spo::trainer
