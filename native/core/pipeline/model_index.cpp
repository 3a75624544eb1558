#include "pipeline/model_index.h"

#include <filesystem>

#include "io/json_file.h"
#include "runtime/errors.h"

namespace spo::pipeline {
namespace {

// diffusers writes each component as [library, class], or [null, null] when absent.
bool names_component(const io::Json& index, const char* name) {
  if (!index.contains(name)) return false;
  const auto& entry = index[name];
  return entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string();
}

void require_component(const std::string& dir, const io::Json& index, const char* name, const std::string& path) {
  if (!names_component(index, name)) {
    throw Error(ErrorCode::NotFound, path + " has no '" + name + "' component");
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir + "/" + name, ec)) {
    throw Error(ErrorCode::NotFound, "the pipeline's '" + std::string(name) + "' folder is missing: " + dir + "/" + name);
  }
}

}  // namespace

ModelIndex read_model_index(const std::string& dir) {
  const std::string path = dir + "/model_index.json";
  const io::Json index = io::read_json(path);
  require(index.is_object(), path + ": expected a JSON object");
  ModelIndex m;
  m.class_name = io::json_string(index, "_class_name", "", path);
  m.kind = names_component(index, "text_encoder_2") ? PipelineKind::StableDiffusionXL : PipelineKind::StableDiffusion;
  for (const char* name : {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}) {
    require_component(dir, index, name, path);
  }
  if (m.kind == PipelineKind::StableDiffusionXL) {
    require_component(dir, index, "text_encoder_2", path);
    require_component(dir, index, "tokenizer_2", path);
    m.force_zeros_for_empty_prompt = io::json_bool(index, "force_zeros_for_empty_prompt", true, path);
  }
  return m;
}

}  // namespace spo::pipeline
