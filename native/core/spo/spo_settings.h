// Every setting of an SPO run (docs/method.md §2, §3 and §6), with the two
// presets, validation that names the offending setting, and a JSON form that
// checkpoints store (a resumed run must use the same settings).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace spo::trainer {

// Which candidate becomes the next shared latent (docs/method.md §2.3); `none` keeps k
// independent trajectories that share no latent (the paper's ablation).
enum class Resampler { Random, Win, Lose, None };
// The pair of a step: best against worst (default) or two distinct random candidates (paper Table 8).
enum class PairSelection { BestWorst, Random };
// `spo`: one policy and one reference forward per shared x_t, reference = LoRA
// off. `parity`: the authors' call pattern (separate winner and loser forwards,
// a copied reference UNet), to measure what the engine saves.
enum class UpdateMode { Spo, Parity };
// `spo`: step-aware pairs from shared latents. `d3po`: the D3PO baseline: two
// full trajectories per prompt from one x_T, the final images' preference
// copied to every step's transitions (docs/method.md §7).
enum class Method { Spo, D3po };

struct SpoSettings {
  std::string preset = "sd15";
  int64_t k = 4;                  // candidates per step
  int64_t inner_steps = 1;        // j: transitions per branch (SDXL preset 3)
  int64_t divert_start_step = 4;  // steps before the first branch (never trained on)
  int64_t kappa = -1;             // > 0: pairs whose x_t has t > kappa are ties (paper 5.1); -1 off
  double threshold = 0.3;         // softmax-difference threshold of the pair rule
  Resampler resampler = Resampler::Random;
  PairSelection pair_selection = PairSelection::BestWorst;
  double beta = 10.0, clip_eps = 0.1;
  int64_t lora_rank = 4;
  double lora_alpha = 4.0;
  double learning_rate = 6e-5, adam_beta1 = 0.9, adam_beta2 = 0.999, weight_decay = 1e-4, adam_eps = 1e-8;
  int64_t sample_batch_size = 10;  // prompts per sampling round
  int64_t train_batch_size = 10;   // pairs per minibatch
  int64_t gradient_accumulation = 1;
  double max_grad_norm = 1.0;      // <= 0: no clipping
  // The public code's clip_grad_norm_ receives an exhausted iterator and clips nothing; true reproduces that.
  bool authors_noop_clip = false;
  int64_t epochs = 10;
  uint64_t seed = 42;
  int64_t steps = 20;
  double eta = 1.0;
  double guidance_scale = 5.0;     // sampling
  bool guidance_in_training = true;  // CFG in the update as in sampling (docs/method.md §3)
  int64_t width = 0, height = 0;   // 0: the pipeline's default size
  int64_t max_batch = 0;           // > 0: at most this many UNet rows at once while sampling
  // Recompute the UNet's resnet and attention blocks in the backward instead of
  // keeping their activations (large models on one GPU); same results.
  bool gradient_checkpointing = false;
  // A NaN or Inf in a minibatch's loss or gradients: stop the run with NumericFault
  // (default; the last checkpoint stays the last good one) or skip that update.
  bool skip_non_finite = false;
  UpdateMode mode = UpdateMode::Spo;
  Method method = Method::Spo;

  // "sd15" or "sdxl" (docs/method.md §6); InvalidArgument for another name.
  static SpoSettings from_preset(const std::string& name);
  // InvalidArgument naming the first setting out of range.
  void validate() const;
  nlohmann::json to_json() const;
  // `overrides` (camelCase keys as in the TypeScript API) applied over the preset it names
  // (or `sd15`); unknown keys and wrong types are refused.
  static SpoSettings from_json(const nlohmann::json& overrides);
};

const char* resampler_name(Resampler r);
const char* pair_selection_name(PairSelection p);
const char* update_mode_name(UpdateMode m);
const char* method_name(Method m);

}  // namespace spo::trainer
