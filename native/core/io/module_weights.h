// Loading a component's weights into a module, strictly: the key and shape
// sets must match exactly, and a mismatch is refused with the first
// differences named (missing, unexpected, wrong shape), never a crash.
#pragma once
#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace spo::io {

using ShapeList = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// "" when `actual` and `expected` hold the same keys with the same shapes;
// otherwise a message listing up to 5 missing, 5 unexpected and 5 wrong-shape
// keys, with the total count of each.
std::string describe_differences(const ShapeList& actual, const ShapeList& expected);

struct WeightLoadOptions {
  // Checkpoint keys renamed before matching (old names -> new), e.g. the VAE
  // mid-block's query/key/value/proj_attn of pre-0.14 diffusers checkpoints.
  std::map<std::string, std::string> renames;
  // Checkpoint keys that are ignored when present (e.g. text_model.embeddings.position_ids).
  std::vector<std::string> ignore;
  // Module keys that may be absent from the checkpoint: they keep their
  // current values (e.g. freshly initialised adaLN layers over plain PickScore).
  std::set<std::string> optional;
};

// Copies every parameter and buffer of `module` from `files` (one component
// may be sharded over several), converting each to the module's own dtype
// and device. Throws spo::InvalidArgument with describe_differences' message
// on any key or shape mismatch, before copying anything.
void load_module_weights(torch::nn::Module& module, const std::vector<std::shared_ptr<SafeTensorsFile>>& files,
                         const WeightLoadOptions& options = {});

// The safetensors files of a component directory: diffusion_pytorch_model.safetensors,
// model.safetensors, or the shards listed by *.safetensors.index.json. Refuses a
// directory holding only pickle weights (.bin) with the conversion command.
std::vector<std::shared_ptr<SafeTensorsFile>> open_component_weights(const std::string& dir);

}  // namespace spo::io
