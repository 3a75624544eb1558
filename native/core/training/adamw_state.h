// AdamW's per-parameter state (step, exp_avg, exp_avg_sq) in a safetensors
// file keyed by parameter name, so a checkpoint holds no pickle and resumes
// bit for bit. Parameters without state yet (never stepped) are skipped.
#pragma once
#include <torch/optim/adamw.h>

#include <string>
#include <utility>
#include <vector>

namespace spo::training {

using NamedParameters = std::vector<std::pair<std::string, at::Tensor>>;

void save_adamw_state(const std::string& path, torch::optim::AdamW& optimizer, const NamedParameters& params);

// Restores the state saved for `params` (names and shapes must match; a name
// absent from the file leaves that parameter without state). InvalidArgument
// otherwise, and for a tensor that is no parameter's state or a parameter with
// only some of its three entries (a damaged file).
void load_adamw_state(const std::string& path, torch::optim::AdamW& optimizer, const NamedParameters& params);

}  // namespace spo::training
