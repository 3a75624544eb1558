// Scoring noisy latents the way SPO does (docs/method.md §2 and §4): the
// frozen base model's guided x0 prediction at t, decoded by the VAE, then the
// preference model at t. Clean latents (SPO's last step) skip the UNet.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "evaluator/preference_model.h"
#include "pipeline/pipeline.h"
#include "runtime/job_context.h"

namespace spo::evaluator {

struct LatentImagesRequest {
  at::Tensor latents;    // [B, C, h, w] scaled latents x_t
  std::vector<std::string> prompts;  // B
  at::Tensor timesteps;  // [B] (or one) in [0, 1000)
  double guidance_scale = 5.0;
  bool clean = false;    // the latents are x0 already: decode them as they are
  int64_t max_batch = 0; // > 0: at most this many UNet rows / VAE images at once
};

// x0_hat = guided x0 prediction at t (or the latents when clean), decoded:
// images [B, 3, H, W] fp32 CPU in about [-1, 1]. No gradients.
at::Tensor predicted_images(pipeline::Pipeline& pipe, const LatentImagesRequest& request, const JobContext& ctx = {});

// predicted_images, then the preference model at t: scores [B] fp32 CPU.
at::Tensor score_latents(PreferenceModel& model, pipeline::Pipeline& pipe, const LatentImagesRequest& request,
                         const JobContext& ctx = {});

}  // namespace spo::evaluator
