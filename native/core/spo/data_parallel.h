// How a data-parallel SPO round divides its work between ranks (docs/method.md §2-§3,
// the authors' multi-GPU loop): each rank samples a contiguous share of the
// round's prompts with its own seed; the kept pairs of all ranks, in rank
// order, are shuffled by the round's one permutation, the tail that does not
// divide by the world size is dropped, and every global minibatch of
// world x train_batch_size pairs is cut into equal per-rank slices. So a run
// on W ranks takes the same optimizer steps as one process with
// train_batch_size x W over the same pairs.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace spo::trainer {

// [begin, end) of rank's share of n prompts; shares differ by at most one prompt.
std::pair<int64_t, int64_t> prompt_share(int64_t prompts, int64_t rank, int64_t world);

// The sampling seed of `rank`'s share in a round whose single-process seed is `round_seed`.
uint64_t rank_sampling_seed(uint64_t round_seed, int64_t rank, int64_t world);

// Rank's minibatches (indices into the gathered pairs). Empty when fewer pairs
// than ranks: the round is skipped. world 1 gives pair_minibatches' batches.
std::vector<std::vector<int64_t>> rank_minibatches(int64_t pairs, int64_t batch_size, int64_t world, int64_t rank,
                                                   uint64_t seed, int64_t round);

}  // namespace spo::trainer
