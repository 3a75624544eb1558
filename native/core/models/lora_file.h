// LoRA files in the diffusers / peft layout, so that a LoRA trained here loads
// with diffusers' `pipe.load_lora_weights(file)` and one made there loads here.
//
// Written: `<prefix>.<module>.lora_A.weight` (= down, [rank, in]) and
// `<prefix>.<module>.lora_B.weight` (= up, [out, rank]) in fp32, and the
// safetensors metadata diffusers writes and reads back (`format: pt` and
// `lora_adapter_metadata`: the peft LoraConfig as JSON, keys prefixed by
// "<prefix>.": r, lora_alpha, target_modules, rank_pattern, alpha_pattern).
//
// Read (UNet LoRA, the key styles diffusers accepts):
//   unet.X.lora_A.weight / lora_B.weight         peft / diffusers >= 0.22
//   unet.X.lora.down.weight / lora.up.weight     older diffusers
//   unet.X.processor.to_q_lora.down.weight ...   attention-processor era
//   X.lora_A.default.weight, base_model.model.X.lora_A.weight   peft state dicts
// Alpha per module: a `<module>.alpha` tensor, else the metadata's
// alpha_pattern / lora_alpha, else alpha = rank (diffusers' default).
// Keys of other pipeline components (text_encoder., text_encoder_2.) are
// skipped, as diffusers' load_lora_into_unet does. Kohya-style files
// (lora_unet_...) are refused as unsupported.
#pragma once
#include <torch/nn/module.h>

#include <string>

#include "models/lora.h"

namespace spo::models {

// Writes the LoRA of `model` (or a set) to `path` atomically. Throws if there is none.
void save_lora(const std::string& path, const torch::nn::Module& model, const std::string& prefix = "unet");
void save_lora(const std::string& path, const LoraSet& set, const std::string& prefix = "unet");

struct LoraLoadResult {
  LoraSet set;
  int64_t skipped_keys = 0;  // keys of other components (text encoders)
};

// Reads `path` and attaches its LoRA to `model` (fp32, on each layer's device,
// enabled). Everything is validated before anything is attached: a malformed
// file, an unknown key or module, a missing half, a shape that does not fit
// the layer, a non-finite value, or a model that already has LoRA is refused
// with spo::InvalidArgument (spo::Unsupported for DoRA / kohya files) naming
// the first offending key.
LoraLoadResult load_lora(const std::string& path, torch::nn::Module& model, const std::string& prefix = "unet");

}  // namespace spo::models
