// Training batches of the shapes world: prompts drawn from a split, each
// rendered with its own seed. Everything is a function of (seed, step), so
// a pretraining run is reproducible and needs no stored dataset.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "world/track.h"

namespace spo::pretraining {

struct WorldBatch {
  std::vector<std::string> prompts;
  at::Tensor images;  // [B, 3, S, S] fp32 in [-1, 1]
  // Per image: its prompt, or (a `caption_share` of the time) its prompt
  // followed by words for the defects the render carries (defect_captions.h).
  std::vector<std::string> captions;
};

// splitmix64 of (seed, a, b): independent streams per purpose and index.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b);

// `batch` prompts drawn uniformly (with replacement, or distinct when `distinct`)
// from `prompts`, each a training render of `track` (world::training_render) at
// `size` px; seeds from (seed, step). The images and prompts do not depend on
// `caption_share`, which only decides which captions name their defects.
WorldBatch world_batch(world::Track track, const std::vector<std::string>& prompts, int64_t batch, int64_t size,
                       uint64_t seed, int64_t step, bool distinct = false, double caption_share = 0);

}  // namespace spo::pretraining
