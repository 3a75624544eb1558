#include "spo/data_parallel.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ATen.h>

#include "runtime/errors.h"
#include "spo/round_seeds.h"

namespace spo::trainer {

std::pair<int64_t, int64_t> prompt_share(int64_t n, int64_t rank, int64_t world) {
  require(world >= 1 && rank >= 0 && rank < world && n >= 0, "prompt_share: 0 <= rank < world");
  return {n * rank / world, n * (rank + 1) / world};
}

uint64_t rank_sampling_seed(uint64_t round_seed, int64_t rank, int64_t world) {
  // One rank keeps the single-process seed (the same round as without a group).
  return world == 1 ? round_seed : mix(round_seed, kRankSampling, static_cast<uint64_t>(rank));
}

std::vector<std::vector<int64_t>> rank_minibatches(int64_t pairs, int64_t batch_size, int64_t world, int64_t rank,
                                                   uint64_t seed, int64_t round) {
  require(pairs >= 0 && batch_size >= 1 && world >= 1 && rank >= 0 && rank < world,
          "rank_minibatches: pairs >= 0, batch_size >= 1, 0 <= rank < world");
  std::vector<std::vector<int64_t>> out;
  const int64_t per_rank = pairs / world;  // the remainder is dropped, as the authors do
  if (per_rank == 0) return out;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(mix(seed, kPairShuffle, static_cast<uint64_t>(round)));
  auto perm = at::randperm(pairs, gen, at::kLong);
  const int64_t* p = perm.data_ptr<int64_t>();
  // Global minibatch m holds positions [m*W*B, ...) of the permutation; rank r takes its r-th equal slice.
  for (int64_t done = 0; done < per_rank; done += batch_size) {
    const int64_t b = std::min(batch_size, per_rank - done);
    const int64_t first = done * world + rank * b;
    out.emplace_back(p + first, p + first + b);
  }
  return out;
}

}  // namespace spo::trainer
