#include "pretraining/diffusion_pretraining.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "pretraining/world_configs.h"
#include "pretraining/world_dataset.h"
#include "runtime/errors.h"

namespace spo::pretraining {

at::Tensor diffusion_training_target(const diffusion::DdimScheduler& scheduler, const at::Tensor& x0,
                                     const at::Tensor& noise, const at::Tensor& t) {
  // As diffusers' training scripts: the target follows the pipeline's parametrisation.
  switch (scheduler.config().prediction_type) {
    case kernels::PredictionType::Epsilon: return noise;
    case kernels::PredictionType::VPrediction: return scheduler.get_velocity(x0, noise, t);
    default: throw InvalidArgument("diffusion pretraining: prediction type 'sample' is not supported");
  }
}

StageResult train_world_diffusion(models::ClipTextModel& text_encoder, const text::ClipTokenizer& tokenizer,
                                  models::UNet2DConditionModel& unet, models::AutoencoderKL& vae,
                                  const diffusion::DdimConfig& schedule, const std::vector<std::string>& prompts,
                                  const StageOptions& o, const JobContext& ctx) {
  diffusion::DdimScheduler scheduler(schedule);
  const int64_t length = text_encoder->text_model->config.max_position_embeddings;
  vae->eval();
  text_encoder->train();
  unet->train();
  auto loss_of = [&](int64_t step) {
    auto batch = world_batch(o.track, prompts, o.batch_size, kWorldImageSize, o.seed, step);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(o.seed, 0xD1, static_cast<uint64_t>(step)));
    at::Tensor latents;
    {
      at::NoGradGuard no_grad;
      latents = vae->encode_to_latents(batch.images, gen);
    }
    auto drop = at::rand({o.batch_size}, gen);
    for (int64_t i = 0; i < o.batch_size; ++i)
      if (drop[i].item<double>() < kUnconditionalShare) batch.prompts[i] = "";
    auto t = at::randint(0, schedule.num_train_timesteps, {o.batch_size}, gen, at::kLong);
    auto noise = at::randn(latents.sizes(), gen);
    auto noisy = scheduler.add_noise(latents, noise, t);
    auto hidden = text_encoder->forward(tokenizer.encode_batch(batch.prompts, length)).last_hidden_state;
    return at::mse_loss(unet->forward(noisy, t, hidden), diffusion_training_target(scheduler, latents, noise, t));
  };
  auto params = text_encoder->parameters();
  for (const auto& p : unet->parameters()) params.push_back(p);
  auto result = run_stage("diffusion", params, o, loss_of, ctx);
  text_encoder->eval();
  unet->eval();
  return result;
}

}  // namespace spo::pretraining
