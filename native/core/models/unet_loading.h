// Loading a diffusers `unet` component directory: config.json and
// diffusion_pytorch_model.safetensors (or its shards).
#pragma once
#include <string>

#include "models/unet_2d_condition.h"

namespace spo::models {

// Reads `dir`/config.json, builds the model with `options` (dtype, device) and
// loads its weights strictly (every key present with the diffusers shape,
// converted to the run dtype). Throws spo::Error naming the file and problem.
UNet2DConditionModel load_unet(const std::string& dir, const at::TensorOptions& options);

// The configuration alone (for shape checks or meta-device builds).
UNetConfig read_unet_config(const std::string& dir);

}  // namespace spo::models
