// LoRA on the Linear layers of a model (SPO trains the UNet's attention
// projections to_q, to_k, to_v, to_out.0). The branch lives inside
// models::LinearImpl (layers.h); this file attaches, switches, merges and
// removes it. The SPO reference model is the same network with LoRA off.
#pragma once
#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/layers.h"

namespace spo::models {

struct LoraConfig {
  int64_t rank = 4;
  double alpha = 4;  // scale = alpha / rank
  // A Linear is targeted when its dotted name equals a target or ends with
  // "." + target (peft's rule for a list of target_modules).
  std::vector<std::string> targets = {"to_q", "to_k", "to_v", "to_out.0"};
  uint64_t seed = 42;  // the down-projection init (peft "gaussian": N(0, (1/rank)^2)), up = 0
};

// Throws InvalidArgument unless rank >= 1, alpha finite and > 0, targets non-empty.
void validate(const LoraConfig& config);

struct LoraLayer {
  std::string name;  // dotted module path, e.g. down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q
  std::shared_ptr<LoraBranch> branch;
};

// A handle on the LoRA layers of one model. The tensors are shared with the
// model: an optimizer stepping parameters() changes the model's outputs.
struct LoraSet {
  std::vector<LoraLayer> layers;  // in the model's module order
  std::vector<at::Tensor> parameters() const;  // down and up of each layer (requires_grad)
  int64_t parameter_count() const;
};

// Attaches a fresh fp32 branch on `device` to every targeted Linear: down
// drawn from one CPU generator seeded by config.seed (so the same seed gives
// the same weights on every device), up = 0, so the model's output is
// unchanged until training moves up. Refuses a model that already has LoRA or
// has no targeted Linear.
LoraSet attach_lora(torch::nn::Module& model, const LoraConfig& config, const at::Device& device);

// The LoRA layers currently attached to `model` (empty when none).
LoraSet find_lora(const torch::nn::Module& model);

// Switches every attached branch on or off; returns how many were switched.
int64_t set_lora_enabled(torch::nn::Module& model, bool enabled);

// Switches the attached LoRA off for its lifetime and back on when it ends
// (exceptions included): the SPO reference forward is the same network, LoRA off.
class LoraDisabledScope {
 public:
  explicit LoraDisabledScope(torch::nn::Module& model) : model_(model) { set_lora_enabled(model_, false); }
  ~LoraDisabledScope() { set_lora_enabled(model_, true); }
  LoraDisabledScope(const LoraDisabledScope&) = delete;
  LoraDisabledScope& operator=(const LoraDisabledScope&) = delete;

 private:
  torch::nn::Module& model_;
};

// Removes every branch; returns how many were removed.
int64_t detach_lora(torch::nn::Module& model);

// Folds every attached branch (enabled or not) into its base weight,
// W <- W + scale * up @ down (computed in fp32, stored in W's dtype), then
// detaches them. Returns how many were merged.
int64_t merge_lora(torch::nn::Module& model);

}  // namespace spo::models
