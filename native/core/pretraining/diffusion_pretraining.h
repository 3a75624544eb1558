// Stage 2: the text encoder and the UNet learn together, from scratch, the
// objective of Stable Diffusion (MSE to the schedule's target at t ~ U{0..999}
// on VAE latents of rendered scenes: the noise for epsilon prediction, SD-1.5;
// the velocity for v prediction, SD-2.x), with 10% of the prompts replaced by ""
// so that classifier-free guidance works.
#pragma once
#include <string>
#include <vector>

#include "diffusion/ddim_scheduler.h"
#include "models/autoencoder_kl.h"
#include "models/clip_text_model.h"
#include "models/unet_2d_condition.h"
#include "pretraining/stage_loop.h"
#include "text/clip_tokenizer.h"

namespace spo::pretraining {

inline constexpr double kUnconditionalShare = 0.1;

// What the UNet learns to output for x_t = add_noise(x0, noise, t): the noise
// (epsilon), or sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) x0 (v_prediction).
at::Tensor diffusion_training_target(const diffusion::DdimScheduler& scheduler, const at::Tensor& x0,
                                     const at::Tensor& noise, const at::Tensor& t);

StageResult train_world_diffusion(models::ClipTextModel& text_encoder, const text::ClipTokenizer& tokenizer,
                                  models::UNet2DConditionModel& unet, models::AutoencoderKL& vae,
                                  const diffusion::DdimConfig& schedule, const std::vector<std::string>& prompts,
                                  const StageOptions& options, const JobContext& ctx);

}  // namespace spo::pretraining
