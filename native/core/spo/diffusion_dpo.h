// The Diffusion-DPO baseline in the same engine (docs/method.md §7): offline
// preference pairs, the winner and loser noised with the same t and the same
// noise, and
//   loss = -log sigmoid(-beta/2 * ((||eps - eps_theta(x_w)||^2 - ||eps - eps_ref(x_w)||^2)
//                                 - (||eps - eps_theta(x_l)||^2 - ||eps - eps_ref(x_l)||^2)))
// with per-sample MSE as a mean, the policy = base + LoRA and the reference =
// LoRA off. The conditional prediction is trained (no guidance), as the
// Diffusion-DPO recipe does; v-prediction models use the velocity as target.
#pragma once
#include <string>
#include <vector>

#include "evaluator/preference_training.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"

namespace spo::trainer {

struct DiffusionDpoOptions {
  int64_t steps = 1000;
  int64_t batch_size = 4;       // pairs per step
  double beta = 5000.0;
  double learning_rate = 1e-5;
  double weight_decay = 1e-4;
  double max_grad_norm = 1.0;   // <= 0: no clipping
  int64_t lora_rank = 4;
  double lora_alpha = 4.0;
  uint64_t seed = 42;
  std::string checkpoint_dir;   // "": none; else a checkpoint every checkpoint_every steps and at the end
  int64_t checkpoint_every = 0;
  bool resume = true;
  std::string output_dir;       // "": no export; else <dir>/pytorch_lora_weights.safetensors
};

struct DiffusionDpoResult {
  int64_t start_step = 0, steps_done = 0;
  std::vector<double> losses;
  std::vector<double> implicit_accuracy;  // per step: share of pairs whose implicit reward ranks the winner first
  int64_t pairs_used = 0;                 // non-tie pairs
  int64_t update_evaluations = 0;         // 4 per pair and step: policy and reference on winner and loser
  std::string lora_file;
};

// Loss and gradients for one batch, computed from given noisy latents (exposed for tests).
// x_w, x_l, noise [B, C, h, w] (clean latents and the shared noise), t [B].
struct DpoBatchOutput {
  double loss = 0.0, implicit_accuracy = 0.0;
};
DpoBatchOutput diffusion_dpo_backward(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond,
                                      const at::Tensor& x_w, const at::Tensor& x_l, const at::Tensor& noise,
                                      const at::Tensor& t, double beta);

DiffusionDpoResult train_diffusion_dpo(pipeline::Pipeline& pipe, const std::vector<evaluator::PreferencePair>& pairs,
                                       const DiffusionDpoOptions& options, const JobContext& ctx = {});

}  // namespace spo::trainer
