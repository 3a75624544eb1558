#include "models/clip_model.h"

#include <ATen/ATen.h>

#include "runtime/errors.h"

namespace spo::models {

ClipModelImpl::ClipModelImpl(const ClipModelConfig& c, const at::TensorOptions& o) : config(c) {
  const bool timed = c.time_conditioning != TimeConditioning::Plain;
  text_model = register_module("text_model", ClipTextTransformer(c.text, o));
  vision_model = register_module("vision_model", ClipVisionTransformer(c.vision, timed, o));
  visual_projection = register_module("visual_projection", Linear(c.vision.hidden_size, c.projection_dim, false, o));
  text_projection = register_module("text_projection", Linear(c.text.hidden_size, c.projection_dim, false, o));
  logit_scale = register_parameter("logit_scale", at::empty({}, o));
  if (timed) t_embedder = register_module("t_embedder", TimestepEmbedder(c.vision.hidden_size, c.time_frequency_dim, o));
}

at::Tensor ClipModelImpl::text_features(const at::Tensor& input_ids) {
  return text_projection(text_model(input_ids).pooled);
}

at::Tensor ClipModelImpl::image_features(const at::Tensor& pixels, const at::Tensor& timesteps) {
  at::Tensor temb;
  if (time_conditioned()) {
    require(timesteps.defined() && timesteps.dim() == 1 && timesteps.size(0) == pixels.size(0),
            "CLIP model: timesteps must be [batch] = [" + std::to_string(pixels.size(0)) + "]");
    // The ablation's step-agnostic model has the same layers but never sees t.
    temb = t_embedder(config.time_conditioning == TimeConditioning::StepAgnostic ? at::zeros_like(timesteps)
                                                                                  : timesteps);
  }
  return visual_projection(vision_model(pixels, temb));
}

at::Tensor ClipModelImpl::scores(const at::Tensor& image, const at::Tensor& text) {
  require(image.sizes() == text.sizes(), "CLIP model: image and text features must match, got " +
                                             c10::str(image.sizes()) + " and " + c10::str(text.sizes()));
  auto i = image.to(at::kFloat), t = text.to(at::kFloat);
  auto cos = (i / i.norm(2, -1, true) * (t / t.norm(2, -1, true))).sum(-1);
  return logit_scale.to(at::kFloat).exp() * cos;
}

void ClipModelImpl::initialise_time_conditioning(uint64_t seed) {
  require(time_conditioned(), "CLIP model: a plain model has no time conditioning to initialise");
  for (const auto& layer : *vision_model->encoder->layers)
    layer->as<TimeConditionedClipLayerImpl>()->adaLN_modulation->initialise_constant({2, 5});  // the gates
  vision_model->adaLN_modulation->initialise_constant({});
  t_embedder->initialise(seed);
}

std::vector<std::string> ClipModelImpl::time_conditioning_keys() const {
  std::vector<std::string> keys;
  for (const auto& p : named_parameters(true)) {
    const std::string& k = p.key();
    if (k.rfind("t_embedder.", 0) == 0 || k.find("adaLN_modulation.") != std::string::npos) keys.push_back(k);
  }
  return keys;
}

}  // namespace spo::models
