#include "spo/diffusion_dpo.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <filesystem>

#include "diffusion/ddim_scheduler.h"
#include "models/lora_file.h"
#include "runtime/errors.h"
#include "spo/lora_checkpoint.h"

namespace spo::trainer {
namespace {

uint64_t dpo_mix(uint64_t seed, uint64_t purpose, uint64_t index) {
  uint64_t x = seed ^ (purpose * 0x9E3779B97F4A7C15ull) ^ (index * 0xC2B2AE3D27D4EB4Full);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return x;
}

at::Tensor per_sample_mse(const at::Tensor& a, const at::Tensor& b) { return (a - b).pow(2).flatten(1).mean(1); }

}  // namespace

DpoBatchOutput diffusion_dpo_backward(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond,
                                      const at::Tensor& x_w, const at::Tensor& x_l, const at::Tensor& noise,
                                      const at::Tensor& t, double beta) {
  diffusion::DdimScheduler scheduler(pipe.scheduler_config());
  const int64_t b = x_w.size(0);
  const auto device = pipe.options().device;
  const auto dtype = pipe.options().dtype;
  const auto x0 = at::cat({x_w, x_l}), eps = at::cat({noise, noise}), t2 = at::cat({t, t});
  const auto x_t = scheduler.add_noise(x0, eps, t2);
  const bool v = pipe.scheduler_config().prediction_type == kernels::PredictionType::VPrediction;
  const auto target = (v ? scheduler.get_velocity(x0, eps, t2) : eps).to(device);
  const auto c = cond.select_rows(at::cat({at::arange(b), at::arange(b)}));
  auto& unet = pipe.unet();
  at::Tensor ref;
  {
    at::NoGradGuard no_grad;
    models::LoraDisabledScope reference_model(*unet);
    ref = pipeline::guided_unet_output(unet, x_t.to(device, dtype), t2.to(device), c, 1.0);
  }
  auto pred = pipeline::guided_unet_output(unet, x_t.to(device, dtype), t2.to(device), c, 1.0);
  auto model_mse = per_sample_mse(pred, target), ref_mse = per_sample_mse(ref, target);
  auto model_diff = model_mse.slice(0, 0, b) - model_mse.slice(0, b, 2 * b);
  auto ref_diff = ref_mse.slice(0, 0, b) - ref_mse.slice(0, b, 2 * b);
  auto inside = -0.5 * beta * (model_diff - ref_diff);
  auto loss = -at::log_sigmoid(inside).mean();
  DpoBatchOutput out;
  out.loss = loss.item<double>();
  if (!std::isfinite(out.loss)) throw NumericFault("Diffusion-DPO: the loss is not finite");
  loss.backward();
  out.implicit_accuracy = inside.detach().gt(0).to(at::kFloat).mean().item<double>();
  return out;
}

DiffusionDpoResult train_diffusion_dpo(pipeline::Pipeline& pipe, const std::vector<evaluator::PreferencePair>& all,
                                       const DiffusionDpoOptions& o, const JobContext& ctx) {
  require(o.steps >= 1 && o.batch_size >= 1, "Diffusion-DPO: steps and batchSize must be >= 1");
  require(std::isfinite(o.beta) && o.beta > 0, "Diffusion-DPO: beta must be > 0");
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0 && o.learning_rate < 1,
          "Diffusion-DPO: learningRate must be in (0, 1)");
  require(o.lora_rank >= 1 && o.lora_alpha > 0, "Diffusion-DPO: loraRank >= 1 and loraAlpha > 0");
  evaluator::check_pairs(all, "Diffusion-DPO");
  std::vector<const evaluator::PreferencePair*> pairs;
  for (const auto& p : all)
    if (p.label_0 != 0.5) pairs.push_back(&p);  // ties carry no preference
  require(!pairs.empty(), "Diffusion-DPO: every pair is a tie");
  auto& unet = pipe.unet();
  require(models::find_lora(*unet).layers.empty(), "Diffusion-DPO: the pipeline's UNet already has a LoRA");
  for (auto& p : unet->parameters()) p.set_requires_grad(false);
  models::LoraConfig lc;
  lc.rank = o.lora_rank;
  lc.alpha = o.lora_alpha;
  lc.seed = o.seed;
  auto lora = models::attach_lora(*unet, lc, pipe.options().device);
  const auto params = lora_parameters(lora);
  std::vector<at::Tensor> tensors;
  for (const auto& [name, p] : params) tensors.push_back(p);
  torch::optim::AdamW optimizer(tensors, torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay));

  DiffusionDpoResult result;
  result.pairs_used = static_cast<int64_t>(pairs.size());
  const nlohmann::json identity = {{"kind", "diffusion-dpo"}, {"steps", o.steps}, {"batch_size", o.batch_size},
                                   {"beta", o.beta}, {"learning_rate", o.learning_rate}, {"seed", o.seed},
                                   {"lora_rank", o.lora_rank}, {"pairs", pairs.size()}};
  std::optional<training::CheckpointDir> checkpoints;
  if (!o.checkpoint_dir.empty()) checkpoints.emplace(o.checkpoint_dir);
  if (checkpoints && o.resume) result.start_step = load_checkpoint(*checkpoints, params, optimizer, identity);

  const int64_t n = static_cast<int64_t>(pairs.size());
  const auto first = pairs.front()->image_0;
  const int64_t height = first.size(1), width = first.size(2);
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  auto vae_param = pipe.vae()->parameters().front();
  for (int64_t step = result.start_step; step < o.steps; ++step) {
    ctx.check_cancelled();
    std::vector<at::Tensor> win, lose;
    std::vector<std::string> prompts;
    for (int64_t k = 0; k < o.batch_size; ++k) {
      const int64_t pos = step * o.batch_size + k, epoch = pos / n;
      if (epoch != order_epoch) {
        auto g = at::make_generator<at::CPUGeneratorImpl>(dpo_mix(o.seed, 1, static_cast<uint64_t>(epoch)));
        auto perm = at::randperm(n, g, at::kLong);
        order.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
        order_epoch = epoch;
      }
      const auto* p = pairs[static_cast<size_t>(order[static_cast<size_t>(pos % n)])];
      const bool first_wins = p->label_0 > 0.5;
      win.push_back((first_wins ? p->image_0 : p->image_1).to(at::kFloat));
      lose.push_back((first_wins ? p->image_1 : p->image_0).to(at::kFloat));
      prompts.push_back(p->prompt);
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(dpo_mix(o.seed, 2, static_cast<uint64_t>(step)));
    at::Tensor x_w, x_l, cond_hidden;
    pipeline::Conditioning cond;
    {
      at::NoGradGuard no_grad;
      auto images = at::cat({at::stack(win), at::stack(lose)}).to(vae_param.device(), vae_param.scalar_type());
      auto latents = pipe.vae()->encode_to_latents(images, gen).to(at::kCPU, at::kFloat);
      x_w = latents.slice(0, 0, o.batch_size);
      x_l = latents.slice(0, o.batch_size, 2 * o.batch_size);
      cond = pipe.encode_prompts(prompts, std::nullopt, height, width);
    }
    auto t = at::randint(0, pipe.scheduler_config().num_train_timesteps, {o.batch_size}, gen, at::kLong);
    auto noise = at::randn(x_w.sizes(), gen, at::kFloat);
    optimizer.zero_grad();
    auto out = diffusion_dpo_backward(pipe, cond, x_w, x_l, noise, t, o.beta);
    double grad_norm = 0.0;
    if (o.max_grad_norm > 0) grad_norm = torch::nn::utils::clip_grad_norm_(tensors, o.max_grad_norm);
    optimizer.step();
    result.losses.push_back(out.loss);
    result.implicit_accuracy.push_back(out.implicit_accuracy);
    result.update_evaluations += 4 * o.batch_size;
    ctx.report({"update", step + 1, o.steps, out.loss,
                {{"loss", out.loss}, {"implicitAccuracy", out.implicit_accuracy}, {"gradNorm", grad_norm}}});
    const int64_t done = step + 1;
    if (checkpoints && ((o.checkpoint_every > 0 && done % o.checkpoint_every == 0) || done == o.steps)) {
      save_checkpoint(*checkpoints, done, params, optimizer, identity);
      ctx.report({"checkpoint", done, o.steps, 0.0, {}});
    }
  }
  result.steps_done = o.steps;
  for (auto& p : tensors) p.mutable_grad() = at::Tensor();
  if (!o.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.output_dir, ec);
    if (ec) throw InvalidArgument("cannot create the output directory " + o.output_dir + ": " + ec.message());
    result.lora_file = (std::filesystem::path(o.output_dir) / "pytorch_lora_weights.safetensors").string();
    models::save_lora(result.lora_file, *unet);
  }
  return result;
}

}  // namespace spo::trainer
