// The latent step-aware preference model: a second evaluator kind that scores
// a candidate's noisy latent x_t at its timestep directly, with no x0
// prediction, no VAE decode and no pixel CLIP (the idea of LPO's latent reward
// model, arXiv 2502.01051, on a small network of our own).
//
// Network (all sizes from config.json):
//   text  a frozen CLIP text tower + text_projection, copied from a pixel
//         preference model (the same pairs trained it), pooled per prompt;
//   cond  c = TimestepEmbedder(t) + Linear(text features)             [W]
//   body  stem conv3x3 (C -> W), then `blocks` residual blocks; each block is
//         GroupNorm -> adaLN (shift, scale from SiLU(c), zero-initialised)
//         -> SiLU -> conv3x3 -> GroupNorm -> SiLU -> conv3x3, added back;
//         a 2x average pool after every `blocks_per_level` blocks;
//   head  GroupNorm -> SiLU -> spatial mean -> Linear(W, 1): the score.
// Scores are logits, compared by the same pair rule and trained by the same
// soft-label cross-entropy as the pixel model's.
//
// A folder: config.json ({"spo_evaluator_kind": "latent-step-aware", ...}),
// model.safetensors (text_model.*, text_projection.weight, net.*) and the
// tokenizer files, so it stands alone.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evaluator/image_scorer.h"
#include "models/clip_text_config.h"
#include "models/clip_text_model.h"
#include "models/layers.h"
#include "models/time_conditioning.h"
#include "text/clip_tokenizer.h"

namespace spo::evaluator {

inline constexpr const char* kLatentEvaluatorKind = "latent-step-aware";

struct LatentNetConfig {
  int64_t latent_channels = 4;
  int64_t width = 64;             // channels of every block (a multiple of groups)
  int64_t blocks = 4;
  int64_t blocks_per_level = 2;   // a 2x average pool after this many blocks
  int64_t groups = 8;             // GroupNorm groups
  int64_t time_frequency_dim = 256;
  int64_t text_dim = 0;           // the text tower's projection_dim (set from it)

  nlohmann::json to_json() const;
  static LatentNetConfig from_json(const nlohmann::json& j, const std::string& what);
};

// One residual block, FiLM-modulated by the condition (adaLN-zero: the
// modulation starts at 0, so a fresh block is a plain residual block).
class LatentBlockImpl : public torch::nn::Module {
 public:
  LatentBlockImpl(int64_t width, int64_t groups, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cond);
  models::GroupNorm norm1{nullptr}, norm2{nullptr};
  models::Conv2d conv1{nullptr}, conv2{nullptr};
  models::AdaLnModulation modulation{nullptr};  // 2 chunks: shift, scale
};
TORCH_MODULE(LatentBlock);

// The scoring network without the text tower: latents, timesteps, text features -> scores.
class LatentScoreNetImpl : public torch::nn::Module {
 public:
  LatentScoreNetImpl(const LatentNetConfig& config, const at::TensorOptions& options);
  // latents [B, C, h, w], timesteps [B] int64, text features [B, text_dim] -> scores [B] fp32.
  at::Tensor forward(const at::Tensor& latents, const at::Tensor& timesteps, const at::Tensor& text);
  // PyTorch's default initialisation, then the modulations at 0 (seeded, deterministic).
  void initialise(uint64_t seed);
  LatentNetConfig config;
  models::Conv2d stem{nullptr};
  models::TimestepEmbedder t_embedder{nullptr};
  models::Linear text_in{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  models::GroupNorm norm_out{nullptr};
  models::Linear head{nullptr};
};
TORCH_MODULE(LatentScoreNet);

struct LatentPreferenceModelOptions {
  at::Device device = at::kCPU;
};

class LatentPreferenceModel : public ImageScorer {
 public:
  // A folder written by save() (config.json says spo_evaluator_kind "latent-step-aware").
  static std::shared_ptr<LatentPreferenceModel> load(const std::string& dir,
                                                     const LatentPreferenceModelOptions& options = {});
  // A fresh network (seeded) over the text tower of the pixel preference model in
  // `text_from` (a CLIPModel folder); `config.text_dim` is taken from it.
  static std::shared_ptr<LatentPreferenceModel> create(const std::string& text_from, LatentNetConfig config,
                                                       uint64_t seed,
                                                       const LatentPreferenceModelOptions& options = {});

  // True when dir/config.json names this kind (false when it is absent or another kind).
  static bool is_latent_folder(const std::string& dir);

  const LatentNetConfig& config() const { return net_->config; }
  LatentScoreNet& net() { return net_; }
  const LatentPreferenceModelOptions& options() const { return options_; }

  // Pooled, projected text features of each prompt [B, text_dim] (the frozen tower; no gradients).
  // The k candidates of a prompt share one text forward.
  at::Tensor text_features(const std::vector<std::string>& prompts);

  // The differentiable core: latents [B, C, h, w], timesteps [B], text features [B, D] -> scores [B].
  at::Tensor score_latents(const at::Tensor& latents, const at::Tensor& timesteps, const at::Tensor& text);

  // Checked, no gradients, in chunks of at most max_batch rows: scores [B] fp32 CPU.
  at::Tensor score(const at::Tensor& latents, const std::vector<std::string>& prompts, const at::Tensor& timesteps,
                   int64_t max_batch = 0);

  // ImageScorer: this model judges latents only.
  bool needs_images() const override { return false; }
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                          const at::Tensor& timesteps, int64_t max_batch) override;
  at::Tensor score_candidates(const at::Tensor& images, const at::Tensor& latents,
                              const std::vector<std::string>& prompts, const at::Tensor& timesteps,
                              int64_t max_batch) override;

  // config.json, model.safetensors and the tokenizer files, each written atomically.
  void save(const std::string& dir) const;

 private:
  LatentPreferenceModel(std::string dir, LatentPreferenceModelOptions options, nlohmann::json text_config_source,
                        const LatentNetConfig& net_config, text::ClipTokenizer tokenizer);
  std::string dir_;
  LatentPreferenceModelOptions options_;
  nlohmann::json text_config_source_;  // the pixel model's text_config, written back as it was read
  models::ClipTextConfig text_config_;
  text::ClipTokenizer tokenizer_;

 public:
  // Modules (registered in `holder_` so named_parameters gives the folder's keys).
  std::shared_ptr<torch::nn::Module> holder_;
  models::ClipTextTransformer text_model{nullptr};
  models::Linear text_projection{nullptr};
  LatentScoreNet net_{nullptr};
};

}  // namespace spo::evaluator
