#include "evaluator/preference_training.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "diffusion/ddim_scheduler.h"
#include "evaluator/clip_preprocess.h"
#include "evaluator/preference_loss.h"
#include "evaluator/training_checkpoint.h"
#include "runtime/errors.h"

namespace spo::evaluator {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kTrainTimesteps = 1000;

// Distinct, well-mixed generator seeds for (seed, purpose, index).
uint64_t mix_seed(uint64_t seed, uint64_t purpose, uint64_t index) {
  uint64_t x = seed ^ (purpose * 0x9E3779B97F4A7C15ull) ^ (index * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

at::Generator generator(uint64_t seed, uint64_t purpose, uint64_t index) {
  return at::make_generator<at::CPUGeneratorImpl>(mix_seed(seed, purpose, index));
}

enum Purpose : uint64_t { kEpochOrder = 1, kStep = 2, kValidation = 3 };

// x0_hat pixels of both images of each pair, ready for CLIP: [2B, 3, S, S]
// (rows 0..B-1 image 0, B..2B-1 image 1). Same t and noise within a pair.
at::Tensor denoised_pixels(PreferenceModel& model, pipeline::Pipeline& pipe, const at::Tensor& images_0,
                           const at::Tensor& images_1, const std::vector<std::string>& prompts, const at::Tensor& t,
                           at::Generator& gen, double guidance, int64_t max_batch, const JobContext& ctx,
                           bool clean) {
  at::NoGradGuard no_grad;
  if (clean) return clip_preprocess(at::cat({images_0, images_1}).to(at::kFloat), model.image_size());
  const int64_t b = images_0.size(0);
  auto vae_param = pipe.vae()->parameters().front();
  auto images = at::cat({images_0, images_1}).to(vae_param.device(), vae_param.scalar_type());
  std::vector<at::Tensor> latent_parts;
  const int64_t chunk = max_batch > 0 ? max_batch : 2 * b;
  for (int64_t s = 0; s < 2 * b; s += chunk)
    latent_parts.push_back(pipe.vae()->encode_to_latents(images.slice(0, s, std::min(2 * b, s + chunk)), gen)
                               .to(at::kFloat));
  auto latents = at::cat(latent_parts);
  ctx.check_cancelled();
  auto noise = at::randn({b, latents.size(1), latents.size(2), latents.size(3)}, gen, at::kFloat)
                   .to(latents.device());
  const auto t2 = at::cat({t, t});
  diffusion::DdimScheduler scheduler(pipe.scheduler_config());
  scheduler.set_timesteps(20);  // fixes prev_t only; x0 does not depend on it
  diffusion::StepRequest step;
  step.sample = scheduler.add_noise(latents, at::cat({noise, noise}), t2).to(pipe.options().device);
  step.timesteps = t2;
  std::vector<std::string> prompts2(prompts);
  prompts2.insert(prompts2.end(), prompts.begin(), prompts.end());
  const int64_t f = pipe.vae_scale_factor();
  auto cond = pipe.encode_prompts(prompts2, std::nullopt, latents.size(2) * f, latents.size(3) * f);
  step.model_output = pipe.guided_model_output(step.sample, t2, cond, guidance, max_batch);
  step.eta = 0.0;
  auto x0 = scheduler.step(step).pred_original;
  ctx.check_cancelled();
  std::vector<at::Tensor> pixel_parts;
  for (int64_t s = 0; s < 2 * b; s += chunk)
    pixel_parts.push_back(clip_preprocess(pipe.decode(x0.slice(0, s, std::min(2 * b, s + chunk))), model.image_size()));
  return at::cat(pixel_parts);
}

at::Tensor stack_images(const std::vector<PreferencePair>& pairs, const std::vector<int64_t>& rows, bool first) {
  std::vector<at::Tensor> images;
  for (int64_t r : rows) images.push_back((first ? pairs[r].image_0 : pairs[r].image_1).to(at::kFloat));
  return at::stack(images);
}

// Scores of both images of each pair at t: {s0, s1}, with gradients when enabled.
std::pair<at::Tensor, at::Tensor> pair_scores(PreferenceModel& model, const at::Tensor& pixels,
                                              const std::vector<std::string>& prompts, const at::Tensor& t) {
  auto& clip = model.model();
  const auto device = model.options().device;
  auto image = clip->image_features(pixels.to(device, model.options().dtype), at::cat({t, t}).to(device));
  auto text = clip->text_features(model.tokenize(prompts).to(device));
  const int64_t b = t.size(0);
  return {clip->scores(image.slice(0, 0, b), text), clip->scores(image.slice(0, b, 2 * b), text)};
}

}  // namespace

double warmup_linear_lr(double base, int64_t step, int64_t warmup, int64_t total) {
  if (warmup > 0 && step < warmup) return base * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (total <= warmup) return base;
  return base * std::max(0.0, static_cast<double>(total - step) / static_cast<double>(total - warmup));
}

void check_pairs(const std::vector<PreferencePair>& pairs, const std::string& what) {
  require(!pairs.empty(), what + ": no pairs given");
  std::vector<int64_t> size;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& p = pairs[i];
    const std::string where = what + " pair " + std::to_string(i);
    require(p.label_0 == 0.0 || p.label_0 == 0.5 || p.label_0 == 1.0, where + ": the label must be 0, 1 or a tie");
    for (const at::Tensor* img : {&p.image_0, &p.image_1}) {
      require(img->defined() && img->dim() == 3 && img->size(0) == 3,
              where + ": images must be [3, height, width], got " +
                  (img->defined() ? c10::str(img->sizes()) : std::string("undefined")));
      require(at::isFloatingType(img->scalar_type()) && at::isfinite(*img).all().item<bool>(),
              where + ": images must hold finite floating-point values");
      if (size.empty()) size = img->sizes().vec();
      require(img->sizes().vec() == size, where + ": image size " + c10::str(img->sizes()) +
                                              " differs from the first pair's " + c10::str(at::IntArrayRef(size)) +
                                              " (all images of a set must have one size)");
    }
  }
}

ValidationReport validate_preference_model(PreferenceModel& model, pipeline::Pipeline& pipe,
                                           const std::vector<PreferencePair>& pairs,
                                           const std::vector<int64_t>& timesteps, double guidance, uint64_t seed,
                                           int64_t max_batch, const JobContext& ctx, bool clean) {
  check_pairs(pairs, "validation");
  ValidationReport report;
  report.timesteps = timesteps;
  const int64_t n = static_cast<int64_t>(pairs.size());
  const int64_t chunk = max_batch > 0 ? std::max<int64_t>(1, max_batch / 2) : 16;
  for (size_t ti = 0; ti < timesteps.size(); ++ti) {
    const int64_t t_value = timesteps[ti];
    require(t_value >= 0 && t_value < kTrainTimesteps, "validation timesteps must be in [0, 1000)");
    int64_t right = 0, counted = 0;
    for (int64_t s = 0; s < n; s += chunk) {
      std::vector<int64_t> rows;
      std::vector<std::string> prompts;
      for (int64_t r = s; r < std::min(n, s + chunk); ++r) {
        rows.push_back(r);
        prompts.push_back(pairs[r].prompt);
      }
      // The same noise for every t, so accuracies across t differ only by t.
      auto gen = generator(seed, kValidation, static_cast<uint64_t>(s));
      auto t = at::full({static_cast<int64_t>(rows.size())}, clean ? 0 : t_value, at::kLong);
      auto pixels = denoised_pixels(model, pipe, stack_images(pairs, rows, true), stack_images(pairs, rows, false),
                                    prompts, t, gen, guidance, max_batch, ctx, clean);
      at::NoGradGuard no_grad;
      auto [s0, s1] = pair_scores(model, pixels, prompts, t);
      auto a = s0.to(at::kCPU), b = s1.to(at::kCPU);
      for (size_t i = 0; i < rows.size(); ++i) {
        const double label = pairs[rows[i]].label_0;
        if (label == 0.5) continue;
        ++counted;
        if ((a[i].item<float>() > b[i].item<float>()) == (label > 0.5)) ++right;
      }
      ctx.check_cancelled();
    }
    report.accuracy.push_back(counted ? static_cast<double>(right) / static_cast<double>(counted) : NAN);
    report.pairs = counted;
  }
  return report;
}

PreferenceTrainingResult train_preference_model(PreferenceModel& model, pipeline::Pipeline& pipe,
                                                const std::vector<PreferencePair>& train,
                                                const std::vector<PreferencePair>& validation,
                                                const PreferenceTrainingOptions& o, const JobContext& ctx) {
  require(o.steps >= 1 && o.steps <= 100'000'000, "train: steps must be in [1, 1e8]");
  require(o.batch_size >= 1 && o.batch_size <= 4096, "train: batchSize must be in [1, 4096]");
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0 && o.learning_rate < 1,
          "train: learningRate must be in (0, 1)");
  require(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "train: weightDecay must be >= 0");
  require(o.warmup_steps >= 0, "train: warmupSteps must be >= 0");
  require(std::isfinite(o.max_grad_norm), "train: maxGradNorm must be finite");
  require(std::isfinite(o.guidance_scale) && o.guidance_scale >= 0, "train: guidanceScale must be >= 0");
  require(o.validate_every >= 0 && o.checkpoint_every >= 0, "train: validateEvery / checkpointEvery must be >= 0");
  require(o.max_batch >= 0, "train: maxBatch must be >= 0");
  check_pairs(train, "train");
  if (!validation.empty()) check_pairs(validation, "validation");

  // Per-prompt weights: 1 / (pairs of the prompt in the training set).
  std::map<std::string, int64_t> per_prompt;
  for (const auto& p : train) ++per_prompt[p.prompt];

  auto& clip = model.model();
  training::NamedParameters params;
  std::vector<at::Tensor> tensors;
  for (const auto& p : clip->named_parameters(true)) {
    p.value().set_requires_grad(true);
    params.emplace_back(p.key(), p.value());
    tensors.push_back(p.value());
  }
  torch::optim::AdamW optimizer(tensors, torch::optim::AdamWOptions(o.learning_rate)
                                             .betas({o.beta1, o.beta2})
                                             .eps(o.adam_eps)
                                             .weight_decay(o.weight_decay));

  PreferenceTrainingResult result;
  const nlohmann::json settings = {{"kind", "preference-model"}, {"seed", o.seed}, {"batch_size", o.batch_size},
                                   {"steps", o.steps}, {"pairs", train.size()}, {"clean", o.clean}};
  if (!o.checkpoint_dir.empty() && o.resume) {
    if (auto step = load_latest_checkpoint(o.checkpoint_dir, clip, optimizer, params, settings)) {
      result.start_step = *step;
    }
  }

  const int64_t n = static_cast<int64_t>(train.size());
  auto validate = [&](int64_t step) {
    if (validation.empty()) return;
    clip->eval();
    auto report = validate_preference_model(model, pipe, validation, o.validation_timesteps, o.guidance_scale,
                                            o.seed, o.max_batch, ctx, o.clean);
    report.step = step;
    ProgressEvent ev{"validate", step, o.steps, 0.0, {}};
    for (size_t i = 0; i < report.timesteps.size(); ++i)
      ev.metrics.emplace_back("accuracy@" + std::to_string(report.timesteps[i]), report.accuracy[i]);
    ev.value = report.accuracy.empty() ? 0.0 : report.accuracy.front();
    ctx.report(ev);
    result.validations.push_back(std::move(report));
  };
  int64_t last_saved = -1;
  auto checkpoint = [&](int64_t step) {
    if (o.checkpoint_dir.empty()) return;
    last_saved = step;
    result.checkpoints.push_back(save_training_checkpoint(o.checkpoint_dir, model, optimizer, params, step, settings));
    ctx.report({"checkpoint", step, o.steps, 0.0, {}});
  };

  // Steps whose update is in the weights: an abort anywhere (between steps or
  // inside one) leaves a checkpoint of exactly those to resume from.
  int64_t completed = result.start_step;
  try {
    std::vector<int64_t> order;
    int64_t order_epoch = -1;
    for (int64_t step = result.start_step; step < o.steps; ++step) {
      ctx.check_cancelled();
      // Batch rows: positions step*B .. step*B+B-1 of the endless sequence of epoch permutations.
      std::vector<int64_t> rows;
      std::vector<std::string> prompts;
      std::vector<float> labels, counts;
      for (int64_t k = 0; k < o.batch_size; ++k) {
        const int64_t pos = step * o.batch_size + k, epoch = pos / n;
        if (epoch != order_epoch) {
          auto gen = generator(o.seed, kEpochOrder, static_cast<uint64_t>(epoch));
          auto perm = at::randperm(n, gen, at::kLong);
          order.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
          order_epoch = epoch;
        }
        const int64_t r = order[pos % n];
        rows.push_back(r);
        prompts.push_back(train[r].prompt);
        labels.push_back(static_cast<float>(train[r].label_0));
        counts.push_back(static_cast<float>(per_prompt[train[r].prompt]));
      }
      auto gen = generator(o.seed, kStep, static_cast<uint64_t>(step));
      auto t = o.clean ? at::zeros({o.batch_size}, at::kLong)
                       : at::randint(0, kTrainTimesteps, {o.batch_size}, gen, at::kLong);
      auto pixels = denoised_pixels(model, pipe, stack_images(train, rows, true), stack_images(train, rows, false),
                                    prompts, t, gen, o.guidance_scale, o.max_batch, ctx, o.clean);
      clip->train();
      optimizer.zero_grad();
      auto [s0, s1] = pair_scores(model, pixels, prompts, t);
      auto loss = preference_loss(s0, s1, at::tensor(labels), at::tensor(counts));
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value))
        throw NumericFault("train: the loss is not finite at step " + std::to_string(step) +
                                             " (the last checkpoint is left as it was)");
      loss.backward();
      double grad_norm = 0.0;
      if (o.max_grad_norm > 0) {
        grad_norm = torch::nn::utils::clip_grad_norm_(tensors, o.max_grad_norm);
      } else {
        for (const auto& p : tensors)
          if (p.grad().defined()) grad_norm += p.grad().to(at::kDouble).pow(2).sum().item<double>();
        grad_norm = std::sqrt(grad_norm);
      }
      const double lr = warmup_linear_lr(o.learning_rate, step, o.warmup_steps, o.steps);
      for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
      optimizer.step();
      completed = step + 1;
      result.losses.push_back(loss_value);
      ctx.report({"train", step + 1, o.steps, loss_value, {{"loss", loss_value}, {"lr", lr}, {"gradNorm", grad_norm}}});

      const int64_t done = step + 1;
      const bool last = done == o.steps;
      if ((o.validate_every > 0 && done % o.validate_every == 0) || last) validate(done);
      if ((o.checkpoint_every > 0 && done % o.checkpoint_every == 0) || last) checkpoint(done);
    }
  } catch (const Cancelled&) {
    if (completed > result.start_step && last_saved != completed) checkpoint(completed);
    throw;
  }
  clip->eval();
  for (auto& p : tensors) p.mutable_grad() = at::Tensor();
  result.steps_done = o.steps;
  return result;
}

}  // namespace spo::evaluator
