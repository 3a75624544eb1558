#include "models/clip_model_config.h"

#include <ATen/ATen.h>

#include <cmath>

#include "io/json_file.h"
#include "models/config_limits.h"
#include "models/layers.h"
#include "runtime/errors.h"

namespace spo::models {

using nlohmann::json;

ClipTextConfig ClipVisionConfig::layer_config() const {
  ClipTextConfig c;
  c.hidden_size = hidden_size;
  c.intermediate_size = intermediate_size;
  c.num_hidden_layers = num_hidden_layers;
  c.num_attention_heads = num_attention_heads;
  c.hidden_act = hidden_act;
  c.layer_norm_eps = layer_norm_eps;
  return c;
}

ClipVisionConfig ClipVisionConfig::from_json(const json& j, const std::string& what) {
  if (!j.is_object()) throw InvalidArgument(what + ": expected a JSON object, got " + std::string(j.type_name()));
  if (auto type = j.find("model_type");
      type != j.end() && !(type->is_string() && type->get<std::string>() == "clip_vision_model"))
    throw InvalidArgument(what + ": field 'model_type' must be \"clip_vision_model\", got " + type->dump());
  ClipVisionConfig c;
  // Bounds far above ViT-bigG (hidden 1664, 48 layers) that still stop a typo asking for terabytes.
  c.hidden_size = io::json_int(j, "hidden_size", c.hidden_size, what, 1, 16384);
  c.intermediate_size = io::json_int(j, "intermediate_size", c.intermediate_size, what, 1, 65536);
  c.num_hidden_layers = io::json_int(j, "num_hidden_layers", c.num_hidden_layers, what, 1, 256);
  c.num_attention_heads = io::json_int(j, "num_attention_heads", c.num_attention_heads, what, 1, 256);
  c.num_channels = io::json_int(j, "num_channels", c.num_channels, what, 1, 64);
  c.image_size = io::json_int(j, "image_size", c.image_size, what, 1, 4096);
  c.patch_size = io::json_int(j, "patch_size", c.patch_size, what, 1, 4096);
  c.hidden_act = io::json_string(j, "hidden_act", c.hidden_act, what);
  c.layer_norm_eps = io::json_number(j, "layer_norm_eps", c.layer_norm_eps, what);
  if (c.hidden_size % c.num_attention_heads != 0)
    throw InvalidArgument(what + ": field 'hidden_size' = " + std::to_string(c.hidden_size) +
                          " is not divisible by 'num_attention_heads' = " + std::to_string(c.num_attention_heads));
  if (c.image_size % c.patch_size != 0)
    throw InvalidArgument(what + ": field 'image_size' = " + std::to_string(c.image_size) +
                          " is not a multiple of 'patch_size' = " + std::to_string(c.patch_size));
  if (!std::isfinite(c.layer_norm_eps) || c.layer_norm_eps <= 0 || c.layer_norm_eps >= 1)
    throw InvalidArgument(what + ": field 'layer_norm_eps' must be in (0, 1)");
  try {
    activation(c.hidden_act, at::zeros({1}));  // the one list of supported names lives in layers.cpp
  } catch (const Unsupported& e) {
    throw Unsupported(what + ": field 'hidden_act': " + e.what());
  }
  // Lower bound: per layer the attention and MLP matrices; the patch and position embeddings.
  const double h = double(c.hidden_size);
  require_model_size(double(c.num_hidden_layers) * (4 * h * h + 2 * h * double(c.intermediate_size)) +
                         h * double(c.num_positions()) +
                         h * double(c.num_channels) * double(c.patch_size) * double(c.patch_size),
                     what);
  return c;
}

const char* time_conditioning_name(TimeConditioning mode) {
  switch (mode) {
    case TimeConditioning::Plain: return "plain";
    case TimeConditioning::StepAware: return "step-aware";
    case TimeConditioning::StepAgnostic: return "step-agnostic";
  }
  return "?";
}

TimeConditioning parse_time_conditioning(const std::string& name) {
  if (name == "plain") return TimeConditioning::Plain;
  if (name == "step-aware") return TimeConditioning::StepAware;
  if (name == "step-agnostic") return TimeConditioning::StepAgnostic;
  throw InvalidArgument("time conditioning must be \"plain\", \"step-aware\" or \"step-agnostic\", got \"" + name + "\"");
}

ClipModelConfig ClipModelConfig::from_json(const json& j, const std::string& what) {
  if (!j.is_object()) throw InvalidArgument(what + ": expected a JSON object, got " + std::string(j.type_name()));
  if (auto type = j.find("model_type"); type != j.end() && !(type->is_string() && type->get<std::string>() == "clip"))
    throw InvalidArgument(what + ": field 'model_type' must be \"clip\" (a CLIPModel config), got " + type->dump());
  ClipModelConfig c;
  c.source = j;
  auto text = j.find("text_config");
  auto vision = j.find("vision_config");
  if (text == j.end() || !text->is_object()) throw InvalidArgument(what + ": field 'text_config' (an object) is missing");
  if (vision == j.end() || !vision->is_object())
    throw InvalidArgument(what + ": field 'vision_config' (an object) is missing");
  c.text = ClipTextConfig::from_json(*text, what + " text_config");
  c.vision = ClipVisionConfig::from_json(*vision, what + " vision_config");
  c.projection_dim = io::json_int(j, "projection_dim", c.projection_dim, what, 1, 16384);
  c.logit_scale_init_value = io::json_number(j, "logit_scale_init_value", c.logit_scale_init_value, what);
  if (io::json_has(j, "spo_time_conditioning")) {
    c.time_conditioning_given = true;
    try {
      c.time_conditioning = parse_time_conditioning(io::json_string(j, "spo_time_conditioning", "", what));
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(what + ": field 'spo_time_conditioning': " + e.what());
    }
  }
  return c;
}

json ClipModelConfig::to_json() const {
  json j = source.is_object() ? source : json::object();
  j["spo_time_conditioning"] = time_conditioning_name(time_conditioning);
  return j;
}

}  // namespace spo::models
