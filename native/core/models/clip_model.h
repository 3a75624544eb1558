// transformers' CLIPModel (PickScore: CLIP ViT-H/14) with the step-aware
// preference model's time conditioning (docs/method.md §4). Keys equal the
// hub's: text_model.*, vision_model.*, visual_projection.weight,
// text_projection.weight, logit_scale; time-conditioned models add
// t_embedder.mlp.{0,2}.*, vision_model.encoder.layers.N.adaLN_modulation.1.*
// and vision_model.adaLN_modulation.1.*.
#pragma once
#include "models/clip_model_config.h"
#include "models/clip_text_model.h"
#include "models/clip_vision_model.h"
#include "models/time_conditioning.h"

namespace spo::models {

class ClipModelImpl : public torch::nn::Module {
 public:
  // config.time_conditioning decides whether the adaLN layers exist.
  ClipModelImpl(const ClipModelConfig& config, const at::TensorOptions& options);

  bool time_conditioned() const { return config.time_conditioning != TimeConditioning::Plain; }
  // input_ids [B, L] -> text_projection(pooled) [B, P] (not normalised).
  at::Tensor text_features(const at::Tensor& input_ids);
  // pixels [B, C, S, S] (preprocessed), timesteps [B] (ignored unless step-aware;
  // step-agnostic models see t = 0) -> visual_projection(pooled) [B, P].
  at::Tensor image_features(const at::Tensor& pixels, const at::Tensor& timesteps);
  // exp(logit_scale) * cos(image_i, text_i) for matching rows [B] (fp32).
  at::Tensor scores(const at::Tensor& image_features, const at::Tensor& text_features);

  // docs/method.md §4's initialisation of the time conditioning, which makes the model
  // equal to its plain CLIP at every t: adaLN weights 0, shifts and scales 0,
  // gates 1, final modulation 0, time MLP weights ~ N(0, 0.02) from `seed`.
  void initialise_time_conditioning(uint64_t seed);
  // The adaLN and time-embedder parameter names (empty for a plain model).
  std::vector<std::string> time_conditioning_keys() const;

  ClipModelConfig config;
  ClipTextTransformer text_model{nullptr};
  ClipVisionTransformer vision_model{nullptr};
  Linear visual_projection{nullptr}, text_projection{nullptr};  // no bias
  at::Tensor logit_scale;                                        // [] (a 0-d parameter)
  TimestepEmbedder t_embedder{nullptr};
};
TORCH_MODULE(ClipModel);

}  // namespace spo::models
