#include "spo/spo_update.h"

#include "diffusion/ddim_scheduler.h"
#include "kernels/spo_loss.h"
#include "models/lora.h"
#include "runtime/errors.h"

namespace spo::trainer {
namespace {

struct Batch {
  at::Tensor x_t, x_w, x_l;           // [N, C, h, w]
  at::Tensor x_t_l;                   // the losers' own x_t (unshared pairs only)
  at::Tensor timesteps, alpha_t, alpha_prev;  // [N] int64, float64, float64
  at::Tensor prompt_rows;             // [N] int64
};

Batch gather(const std::vector<const TransitionPair*>& pairs, const diffusion::DdimScheduler& scheduler) {
  Batch b;
  std::vector<at::Tensor> xt, xtl, xw, xl;
  std::vector<int64_t> t, rows;
  std::vector<double> a_t, a_prev;
  for (const auto* p : pairs) {
    xt.push_back(p->x_t_w);
    xtl.push_back(p->x_t_l);
    xw.push_back(p->x_w);
    xl.push_back(p->x_l);
    t.push_back(p->timestep);
    rows.push_back(p->prompt);
    a_t.push_back(scheduler.alpha_cumprod_at(p->timestep));
    a_prev.push_back(scheduler.alpha_cumprod_prev(scheduler.prev_timestep(p->timestep)));
  }
  b.x_t = at::stack(xt);
  b.x_t_l = at::stack(xtl);
  b.x_w = at::stack(xw);
  b.x_l = at::stack(xl);
  b.timesteps = at::tensor(t, at::kLong);
  b.prompt_rows = at::tensor(rows, at::kLong);
  b.alpha_t = at::tensor(a_t, at::kDouble);
  b.alpha_prev = at::tensor(a_prev, at::kDouble);
  return b;
}

// logp(x_prev | x_t) per row from the model output, differentiable (docs/method.md §1):
// mean over elements of -(x_prev - (a x_t + b out))^2 / (2 std^2) + log_norm.
at::Tensor transition_log_prob(const at::Tensor& out, const at::Tensor& x_t, const at::Tensor& x_prev,
                               const at::Tensor& coeffs) {
  auto c = coeffs.to(out.device());
  auto col = [&](int64_t i) { return c.select(1, i).view({-1, 1, 1, 1}); };
  auto mean = col(0) * x_t + col(1) * out;
  auto q = -(x_prev - mean).pow(2) * col(2) + col(3);
  return q.flatten(1).mean(1);
}

}  // namespace

UpdateStats spo_backward(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond,
                         const std::vector<const TransitionPair*>& pairs, const SpoSettings& s, double loss_scale,
                         models::UNet2DConditionModel* reference) {
  require(!pairs.empty(), "SPO update: no pairs");
  diffusion::DdimScheduler scheduler(pipe.scheduler_config());
  scheduler.set_timesteps(s.steps);
  const auto b = gather(pairs, scheduler);
  const int64_t n = b.x_t.size(0);
  const auto device = pipe.options().device;
  const auto dtype = pipe.options().dtype;
  const double w = s.guidance_in_training ? s.guidance_scale : 1.0;
  const auto c = cond.select_rows(b.prompt_rows);
  const auto prediction = pipe.scheduler_config().prediction_type;
  auto& unet = pipe.unet();
  auto x = [&](const at::Tensor& t) { return t.to(device, dtype); };
  const auto t_dev = b.timesteps.to(device);

  bool all_shared = true;
  for (const auto* p : pairs) all_shared = all_shared && p->shared;

  UpdateStats st;
  at::Tensor loss, ratio_w, ratio_l, inside;
  if (s.mode == UpdateMode::Spo && all_shared) {
    // One reference forward (LoRA off, no graph), then one policy forward with gradient.
    at::Tensor ref_out;
    {
      at::NoGradGuard no_grad;
      models::LoraDisabledScope reference_model(*unet);
      ref_out = pipeline::guided_unet_output(unet, x(b.x_t), t_dev, c, w);
    }
    auto policy_out = pipeline::guided_unet_output(unet, x(b.x_t), t_dev, c, w);
    st.policy_evaluations = n;
    st.reference_evaluations = n;
    kernels::SpoLossInputs in;
    in.policy_output = policy_out;
    in.reference_output = ref_out;
    in.sample = b.x_t.to(device);
    in.winner = b.x_w.to(device);
    in.loser = b.x_l.to(device);
    in.alpha_t = b.alpha_t;
    in.alpha_prev = b.alpha_prev;
    in.eta = s.eta;
    in.prediction = prediction;
    in.beta = s.beta;
    in.clip_eps = s.clip_eps;
    auto out = kernels::spo_loss(in);
    loss = out.loss;
    ratio_w = out.ratio_w;
    ratio_l = out.ratio_l;
    inside = at::cat({out.inside_w, out.inside_l});
  } else {
    // Each side forwarded on its own x_t: the general path, and parity mode's
    // call pattern (winner and loser forwards apart, reference = a copied UNet).
    const auto coeffs =
        kernels::spo_pair_coefficient_table(b.alpha_t, b.alpha_prev, s.eta, prediction, device);
    const bool parity = s.mode == UpdateMode::Parity;
    require(!parity || reference != nullptr, "SPO update: parity mode needs the copied reference UNet");
    at::Tensor ref_w, ref_l;
    {
      at::NoGradGuard no_grad;
      if (parity) {
        ref_w = pipeline::guided_unet_output(*reference, x(b.x_t), t_dev, c, w);
        ref_l = pipeline::guided_unet_output(*reference, x(b.x_t_l), t_dev, c, w);
      } else {
        models::LoraDisabledScope reference_model(*unet);
        auto both = pipeline::guided_unet_output(unet, x(at::cat({b.x_t, b.x_t_l})), at::cat({t_dev, t_dev}),
                                                 c.select_rows(at::cat({at::arange(n), at::arange(n)})), w);
        ref_w = both.slice(0, 0, n);
        ref_l = both.slice(0, n, 2 * n);
      }
    }
    at::Tensor pol_w, pol_l;
    if (parity) {
      pol_w = pipeline::guided_unet_output(unet, x(b.x_t), t_dev, c, w);
      pol_l = pipeline::guided_unet_output(unet, x(b.x_t_l), t_dev, c, w);
    } else {
      auto both = pipeline::guided_unet_output(unet, x(at::cat({b.x_t, b.x_t_l})), at::cat({t_dev, t_dev}),
                                               c.select_rows(at::cat({at::arange(n), at::arange(n)})), w);
      pol_w = both.slice(0, 0, n);
      pol_l = both.slice(0, n, 2 * n);
    }
    st.policy_evaluations = 2 * n;
    st.reference_evaluations = 2 * n;
    const auto xt = b.x_t.to(device), xtl = b.x_t_l.to(device), xw = b.x_w.to(device), xl = b.x_l.to(device);
    auto lp_w = transition_log_prob(pol_w, xt, xw, coeffs), lp_l = transition_log_prob(pol_l, xtl, xl, coeffs);
    auto rf_w = transition_log_prob(ref_w, xt, xw, coeffs), rf_l = transition_log_prob(ref_l, xtl, xl, coeffs);
    loss = kernels::dpo_loss_from_logps(lp_w, lp_l, rf_w, rf_l, s.beta, s.clip_eps);
    at::NoGradGuard no_grad;
    ratio_w = (lp_w - rf_w).exp().clamp(1 - s.clip_eps, 1 + s.clip_eps);
    ratio_l = (lp_l - rf_l).exp().clamp(1 - s.clip_eps, 1 + s.clip_eps);
    auto raw = at::cat({(lp_w - rf_w).exp(), (lp_l - rf_l).exp()});
    inside = raw.ge(1 - s.clip_eps).logical_and(raw.le(1 + s.clip_eps));
  }
  st.loss = loss.item<double>();
  if (!std::isfinite(st.loss)) throw NumericFault("SPO update: the loss is not finite (NaN or Inf in the model outputs)");
  (loss * loss_scale).backward();
  st.ratio_w = ratio_w.mean().item<double>();
  st.ratio_l = ratio_l.mean().item<double>();
  st.clipped_share = 1.0 - inside.to(at::kFloat).mean().item<double>();
  return st;
}

}  // namespace spo::trainer
