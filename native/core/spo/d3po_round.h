// The D3PO baseline's sampling round (docs/method.md §7): per prompt two full
// stochastic trajectories from one x_T (sharing the steps before
// divert_start_step, like SPO's), the preference model judges only the final
// images (t = 0), and that one preference labels every step's transitions of
// the two trajectories. The pairs share no x_t, so the update forwards both
// sides.
#pragma once
#include "spo/sampling_round.h"

namespace spo::trainer {

SamplingRound run_d3po_round(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                             const std::vector<std::string>& prompts, const SpoSettings& settings, uint64_t seed,
                             const JobContext& ctx = {});

}  // namespace spo::trainer
