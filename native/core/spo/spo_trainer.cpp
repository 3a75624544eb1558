#include "spo/spo_trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "io/atomic_write.h"
#include "io/json_file.h"
#include "io/module_weights.h"
#include "io/safetensors.h"
#include "models/lora.h"
#include "models/lora_file.h"
#include "runtime/errors.h"
#include "spo/d3po_round.h"
#include "spo/lora_checkpoint.h"
#include "spo/sampling_round.h"
#include "spo/spo_update.h"
#include "training/adamw_state.h"
#include "training/checkpoint_dir.h"

namespace spo::trainer {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

uint64_t mix(uint64_t seed, uint64_t purpose, uint64_t index) {
  uint64_t x = seed ^ (purpose * 0x9E3779B97F4A7C15ull) ^ (index * 0xD6E8FEB86659FD93ull);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
enum : uint64_t { kEpochOrder = 11, kRoundSampling = 12, kPairShuffle = 13 };

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

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

TrainRunResult train_spo(pipeline::Pipeline& pipe, evaluator::PreferenceModel& judge,
                         const std::vector<std::string>& prompts, const SpoSettings& s, const TrainRunOptions& o,
                         const JobContext& ctx) {
  s.validate();
  require(!prompts.empty(), "train: no prompts");
  require(o.max_rounds >= 0, "train: maxRounds must be >= 0");
  auto& unet = pipe.unet();
  require(models::find_lora(*unet).layers.empty(),
          "train: the pipeline's UNet already has a LoRA (merge or load a fresh pipeline first)");

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
  torch::optim::AdamW optimizer(tensors, torch::optim::AdamWOptions(s.learning_rate)
                                             .betas({s.adam_beta1, s.adam_beta2})
                                             .eps(s.adam_eps)
                                             .weight_decay(s.weight_decay));

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
  const int64_t per_epoch = (n_prompts + s.sample_batch_size - 1) / s.sample_batch_size;
  TrainRunResult result;
  result.total_rounds = per_epoch * s.epochs;
  const int64_t end_round = o.max_rounds > 0 ? std::min(result.total_rounds, o.max_rounds) : result.total_rounds;
  const nlohmann::json identity = {{"settings", s.to_json()}, {"prompts", n_prompts}};
  std::optional<training::CheckpointDir> checkpoints;
  if (!o.checkpoint_dir.empty()) checkpoints.emplace(o.checkpoint_dir);
  if (checkpoints && o.resume) result.start_round = load_checkpoint(*checkpoints, params, optimizer, identity);

  const int64_t height = s.height ? s.height : pipe.default_size(), width = s.width ? s.width : pipe.default_size();
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  for (int64_t round = result.start_round; round < end_round; ++round) {
    ctx.check_cancelled();
    const int64_t epoch = round / per_epoch;
    if (epoch != order_epoch) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(mix(s.seed, kEpochOrder, static_cast<uint64_t>(epoch)));
      auto perm = at::randperm(n_prompts, gen, at::kLong);
      order.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n_prompts);
      order_epoch = epoch;
    }
    std::vector<std::string> batch;
    const int64_t start = (round % per_epoch) * s.sample_batch_size;
    for (int64_t i = start; i < std::min(n_prompts, start + s.sample_batch_size); ++i)
      batch.push_back(prompts[static_cast<size_t>(order[static_cast<size_t>(i)])]);
    ctx.report({"round", round + 1, result.total_rounds, static_cast<double>(epoch), {{"epoch", double(epoch)}, {"prompts", double(batch.size())}}});

    auto t0 = Clock::now();
    const uint64_t round_seed = mix(s.seed, kRoundSampling, static_cast<uint64_t>(round));
    auto sampled = s.method == Method::D3po ? run_d3po_round(pipe, judge, batch, s, round_seed, ctx)
                                            : run_sampling_round(pipe, judge, batch, s, round_seed, ctx);
    result.sampling_seconds += seconds_since(t0);
    const auto& st = sampled.stats;
    result.pairs_kept += st.pairs_kept;
    result.pairs_tied += st.pairs_tied;
    result.pairs_cut += st.pairs_cut;
    result.sampling_evaluations += st.model_evaluations;
    ctx.report({"pairs", round + 1, result.total_rounds, static_cast<double>(st.pairs_kept),
                {{"kept", double(st.pairs_kept)}, {"tied", double(st.pairs_tied)}, {"cut", double(st.pairs_cut)},
                 {"samplingEvaluations", double(st.model_evaluations)}}});

    // One global permutation of the kept pairs, then minibatches.
    t0 = Clock::now();
    const int64_t n_pairs = static_cast<int64_t>(sampled.pairs.size());
    if (n_pairs > 0) {
      const auto minibatches = pair_minibatches(n_pairs, s.train_batch_size, s.seed, round);
      const auto cond = [&] {
        at::NoGradGuard no_grad;
        return pipe.encode_prompts(batch, std::nullopt, height, width);
      }();
      const int64_t n_mb = static_cast<int64_t>(minibatches.size());
      optimizer.zero_grad();
      for (int64_t mb = 0; mb < n_mb; ++mb) {
        ctx.check_cancelled();
        std::vector<const TransitionPair*> chunk;
        for (int64_t i : minibatches[static_cast<size_t>(mb)]) chunk.push_back(&sampled.pairs[static_cast<size_t>(i)]);
        // A NaN or Inf stops the run (the last checkpoint stays the last good one) or,
        // with onNonFinite "skip", drops this minibatch's accumulation group.
        auto fault = [&](const std::string& what) {
          if (!s.skip_non_finite)
            throw NumericFault(what + " (round " + std::to_string(round + 1) + ", minibatch " + std::to_string(mb + 1) +
                               "); the last checkpoint is round " + std::to_string(result.rounds_done) +
                               "; set onNonFinite: \"skip\" to skip such updates");
          optimizer.zero_grad();
          ++result.skipped_updates;
          ctx.report({"skip", mb + 1, n_mb, 0.0, {{"round", double(round + 1)}}});
        };
        UpdateStats us;
        try {
          us = spo_backward(pipe, cond, chunk, s, 1.0 / static_cast<double>(s.gradient_accumulation),
                            reference ? &*reference : nullptr);
        } catch (const NumericFault& e) {
          fault(e.what());
          continue;
        }
        result.update_evaluations += us.policy_evaluations + us.reference_evaluations;
        result.losses.push_back(us.loss);
        double grad_norm = 0.0;
        const bool step_now = (mb + 1) % s.gradient_accumulation == 0 || mb + 1 == n_mb;
        if (step_now) {
          for (const auto& p : tensors)
            if (p.grad().defined()) grad_norm += p.grad().to(at::kDouble).pow(2).sum().item<double>();
          grad_norm = std::sqrt(grad_norm);
          if (!std::isfinite(grad_norm)) {
            fault("SPO update: the LoRA gradients are not finite");
            continue;
          }
          if (s.max_grad_norm > 0 && !s.authors_noop_clip) torch::nn::utils::clip_grad_norm_(tensors, s.max_grad_norm);
          optimizer.step();
          optimizer.zero_grad();
          ++result.optimizer_steps;
        }
        ctx.report({"update", mb + 1, n_mb, us.loss,
                    {{"loss", us.loss}, {"ratioW", us.ratio_w}, {"ratioL", us.ratio_l}, {"lr", s.learning_rate},
                     {"clippedShare", us.clipped_share}, {"gradNorm", grad_norm}, {"round", double(round + 1)},
                     {"policyEvaluations", double(us.policy_evaluations)},
                     {"referenceEvaluations", double(us.reference_evaluations)}}});
      }
    }
    result.update_seconds += seconds_since(t0);
    result.rounds_done = round + 1;
    if (checkpoints) {
      save_checkpoint(*checkpoints, round + 1, params, optimizer, identity);
      ctx.report({"checkpoint", round + 1, result.total_rounds, 0.0, {}});
    }
  }
  result.rounds_done = std::max(result.rounds_done, result.start_round);
  for (auto& p : tensors) p.mutable_grad() = at::Tensor();
  if (!o.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(o.output_dir, ec);
    if (ec) throw InvalidArgument("cannot create the output directory " + o.output_dir + ": " + ec.message());
    result.lora_file = (fs::path(o.output_dir) / "pytorch_lora_weights.safetensors").string();
    models::save_lora(result.lora_file, *unet);
  }
  return result;
}

}  // namespace spo::trainer
