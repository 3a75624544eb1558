// The SPO training loop (docs/method.md §2, §3, §6): rounds of `sample_batch_size`
// prompts (epoch order from the seed), a sampling round, the kept pairs
// shuffled by one permutation and trained once in minibatches with gradient
// accumulation, gradient-norm clipping and AdamW on the UNet's LoRA. After every
// round a checkpoint (LoRA, optimizer state, round counter, settings) is
// committed atomically; a run resumed from it repeats the uninterrupted run
// exactly on the CPU, because every random draw of round r comes from (seed, r).
// With `distributed` options naming more than one rank, the run is one rank of
// a data-parallel job (spo/data_parallel.h): each rank samples its share of
// the round's prompts, the kept pairs are gathered and split, gradients are
// averaged before every step; rank 0 alone writes checkpoints, the export and
// progress events, and every rank resumes from the (shared) checkpoint dir.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "distributed/comm_tally.h"
#include "distributed/rendezvous.h"
#include "evaluator/image_scorer.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"
#include "spo/spo_settings.h"

namespace spo::trainer {

struct TrainRunOptions {
  std::string output_dir;       // "": no final export; else <dir>/pytorch_lora_weights.safetensors (diffusers)
  std::string checkpoint_dir;   // "": no checkpoints
  bool resume = true;           // continue from checkpoint_dir's latest checkpoint
  int64_t max_rounds = 0;       // > 0: stop after this many rounds in total (tests, demos)
  // Set: join a data-parallel run (world size from here or $WORLD_SIZE); world size 1 runs as without.
  std::optional<distributed::RendezvousOptions> distributed;
};

struct TrainRunResult {
  int64_t start_round = 0;      // > 0 when resumed
  int64_t rounds_done = 0;      // the round counter at the end
  int64_t total_rounds = 0;     // epochs x rounds per epoch
  int64_t optimizer_steps = 0;  // in this call
  int64_t skipped_updates = 0;  // minibatches dropped for a NaN or Inf (onNonFinite "skip")
  std::vector<double> losses;   // one per minibatch in this call
  int64_t pairs_kept = 0, pairs_tied = 0, pairs_cut = 0;
  int64_t sampling_evaluations = 0, update_evaluations = 0;  // guided UNet evaluations of one latent
  double sampling_seconds = 0.0, update_seconds = 0.0;
  std::string lora_file;        // the exported LoRA ("" without output_dir, and on ranks > 0)
  int64_t rank = 0, world_size = 1;
  distributed::CommTally communication;  // this rank's collectives (zero on one rank)
};

// The round's update order: one permutation of the kept pairs (from seed and
// round), cut into minibatches of `batch_size` (the last may be smaller).
std::vector<std::vector<int64_t>> pair_minibatches(int64_t pairs, int64_t batch_size, uint64_t seed, int64_t round);

// The round's sampling seed (single process; ranks derive theirs from it).
uint64_t round_sampling_seed(uint64_t seed, int64_t round);

// Attaches a fresh LoRA (rank, alpha, seed from the settings) to the pipeline's
// UNet, which must have none, and trains it. The LoRA stays attached afterwards.
// Progress stages: "round", "sample", "pairs", "update", "skip", "checkpoint".
TrainRunResult train_spo(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                         const std::vector<std::string>& prompts, const SpoSettings& settings,
                         const TrainRunOptions& options, const JobContext& ctx = {});

}  // namespace spo::trainer
