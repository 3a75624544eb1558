// Stage 1: the world's AutoencoderKL learns to reconstruct rendered scenes:
// MSE(decode(z), x) with z sampled from the encoder's posterior, plus a small
// KL term towards N(0, I) (SD's VAE recipe without its perceptual and GAN
// terms, which flat-coloured shapes do not need).
#pragma once
#include <string>
#include <vector>

#include "models/autoencoder_kl.h"
#include "pretraining/stage_loop.h"

namespace spo::pretraining {

struct VaeStageResult {
  StageResult stage;
  double latent_std = 1;      // std of posterior samples over a held-out batch
  double scaling_factor = 1;  // 1 / latent_std: the config's scaling_factor (as SD derived 0.18215)
  double reconstruction_mse = 0;  // held-out, through the posterior mean
};

inline constexpr double kVaeKlWeight = 1e-4;
// The scenes world's fine defects (blur, grain, jagged edges, texture) live in
// pixel differences; an MSE on the horizontal and vertical differences of the
// reconstruction keeps them through the factor-2 latent (docs/SHAPES_WORLD.md, check 1).
inline constexpr double kVaeEdgeWeight = 1.0;

// MSE between the neighbour differences (along x and along y) of `recon` and `images`, [N, C, H, W].
at::Tensor edge_loss(const at::Tensor& recon, const at::Tensor& images);

VaeStageResult train_world_vae(models::AutoencoderKL& vae, const std::vector<std::string>& prompts,
                               const StageOptions& options, const JobContext& ctx);

}  // namespace spo::pretraining
