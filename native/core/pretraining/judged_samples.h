// The base model's samples judged by the world's programmatic judge: the
// figures of a pretraining report, and the judge-labelled preference pairs
// the evaluator is trained on (the Pick-a-Pic stand-in: two samples of the
// same prompt, the judge's choice or a tie).
#pragma once
#include <string>
#include <vector>

#include "evaluator/preference_training.h"
#include "pipeline/pipeline.h"
#include "world/track.h"

namespace spo::pretraining {

struct SamplingOptions {
  int64_t steps = 20;
  double guidance_scale = 5.0;
  double eta = 1.0;
  uint64_t seed = 7;
  int64_t batch = 64;  // prompts per generate call
};

struct JudgedImages {
  std::vector<std::string> prompts;
  at::Tensor images;  // [N, 3, S, S] fp32 in about [-1, 1]
  std::vector<world::Verdict> scores;
};

// One sample per prompt (x_T and noise from (seed, batch index)), judged by the track's judge.
JudgedImages sample_and_judge(pipeline::Pipeline& pipe, world::Track track, const std::vector<std::string>& prompts,
                              const SamplingOptions& options, const JobContext& ctx);

// Mean of a judge part over a set ("total", "alignment", ...: world::judge_parts).
double mean_judge(const std::vector<world::Verdict>& scores, const std::string& part);

// Two samples per prompt (seeds `seed` and `seed + 1`), labelled by the judge
// (1 / 0 / 0.5 for a tie: totals within `tie_margin`).
std::vector<evaluator::PreferencePair> judged_pairs(pipeline::Pipeline& pipe, world::Track track,
                                                    const std::vector<std::string>& prompts,
                                                    const SamplingOptions& options, double tie_margin,
                                                    const JobContext& ctx);

// One pass of samples over a prompt list: sample i of every prompt, its judge total.
// Passes of one prompt list are what within_prompt_pairs pairs up.
struct JudgedPass {
  std::vector<std::string> prompts;
  at::Tensor images;          // [P, 3, S, S] fp32, clamped to [-1, 1]
  std::vector<double> totals;  // [P] the judge's totals
};

// sample_and_judge with the pass's seed, keeping the totals.
JudgedPass sample_pass(pipeline::Pipeline& pipe, world::Track track, const std::vector<std::string>& prompts,
                       const SamplingOptions& options, const JobContext& ctx);

// A pass kept between runs (a pass of 1,500 prompts costs minutes): safetensors
// with images [P, 3, S, S] F32 and the prompts and totals as JSON in the metadata.
void save_pass(const std::string& path, const JudgedPass& pass);
JudgedPass load_pass(const std::string& path);
// The pass's totals from today's judge of its images (a cached pass keeps the
// totals of the judge that drew it; a changed judge must not label with them).
void judge_again(JudgedPass& pass, world::Track track);

// How many of the within-prompt pairs were decided and tied.
struct PairCounts {
  int64_t decided = 0, ties = 0;
};

// Every pair (a, b), a < b, of one prompt's samples across `passes` (n passes
// of the same prompts: n (n - 1) / 2 pairs per prompt), image_0 from pass a,
// labelled by the totals (world::label_totals: a tie when they differ by less
// than tie_margin). Ties are kept only when `keep_ties`. Images are views
// into the passes (no copies). InvalidArgument when the passes' prompts differ.
std::vector<evaluator::PreferencePair> within_prompt_pairs(const std::vector<JudgedPass>& passes, double tie_margin,
                                                           bool keep_ties, PairCounts* counts = nullptr);

}  // namespace spo::pretraining
