// Loading diffusers' AutoencoderKL from a component directory (config.json +
// diffusion_pytorch_model.safetensors or shards), strictly: every key and
// shape must match (io::load_module_weights), weights converted to `options`.
// Checkpoints written by diffusers < 0.14 (e.g. the SD-1.5 hub VAE) name the
// mid-block attention query/key/value/proj_attn: renamed to to_q/to_k/to_v/to_out.0.
#pragma once
#include <map>
#include <string>

#include "models/autoencoder_kl.h"

namespace spo::models {

// <dir>/config.json parsed and validated (spo::Error naming the file).
AutoencoderKLConfig read_autoencoder_kl_config(const std::string& dir);

// Old attention key -> current key for both mid blocks (encoder and decoder).
std::map<std::string, std::string> autoencoder_kl_legacy_renames();

// Built directly with `options` (device, dtype): no second copy of the weights.
AutoencoderKL load_autoencoder_kl(const std::string& dir, const at::TensorOptions& options);

}  // namespace spo::models
