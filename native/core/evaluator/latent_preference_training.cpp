#include "evaluator/latent_preference_training.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <map>

#include "diffusion/ddim_scheduler.h"
#include "evaluator/preference_loss.h"
#include "evaluator/training_option_checks.h"
#include "runtime/errors.h"

namespace spo::evaluator {
namespace {

constexpr int64_t kLatentTrainTimesteps = 1000;
enum LatentPurpose : uint64_t { kLatentEpochOrder = 11, kLatentStep = 12, kLatentValidation = 13 };

// A well-mixed generator seed per (seed, purpose, index) (splitmix64 finaliser).
at::Generator latent_generator(uint64_t seed, uint64_t purpose, uint64_t index) {
  uint64_t x = seed + purpose * 0x9E3779B97F4A7C15ull + index * 0xD1B54A32D192ED03ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return at::make_generator<at::CPUGeneratorImpl>(x ^ (x >> 31));
}

// The VAE posterior of every pair image: rows 0..n-1 image 0, n..2n-1 image 1 (fp32 CPU).
struct Posteriors {
  at::Tensor mean, std;
};

Posteriors encode_pairs(pipeline::Pipeline& pipe, const std::vector<PreferencePair>& pairs, int64_t max_batch,
                        const JobContext& ctx) {
  at::NoGradGuard no_grad;
  auto& vae = pipe.vae();
  const auto param = vae->parameters().front();
  std::vector<at::Tensor> images;
  for (const auto& p : pairs) images.push_back(p.image_0);
  for (const auto& p : pairs) images.push_back(p.image_1);
  const int64_t n = static_cast<int64_t>(images.size());
  const int64_t chunk = max_batch > 0 ? max_batch : 64;
  std::vector<at::Tensor> means, stds;
  for (int64_t s = 0; s < n; s += chunk) {
    std::vector<at::Tensor> part(images.begin() + s, images.begin() + std::min(n, s + chunk));
    auto dist = vae->encode(at::stack(part).to(param.device(), param.scalar_type()));
    means.push_back(dist.mean.to(at::kCPU, at::kFloat));
    stds.push_back(dist.std().to(at::kCPU, at::kFloat));
    ctx.check_cancelled();
  }
  return {at::cat(means), at::cat(stds)};
}

// x_t of both images of the pairs `rows` (rows of image 0, then of image 1), one t and one noise per pair.
at::Tensor noised_latents(pipeline::Pipeline& pipe, const diffusion::DdimScheduler& scheduler, const Posteriors& post,
                          int64_t n, const std::vector<int64_t>& rows, const at::Tensor& t, at::Generator& gen) {
  std::vector<int64_t> index(rows);
  for (int64_t r : rows) index.push_back(n + r);
  const auto idx = at::tensor(index, at::kLong);
  const auto mean = post.mean.index_select(0, idx), std = post.std.index_select(0, idx);
  const auto z = mean + std * at::randn(mean.sizes(), gen, at::kFloat);  // a fresh posterior sample
  const auto latents = pipe.vae()->scale_latents(z.to(pipe.vae()->parameters().front().device())).to(at::kCPU, at::kFloat);
  const int64_t b = static_cast<int64_t>(rows.size());
  const auto noise = at::randn({b, latents.size(1), latents.size(2), latents.size(3)}, gen, at::kFloat);
  return scheduler.add_noise(latents, at::cat({noise, noise}), at::cat({t, t}));
}

void check_latent_size(const LatentPreferenceModel& model, const Posteriors& post) {
  require(post.mean.size(1) == model.config().latent_channels,
          "latent evaluator: the VAE makes " + std::to_string(post.mean.size(1)) + " latent channels but the model takes " +
              std::to_string(model.config().latent_channels));
}

}  // namespace

ValidationReport validate_latent_preference_model(LatentPreferenceModel& model, pipeline::Pipeline& pipe,
                                                  const std::vector<PreferencePair>& pairs,
                                                  const std::vector<int64_t>& timesteps, uint64_t seed,
                                                  int64_t max_batch, const JobContext& ctx) {
  check_pairs(pairs, "validation");
  for (int64_t t : timesteps) require(t >= 0 && t < kLatentTrainTimesteps, "validation timesteps must be in [0, 1000)");
  const auto post = encode_pairs(pipe, pairs, max_batch, ctx);
  check_latent_size(model, post);
  diffusion::DdimScheduler scheduler(pipe.scheduler_config());
  const int64_t n = static_cast<int64_t>(pairs.size());
  std::vector<std::string> prompts;
  for (const auto& p : pairs) prompts.push_back(p.prompt);
  at::NoGradGuard no_grad;
  const auto text = model.text_features(prompts);
  ValidationReport report;
  report.timesteps = timesteps;
  const int64_t chunk = max_batch > 0 ? std::max<int64_t>(1, max_batch / 2) : 64;
  for (int64_t t_value : timesteps) {
    int64_t right = 0, counted = 0;
    for (int64_t s = 0; s < n; s += chunk) {
      std::vector<int64_t> rows;
      for (int64_t r = s; r < std::min(n, s + chunk); ++r) rows.push_back(r);
      const int64_t b = static_cast<int64_t>(rows.size());
      auto gen = latent_generator(seed, kLatentValidation, static_cast<uint64_t>(s));  // the same noise at every t
      const auto t = at::full({b}, t_value, at::kLong);
      const auto x_t = noised_latents(pipe, scheduler, post, n, rows, t, gen);
      const auto text_rows = text.slice(0, s, s + b);
      const auto scores = model.score_latents(x_t, at::cat({t, t}), at::cat({text_rows, text_rows})).to(at::kCPU);
      for (int64_t i = 0; i < b; ++i) {
        const double label = pairs[static_cast<size_t>(rows[i])].label_0;
        if (label == 0.5) continue;
        ++counted;
        if ((scores[i].item<float>() > scores[b + i].item<float>()) == (label > 0.5)) ++right;
      }
      ctx.check_cancelled();
    }
    report.accuracy.push_back(counted ? static_cast<double>(right) / static_cast<double>(counted) : NAN);
    report.pairs = counted;
  }
  return report;
}

LatentTrainingResult train_latent_preference_model(LatentPreferenceModel& model, pipeline::Pipeline& pipe,
                                                   const std::vector<PreferencePair>& train,
                                                   const std::vector<PreferencePair>& validation,
                                                   const LatentTrainingOptions& o, const JobContext& ctx) {
  check_optimiser_options(o);
  require(o.validate_every >= 0, "train: validateEvery must be >= 0");
  require(o.max_batch >= 0, "train: maxBatch must be >= 0");
  check_pairs(train, "train");
  if (!validation.empty()) check_pairs(validation, "validation");

  const auto post = encode_pairs(pipe, train, o.max_batch, ctx);
  check_latent_size(model, post);
  diffusion::DdimScheduler scheduler(pipe.scheduler_config());
  const int64_t n = static_cast<int64_t>(train.size());
  std::map<std::string, int64_t> per_prompt;
  for (const auto& p : train) ++per_prompt[p.prompt];
  std::vector<std::string> all_prompts;
  for (const auto& p : train) all_prompts.push_back(p.prompt);
  const auto text = model.text_features(all_prompts);  // frozen: once for the whole run

  auto& net = model.net();
  std::vector<at::Tensor> params;
  for (auto& p : net->parameters()) {
    p.set_requires_grad(true);
    params.push_back(p);
  }
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(o.learning_rate)
                                            .betas({o.beta1, o.beta2})
                                            .eps(o.adam_eps)
                                            .weight_decay(o.weight_decay));
  LatentTrainingResult result;
  auto validate = [&](int64_t step) {
    if (validation.empty()) return;
    net->eval();
    auto report = validate_latent_preference_model(model, pipe, validation, o.validation_timesteps, o.seed,
                                                   o.max_batch, ctx);
    report.step = step;
    ProgressEvent ev{"validate", step, o.steps, report.accuracy.empty() ? 0.0 : report.accuracy.front(), {}};
    for (size_t i = 0; i < report.timesteps.size(); ++i)
      ev.metrics.emplace_back("accuracy@" + std::to_string(report.timesteps[i]), report.accuracy[i]);
    ctx.report(ev);
    result.validations.push_back(std::move(report));
  };

  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  for (int64_t step = 0; step < o.steps; ++step) {
    ctx.check_cancelled();
    std::vector<int64_t> rows;
    for (int64_t k = 0; k < o.batch_size; ++k) {
      const int64_t pos = step * o.batch_size + k, epoch = pos / n;
      if (epoch != order_epoch) {
        auto gen = latent_generator(o.seed, kLatentEpochOrder, static_cast<uint64_t>(epoch));
        auto perm = at::randperm(n, gen, at::kLong);
        order.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
        order_epoch = epoch;
      }
      rows.push_back(order[static_cast<size_t>(pos % n)]);
    }
    auto gen = latent_generator(o.seed, kLatentStep, static_cast<uint64_t>(step));
    const auto t = at::randint(0, kLatentTrainTimesteps, {o.batch_size}, gen, at::kLong);
    at::Tensor x_t;
    {
      at::NoGradGuard no_grad;
      x_t = noised_latents(pipe, scheduler, post, n, rows, t, gen);
    }
    std::vector<float> labels, counts;
    for (int64_t r : rows) {
      labels.push_back(static_cast<float>(train[static_cast<size_t>(r)].label_0));
      counts.push_back(static_cast<float>(per_prompt[train[static_cast<size_t>(r)].prompt]));
    }
    const auto text_rows = text.index_select(0, at::tensor(rows, at::kLong).to(text.device()));
    net->train();
    optimizer.zero_grad();
    const auto scores = model.score_latents(x_t, at::cat({t, t}), at::cat({text_rows, text_rows}));
    const int64_t b = o.batch_size;
    auto loss = preference_loss(scores.slice(0, 0, b), scores.slice(0, b, 2 * b), at::tensor(labels), at::tensor(counts));
    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value))
      throw NumericFault("train: the latent evaluator's loss is not finite at step " + std::to_string(step));
    loss.backward();
    double grad_norm = 0.0;
    if (o.max_grad_norm > 0) {
      grad_norm = torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
    } else {
      for (const auto& p : params)
        if (p.grad().defined()) grad_norm += p.grad().to(at::kDouble).pow(2).sum().item<double>();
      grad_norm = std::sqrt(grad_norm);
    }
    const double lr = warmup_linear_lr(o.learning_rate, step, o.warmup_steps, o.steps);
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
    optimizer.step();
    result.losses.push_back(loss_value);
    ctx.report({"train", step + 1, o.steps, loss_value, {{"loss", loss_value}, {"lr", lr}, {"gradNorm", grad_norm}}});
    const int64_t done = step + 1;
    if ((o.validate_every > 0 && done % o.validate_every == 0) || done == o.steps) validate(done);
  }
  net->eval();
  for (auto& p : params) p.mutable_grad() = at::Tensor();
  result.steps_done = o.steps;
  return result;
}

}  // namespace spo::evaluator
