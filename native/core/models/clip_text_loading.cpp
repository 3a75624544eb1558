#include "models/clip_text_loading.h"

#include "io/json_file.h"
#include "io/module_weights.h"

namespace spo::models {
namespace {

// transformers 5 writes CLIPTextModel without its text_model. prefix; map such
// keys onto the hub names. Keys that already carry the prefix pass unchanged.
io::WeightLoadOptions clip_text_load_options(const torch::nn::Module& module) {
  static const std::string prefix = "text_model.";
  io::WeightLoadOptions options;
  for (const auto& p : module.named_parameters(true)) {
    if (p.key().rfind(prefix, 0) == 0) options.renames[p.key().substr(prefix.size())] = p.key();
  }
  // A persistent buffer in transformers < 4.31 checkpoints, non-persistent since.
  options.ignore = {"text_model.embeddings.position_ids", "embeddings.position_ids"};
  return options;
}

template <typename Model>
Model load(const std::string& dir, const at::TensorOptions& options) {
  Model model(read_clip_text_config(dir), options);
  io::load_module_weights(*model, io::open_component_weights(dir), clip_text_load_options(*model));
  return model;
}

}  // namespace

ClipTextConfig read_clip_text_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  return ClipTextConfig::from_json(io::read_json(path), path);
}

ClipTextModel load_clip_text_model(const std::string& dir, const at::TensorOptions& options) {
  return load<ClipTextModel>(dir, options);
}

ClipTextModelWithProjection load_clip_text_model_with_projection(const std::string& dir,
                                                                 const at::TensorOptions& options) {
  return load<ClipTextModelWithProjection>(dir, options);
}

}  // namespace spo::models
