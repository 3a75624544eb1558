// The SPO update of a minibatch of kept pairs (docs/method.md §3): a pair whose
// winner and loser share x_t needs ONE guided policy forward (LoRA on, with
// gradient) and ONE guided reference forward (the same UNet with LoRA off, no
// gradient) for both log-probs, and its clamped DPO loss runs as the fused
// kernel. A pair that does not share x_t (chain transitions after the first,
// the `none` resampler, D3PO's later steps) forwards both sides. A mixed
// minibatch keeps each pair's own cost: its shared and unshared pairs' rows go
// through the same two forwards, so it costs what its parts cost apart.
// `parity` mode reproduces the authors' call pattern instead: separate winner
// and loser forwards, a copied reference.
#pragma once
#include <optional>
#include <vector>

#include "pipeline/pipeline.h"
#include "spo/sampling_round.h"
#include "spo/spo_settings.h"

namespace spo::trainer {

struct UpdateStats {
  double loss = 0.0;                   // the minibatch's mean loss (before accumulation scaling)
  double ratio_w = 0.0, ratio_l = 0.0;  // mean clamped probability ratios of winners and losers
  double clipped_share = 0.0;          // share of ratios outside [1 - eps, 1 + eps] (no gradient)
  int64_t policy_evaluations = 0;      // guided UNet evaluations of one latent, with gradient
  int64_t reference_evaluations = 0;
};

// Computes the minibatch loss, back-propagates loss * loss_scale into the LoRA
// parameters (their .grad accumulates), and returns the statistics.
// `cond` holds the round's conditioning (one row per prompt); `reference` is
// the copied reference UNet for parity mode (ignored otherwise).
UpdateStats spo_backward(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond,
                         const std::vector<const TransitionPair*>& pairs, const SpoSettings& settings,
                         double loss_scale, models::UNet2DConditionModel* reference = nullptr);

}  // namespace spo::trainer
