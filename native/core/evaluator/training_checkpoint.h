// Checkpoints of preference-model training: the model directory (loadable as
// an evaluator on its own), the AdamW state and the step counter, in a
// training::CheckpointDir. The settings that fix the run (seed, batch size,
// steps, pair count) are stored and must match on resume.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include <optional>
#include <string>

#include "evaluator/preference_model.h"
#include "training/adamw_state.h"

namespace spo::evaluator {

// Returns the checkpoint's directory.
std::string save_training_checkpoint(const std::string& root, PreferenceModel& model, torch::optim::AdamW& optimizer,
                                     const training::NamedParameters& params, int64_t step,
                                     const nlohmann::json& settings);

// Loads the latest checkpoint under `root` into the model and optimizer;
// returns its step, or nothing when there is none.
std::optional<int64_t> load_latest_checkpoint(const std::string& root, models::ClipModel& model,
                                              torch::optim::AdamW& optimizer, const training::NamedParameters& params,
                                              const nlohmann::json& settings);

}  // namespace spo::evaluator
