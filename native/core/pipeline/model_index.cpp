#include "pipeline/model_index.h"

#include <filesystem>

#include "io/diffusers_config.h"
#include "runtime/errors.h"

namespace spo::pipeline {
namespace {

// diffusers writes each component as [library, class], or [null, null] when absent.
bool names_component(const io::Json& index, const char* name) {
  if (!index.contains(name)) return false;
  const auto& entry = index[name];
  return entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string();
}

}  // namespace

std::vector<std::string> required_components(PipelineKind kind) {
  std::vector<std::string> names = {"unet", "vae", "text_encoder", "tokenizer", "scheduler"};
  if (kind == PipelineKind::StableDiffusionXL) names.insert(names.end(), {"text_encoder_2", "tokenizer_2"});
  return names;
}

ModelIndex parse_model_index(const io::Json& file, const std::string& what) {
  require(file.is_object(), what + ": expected a JSON object");
  ModelIndex m;
  m.class_name = io::json_string(file, "_class_name", "", what);
  const io::Json index = io::diffusers_init_fields(file);  // what the pipeline's constructor sees
  m.kind = names_component(index, "text_encoder_2") ? PipelineKind::StableDiffusionXL : PipelineKind::StableDiffusion;
  for (const std::string& name : required_components(m.kind)) {
    if (!names_component(index, name.c_str())) throw Error(ErrorCode::NotFound, what + " has no '" + name + "' component");
  }
  if (m.kind == PipelineKind::StableDiffusionXL) {
    m.force_zeros_for_empty_prompt = io::json_bool(index, "force_zeros_for_empty_prompt", true, what);
  }
  return m;
}

ModelIndex read_model_index(const std::string& dir) {
  const std::string path = dir + "/model_index.json";
  const ModelIndex m = parse_model_index(io::read_json(path), path);
  for (const std::string& name : required_components(m.kind)) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir + "/" + name, ec)) {
      throw Error(ErrorCode::NotFound, "the pipeline's '" + name + "' folder is missing: " + dir + "/" + name);
    }
  }
  return m;
}

}  // namespace spo::pipeline
