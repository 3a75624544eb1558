#include "models/autoencoder_kl_loading.h"

#include "io/json_file.h"
#include "io/module_weights.h"

namespace spo::models {

AutoencoderKLConfig read_autoencoder_kl_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  return AutoencoderKLConfig::from_json(io::read_json(path), path);
}

std::map<std::string, std::string> autoencoder_kl_legacy_renames() {
  static const std::pair<const char*, const char*> names[] = {
      {"query", "to_q"}, {"key", "to_k"}, {"value", "to_v"}, {"proj_attn", "to_out.0"}};
  std::map<std::string, std::string> renames;
  for (const char* part : {"encoder", "decoder"}) {
    const std::string prefix = std::string(part) + ".mid_block.attentions.0.";
    for (const auto& [old_name, new_name] : names)
      for (const char* tensor : {".weight", ".bias"}) renames[prefix + old_name + tensor] = prefix + new_name + tensor;
  }
  return renames;
}

AutoencoderKL load_autoencoder_kl(const std::string& dir, const at::TensorOptions& options) {
  AutoencoderKL model(read_autoencoder_kl_config(dir), options);
  io::WeightLoadOptions load_options;
  load_options.renames = autoencoder_kl_legacy_renames();
  io::load_module_weights(*model, io::open_component_weights(dir), load_options);
  return model;
}

}  // namespace spo::models
