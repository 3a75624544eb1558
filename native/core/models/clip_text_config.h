// The configuration of a transformers CLIPTextModel / CLIPTextModelWithProjection
// (config.json of a `text_encoder` / `text_encoder_2` directory), validated so
// that an absurd or mistyped file is refused before any module is built.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace spo::models {

struct ClipTextConfig {
  // Defaults are transformers' CLIPTextConfig defaults (used when a field is absent).
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t projection_dim = 512;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
  int64_t eos_token_id = 49407;
  int64_t bos_token_id = 49406;  // -1 when null in the file (unused by the forward pass)
  int64_t pad_token_id = 1;      // -1 when null in the file (unused by the forward pass)

  int64_t head_dim() const { return hidden_size / num_attention_heads; }

  // Configs written before transformers PR #24773 (SD-1.5's, SDXL's) carry
  // eos_token_id 2; transformers then pools at argmax(input_ids), otherwise
  // at the first position holding eos_token_id.
  bool legacy_eos_pooling() const { return eos_token_id == 2; }

  // Parses and validates; throws spo::InvalidArgument naming the field (and
  // spo::Unsupported for a valid but unhandled hidden_act). `what` names the
  // source (e.g. the file path) in messages.
  static ClipTextConfig from_json(const nlohmann::json& j, const std::string& what = "CLIP text config");
};

}  // namespace spo::models
