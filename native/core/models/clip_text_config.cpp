#include "models/clip_text_config.h"

#include <ATen/ATen.h>

#include <cmath>

#include "models/config_limits.h"
#include "models/layers.h"
#include "runtime/errors.h"

namespace spo::models {
namespace {

using nlohmann::json;

// The field `key` as an integer in [lo, hi], or `fallback` when absent. The
// io library's getters are not used so that the models build stands alone.
int64_t int_field(const json& j, const char* key, int64_t fallback, int64_t lo, int64_t hi, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_number_integer())
    throw InvalidArgument(what + ": field '" + key + "' must be an integer, got " + it->dump());
  const int64_t v = it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : it->get<int64_t>();
  if (v < lo || v > hi)
    throw InvalidArgument(what + ": field '" + key + "' = " + std::to_string(v) + " is outside [" + std::to_string(lo) +
                          ", " + std::to_string(hi) + "]");
  return v;
}

// Like int_field, but null (a token the tokenizer does not have) gives -1.
int64_t optional_token_field(const json& j, const char* key, int64_t fallback, const std::string& what) {
  auto it = j.find(key);
  if (it != j.end() && it->is_null()) return -1;
  return int_field(j, key, fallback, 0, INT64_MAX, what);
}

}  // namespace

ClipTextConfig ClipTextConfig::from_json(const json& j, const std::string& what) {
  if (!j.is_object()) throw InvalidArgument(what + ": expected a JSON object, got " + std::string(j.type_name()));
  auto type = j.find("model_type");
  if (type != j.end() && !(type->is_string() && type->get<std::string>() == "clip_text_model"))
    throw InvalidArgument(what + ": field 'model_type' must be \"clip_text_model\", got " + type->dump() +
                          " (a full CLIPConfig keeps the text model's fields under 'text_config')");

  ClipTextConfig c;
  // Bounds are far above any released CLIP (the largest: hidden 1280, 32
  // layers) yet keep a typo from asking for terabytes.
  c.vocab_size = int_field(j, "vocab_size", c.vocab_size, 1, int64_t(1) << 22, what);
  c.hidden_size = int_field(j, "hidden_size", c.hidden_size, 1, 16384, what);
  c.intermediate_size = int_field(j, "intermediate_size", c.intermediate_size, 1, 65536, what);
  c.projection_dim = int_field(j, "projection_dim", c.projection_dim, 1, 16384, what);
  // At least one layer: the penultimate hidden state (SDXL's conditioning) must exist.
  c.num_hidden_layers = int_field(j, "num_hidden_layers", c.num_hidden_layers, 1, 256, what);
  c.num_attention_heads = int_field(j, "num_attention_heads", c.num_attention_heads, 1, 256, what);
  c.max_position_embeddings = int_field(j, "max_position_embeddings", c.max_position_embeddings, 1, 8192, what);
  if (c.hidden_size % c.num_attention_heads != 0)
    throw InvalidArgument(what + ": field 'hidden_size' = " + std::to_string(c.hidden_size) +
                          " is not divisible by 'num_attention_heads' = " + std::to_string(c.num_attention_heads));

  if (auto it = j.find("hidden_act"); it != j.end()) {
    if (!it->is_string()) throw InvalidArgument(what + ": field 'hidden_act' must be a string, got " + it->dump());
    c.hidden_act = it->get<std::string>();
  }
  try {
    activation(c.hidden_act, at::zeros({1}));  // the one list of supported names lives in layers.cpp
  } catch (const Unsupported& e) {
    throw Unsupported(what + ": field 'hidden_act': " + e.what());
  }

  if (auto it = j.find("layer_norm_eps"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) throw InvalidArgument(what + ": field 'layer_norm_eps' must be a number, got " + it->dump());
    c.layer_norm_eps = it->get<double>();
    if (!std::isfinite(c.layer_norm_eps) || c.layer_norm_eps <= 0 || c.layer_norm_eps >= 1)
      throw InvalidArgument(what + ": field 'layer_norm_eps' = " + it->dump() + " must be in (0, 1)");
  }

  // The pooled output depends on eos_token_id, so it must be a single id of the vocabulary.
  if (auto it = j.find("eos_token_id"); it != j.end() && it->is_array())
    throw Unsupported(what + ": field 'eos_token_id' is a list; CLIP text pooling needs a single id");
  c.eos_token_id = int_field(j, "eos_token_id", c.eos_token_id, 0, INT64_MAX, what);
  if (c.eos_token_id >= c.vocab_size)  // also catches the default 49407 with a smaller vocabulary
    throw InvalidArgument(what + ": field 'eos_token_id' = " + std::to_string(c.eos_token_id) +
                          " is not an id of the vocabulary (vocab_size " + std::to_string(c.vocab_size) + ")");
  c.bos_token_id = optional_token_field(j, "bos_token_id", c.bos_token_id, what);
  c.pad_token_id = optional_token_field(j, "pad_token_id", c.pad_token_id, what);
  // Lower bound: per layer the q, k, v, out projections and the two MLP matrices; the embeddings.
  const double h = double(c.hidden_size);
  require_model_size(double(c.num_hidden_layers) * (4 * h * h + 2 * h * double(c.intermediate_size)) +
                         h * double(c.vocab_size + c.max_position_embeddings),
                     what);
  return c;
}

}  // namespace spo::models
