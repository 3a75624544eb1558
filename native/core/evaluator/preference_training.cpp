#include "evaluator/preference_training.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "diffusion/ddim_scheduler.h"
#include "distributed/collectives.h"
#include "distributed/gradient_average.h"
#include "distributed/group.h"
#include "evaluator/clip_preprocess.h"
#include "evaluator/preference_loss.h"
#include "evaluator/training_checkpoint.h"
#include "evaluator/training_option_checks.h"
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

// The random draws of one denoising batch of b pairs, in the order a single
// process makes them from `gen`: the VAE posterior samples of the 2b images
// (rows 0..b-1 image 0, b..2b-1 image 1), one randn per chunk of `max_batch`
// rows, then one noise per pair. Drawn for a whole global batch and sliced
// per rank, they are what one process with the global batch would draw.
struct DenoiseDraws {
  at::Tensor vae_noise;  // [2b, C, h, w] (CPU, the VAE's dtype); undefined when clean
  at::Tensor noise;      // [b, C, h, w] (CPU, fp32); undefined when clean
  // The draws of pairs [begin, end): image 0 rows, then image 1 rows, then their noise.
  DenoiseDraws slice(int64_t begin, int64_t end) const {
    if (!noise.defined()) return {};
    const int64_t b = noise.size(0);
    return {at::cat({vae_noise.slice(0, begin, end), vae_noise.slice(0, b + begin, b + end)}),
            noise.slice(0, begin, end)};
  }
};

DenoiseDraws draw_denoise(pipeline::Pipeline& pipe, int64_t b, int64_t height, int64_t width, at::Generator& gen,
                          int64_t max_batch, bool clean) {
  if (clean) return {};
  const auto& vae = pipe.vae();
  const int64_t f = vae->downscale_factor(), c = vae->config.latent_channels;
  const auto dtype = vae->parameters().front().scalar_type();
  std::vector<at::Tensor> parts;
  const int64_t chunk = max_batch > 0 ? max_batch : 2 * b;
  for (int64_t s = 0; s < 2 * b; s += chunk)
    parts.push_back(at::randn({std::min(2 * b, s + chunk) - s, c, height / f, width / f}, gen,
                              at::TensorOptions().dtype(dtype)));
  auto noise = at::randn({b, c, height / f, width / f}, gen, at::kFloat);
  return {at::cat(parts), noise};
}

// x0_hat pixels of both images of each pair, ready for CLIP: [2B, 3, S, S]
// (rows 0..B-1 image 0, B..2B-1 image 1). Same t and noise within a pair.
at::Tensor denoised_pixels(PreferenceModel& model, pipeline::Pipeline& pipe, const at::Tensor& images_0,
                           const at::Tensor& images_1, const std::vector<std::string>& prompts, const at::Tensor& t,
                           const DenoiseDraws& draws, double guidance, int64_t max_batch, const JobContext& ctx,
                           bool clean) {
  at::NoGradGuard no_grad;
  if (clean) return clip_preprocess(at::cat({images_0, images_1}).to(at::kFloat), model.image_size());
  const int64_t b = images_0.size(0);
  auto vae_param = pipe.vae()->parameters().front();
  auto images = at::cat({images_0, images_1}).to(vae_param.device(), vae_param.scalar_type());
  std::vector<at::Tensor> latent_parts;
  const int64_t chunk = max_batch > 0 ? max_batch : 2 * b;
  for (int64_t s = 0; s < 2 * b; s += chunk) {
    const int64_t e = std::min(2 * b, s + chunk);
    auto& vae = pipe.vae();
    latent_parts.push_back(
        vae->scale_latents(vae->encode(images.slice(0, s, e)).sample(draws.vae_noise.slice(0, s, e))).to(at::kFloat));
  }
  auto latents = at::cat(latent_parts);
  ctx.check_cancelled();
  auto noise = draws.noise.to(latents.device());
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

// Each pair's own timestep (clean mode): [rows] int64.
at::Tensor own_timesteps(const std::vector<PreferencePair>& pairs, const std::vector<int64_t>& rows) {
  std::vector<int64_t> t;
  for (int64_t r : rows) t.push_back(pairs[static_cast<size_t>(r)].timestep);
  return at::tensor(t, at::kLong);
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
    require(p.timestep >= 0 && p.timestep < kTrainTimesteps, where + ": the timestep must be in [0, 1000)");
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
    if (clean && ti > 0) {  // each pair at its own timestep: one figure
      report.accuracy.push_back(report.accuracy.front());
      continue;
    }
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
      auto t = clean ? own_timesteps(pairs, rows) : at::full({static_cast<int64_t>(rows.size())}, t_value, at::kLong);
      auto images_0 = stack_images(pairs, rows, true);
      const auto draws = draw_denoise(pipe, static_cast<int64_t>(rows.size()), images_0.size(2), images_0.size(3), gen,
                                      max_batch, clean);
      auto pixels = denoised_pixels(model, pipe, images_0, stack_images(pairs, rows, false), prompts, t, draws,
                                    guidance, max_batch, ctx, clean);
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
  check_optimiser_options(o);
  require(std::isfinite(o.guidance_scale) && o.guidance_scale >= 0, "train: guidanceScale must be >= 0");
  require(o.validate_every >= 0 && o.checkpoint_every >= 0, "train: validateEvery / checkpointEvery must be >= 0");
  require(o.max_batch >= 0, "train: maxBatch must be >= 0");
  check_pairs(train, "train");
  if (!validation.empty()) check_pairs(validation, "validation");

  // Data parallel: join the other ranks first (a misconfigured rendezvous fails before any work).
  std::shared_ptr<distributed::Group> group;
  if (o.distributed) {
    const auto rendezvous = distributed::resolve_rendezvous(*o.distributed);
    if (rendezvous.world_size > 1) group = distributed::Group::connect(rendezvous, model.options().device);
  }
  const int64_t rank = group ? group->rank() : 0, world = group ? group->size() : 1;
  // The global batch of every step: batch_size pairs per rank.
  const int64_t global_batch = o.batch_size * world;
  // Rank 0 reports the run's progress; the other ranks report nothing.
  auto report = [&](const ProgressEvent& e) {
    if (rank == 0) ctx.report(e);
  };

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
  result.rank = rank;
  result.world_size = world;
  // The global batch is in the key: W ranks of batch_size B continue (and are
  // continued by) one process with batch_size W x B, the same run.
  const nlohmann::json settings = {{"kind", "preference-model"}, {"seed", o.seed}, {"batch_size", global_batch},
                                   {"steps", o.steps}, {"pairs", train.size()}, {"clean", o.clean}};
  if (!o.checkpoint_dir.empty() && o.resume) {
    if (auto step = load_latest_checkpoint(o.checkpoint_dir, clip, optimizer, params, settings)) {
      result.start_step = *step;
    }
  }
  if (group) {
    // Every rank must resume from the same step, or their collectives would not pair up.
    const auto starts = distributed::all_gather_counts(*group, result.start_step, "resume agreement");
    for (size_t r = 0; r < starts.size(); ++r)
      if (starts[r] != result.start_step)
        throw InvalidArgument("distributed: rank " + std::to_string(rank) + " resumes at step " +
                              std::to_string(result.start_step) + " but rank " + std::to_string(r) + " at step " +
                              std::to_string(starts[r]) +
                              "; every rank must see the same checkpointDir (a shared file system)");
  }

  const int64_t n = static_cast<int64_t>(train.size());
  // Validation runs on rank 0 alone (the others go on to the next step and
  // wait for it in that step's gradient all-reduce).
  auto validate = [&](int64_t step) {
    if (validation.empty() || rank != 0) return;
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
  // Rank 0 alone writes checkpoints (every rank holds the same weights).
  auto checkpoint = [&](int64_t step) {
    if (o.checkpoint_dir.empty() || rank != 0) return;
    last_saved = step;
    result.checkpoints.push_back(save_training_checkpoint(o.checkpoint_dir, model, optimizer, params, step, settings));
    report({"checkpoint", step, o.steps, 0.0, {}});
  };

  // Steps whose update is in the weights: an abort anywhere (between steps or
  // inside one) leaves a checkpoint of exactly those to resume from.
  int64_t completed = result.start_step;
  try {
    std::vector<int64_t> order;
    int64_t order_epoch = -1;
    for (int64_t step = result.start_step; step < o.steps; ++step) {
      ctx.check_cancelled();
      // Global batch rows: positions step*G .. step*G+G-1 of the endless sequence
      // of epoch permutations (G = batch_size x world size).
      std::vector<int64_t> rows;
      for (int64_t k = 0; k < global_batch; ++k) {
        const int64_t pos = step * global_batch + k, epoch = pos / n;
        if (epoch != order_epoch) {
          auto gen = generator(o.seed, kEpochOrder, static_cast<uint64_t>(epoch));
          auto perm = at::randperm(n, gen, at::kLong);
          order.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
          order_epoch = epoch;
        }
        rows.push_back(order[pos % n]);
      }
      // Every draw of the global batch (t, VAE samples, noise), as one process makes them.
      auto gen = generator(o.seed, kStep, static_cast<uint64_t>(step));
      auto t_all = o.clean ? own_timesteps(train, rows) : at::randint(0, kTrainTimesteps, {global_batch}, gen, at::kLong);
      const auto& first = train[rows[0]].image_0;
      const auto draws_all = draw_denoise(pipe, global_batch, first.size(1), first.size(2), gen, o.max_batch, o.clean);
      // This rank's contiguous slice of the global batch.
      const int64_t lo = rank * o.batch_size, hi = lo + o.batch_size;
      std::vector<int64_t> mine(rows.begin() + lo, rows.begin() + hi);
      std::vector<std::string> prompts;
      std::vector<float> labels, counts;
      double weight_mine = 0.0, weight_all = 0.0;  // sums of the per-prompt weights 1 / count
      for (int64_t k = 0; k < global_batch; ++k) {
        const double w = 1.0 / static_cast<double>(per_prompt[train[rows[k]].prompt]);
        weight_all += w;
        if (k >= lo && k < hi) weight_mine += w;
      }
      for (int64_t r : mine) {
        prompts.push_back(train[r].prompt);
        labels.push_back(static_cast<float>(train[r].label_0));
        counts.push_back(static_cast<float>(per_prompt[train[r].prompt]));
      }
      auto t = t_all.slice(0, lo, hi);
      auto pixels = denoised_pixels(model, pipe, stack_images(train, mine, true), stack_images(train, mine, false),
                                    prompts, t, draws_all.slice(lo, hi), o.guidance_scale, o.max_batch, ctx, o.clean);
      clip->train();
      optimizer.zero_grad();
      auto [s0, s1] = pair_scores(model, pixels, prompts, t);
      auto loss = preference_loss(s0, s1, at::tensor(labels), at::tensor(counts));
      // The slice's share of the global batch's loss: its weighted sum over the
      // global weights; x world so that the ranks' mean gradient is the global one.
      if (group) loss = loss * static_cast<float>(weight_mine / weight_all * static_cast<double>(world));
      double loss_value = loss.item<double>();
      const bool local_fault = !std::isfinite(loss_value);
      if (!local_fault) loss.backward();
      const bool fault = group ? distributed::average_gradients(*group, tensors, local_fault) : local_fault;
      if (fault)
        throw NumericFault("train: the loss is not finite at step " + std::to_string(step) +
                           (group ? " on some rank" : "") + " (the last checkpoint is left as it was)");
      if (group) {
        auto total = at::tensor({loss_value / static_cast<double>(world)}, at::kDouble);
        distributed::all_reduce_sum_(*group, total, "loss");
        loss_value = total.item<double>();
      }
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
      report({"train", step + 1, o.steps, loss_value, {{"loss", loss_value}, {"lr", lr}, {"gradNorm", grad_norm}}});

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
