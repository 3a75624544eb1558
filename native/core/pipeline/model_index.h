// model_index.json of a diffusers text-to-image pipeline directory: which
// components it has, and so whether it is an SD-1.5-like or an SDXL-like one.
#pragma once
#include <string>

namespace spo::pipeline {

enum class PipelineKind { StableDiffusion, StableDiffusionXL };

struct ModelIndex {
  std::string class_name;  // e.g. "StableDiffusionPipeline" (informational)
  PipelineKind kind = PipelineKind::StableDiffusion;
  // SDXL: with no negative prompt the unconditional branch is all zeros
  // (diffusers' force_zeros_for_empty_prompt, true in SDXL's own file).
  bool force_zeros_for_empty_prompt = false;
};

// Reads <dir>/model_index.json and checks that every component the kind needs
// (unet, vae, text_encoder, tokenizer, scheduler; SDXL also text_encoder_2 and
// tokenizer_2) is named there and has its folder. SDXL is recognised by a
// text_encoder_2 entry. Throws spo::Error (NotFound / InvalidArgument) naming
// the file and the component.
ModelIndex read_model_index(const std::string& dir);

}  // namespace spo::pipeline
