#include "models/clip_model_loading.h"

#include <set>

#include "io/json_file.h"
#include "io/module_weights.h"
#include "runtime/errors.h"

namespace spo::models {
namespace {

const std::string kAuthorsPrefix = "model.";

std::set<std::string> checkpoint_keys(const std::vector<std::shared_ptr<io::SafeTensorsFile>>& files) {
  std::set<std::string> keys;
  for (const auto& f : files)
    for (const auto& e : f->entries()) keys.insert(e.name);
  return keys;
}

bool all_prefixed(const std::set<std::string>& keys) {
  if (keys.empty()) return false;
  for (const auto& k : keys)
    if (k.rfind(kAuthorsPrefix, 0) != 0) return false;
  return true;
}

}  // namespace

ClipModelConfig read_clip_model_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  return ClipModelConfig::from_json(io::read_json(path), path);
}

ClipModel load_clip_model(const std::string& dir, const at::TensorOptions& options,
                          const ClipModelLoadOptions& load_options) {
  ClipModelConfig config = read_clip_model_config(dir);
  const auto files = io::open_component_weights(dir);
  const auto raw_keys = checkpoint_keys(files);

  io::WeightLoadOptions weight_options;
  const bool prefixed = all_prefixed(raw_keys);
  bool has_time = false;
  for (const auto& raw : raw_keys) {
    const std::string key = prefixed ? raw.substr(kAuthorsPrefix.size()) : raw;
    if (prefixed) weight_options.renames[raw] = key;
    if (key.rfind("t_embedder.", 0) == 0) has_time = true;
  }
  for (const char* buffer : {"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"}) {
    weight_options.ignore.push_back(buffer);
    weight_options.ignore.push_back(kAuthorsPrefix + buffer);
  }

  TimeConditioning mode = has_time ? TimeConditioning::StepAware : TimeConditioning::Plain;
  if (config.time_conditioning_given) mode = config.time_conditioning;
  if (load_options.time_conditioning) mode = *load_options.time_conditioning;
  if (mode == TimeConditioning::Plain && has_time)
    throw InvalidArgument("the weights in " + dir +
                          " hold a time-conditioned (adaLN) model; it cannot be loaded as a plain CLIP model");
  config.time_conditioning = mode;

  ClipModel model(config, options);
  const bool fresh_time = model->time_conditioned() && !has_time;
  if (fresh_time && !load_options.time_conditioning)
    throw InvalidArgument(dir + "/config.json says the model is " + time_conditioning_name(mode) +
                          " but its weights hold no time conditioning (t_embedder.*, adaLN_modulation.*)");
  if (fresh_time) {
    model->initialise_time_conditioning(load_options.init_seed);
    for (const auto& key : model->time_conditioning_keys()) weight_options.optional.insert(key);
  }
  io::load_module_weights(*model, files, weight_options);
  return model;
}

}  // namespace spo::models
