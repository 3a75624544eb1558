#include "spo/spo_update.h"

#include <cmath>
#include <optional>

#include "diffusion/ddim_scheduler.h"
#include "kernels/spo_loss/spo_loss.h"
#include "models/lora.h"
#include "runtime/errors.h"

namespace spo::trainer {
namespace {

using kernels::PredictionType;

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

// The clamped ratios' statistics of one group of pairs.
struct PartStats {
  at::Tensor ratio_w, ratio_l, inside;  // [n], [n], [2n] bool
};

// Shared pairs: one policy and one reference output per pair serve both sides;
// the loss (mean over the pairs) runs as the fused kernel.
at::Tensor shared_loss(const at::Tensor& policy_out, const at::Tensor& ref_out, const Batch& b, const SpoSettings& s,
                       PredictionType prediction, at::Device device, PartStats& st) {
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
  st = {out.ratio_w, out.ratio_l, at::cat({out.inside_w, out.inside_l})};
  return out.loss;
}

// Pairs whose sides have their own x_t: each side's policy and reference
// output (winners' rows, then losers'); the loss is the mean over the pairs.
at::Tensor unshared_loss(const at::Tensor& pol_w, const at::Tensor& pol_l, const at::Tensor& ref_w,
                         const at::Tensor& ref_l, const Batch& b, const SpoSettings& s, PredictionType prediction,
                         at::Device device, PartStats& st) {
  const auto coeffs = kernels::spo_pair_coefficient_table(b.alpha_t, b.alpha_prev, s.eta, prediction, device);
  const auto xt = b.x_t.to(device), xtl = b.x_t_l.to(device), xw = b.x_w.to(device), xl = b.x_l.to(device);
  auto lp_w = transition_log_prob(pol_w, xt, xw, coeffs), lp_l = transition_log_prob(pol_l, xtl, xl, coeffs);
  auto rf_w = transition_log_prob(ref_w, xt, xw, coeffs), rf_l = transition_log_prob(ref_l, xtl, xl, coeffs);
  auto loss = kernels::dpo_loss_from_logps(lp_w, lp_l, rf_w, rf_l, s.beta, s.clip_eps);
  at::NoGradGuard no_grad;
  const auto raw_w = (lp_w - rf_w).exp(), raw_l = (lp_l - rf_l).exp();
  const auto raw = at::cat({raw_w, raw_l});
  st = {raw_w.clamp(1 - s.clip_eps, 1 + s.clip_eps), raw_l.clamp(1 - s.clip_eps, 1 + s.clip_eps),
        raw.ge(1 - s.clip_eps).logical_and(raw.le(1 + s.clip_eps))};
  return loss;
}

}  // namespace

UpdateStats spo_backward(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond,
                         const std::vector<const TransitionPair*>& pairs, const SpoSettings& s, double loss_scale,
                         models::UNet2DConditionModel* reference) {
  require(!pairs.empty(), "SPO update: no pairs");
  diffusion::DdimScheduler scheduler(pipe.scheduler_config());
  scheduler.set_timesteps(s.steps);
  const auto device = pipe.options().device;
  const auto dtype = pipe.options().dtype;
  const double w = s.guidance_in_training ? s.guidance_scale : 1.0;
  const auto prediction = pipe.scheduler_config().prediction_type;
  auto& unet = pipe.unet();
  auto x = [&](const at::Tensor& t) { return t.to(device, dtype); };

  UpdateStats st;
  at::Tensor loss;
  PartStats parts[2];
  int used = 0;
  if (s.mode == UpdateMode::Spo) {
    // The shared pairs' x_t once and the unshared pairs' two x_t, in ONE guided
    // reference forward (LoRA off, no graph) and ONE policy forward with
    // gradient: a shared pair costs one latent per side, an unshared pair two,
    // whatever else shares its minibatch (docs/method.md §3).
    std::vector<const TransitionPair*> shared, unshared;
    for (const auto* p : pairs) (p->shared ? shared : unshared).push_back(p);
    const int64_t ns = static_cast<int64_t>(shared.size()), nu = static_cast<int64_t>(unshared.size());
    std::optional<Batch> bs, bu;
    std::vector<at::Tensor> xs, ts, rows;
    if (ns > 0) {
      bs = gather(shared, scheduler);
      xs.push_back(bs->x_t);
      ts.push_back(bs->timesteps);
      rows.push_back(bs->prompt_rows);
    }
    if (nu > 0) {
      bu = gather(unshared, scheduler);
      xs.insert(xs.end(), {bu->x_t, bu->x_t_l});
      ts.insert(ts.end(), {bu->timesteps, bu->timesteps});
      rows.insert(rows.end(), {bu->prompt_rows, bu->prompt_rows});
    }
    const auto x_all = x(at::cat(xs)), t_all = at::cat(ts).to(device);
    const auto c = cond.select_rows(at::cat(rows));
    at::Tensor ref_out;
    {
      at::NoGradGuard no_grad;
      models::LoraDisabledScope reference_model(*unet);
      ref_out = pipeline::guided_unet_output(unet, x_all, t_all, c, w);
    }
    const auto policy_out = pipeline::guided_unet_output(unet, x_all, t_all, c, w);
    st.policy_evaluations = st.reference_evaluations = ns + 2 * nu;
    at::Tensor loss_s, loss_u;
    if (ns > 0)
      loss_s = shared_loss(policy_out.slice(0, 0, ns), ref_out.slice(0, 0, ns), *bs, s, prediction, device,
                           parts[used++]);
    if (nu > 0) {
      auto rows_of = [&](const at::Tensor& out, int64_t k) { return out.slice(0, ns + k * nu, ns + (k + 1) * nu); };
      loss_u = unshared_loss(rows_of(policy_out, 0), rows_of(policy_out, 1), rows_of(ref_out, 0),
                             rows_of(ref_out, 1), *bu, s, prediction, device, parts[used++]);
    }
    // Both losses are means over their pairs; the minibatch's is the mean over all.
    if (ns > 0 && nu > 0) loss = (loss_s * static_cast<double>(ns) + loss_u * static_cast<double>(nu)) /
                                 static_cast<double>(ns + nu);
    else loss = ns > 0 ? loss_s : loss_u;
  } else {
    // Parity mode: the authors' call pattern, every pair shared or not: winner
    // and loser forwarded apart, the reference a copied UNet.
    require(reference != nullptr, "SPO update: parity mode needs the copied reference UNet");
    const auto b = gather(pairs, scheduler);
    const int64_t n = b.x_t.size(0);
    const auto c = cond.select_rows(b.prompt_rows);
    const auto t_dev = b.timesteps.to(device);
    at::Tensor ref_w, ref_l;
    {
      at::NoGradGuard no_grad;
      ref_w = pipeline::guided_unet_output(*reference, x(b.x_t), t_dev, c, w);
      ref_l = pipeline::guided_unet_output(*reference, x(b.x_t_l), t_dev, c, w);
    }
    const auto pol_w = pipeline::guided_unet_output(unet, x(b.x_t), t_dev, c, w);
    const auto pol_l = pipeline::guided_unet_output(unet, x(b.x_t_l), t_dev, c, w);
    st.policy_evaluations = st.reference_evaluations = 2 * n;
    loss = unshared_loss(pol_w, pol_l, ref_w, ref_l, b, s, prediction, device, parts[used++]);
  }
  st.loss = loss.item<double>();
  if (!std::isfinite(st.loss)) throw NumericFault("SPO update: the loss is not finite (NaN or Inf in the model outputs)");
  (loss * loss_scale).backward();
  std::vector<at::Tensor> rw, rl, inside;
  for (int i = 0; i < used; ++i) {
    rw.push_back(parts[i].ratio_w);
    rl.push_back(parts[i].ratio_l);
    inside.push_back(parts[i].inside);
  }
  st.ratio_w = at::cat(rw).mean().item<double>();
  st.ratio_l = at::cat(rl).mean().item<double>();
  st.clipped_share = 1.0 - at::cat(inside).to(at::kFloat).mean().item<double>();
  return st;
}

}  // namespace spo::trainer
