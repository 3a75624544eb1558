// The D3PO baseline's sampling round as its paper defines it (Yang et al.,
// docs/method.md §7): per prompt two stochastic trajectories from one shared
// x_T that diverge from the first step, the preference model judges only the
// final images (t = 0), and that one preference labels every step's
// transitions of the two trajectories: every step is trained. The label is
// D3PO's own, a strict comparison of the two scores (equal scores are a tie);
// SPO's divert start, pair threshold, kappa cut-off, k, pair selection and
// resampler do not apply. Only the first transition of a pair shares x_t (x_T);
// the update forwards both sides of the others.
#pragma once
#include "spo/sampling_round.h"

namespace spo::trainer {

// D3PO's label of one prompt's two final images (scores of trajectory 0 and 1):
// the higher score wins; equal scores are a tie (kept = false).
Choice d3po_label(double score_0, double score_1);

SamplingRound run_d3po_round(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                             const std::vector<std::string>& prompts, const SpoSettings& settings, uint64_t seed,
                             const JobContext& ctx = {});

}  // namespace spo::trainer
