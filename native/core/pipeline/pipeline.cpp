// Prompt conditioning, classifier-free guidance, decoding and the sampling
// loop of Pipeline (loading is in pipeline_load.cpp, candidates in candidates.cpp).
#include "pipeline/pipeline.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "pipeline/images.h"
#include "runtime/cpu_block_cache.h"
#include "runtime/errors.h"
#include "runtime/phase_profile.h"

namespace spo::pipeline {
namespace {

PromptEmbeddings repeat_embeddings(const PromptEmbeddings& e, int64_t times) {
  return {e.hidden.repeat_interleave(times, 0), e.pooled.defined() ? e.pooled.repeat_interleave(times, 0) : e.pooled};
}

at::Tensor cat_defined(const at::Tensor& a, const at::Tensor& b) {
  return a.defined() ? at::cat({a, b}) : a;
}

}  // namespace

Conditioning Conditioning::repeat_rows(int64_t times) const {
  return {repeat_embeddings(cond, times), repeat_embeddings(uncond, times),
          time_ids.defined() ? time_ids.repeat_interleave(times, 0) : time_ids};
}

Conditioning Conditioning::select_rows(const at::Tensor& index) const {
  auto pick = [&](const at::Tensor& t) { return t.defined() ? t.index_select(0, index.to(t.device())) : t; };
  return {{pick(cond.hidden), pick(cond.pooled)}, {pick(uncond.hidden), pick(uncond.pooled)}, pick(time_ids)};
}

at::Tensor guided_unet_output(models::UNet2DConditionModel& unet, const at::Tensor& x, const at::Tensor& t,
                              const Conditioning& c, double guidance_scale) {
  require(x.dim() == 4 && x.size(0) == c.batch(), "guided UNet output: one latent per conditioning row");
  if (guidance_scale <= 1.0) return unet->forward(x, t, c.cond.hidden, {c.cond.pooled, c.time_ids}).to(at::kFloat);
  models::UNetAddedConditions added{cat_defined(c.uncond.pooled, c.cond.pooled), cat_defined(c.time_ids, c.time_ids)};
  const auto both =
      unet->forward(at::cat({x, x}), at::cat({t, t}), at::cat({c.uncond.hidden, c.cond.hidden}), added).to(at::kFloat).chunk(2);
  return both[0] + guidance_scale * (both[1] - both[0]);
}

void Pipeline::check_size(int64_t height, int64_t width) const {
  const int64_t f = vae_scale_factor();
  for (const int64_t side : {height, width}) {
    require(side >= 8 && side <= 16384 && side % 8 == 0 && side % f == 0,
            "width and height must be multiples of 8 (and of the VAE's factor " + std::to_string(f) +
                ") in [8, 16384], got " + std::to_string(width) + "x" + std::to_string(height));
  }
}

Conditioning Pipeline::encode_prompts(const std::vector<std::string>& prompts,
                                      const std::optional<std::string>& negative_prompt, int64_t height,
                                      int64_t width) {
  require(!prompts.empty() && prompts.size() <= 4096, "between 1 and 4096 prompts are needed");
  profile::PhaseScope phase(profile::Phase::TextEncoding);  // both branches: one entry per conditioning
  const auto batch = static_cast<int64_t>(prompts.size());
  Conditioning c;
  c.cond = prompt_encoder_->encode(prompts);
  if (!negative_prompt && index_.force_zeros_for_empty_prompt) {
    c.uncond = prompt_encoder_->zeros(batch);
  } else {
    c.uncond = repeat_embeddings(prompt_encoder_->encode({negative_prompt.value_or("")}), batch);
  }
  if (index_.kind == PipelineKind::StableDiffusionXL) {
    // Original size = target size = the image's, no crop: what SDXL was trained to see for uncropped images.
    const auto ids = at::tensor({height, width, int64_t{0}, int64_t{0}, height, width}, at::kLong);
    c.time_ids = ids.to(c.cond.hidden.options()).unsqueeze(0).repeat({batch, 1});
  }
  return c;
}

at::Tensor Pipeline::unet_chunked(const at::Tensor& x, const at::Tensor& t, const at::Tensor& hidden,
                                  const models::UNetAddedConditions& added, int64_t max_batch) {
  const int64_t rows = x.size(0);
  if (max_batch <= 0 || max_batch >= rows) return unet_->forward(x, t, hidden, added).to(at::kFloat);
  const auto rows_of = [](const at::Tensor& a, int64_t start, int64_t length) {
    return a.defined() ? a.narrow(0, start, length) : a;
  };
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < rows; start += max_batch) {
    const int64_t length = std::min(max_batch, rows - start);
    models::UNetAddedConditions chunk{rows_of(added.text_embeds, start, length), rows_of(added.time_ids, start, length)};
    parts.push_back(unet_->forward(x.narrow(0, start, length), t.narrow(0, start, length),
                                   hidden.narrow(0, start, length), chunk)
                        .to(at::kFloat));
  }
  return at::cat(parts);
}

at::Tensor Pipeline::guided_model_output(const at::Tensor& latents, const at::Tensor& timesteps,
                                         const Conditioning& c, double guidance_scale, int64_t max_batch) {
  require(std::isfinite(guidance_scale), "the guidance scale must be a finite number");
  require(max_batch >= 0, "the maximum UNet batch must be >= 0 (0: no limit)");
  require(latents.dim() == 4 && latents.size(0) == c.batch(),
          "latents must be [B, C, h, w] with one row per prompt (" + std::to_string(c.batch()) + ")");
  at::NoGradGuard no_grad;
  CpuBlockCacheScope reuse;  // activations over 64 MB (the feed-forward at 16 rows of 32x32x160): reused, not re-faulted
  const auto x = latents.to(options_.device, options_.dtype);
  const auto t = timesteps.to(options_.device);
  if (guidance_scale <= 1.0) {  // diffusers skips the unconditional branch here
    return unet_chunked(x, t, c.cond.hidden, {c.cond.pooled, c.time_ids}, max_batch);
  }
  models::UNetAddedConditions added{cat_defined(c.uncond.pooled, c.cond.pooled),
                                    cat_defined(c.time_ids, c.time_ids)};
  const auto both =
      unet_chunked(at::cat({x, x}), at::cat({t, t}), at::cat({c.uncond.hidden, c.cond.hidden}), added, max_batch)
          .chunk(2);
  return both[0] + guidance_scale * (both[1] - both[0]);
}

at::Tensor Pipeline::decode(const at::Tensor& latents) {
  at::NoGradGuard no_grad;
  return vae_->decode_latents(latents.to(options_.device, vae_dtype_)).to(at::kCPU, at::kFloat);
}

GenerateResult Pipeline::generate(const GenerateRequest& r, const JobContext& ctx) {
  at::NoGradGuard no_grad;
  const int64_t height = r.height ? r.height : default_size();
  const int64_t width = r.width ? r.width : default_size();
  check_size(height, width);
  require(std::isfinite(r.eta) && r.eta >= 0, "eta must be a finite number >= 0");
  require(r.max_batch >= 0, "the maximum UNet batch must be >= 0 (0: no limit)");
  diffusion::DdimScheduler scheduler(scheduler_config_);  // per call: jobs may share this pipeline
  scheduler.set_timesteps(r.steps);

  const auto batch = static_cast<int64_t>(r.prompts.size());
  const std::vector<int64_t> shape{batch, latent_channels(), height / vae_scale_factor(), width / vae_scale_factor()};
  // All randomness from one CPU generator: the same seed gives the same image on every device.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
  at::Tensor x;
  if (r.initial_latents) {
    require(r.initial_latents->sizes() == at::IntArrayRef(shape),
            "the initial latents must be [" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " +
                std::to_string(shape[2]) + ", " + std::to_string(shape[3]) + "]");
    x = r.initial_latents->to(options_.device, at::kFloat);
  } else {
    x = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)).to(options_.device);
  }
  const auto conditioning = encode_prompts(r.prompts, r.negative_prompt, height, width);

  const auto& ts = scheduler.timesteps();
  const auto total = static_cast<int64_t>(ts.size());
  for (int64_t i = 0; i < total; ++i) {
    ctx.check_cancelled();
    const auto t = at::full({batch}, ts[static_cast<size_t>(i)], at::kLong);
    diffusion::StepRequest step;
    step.sample = x;
    step.model_output = guided_model_output(x, t, conditioning, r.guidance_scale, r.max_batch);
    step.timesteps = t;
    step.eta = r.eta;
    step.noise = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)).to(options_.device);
    x = scheduler.step(step).prev_sample;
    ctx.report({"denoise", i + 1, total, static_cast<double>(ts[static_cast<size_t>(i)])});
  }
  GenerateResult result;
  result.latents = x.to(at::kCPU);
  if (r.decode) {
    ctx.check_cancelled();
    result.images = decode(x);
    result.pixels = to_rgb8(result.images);
    ctx.report({"decode", 1, 1, 0.0});
  }
  return result;
}

}  // namespace spo::pipeline
