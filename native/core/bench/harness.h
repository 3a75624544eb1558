// The benchmark harness's measurements, all taken in one run on one machine
// so that their ratios mean something (issue: "how fast, against what, how
// close to the limit"):
//   - the ceiling: the best matrix-multiply rate over a few sizes (fp32 on a CPU,
//     the pipeline's dtype on a GPU);
//   - per component (text encoding, guided UNet forward, UNet forward +
//     backward through a LoRA, VAE decode, preference-model score): time and
//     achieved FLOP/s from FLOPs counted on the layer shapes, against the ceiling;
//   - the SPO update step, default against parity mode, with model evaluations per pair;
//     one whole optimizer step (AdamW on the fp32 LoRA) with gradient checkpointing off and on;
//   - on a GPU, the caching allocator's peak memory per component, update variant and round;
//   - the fused kernels (SPO loss, adaLN) against their plain ATen compositions;
//   - one SPO round: sampling and update time, evaluations per kept pair, pairs/s, peak RSS;
//     with a latent evaluator, the same round scored by it (round.latent), beside the pixel one.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evaluator/image_scorer.h"
#include "evaluator/preference_model.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"
#include "spo/spo_settings.h"

namespace spo::bench {

struct BenchOptions {
  std::vector<std::string> prompts;  // the batch (its size is the component batch)
  trainer::SpoSettings settings;     // the round and update configuration
  int warmup = 1;
  int reps = 3;
  std::vector<std::string> sections = {"ceiling", "components", "update", "kernels", "round"};
};

// Progress: stage "bench" with the section index. Leaves the pipeline without a LoRA.
// `latent_judge` (optional): a scorer of latents (the latent evaluator) for the round section's second round.
nlohmann::json run_bench(pipeline::Pipeline& pipe, evaluator::PreferenceModel& judge, const BenchOptions& options,
                         const JobContext& ctx = {}, evaluator::ImageScorer* latent_judge = nullptr);

}  // namespace spo::bench
