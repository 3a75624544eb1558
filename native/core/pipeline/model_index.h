// model_index.json of a diffusers text-to-image pipeline directory: which
// components it has, and so whether it is an SD-1.5-like or an SDXL-like one.
#pragma once
#include <string>
#include <vector>

#include "io/json_file.h"

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

// The checks that need no files: `index` is the parsed model_index.json,
// `what` names it in messages. Component folders are the fixed names above,
// never paths taken from the file, so a model_index.json cannot point outside
// its directory.
ModelIndex parse_model_index(const io::Json& index, const std::string& what);

// The component folders a pipeline of `kind` needs, in the order they are checked.
std::vector<std::string> required_components(PipelineKind kind);

}  // namespace spo::pipeline
