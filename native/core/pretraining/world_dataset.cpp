#include "pretraining/world_dataset.h"

#include <set>

#include "pretraining/defect_captions.h"
#include "runtime/errors.h"

namespace spo::pretraining {

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t z = seed ^ (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xD1B54A32D192ED03ull);
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

WorldBatch world_batch(world::Track track, const std::vector<std::string>& prompts, int64_t batch, int64_t size,
                       uint64_t seed, int64_t step, bool distinct, double caption_share) {
  require(!prompts.empty(), "world batch: no prompts");
  require(!distinct || batch <= static_cast<int64_t>(prompts.size()), "world batch: more distinct prompts asked than exist");
  WorldBatch out;
  std::vector<at::Tensor> images;
  std::set<uint64_t> used;
  uint64_t draw = 0;
  const uint64_t s = static_cast<uint64_t>(step);
  while (static_cast<int64_t>(out.prompts.size()) < batch) {
    const uint64_t index = mix_seed(seed, s, draw++) % prompts.size();
    if (distinct && !used.insert(index).second) continue;
    out.prompts.push_back(prompts[index]);
    auto render = world::tagged_training_render(track, prompts[index], size, mix_seed(seed ^ 0x5A5A, s, draw));
    images.push_back(render.image);
    out.captions.push_back(names_defects(caption_share, seed, step, draw)
                               ? caption_with_defects(prompts[index], render.defects)
                               : prompts[index]);
  }
  out.images = at::stack(images);
  return out;
}

}  // namespace spo::pretraining
