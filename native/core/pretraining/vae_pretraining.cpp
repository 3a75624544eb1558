#include "pretraining/vae_pretraining.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "pretraining/world_configs.h"
#include "pretraining/world_dataset.h"

namespace spo::pretraining {

at::Tensor edge_loss(const at::Tensor& recon, const at::Tensor& images) {
  using at::indexing::Slice;
  auto dx = [](const at::Tensor& t) { return t.index({"...", Slice(1, at::indexing::None)}) - t.index({"...", Slice(at::indexing::None, -1)}); };
  auto dy = [](const at::Tensor& t) { return t.index({"...", Slice(1, at::indexing::None), Slice()}) - t.index({"...", Slice(at::indexing::None, -1), Slice()}); };
  return at::mse_loss(dx(recon), dx(images)) + at::mse_loss(dy(recon), dy(images));
}

VaeStageResult train_world_vae(models::AutoencoderKL& vae, const std::vector<std::string>& prompts,
                               const StageOptions& o, const JobContext& ctx) {
  VaeStageResult out;
  vae->train();
  auto loss_of = [&](int64_t step) {
    auto batch = world_batch(o.track, prompts, o.batch_size, kWorldImageSize, o.seed, step);
    auto posterior = vae->encode(batch.images);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(o.seed, 0xAE, static_cast<uint64_t>(step)));
    auto recon = vae->decode(posterior.sample(gen));
    auto kl = 0.5 * (posterior.mean.pow(2) + posterior.logvar.exp() - 1.0 - posterior.logvar).mean();
    auto loss = at::mse_loss(recon, batch.images) + kVaeKlWeight * kl;
    if (o.track == world::Track::Scenes) loss = loss + kVaeEdgeWeight * edge_loss(recon, batch.images);
    return loss;
  };
  out.stage = run_stage("vae", vae->parameters(), o, loss_of, ctx);
  vae->eval();

  at::NoGradGuard no_grad;
  auto held_out = world_batch(o.track, prompts, 128, kWorldImageSize, o.seed ^ 0xF00D, 0);
  auto posterior = vae->encode(held_out.images);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(o.seed, 0xAF, 0));
  out.latent_std = posterior.sample(gen).std().item<double>();
  out.scaling_factor = 1.0 / out.latent_std;
  out.reconstruction_mse = at::mse_loss(vae->decode(posterior.mean), held_out.images).item<double>();
  return out;
}

}  // namespace spo::pretraining
