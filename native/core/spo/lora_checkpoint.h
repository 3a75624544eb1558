// Checkpoints of LoRA training runs (the SPO trainer, the Diffusion-DPO
// baseline): the LoRA tensors, the AdamW state and a counter, committed
// atomically in a training::CheckpointDir, with the run's identity (settings,
// data size) that a resume must match.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include "models/lora.h"
#include "training/adamw_state.h"
#include "training/checkpoint_dir.h"

namespace spo::trainer {

// The LoRA tensors by stable names ("<layer>.down", "<layer>.up").
training::NamedParameters lora_parameters(const models::LoraSet& set);

void save_checkpoint(const training::CheckpointDir& dir, int64_t counter, const training::NamedParameters& params,
                     torch::optim::AdamW& optimizer, const nlohmann::json& identity);

// Restores the latest checkpoint into params and optimizer; returns its counter (0 when none).
int64_t load_checkpoint(const training::CheckpointDir& dir, const training::NamedParameters& params,
                        torch::optim::AdamW& optimizer, const nlohmann::json& identity);

}  // namespace spo::trainer
