// Loading the CLIP text encoders from a transformers component directory
// (config.json + model.safetensors or shards), strictly: every key and shape
// must match (io::load_module_weights), weights converted to `options`' dtype.
// Accepted layouts: the hub's (text_model.* keys, written by transformers 4.x,
// possibly with the old text_model.embeddings.position_ids buffer, ignored)
// and transformers 5 save_pretrained's CLIPTextModel (no text_model. prefix).
#pragma once
#include <string>

#include "models/clip_text_config.h"
#include "models/clip_text_model.h"

namespace spo::models {

// <dir>/config.json parsed and validated (spo::Error NotFound / InvalidArgument naming the file).
ClipTextConfig read_clip_text_config(const std::string& dir);

// SD-1.5 `text_encoder`, SDXL `text_encoder`. The module is built directly
// with `options` (device, dtype), so no second copy of the weights exists.
ClipTextModel load_clip_text_model(const std::string& dir, const at::TensorOptions& options);

// SDXL `text_encoder_2`.
ClipTextModelWithProjection load_clip_text_model_with_projection(const std::string& dir,
                                                                 const at::TensorOptions& options);

}  // namespace spo::models
