// Preference pairs labelled the way SPO uses its evaluator: at each branch
// step of a sampling round, the k candidates from one shared x_t, each shown
// as the decoded x0 prediction at its own timestep, labelled by the judge on
// the *final* image the candidate leads to (continued to t = 0 by
// deterministic DDIM). Trained on these (in the clean mode of
// preference_training, each pair at its own timestep), the step-aware
// evaluator learns what SPO asks of it: which candidate ends better.
#pragma once
#include <string>
#include <vector>

#include "evaluator/preference_training.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"
#include "world/track.h"

namespace spo::pretraining {

struct RolloutPairOptions {
  int64_t steps = 20;           // the sampling schedule (SHAPES_WORLD_SPO)
  double guidance_scale = 5.0;
  int64_t k = 4;                // candidates per branch step: k (k - 1) / 2 pairs each
  int64_t divert_start_step = 4;
  int64_t prompts_per_round = 8;
  double tie_margin = 0.02;     // judge totals closer than this are ties
  uint64_t seed = 11;
  world::Track track = world::Track::Relations;  // whose judge labels the pairs
};

struct RolloutPairStats {
  int64_t groups = 0;  // branch steps judged (one per prompt and step)
  int64_t ties = 0;
  int64_t sampling_evaluations = 0;  // guided UNet rows of the rounds themselves, rollouts not counted
};

// Pairs from prompts.size() trajectories of the pipeline as it is (the base
// model). Progress: stage "rollout-pairs", one event per round.
std::vector<evaluator::PreferencePair> rollout_pairs(pipeline::Pipeline& pipe, const std::vector<std::string>& prompts,
                                                     const RolloutPairOptions& options, RolloutPairStats* stats,
                                                     const JobContext& ctx);

}  // namespace spo::pretraining

namespace spo::pretraining {

// Can a noisy step's outcome be read from its x0 prediction at all? The
// judge itself, given only each decided pair's two x0-prediction images, picks
// the one that ends better this often (equal totals count half), per band of
// t: [0, 1) (final images: 1 by construction), [1, 300), [300, 600),
// [600, 1000). Near 0.5, no step evaluator that reads x0 predictions can
// guide SPO at those steps (docs/SHAPES_WORLD.md).
struct BandAccuracy {
  int64_t lo = 0, hi = 0;  // timesteps [lo, hi)
  int64_t pairs = 0;       // decided pairs in the band
  double accuracy = 0.0;   // NaN without pairs
};
std::vector<BandAccuracy> judge_reads_x0(const std::vector<evaluator::PreferencePair>& pairs,
                                         world::Track track = world::Track::Relations);

// A pair set kept between pretraining stages (rollout pairs cost minutes):
// safetensors with images [N, 2, 3, H, W] F16, labels [N] F32 (label_0),
// timesteps [N] I64 and the prompts as JSON in the metadata.
void save_pair_set(const std::string& path, const std::vector<evaluator::PreferencePair>& pairs);
std::vector<evaluator::PreferencePair> load_pair_set(const std::string& path);

}  // namespace spo::pretraining
