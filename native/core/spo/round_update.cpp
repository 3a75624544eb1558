#include "spo/round_update.h"

#include <torch/nn/utils/clip_grad.h>

#include <cmath>
#include <optional>

#include "distributed/gradient_average.h"
#include "runtime/errors.h"
#include "spo/spo_update.h"

namespace spo::trainer {

torch::optim::AdamW make_lora_optimizer(const std::vector<at::Tensor>& tensors, const SpoSettings& s) {
  return torch::optim::AdamW(tensors, torch::optim::AdamWOptions(s.learning_rate)
                                          .betas({s.adam_beta1, s.adam_beta2})
                                          .eps(s.adam_eps)
                                          .weight_decay(s.weight_decay));
}

void update_round(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond,
                  const std::vector<TransitionPair>& pairs, const std::vector<std::vector<int64_t>>& minibatches,
                  const SpoSettings& s, torch::optim::AdamW& optimizer, const std::vector<at::Tensor>& tensors,
                  models::UNet2DConditionModel* reference, int64_t round, distributed::Group* group,
                  const JobContext& ctx, TrainRunResult& result) {
  const int64_t n_mb = static_cast<int64_t>(minibatches.size());
  optimizer.zero_grad();
  // With a group, a rank's NaN/Inf waits for the step's all-reduce so that
  // every rank learns of it there and none is left alone in a collective.
  std::string pending_fault;
  auto report = [&](const ProgressEvent& e) {  // a data-parallel run reports from rank 0
    if (!group || group->rank() == 0) ctx.report(e);
  };
  for (int64_t mb = 0; mb < n_mb; ++mb) {
    ctx.check_cancelled();
    std::vector<const TransitionPair*> chunk;
    for (int64_t i : minibatches[static_cast<size_t>(mb)]) chunk.push_back(&pairs[static_cast<size_t>(i)]);
    // A NaN or Inf stops the run (the last checkpoint stays the last good one) or,
    // with onNonFinite "skip", drops this minibatch's accumulation group.
    auto fault = [&](const std::string& what) {
      if (!s.skip_non_finite)
        throw NumericFault(what + " (round " + std::to_string(round + 1) + ", minibatch " + std::to_string(mb + 1) +
                           "); the last checkpoint is round " + std::to_string(result.rounds_done) +
                           "; set onNonFinite: \"skip\" to skip such updates");
      optimizer.zero_grad();
      ++result.skipped_updates;
      report({"skip", mb + 1, n_mb, 0.0, {{"round", double(round + 1)}}});
    };
    std::optional<UpdateStats> computed;  // empty: this rank's minibatch hit a NaN/Inf
    try {
      computed = spo_backward(pipe, cond, chunk, s, 1.0 / static_cast<double>(s.gradient_accumulation),
                              reference);
    } catch (const NumericFault& e) {
      if (!group) {
        fault(e.what());
        continue;
      }
      pending_fault = e.what();
    }
    if (computed) {
      result.update_evaluations += computed->policy_evaluations + computed->reference_evaluations;
      result.losses.push_back(computed->loss);
    }
    double grad_norm = 0.0;
    const bool step_now = (mb + 1) % s.gradient_accumulation == 0 || mb + 1 == n_mb;
    if (step_now) {
      if (group && distributed::average_gradients(*group, tensors, !pending_fault.empty())) {
        const std::string what = pending_fault.empty()
                                     ? "SPO update: another rank's loss or gradients are not finite"
                                     : pending_fault;
        pending_fault.clear();
        fault(what);
        continue;
      }
      for (const auto& p : tensors)
        if (p.grad().defined()) grad_norm += p.grad().to(at::kDouble).pow(2).sum().item<double>();
      grad_norm = std::sqrt(grad_norm);
      if (!std::isfinite(grad_norm)) {
        fault("SPO update: the LoRA gradients are not finite");
        continue;
      }
      if (s.max_grad_norm > 0 && !s.authors_noop_clip) torch::nn::utils::clip_grad_norm_(tensors, s.max_grad_norm);
      optimizer.step();
      optimizer.zero_grad();
      ++result.optimizer_steps;
    }
    if (!computed) continue;
    const UpdateStats& us = *computed;
    report({"update", mb + 1, n_mb, us.loss,
                {{"loss", us.loss}, {"ratioW", us.ratio_w}, {"ratioL", us.ratio_l}, {"lr", s.learning_rate},
                 {"clippedShare", us.clipped_share}, {"gradNorm", grad_norm}, {"round", double(round + 1)},
                 {"policyEvaluations", double(us.policy_evaluations)},
                 {"referenceEvaluations", double(us.reference_evaluations)}}});
  }
}

}  // namespace spo::trainer
