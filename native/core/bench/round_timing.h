// One SPO round timed as the bench reports it: the sampling round on the base
// model (LoRA off, as a round's first sees it) with any scorer, then the update
// over every kept pair in minibatches as the trainer runs it (forwards and loss,
// backward, gradient clipping, AdamW on the LoRA), each split into phases. The
// bench runs it with the pixel evaluator and, when given, the latent one.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evaluator/image_scorer.h"
#include "models/lora.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"
#include "runtime/phase_profile.h"
#include "spo/sampling_round.h"
#include "spo/spo_settings.h"

namespace spo::bench {

struct TimedSampling {
  trainer::SamplingRound round;
  double seconds = 0.0;
  profile::PhaseTotals phases;
};

struct TimedUpdate {
  double seconds = 0.0;
  int64_t evaluations = 0;  // guided UNet evaluations of one latent, policy and reference
  profile::PhaseTotals phases;
};

// The sampling round of `prompts` scored by `judge`, seeded by settings.seed.
TimedSampling time_sampling(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                            const std::vector<std::string>& prompts, const trainer::SpoSettings& settings,
                            const JobContext& ctx);

// One pass over `pairs` in minibatches of settings.train_batch_size, a fresh
// optimizer over `lora`; `cond` holds the round's conditioning. The LoRA moves.
TimedUpdate time_update(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond, const models::LoraSet& lora,
                        const std::vector<trainer::TransitionPair>& pairs, const trainer::SpoSettings& settings);

// One span's phases: seconds and scope entries by phase name; "other" is the
// span's time outside every named phase, so the seconds add up to total_s.
nlohmann::json phases_json(const profile::PhaseTotals& totals, double total_s);

// The round's figures: times, pairs, evaluations per kept pair, pairs/s and the profile.
nlohmann::json round_json(const TimedSampling& sampling, const TimedUpdate& update);

}  // namespace spo::bench
