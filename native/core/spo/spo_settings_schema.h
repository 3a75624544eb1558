// The one declaration of every SPO setting (docs/method.md §2, §3 and §6): its
// camelCase name, JSON type, the default of each preset (sd15, sdxl), its
// bounds and a one-line doc. SpoSettings' members, from_preset, from_json,
// to_json, validate, the addon's spoSettingsSchema() and, through it, the
// generated TypeScript type (lib/generated/spo-settings.ts) all come from the
// SPO_SETTINGS table below; a setting is added or changed here and nowhere else.
#pragma once
#include <array>
#include <cstdint>
#include <limits>
#include <string>

namespace spo::trainer {

// Which candidate becomes the next shared latent (docs/method.md §2.3); `none` keeps k
// independent trajectories, each from its own x_T, that share no latent (the paper's ablation).
enum class Resampler { Random, Win, Lose, None };
// The pair of a step: best against worst (default) or two distinct random candidates (paper Table 8).
enum class PairSelection { BestWorst, Random };
// `spo`: one policy and one reference forward per shared x_t, reference = LoRA
// off. `parity`: the authors' call pattern (separate winner and loser forwards,
// a copied reference UNet), to measure what the engine saves.
enum class UpdateMode { Spo, Parity };
// `spo`: step-aware pairs from shared latents. `d3po`: the D3PO baseline as its
// paper defines it: two full trajectories per prompt from one x_T, every step
// trained, the final images' strict preference copied to every step's
// transitions (docs/method.md §7).
enum class Method { Spo, D3po };

namespace settings_schema {

// The accepted values of a numeric setting: [lo, hi] with either end open,
// optionally capped by another setting (hi = that setting + offset), and an
// optional `off` value accepted outside the interval. Values must be finite.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  const char* hi_setting = nullptr;
  double hi_offset = 0;
  bool has_off = false;
  double off = 0;
  bool checked = true;  // false: no numeric bounds (booleans, choices, the seed)

  static constexpr Range closed(double lo, double hi) { return Range{lo, hi}; }
  static constexpr Range open(double lo, double hi) { return Range{lo, hi, true, true}; }
  static constexpr Range above(double lo) { return Range{lo, std::numeric_limits<double>::infinity(), true, false}; }
  static constexpr Range finite() { return Range{}; }
  static constexpr Range none() { Range r; r.checked = false; return r; }
  // [lo, <setting> + offset]
  static constexpr Range up_to(double lo, const char* setting, double offset) {
    Range r{lo};
    r.hi_setting = setting;
    r.hi_offset = offset;
    return r;
  }
  constexpr Range or_off(double v) const { Range r = *this; r.has_off = true; r.off = v; return r; }
};

// How a member is read from and written to JSON (spo_settings.cpp implements them).
struct Integer { using value_type = int64_t; static constexpr const char* type = "integer"; };
struct Unsigned { using value_type = uint64_t; static constexpr const char* type = "integer"; };
struct Number { using value_type = double; static constexpr const char* type = "number"; };
struct Flag { using value_type = bool; static constexpr const char* type = "boolean"; };
// One of `names`; the member holds T(index), so an enum's order is its names' order.
template <typename T, const auto& Names>
struct Choice {
  using value_type = T;
  static constexpr const char* type = "enum";
  static constexpr const auto& names = Names;
};

inline constexpr std::array<const char*, 2> kPresetNames{"sd15", "sdxl"};
inline constexpr std::array<const char*, 4> kResamplerNames{"random", "win", "lose", "none"};
inline constexpr std::array<const char*, 2> kPairSelectionNames{"best-worst", "random"};
inline constexpr std::array<const char*, 2> kNonFiniteNames{"stop", "skip"};  // member: skip_non_finite
inline constexpr std::array<const char*, 2> kUpdateModeNames{"spo", "parity"};
inline constexpr std::array<const char*, 2> kMethodNames{"spo", "d3po"};

using PresetChoice = Choice<std::string, kPresetNames>;
using ResamplerChoice = Choice<Resampler, kResamplerNames>;
using PairSelectionChoice = Choice<PairSelection, kPairSelectionNames>;
using NonFiniteChoice = Choice<bool, kNonFiniteNames>;
using UpdateModeChoice = Choice<UpdateMode, kUpdateModeNames>;
using MethodChoice = Choice<Method, kMethodNames>;

}  // namespace settings_schema

// A setting's former name: from_json refuses it with this message instead of "unknown setting".
struct RenamedSetting {
  const char* name;
  const char* message;
};
inline constexpr std::array<RenamedSetting, 1> kRenamedSettings{{
    {"innerSteps",
     "setting innerSteps was renamed transitionsPerChain, which counts every DDIM transition of a candidate "
     "chain, its branch step included: the authors' num_inner_step = n is transitionsPerChain = n + 1 "
     "(docs/method.md §2.4)"},
}};

// X(codec, member, "name", sd15 default, sdxl default, range, "doc"), in validation order.
// The sdxl column is the paper's SDXL recipe (docs/method.md §6).
// clang-format off
#define SPO_SETTINGS(X)                                                                                              \
  X(PresetChoice, preset, "preset", "sd15", "sdxl", Range::none(),                                                   \
    "The preset whose defaults the other settings start from.")                                                      \
  X(Integer, k, "k", 4, 2, Range::closed(2, 64), "Candidates per step.")                                            \
  X(Integer, steps, "steps", 20, 20, Range::closed(1, 1000), "DDIM steps of a sampling trajectory.")               \
  X(Integer, transitions_per_chain, "transitionsPerChain", 1, 4, Range::up_to(1, "steps", 0),                        \
    "DDIM transitions of each candidate chain, its branch step included, before it is scored (the authors' "         \
    "num_inner_step + 1: sdxl's 4 is their 3, branches at steps 4, 8, 12, 16 of 20).")                               \
  X(Integer, divert_start_step, "divertStartStep", 4, 4, Range::up_to(0, "steps", -1),                               \
    "Plain DDIM steps before the first branch (never trained on).")                                                  \
  X(Integer, kappa, "kappa", -1, -1, Range::closed(0, 999).or_off(-1),                                               \
    "Pairs whose x_t has t > kappa count as ties (paper 5.1); -1 turns the cut-off off.")                          \
  X(Number, threshold, "threshold", 0.3, 0.4, Range::closed(0, 0.999999),                                            \
    "Softmax-difference threshold of the pair rule.")                                                                \
  X(ResamplerChoice, resampler, "resampler", Resampler::Random, Resampler::Random, Range::none(),                    \
    "Which candidate becomes the next shared latent; 'none' keeps k independent trajectories from k x_T.")          \
  X(PairSelectionChoice, pair_selection, "pairSelection", PairSelection::BestWorst, PairSelection::BestWorst,        \
    Range::none(), "The pair of a step: best against worst, or two distinct random candidates.")                     \
  X(Number, beta, "beta", 10.0, 10.0, Range::closed(1e-6, 1e6), "The loss's inverse temperature.")                  \
  X(Number, clip_eps, "eps", 0.1, 0.1, Range::open(0, 1), "The ratio clamp's half-width.")                          \
  X(Integer, lora_rank, "loraRank", 4, 64, Range::closed(1, 4096), "Rank of the UNet's LoRA.")                       \
  X(Number, lora_alpha, "loraAlpha", 4.0, 64.0, Range::above(0), "The LoRA's alpha (scale alpha / rank).")           \
  X(Number, learning_rate, "learningRate", 6e-5, 1e-5, Range::open(0, 1), "AdamW's learning rate.")                  \
  X(Number, adam_beta1, "adamBeta1", 0.9, 0.9, Range::closed(0, 0.999999), "AdamW's beta1.")                         \
  X(Number, adam_beta2, "adamBeta2", 0.999, 0.999, Range::closed(0, 0.999999), "AdamW's beta2.")                     \
  X(Number, weight_decay, "weightDecay", 1e-4, 1e-4, Range::closed(0, 1e3), "AdamW's weight decay.")                 \
  X(Number, adam_eps, "adamEps", 1e-8, 1e-8, Range::above(0), "AdamW's epsilon.")                                    \
  X(Integer, sample_batch_size, "sampleBatchSize", 10, 2, Range::closed(1, 4096), "Prompts per sampling round.")     \
  X(Integer, train_batch_size, "trainBatchSize", 10, 2, Range::closed(1, 4096), "Pairs per minibatch.")              \
  X(Integer, gradient_accumulation, "gradientAccumulation", 1, 2, Range::closed(1, 4096),                            \
    "Minibatches per optimizer step.")                                                                               \
  X(Number, max_grad_norm, "maxGradNorm", 1.0, 1.0, Range::finite(), "Gradient-norm clipping (<= 0: off).")          \
  X(Flag, authors_noop_clip, "authorsNoopClip", false, false, Range::none(),                                         \
    "Reproduce the public code's clip, which clips nothing (an exhausted iterator).")                                \
  X(Integer, epochs, "epochs", 10, 10, Range::closed(1, 1e6), "Passes over the prompts.")                            \
  X(Unsigned, seed, "seed", 42, 42, Range::none(), "Seed of the run's noise and prompt order.")                      \
  X(Number, eta, "eta", 1.0, 1.0, Range::closed(1e-6, 10),                                                           \
    "DDIM's eta (eta 0 has no log-probability to train on).")                                                        \
  X(Number, guidance_scale, "guidanceScale", 5.0, 5.0, Range::closed(0, 100), "Classifier-free guidance scale.")     \
  X(Flag, guidance_in_training, "guidanceInTraining", true, true, Range::none(),                                     \
    "CFG in the update as in sampling (docs/method.md §3).")                                                         \
  X(Integer, width, "width", 0, 0, Range::closed(0, 16384), "Image width (0: the pipeline's default size).")         \
  X(Integer, height, "height", 0, 0, Range::closed(0, 16384), "Image height (0: the pipeline's default size).")      \
  X(Integer, max_batch, "maxBatch", 0, 0, Range::closed(0, 1 << 20),                                                 \
    "At most this many UNet rows at once while sampling (0: no limit).")                                             \
  X(Flag, gradient_checkpointing, "gradientCheckpointing", false, false, Range::none(),                              \
    "Recompute the UNet's blocks in the backward instead of keeping their activations; same results.")               \
  X(NonFiniteChoice, skip_non_finite, "onNonFinite", false, false, Range::none(),                                    \
    "A NaN or Inf in a loss or gradient: 'stop' the run (the last checkpoint stays good) or 'skip' that update.")     \
  X(UpdateModeChoice, mode, "mode", UpdateMode::Spo, UpdateMode::Spo, Range::none(),                                 \
    "'spo': one policy and one reference forward per shared x_t; 'parity': the authors' call pattern.")              \
  X(MethodChoice, method, "method", Method::Spo, Method::Spo, Range::none(),                                         \
    "'spo', or the D3PO baseline: two trajectories per prompt from one x_T, every step trained with the final "      \
    "images' strict preference (divertStartStep, kappa, threshold, k, pairSelection, resampler and "                  \
    "transitionsPerChain do not apply).")
// clang-format on

}  // namespace spo::trainer
