// The key names of LoRA files: parsing the styles diffusers and peft write
// into (module path, which tensor), and the name this engine writes.
#pragma once
#include <optional>
#include <string>

namespace spo::models {

enum class LoraTensorKind { Down, Up, Alpha };

struct LoraKey {
  std::string module;  // dotted module path inside the model, e.g. mid_block.attentions.0.transformer_blocks.0.attn2.to_k
  LoraTensorKind kind;
};

// Parses one key of a LoRA file for the component `prefix` ("unet"):
// nullopt for keys of other components (text_encoder., text_encoder_2.).
// Throws spo::Unsupported for kohya keys (lora_unet_...), DoRA magnitudes and
// LoRA biases; spo::InvalidArgument for anything else it does not recognise.
std::optional<LoraKey> parse_lora_key(const std::string& key, const std::string& prefix);

// "<prefix>.<module>.lora_A.weight" (down) / ".lora_B.weight" (up), as diffusers writes.
std::string lora_key_name(const std::string& prefix, const std::string& module, LoraTensorKind kind);

}  // namespace spo::models
