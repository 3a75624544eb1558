#include "spo/spo_trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "distributed/collectives.h"
#include "distributed/group.h"
#include "io/atomic_write.h"
#include "io/json_file.h"
#include "io/module_weights.h"
#include "io/safetensors.h"
#include "models/lora.h"
#include "models/lora_file.h"
#include "runtime/errors.h"
#include "spo/d3po_round.h"
#include "spo/data_parallel.h"
#include "spo/lora_checkpoint.h"
#include "spo/pair_exchange.h"
#include "spo/round_prompts.h"
#include "spo/round_seeds.h"
#include "spo/round_update.h"
#include "spo/sampling_round.h"
#include "training/adamw_state.h"
#include "training/checkpoint_dir.h"

namespace spo::trainer {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The round's counts summed over the ranks (every rank gets the totals).
RoundStats sum_over_ranks(distributed::Group& group, const RoundStats& st) {
  auto v = at::tensor({st.branch_steps, st.pairs_kept, st.pairs_tied, st.pairs_cut, st.model_evaluations,
                       st.images_scored},
                      at::kLong);
  distributed::all_reduce_sum_(group, v, "round statistics");
  const int64_t* p = v.data_ptr<int64_t>();
  return {p[0], p[1], p[2], p[3], p[4], p[5]};
}

// Every rank must resume from the same round, or their collectives would not pair up.
void check_same_start(distributed::Group& group, int64_t start_round) {
  const auto starts = distributed::all_gather_counts(group, start_round, "resume agreement");
  for (size_t r = 0; r < starts.size(); ++r)
    if (starts[r] != start_round)
      throw InvalidArgument("distributed: rank " + std::to_string(group.rank()) + " resumes at round " +
                            std::to_string(start_round) + " but rank " + std::to_string(r) + " at round " +
                            std::to_string(starts[r]) +
                            "; every rank must see the same checkpointDir (a shared file system)");
}

}  // namespace

std::vector<std::vector<int64_t>> pair_minibatches(int64_t pairs, int64_t batch_size, uint64_t seed, int64_t round) {
  require(pairs >= 0 && batch_size >= 1, "pair_minibatches: pairs >= 0 and batch_size >= 1");
  std::vector<std::vector<int64_t>> out;
  if (pairs == 0) return out;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(mix(seed, kPairShuffle, static_cast<uint64_t>(round)));
  auto perm = at::randperm(pairs, gen, at::kLong);
  const int64_t* p = perm.data_ptr<int64_t>();
  for (int64_t start = 0; start < pairs; start += batch_size)
    out.emplace_back(p + start, p + std::min(pairs, start + batch_size));
  return out;
}

uint64_t round_sampling_seed(uint64_t seed, int64_t round) {
  return mix(seed, kRoundSampling, static_cast<uint64_t>(round));
}

TrainRunResult train_spo(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                         const std::vector<std::string>& prompts, const SpoSettings& s, const TrainRunOptions& o,
                         const JobContext& ctx) {
  s.validate();
  require(!prompts.empty(), "train: no prompts");
  require(o.max_rounds >= 0, "train: maxRounds must be >= 0");
  auto& unet = pipe.unet();
  require(models::find_lora(*unet).layers.empty(),
          "train: the pipeline's UNet already has a LoRA (merge or load a fresh pipeline first)");

  // Data parallel: join the other ranks first (a misconfigured rendezvous fails before any work).
  std::shared_ptr<distributed::Group> group;
  if (o.distributed) {
    const auto rendezvous = distributed::resolve_rendezvous(*o.distributed);
    if (rendezvous.world_size > 1) group = distributed::Group::connect(rendezvous, pipe.options().device);
  }
  const int64_t rank = group ? group->rank() : 0, world = group ? group->size() : 1;
  // Rank 0 reports the run's progress (rounds, pairs, updates, checkpoints);
  // the other ranks report only their own sampling steps.
  auto report = [&](const ProgressEvent& e) {
    if (rank == 0) ctx.report(e);
  };

  // Frozen base weights: no gradients (and no graph) for anything but the LoRA.
  for (auto& p : unet->parameters()) p.set_requires_grad(false);
  unet->set_gradient_checkpointing(s.gradient_checkpointing);
  struct ResetCheckpointing {
    models::UNet2DConditionModel& u;
    ~ResetCheckpointing() { u->set_gradient_checkpointing(false); }
  } reset_checkpointing{unet};
  models::LoraConfig lora_config;
  lora_config.rank = s.lora_rank;
  lora_config.alpha = s.lora_alpha;
  lora_config.seed = s.seed;
  auto lora = models::attach_lora(*unet, lora_config, pipe.options().device);
  const auto params = lora_parameters(lora);
  std::vector<at::Tensor> tensors;
  for (const auto& [name, p] : params) tensors.push_back(p);
  auto optimizer = make_lora_optimizer(tensors, s);

  // Parity mode's copied reference: a second UNet with the base weights (no LoRA).
  std::optional<models::UNet2DConditionModel> reference;
  if (s.mode == UpdateMode::Parity) {
    reference.emplace(unet->config, at::TensorOptions().device(pipe.options().device).dtype(pipe.options().dtype));
    at::NoGradGuard no_grad;
    auto src = unet->named_parameters(true);
    for (auto& p : (*reference)->named_parameters(true)) {
      p.value().copy_(src[p.key()]);
      p.value().set_requires_grad(false);
    }
  }

  const int64_t n_prompts = static_cast<int64_t>(prompts.size());
  const int64_t per_epoch = rounds_per_epoch(n_prompts, s);
  TrainRunResult result;
  result.rank = rank;
  result.world_size = world;
  result.total_rounds = per_epoch * s.epochs;
  const int64_t end_round = o.max_rounds > 0 ? std::min(result.total_rounds, o.max_rounds) : result.total_rounds;
  // A checkpoint of a W-rank run (global batch W x trainBatchSize) resumes only with W ranks.
  nlohmann::json identity = {{"settings", s.to_json()}, {"prompts", n_prompts}};
  if (world > 1) identity["worldSize"] = world;
  std::optional<training::CheckpointDir> checkpoints;
  if (!o.checkpoint_dir.empty()) checkpoints.emplace(o.checkpoint_dir);
  if (checkpoints && o.resume) result.start_round = load_checkpoint(*checkpoints, params, optimizer, identity);
  if (group) check_same_start(*group, result.start_round);

  const int64_t height = s.height ? s.height : pipe.default_size(), width = s.width ? s.width : pipe.default_size();
  const std::vector<int64_t> latent_shape{pipe.latent_channels(), height / pipe.vae_scale_factor(),
                                          width / pipe.vae_scale_factor()};
  for (int64_t round = result.start_round; round < end_round; ++round) {
    ctx.check_cancelled();
    const int64_t epoch = round / per_epoch;
    const auto batch = round_prompts(prompts, s, round);
    report({"round", round + 1, result.total_rounds, static_cast<double>(epoch), {{"epoch", double(epoch)}, {"prompts", double(batch.size())}}});

    // This rank's share of the round's prompts (all of them on one rank).
    const auto [share_begin, share_end] = prompt_share(static_cast<int64_t>(batch.size()), rank, world);
    const std::vector<std::string> share(batch.begin() + share_begin, batch.begin() + share_end);
    auto t0 = Clock::now();
    const uint64_t seed = rank_sampling_seed(round_sampling_seed(s.seed, round), rank, world);
    SamplingRound sampled;
    if (!share.empty())
      sampled = s.method == Method::D3po ? run_d3po_round(pipe, judge, share, s, seed, ctx)
                                         : run_sampling_round(pipe, judge, share, s, seed, ctx);
    result.sampling_seconds += seconds_since(t0);
    std::vector<TransitionPair> pairs = std::move(sampled.pairs);
    RoundStats st = sampled.stats;
    if (group) {
      pairs = all_gather_pairs(*group, pairs, share_begin, latent_shape);
      st = sum_over_ranks(*group, st);
    }
    result.pairs_kept += st.pairs_kept;
    result.pairs_tied += st.pairs_tied;
    result.pairs_cut += st.pairs_cut;
    result.sampling_evaluations += st.model_evaluations;
    report({"pairs", round + 1, result.total_rounds, static_cast<double>(st.pairs_kept),
                   {{"kept", double(st.pairs_kept)}, {"tied", double(st.pairs_tied)}, {"cut", double(st.pairs_cut)},
                    {"samplingEvaluations", double(st.model_evaluations)}}});

    // One global permutation of the kept pairs, then minibatches (this rank's
    // slices of each global minibatch; none when fewer pairs than ranks).
    t0 = Clock::now();
    const int64_t n_pairs = static_cast<int64_t>(pairs.size());
    const auto minibatches = group ? rank_minibatches(n_pairs, s.train_batch_size, world, rank, s.seed, round)
                                   : pair_minibatches(n_pairs, s.train_batch_size, s.seed, round);
    if (!minibatches.empty()) {
      const auto cond = [&] {
        at::NoGradGuard no_grad;
        return pipe.encode_prompts(batch, std::nullopt, height, width);
      }();
      update_round(pipe, cond, pairs, minibatches, s, optimizer, tensors, reference ? &*reference : nullptr, round,
                   group.get(), ctx, result);
    }
    result.update_seconds += seconds_since(t0);
    result.rounds_done = round + 1;
    if (checkpoints && rank == 0) {
      save_checkpoint(*checkpoints, round + 1, params, optimizer, identity);
      report({"checkpoint", round + 1, result.total_rounds, 0.0, {}});
    }
  }
  result.rounds_done = std::max(result.rounds_done, result.start_round);
  if (group) result.communication = group->tally();
  for (auto& p : tensors) p.mutable_grad() = at::Tensor();
  if (!o.output_dir.empty() && rank == 0) {
    std::error_code ec;
    fs::create_directories(o.output_dir, ec);
    if (ec) throw InvalidArgument("cannot create the output directory " + o.output_dir + ": " + ec.message());
    result.lora_file = (fs::path(o.output_dir) / "pytorch_lora_weights.safetensors").string();
    models::save_lora(result.lora_file, *unet);
  }
  return result;
}

}  // namespace spo::trainer
