#include "pretraining/stage_loop.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "runtime/errors.h"

namespace spo::pretraining {

double warmup_cosine_lr(double base, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return base * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double span = std::max<int64_t>(1, total - warmup);
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  return base * (0.1 + 0.9 * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

StageResult run_stage(const std::string& stage, const std::vector<at::Tensor>& params, const StageOptions& o,
                      const std::function<at::Tensor(int64_t)>& step_loss, const JobContext& ctx) {
  require(o.steps > 0 && o.batch_size > 0, stage + ": steps and batch size must be positive");
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0, stage + ": the learning rate must be positive");
  const auto started = std::chrono::steady_clock::now();
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay));
  StageResult result;
  for (int64_t step = 0; step < o.steps; ++step) {
    ctx.check_cancelled();
    const double lr = warmup_cosine_lr(o.learning_rate, step, o.warmup_steps, o.steps);
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
    optimizer.zero_grad();
    auto loss = step_loss(step);
    const double value = loss.item<double>();
    if (!std::isfinite(value)) throw NumericFault(stage + ": the loss is not finite at step " + std::to_string(step));
    loss.backward();
    const double norm = o.max_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm) : 0.0;
    optimizer.step();
    result.losses.push_back(value);
    ctx.report({stage, step + 1, o.steps, value, {{"loss", value}, {"lr", lr}, {"gradNorm", norm}}});
  }
  for (auto p : params) p.mutable_grad() = at::Tensor();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace spo::pretraining
