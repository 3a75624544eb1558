// Stage 2: the text encoder and the UNet learn together, from scratch, the
// noise-prediction objective of Stable Diffusion (epsilon MSE at t ~ U{0..999}
// on VAE latents of rendered scenes), with 10% of the prompts replaced by ""
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

StageResult train_world_diffusion(models::ClipTextModel& text_encoder, const text::ClipTokenizer& tokenizer,
                                  models::UNet2DConditionModel& unet, models::AutoencoderKL& vae,
                                  const diffusion::DdimConfig& schedule, const std::vector<std::string>& prompts,
                                  const StageOptions& options, const JobContext& ctx);

}  // namespace spo::pretraining
