// Pipeline::load: the configurations are read and checked against each other
// first (cheap, and a mismatch found after loading gigabytes is a poor error),
// then the weights.
#include <filesystem>

#include "models/autoencoder_kl_loading.h"
#include "models/clip_text_loading.h"
#include "models/unet_loading.h"
#include "pipeline/pipeline.h"
#include "pipeline/scheduler_config.h"
#include "runtime/errors.h"

namespace spo::pipeline {
namespace {

// SDXL's time_ids: original size (2), crop top-left (2), target size (2).
constexpr int64_t kTimeIds = 6;

void check_compatible(const std::string& dir, PipelineKind kind) {
  const auto unet = models::read_unet_config(dir + "/unet");
  const auto vae = models::read_autoencoder_kl_config(dir + "/vae");
  const auto text = models::read_clip_text_config(dir + "/text_encoder");
  int64_t width = text.hidden_size;
  const bool xl = kind == PipelineKind::StableDiffusionXL;
  require(xl == unet.has_text_time(),
          xl ? dir + " has text_encoder_2 (SDXL) but its UNet takes no added text_time conditioning"
             : dir + "/unet expects SDXL's added conditioning (text_time) but the directory has no text_encoder_2");
  if (xl) {
    const auto text_2 = models::read_clip_text_config(dir + "/text_encoder_2");
    width += text_2.hidden_size;
    const int64_t added = text_2.projection_dim + kTimeIds * unet.addition_time_embed_dim;
    require(unet.projection_class_embeddings_input_dim == added,
            dir + "/unet expects " + std::to_string(unet.projection_class_embeddings_input_dim) +
                " added-conditioning features, but text_encoder_2's projection (" +
                std::to_string(text_2.projection_dim) + ") and 6 time ids give " + std::to_string(added));
  }
  for (const int64_t d : unet.cross_attention_dim) {
    require(d == width, dir + "/unet cross-attends to " + std::to_string(d) + " features, but the text encoder" +
                            (xl ? "s give " : " gives ") + std::to_string(width));
  }
  require(vae.latent_channels == unet.in_channels,
          dir + "/vae has " + std::to_string(vae.latent_channels) + " latent channels but the UNet takes " +
              std::to_string(unet.in_channels));
  require(unet.out_channels == unet.in_channels,
          dir + "/unet predicts " + std::to_string(unet.out_channels) + " channels for " +
              std::to_string(unet.in_channels) + " input channels");
}

}  // namespace

std::shared_ptr<Pipeline> Pipeline::load(const std::string& dir, const PipelineOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw Error(ErrorCode::NotFound, "pipeline directory not found: " + dir);
  require(at::isFloatingType(options.dtype), "the pipeline dtype must be a floating type");
  std::shared_ptr<Pipeline> p(new Pipeline());
  p->index_ = read_model_index(dir);
  p->options_ = options;
  p->scheduler_config_ = read_scheduler_config(dir + "/scheduler");
  try {
    diffusion::DdimScheduler check(p->scheduler_config_);  // refuses an unusable schedule now, not at sampling
  } catch (const Error& e) {
    throw InvalidArgument(dir + "/scheduler/scheduler_config.json: " + e.what());
  }
  check_compatible(dir, p->index_.kind);

  const auto run = at::TensorOptions().device(options.device).dtype(options.dtype);
  p->prompt_encoder_ = PromptEncoder::load(dir, p->index_.kind, run);
  p->unet_ = models::load_unet(dir + "/unet", run);
  p->unet_->eval();
  // fp16 overflows in SD's VAE: diffusers decodes in fp32 when the VAE asks for it.
  const auto vae_config = models::read_autoencoder_kl_config(dir + "/vae");
  const bool upcast = options.dtype == at::kHalf && vae_config.force_upcast;
  p->vae_dtype_ = upcast ? at::kFloat : options.dtype;
  p->vae_ = models::load_autoencoder_kl(dir + "/vae", run.dtype(p->vae_dtype_));
  p->vae_->eval();
  return p;
}

}  // namespace spo::pipeline
