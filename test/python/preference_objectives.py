"""The three preference objectives the engine trains, in plain PyTorch, written
from their papers and the authors' public training scripts (never from this
engine, which the test compares against these):

  SPO (Liang et al., "Step-aware Preference Optimization"; train_spo.py):
      the DDIM step's Gaussian log-probability, a MEAN over C, H, W, of the
      policy (UNet + LoRA) and of the reference (the same UNet, LoRA off), both
      with classifier-free guidance as in sampling; ratios exp(lp - lp_ref)
      clamped to [1 - eps, 1 + eps];
      loss = mean over pairs of -log sigmoid(beta * (log r_w - log r_l)).
  D3PO (Yang et al., "Using Human Feedback to Fine-tune Diffusion Models
      without Any Reward Model"): two trajectories from one x_T, the final
      images' preference h in {+1, -1} copied to every step; per step
      -log sigmoid(beta * (h_0 log r_0 + h_1 log r_1)) with the same clamped
      ratios, averaged over prompts and steps.
  Diffusion-DPO (Wallace et al., "Diffusion Model Alignment Using Direct
      Preference Optimization"): winner and loser noised with the same t and
      the same noise, per-sample epsilon MSE (a mean), and
      loss = -log sigmoid(-beta / 2 * ((mse_w - mse_l) - (mse_ref_w - mse_ref_l))).

The UNet is a diffusers UNet2DConditionModel with a peft LoRA added through
add_adapter; "LoRA off" is disable_adapters(). Everything runs in the UNet's
dtype (the fixture generator uses float64). alpha_bar is the scheduler's own
table (diffusers computes it in float32, as the authors' code reads it).
"""
import math

import torch
import torch.nn.functional as F


def ddim_timesteps(num_train_timesteps, steps, steps_offset):
    """The "leading" DDIM schedule, largest t first."""
    ratio = num_train_timesteps // steps
    return [i * ratio + steps_offset for i in reversed(range(steps))]


def alpha_prev(alphas, t, num_train_timesteps, steps):
    """alpha_bar at t - T/steps; alpha_bar[0] past the end (set_alpha_to_one false)."""
    prev = t - num_train_timesteps // steps
    return torch.where(prev >= 0, alphas[prev.clamp(min=0)], alphas[0])


def guided(unet, x, t, uncond, cond, w):
    """eps_u + w (eps_c - eps_u), both halves in one batch (CFG in training, as in sampling)."""
    out = unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([uncond, cond])).sample
    u, c = out.chunk(2)
    return u + w * (c - u)


def ddim_mean_and_std(out, x_t, a_t, a_p, eta):
    """DDIM (Song et al. eq. 12 and 16) for epsilon prediction, x0 unclipped."""
    a_t, a_p = a_t.view(-1, 1, 1, 1).to(out.dtype), a_p.view(-1, 1, 1, 1).to(out.dtype)
    x0 = (x_t - (1 - a_t).sqrt() * out) / a_t.sqrt()
    var = (1 - a_p) / (1 - a_t) * (1 - a_t / a_p)
    std = eta * var.sqrt()
    mean = a_p.sqrt() * x0 + (1 - a_p - std ** 2).sqrt() * out
    return mean, std


def ddim_log_prob(out, x_t, x_prev, a_t, a_p, eta):
    """log N(x_prev; mean, std^2) per element, then the MEAN over C, H, W."""
    mean, std = ddim_mean_and_std(out, x_t, a_t, a_p, eta)
    lp = -((x_prev - mean) ** 2) / (2 * std ** 2) - torch.log(std) - math.log(math.sqrt(2 * math.pi))
    return lp.mean(dim=(1, 2, 3))


def clamped_ratio(lp, lp_ref, eps):
    return torch.clamp(torch.exp(lp - lp_ref), 1 - eps, 1 + eps)


def policy_and_reference_log_probs(unet, x_t, x_prev, t, a_t, a_p, uncond, cond, w, eta):
    """(policy log-prob with its graph, reference log-prob without): reference = LoRA off."""
    lp = ddim_log_prob(guided(unet, x_t, t, uncond, cond, w), x_t, x_prev, a_t, a_p, eta)
    with torch.no_grad():
        unet.disable_adapters()
        try:
            lp_ref = ddim_log_prob(guided(unet, x_t, t, uncond, cond, w), x_t, x_prev, a_t, a_p, eta)
        finally:
            unet.enable_adapters()
    return lp, lp_ref


def spo_loss(unet, x_t_w, x_t_l, x_w, x_l, t, a_t, a_p, uncond, cond, w, eta, beta, eps):
    """SPO's loss over a minibatch of pairs (each side from its own x_t; SPO's pairs share it)."""
    lp_w, ref_w = policy_and_reference_log_probs(unet, x_t_w, x_w, t, a_t, a_p, uncond, cond, w, eta)
    lp_l, ref_l = policy_and_reference_log_probs(unet, x_t_l, x_l, t, a_t, a_p, uncond, cond, w, eta)
    r_w, r_l = clamped_ratio(lp_w, ref_w, eps), clamped_ratio(lp_l, ref_l, eps)
    loss = -F.logsigmoid(beta * (torch.log(r_w) - torch.log(r_l))).mean()
    return loss, r_w.detach(), r_l.detach()


def d3po_loss(unet, starts, ends, t, a_t, a_p, uncond, cond, prefer, w, eta, beta, eps):
    """D3PO over S steps of P prompts' two trajectories.

    starts, ends: [S, P, 2, C, h, w] x_t and x_prev of each step of trajectory 0 and 1;
    t, a_t, a_p: [S]; prefer: [P, 2] with +1 for the preferred final image, -1 for the other.
    """
    S, P = starts.shape[0], starts.shape[1]
    terms = []
    for s in range(S):
        tt = torch.full((P,), int(t[s]), dtype=torch.long)
        at, ap = a_t[s].expand(P), a_p[s].expand(P)
        log_r = []
        for side in (0, 1):
            lp, lp_ref = policy_and_reference_log_probs(unet, starts[s, :, side], ends[s, :, side], tt, at, ap,
                                                        uncond, cond, w, eta)
            log_r.append(torch.log(clamped_ratio(lp, lp_ref, eps)))
        terms.append(-F.logsigmoid(beta * (log_r[0] * prefer[:, 0] + log_r[1] * prefer[:, 1])))
    return torch.stack(terms).mean()


def diffusion_dpo_loss(unet, x_w, x_l, noise, t, alphas, cond, beta):
    """Diffusion-DPO's loss; the conditional prediction alone (no guidance), epsilon target."""
    a = alphas[t].view(-1, 1, 1, 1).to(x_w.dtype)
    noisy_w = a.sqrt() * x_w + (1 - a).sqrt() * noise
    noisy_l = a.sqrt() * x_l + (1 - a).sqrt() * noise

    def mse(x):
        return ((unet(x, t, cond).sample - noise) ** 2).mean(dim=(1, 2, 3))

    model_diff = mse(noisy_w) - mse(noisy_l)
    with torch.no_grad():
        unet.disable_adapters()
        try:
            ref_diff = mse(noisy_w) - mse(noisy_l)
        finally:
            unet.enable_adapters()
    inside = -0.5 * beta * (model_diff - ref_diff)
    return -F.logsigmoid(inside).mean(), inside.detach()
