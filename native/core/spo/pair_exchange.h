// Gathers the kept transition pairs of every rank onto every rank (c10d
// all-gather with variable counts), in rank order, so all ranks shuffle and
// split the same list.
#pragma once
#include <vector>

#include "distributed/group.h"
#include "spo/sampling_round.h"

namespace spo::trainer {

// `local` are this rank's pairs, their prompt indices relative to its share;
// `prompt_offset` (the share's first prompt in the round) makes them round
// indices. `latent_shape` is [C, h, w], the same on every rank. Shared pairs
// stay shared (one x_t tensor for both sides).
std::vector<TransitionPair> all_gather_pairs(distributed::Group& group, const std::vector<TransitionPair>& local,
                                             int64_t prompt_offset, const std::vector<int64_t>& latent_shape);

}  // namespace spo::trainer
