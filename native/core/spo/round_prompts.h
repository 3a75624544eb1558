// The prompts of one sampling round: `sample_batch_size` prompts taken in the
// epoch's order (a permutation of all prompts drawn from the seed and the
// epoch), so any round can be recomputed on its own (resume, every rank).
#pragma once
#include <string>
#include <vector>

#include "spo/spo_settings.h"

namespace spo::trainer {

// Rounds per epoch: ceil(prompts / sample_batch_size).
int64_t rounds_per_epoch(int64_t prompts, const SpoSettings& settings);

std::vector<std::string> round_prompts(const std::vector<std::string>& prompts, const SpoSettings& settings,
                                       int64_t round);

}  // namespace spo::trainer
