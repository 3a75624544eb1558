"""Reference fixtures for the SPO area's objective tests: SPO's update, D3PO's
and Diffusion-DPO's loss computed by preference_objectives.py (plain PyTorch +
peft, float64) on the tiny SD-1.5 pipeline of make_pipeline_fixtures.py, with a
LoRA whose up-projections are random (so the policy differs from the
reference).

Reads OUT_DIR/../pipeline/sd15 (ctest runs the pipeline fixtures first) and
writes into OUT_DIR:
  lora/pytorch_lora_weights.safetensors  the starting LoRA (diffusers layout)
  cases.json        prompts, settings, and the reference's scalar results
                    (losses as JSON doubles: the safetensors reader has no F64)
  spo_update.safetensors
      r{0,1,2}.x_t / x_w / x_l / timesteps / prompts   three rounds' pairs
      grad.<key>        every LoRA gradient of round 0's loss
      step1.<key>       weights after round 0's AdamW step minus the start
      step3.<key>       weights after the three rounds' steps minus the start
  d3po.safetensors
      x_t_w / x_t_l / x_w / x_l / timesteps / prompts  the round's pairs in
                        the engine's order (prompt, then step), from the
                        engine's own draws (same CPU generator and seed)
      grad.<key>        every LoRA gradient of the D3PO loss
  diffusion_dpo.safetensors
      x_w / x_l / noise / timesteps / grad.<key>

<key> is peft's "<module>.lora_A.weight" / "<module>.lora_B.weight".
The three SPO rounds are three successive updates on fixed pairs (drawn here
from policy trajectories): the engine's sampling rounds score candidates with
the step-aware evaluator, which this reference does not reproduce.

Usage: python make_spo_fixtures.py OUT_DIR
"""
import copy
import json
import pathlib
import sys

import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import preference_objectives as ref  # noqa: E402

TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
RANK, ALPHA = 2, 4.0  # scale 2: a wrong alpha / rank shows
UP_SCALE = 0.01       # lora_B ~ N(0, UP_SCALE^2): ratios mostly inside [1 - eps, 1 + eps]
PROMPTS = ["a red circle", "a blue square"]
SPO = dict(steps=4, guidance_scale=5.0, eta=1.0, beta=10.0, clip_eps=0.1, learning_rate=1e-3, adam_beta1=0.9,
           adam_beta2=0.999, adam_eps=1e-8, weight_decay=1e-4, max_grad_norm=1.0)
D3PO = dict(steps=4, seed=5)  # D3PO's round: no divert start, every step trained
DPO_BETA = 5000.0  # the Diffusion-DPO recipe's beta for SD-1.5


def lora_key(name):
    return name.replace(".default.weight", ".weight")


def lora_params(unet):
    return {lora_key(n): p for n, p in unet.named_parameters() if "lora_" in n}


def grads_of(unet):
    return {f"grad.{k}": p.grad.detach().float().contiguous() for k, p in lora_params(unet).items()}


def zero_grads(unet):
    for p in lora_params(unet).values():
        p.grad = None


def attach_lora(unet):
    torch.manual_seed(61)  # peft's gaussian init of lora_A draws from the global RNG
    unet.add_adapter(LoraConfig(r=RANK, lora_alpha=ALPHA, init_lora_weights="gaussian", target_modules=TARGETS))
    g = torch.Generator().manual_seed(62)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * UP_SCALE)


def check_ddim_mean_against_diffusers(sched, alphas, ts):
    """The reference's DDIM mean and std equal diffusers' DDIMScheduler.step (noise 0 and 1)."""
    g = torch.Generator().manual_seed(3)
    x, out = torch.randn(1, 4, 16, 16, generator=g, dtype=torch.float64), torch.randn(1, 4, 16, 16, generator=g,
                                                                                      dtype=torch.float64)
    for t in ts:
        tt = torch.tensor([t])
        mean, std = ref.ddim_mean_and_std(out, x, alphas[tt], ref.alpha_prev(alphas, tt, 1000, SPO["steps"]), 1.0)
        for noise in (torch.zeros_like(x), torch.ones_like(x)):
            want = sched.step(out, t, x, eta=1.0, variance_noise=noise).prev_sample
            assert torch.allclose(mean + std * noise, want, rtol=1e-5, atol=1e-6), t


def spo_pairs(unet32, alphas, ts, cond, uncond, seed):
    """Per prompt one policy trajectory; at every step two candidate next latents from its x_t."""
    g = torch.Generator().manual_seed(seed)
    steps, T = SPO["steps"], 1000
    x = torch.randn(len(PROMPTS), 4, 16, 16, generator=g)
    x_t, x_w, x_l, t_list, rows = [], [], [], [], []
    with torch.no_grad():
        for t in ts:
            tt = torch.full((len(PROMPTS),), t, dtype=torch.long)
            out = ref.guided(unet32, x, tt, uncond, cond, SPO["guidance_scale"])
            a_t, a_p = alphas[tt].float(), ref.alpha_prev(alphas, tt, T, steps).float()
            mean, std = ref.ddim_mean_and_std(out, x, a_t, a_p, SPO["eta"])
            cand = [mean + std * torch.randn(x.shape, generator=g) for _ in range(2)]
            for p in range(len(PROMPTS)):
                x_t.append(x[p])
                x_w.append(cand[0][p])
                x_l.append(cand[1][p])
                t_list.append(t)
                rows.append(p)
            x = mean + std * torch.randn(x.shape, generator=g)
    return dict(x_t=torch.stack(x_t), x_w=torch.stack(x_w), x_l=torch.stack(x_l),
                timesteps=torch.tensor(t_list, dtype=torch.long), prompts=torch.tensor(rows, dtype=torch.long))


def spo_round_loss(unet64, pairs, alphas, cond64, uncond64):
    t = pairs["timesteps"]
    a_t, a_p = alphas[t], ref.alpha_prev(alphas, t, 1000, SPO["steps"])
    rows = pairs["prompts"]
    d = lambda k: pairs[k].double()  # noqa: E731
    return ref.spo_loss(unet64, d("x_t"), d("x_t"), d("x_w"), d("x_l"), t, a_t, a_p, uncond64[rows], cond64[rows],
                        SPO["guidance_scale"], SPO["eta"], SPO["beta"], SPO["clip_eps"])


def spo_update(unet64, unet32, alphas, ts, cond, uncond, out):
    cond64, uncond64 = cond.double(), uncond.double()
    params = lora_params(unet64)
    start = {k: p.detach().clone() for k, p in params.items()}
    opt = torch.optim.AdamW(list(params.values()), lr=SPO["learning_rate"], betas=(SPO["adam_beta1"], SPO["adam_beta2"]),
                            eps=SPO["adam_eps"], weight_decay=SPO["weight_decay"])
    tensors, losses, ratios = {}, [], []
    for r in range(3):
        pairs = spo_pairs(unet32, alphas, ts, cond, uncond, seed=100 + r)
        tensors.update({f"r{r}.{k}": v.contiguous() for k, v in pairs.items()})
        opt.zero_grad()
        loss, r_w, r_l = spo_round_loss(unet64, pairs, alphas, cond64, uncond64)
        loss.backward()
        losses.append(loss.item())
        ratios.append([r_w.tolist(), r_l.tolist()])
        if r == 0:
            tensors.update(grads_of(unet64))
        torch.nn.utils.clip_grad_norm_(list(params.values()), SPO["max_grad_norm"])
        opt.step()
        if r in (0, 2):
            tag = "step1" if r == 0 else "step3"
            tensors.update({f"{tag}.{k}": (p.detach() - start[k]).float().contiguous() for k, p in params.items()})
    save_file(tensors, str(out / "spo_update.safetensors"))
    zero_grads(unet64)
    with torch.no_grad():  # back to the start for the other objectives
        for k, p in params.items():
            p.copy_(start[k])
    return {"losses": losses, "ratios": ratios}


def d3po_round(pipe, unet32, unet64, alphas, cond, uncond, out):
    """D3PO's round (Yang et al.): two trajectories per prompt from one shared x_T, diverging at the first step,
    every step trained, the final images' strict preference on every step. The engine's draws: x_T then every
    step's noise from one CPU generator seeded with `seed`."""
    steps, T = D3PO["steps"], 1000
    ts = ref.ddim_timesteps(T, steps, pipe.scheduler.config.steps_offset)
    P = len(PROMPTS)
    g = torch.Generator().manual_seed(D3PO["seed"])
    x = torch.randn(P, 4, 16, 16, generator=g).repeat_interleave(2, 0)  # rows 2p, 2p + 1 share prompt p's x_T
    starts, ends, trained_t = [], [], []
    with torch.no_grad():
        for t in ts:
            rows = x.shape[0]
            tt = torch.full((rows,), t, dtype=torch.long)
            c = cond.repeat_interleave(rows // P, 0)
            u = uncond.repeat_interleave(rows // P, 0)
            model_out = ref.guided(unet32, x, tt, u, c, SPO["guidance_scale"])
            mean, std = ref.ddim_mean_and_std(model_out, x, alphas[tt].float(),
                                              ref.alpha_prev(alphas, tt, T, steps).float(), SPO["eta"])
            nxt = mean + std * torch.randn(x.shape, generator=g)
            starts.append(x.view(P, 2, 4, 16, 16))
            ends.append(nxt.view(P, 2, 4, 16, 16))
            trained_t.append(t)
            x = nxt
        images = pipe.vae.decode(x / pipe.vae.config.scaling_factor).sample
    scores = images.mean(dim=(1, 2, 3)).view(P, 2)  # the test's judge: the mean pixel value
    assert (scores[:, 0] - scores[:, 1]).abs().min() > 1e-5, "a near tie: pick another seed"
    winner = (scores[:, 1] > scores[:, 0]).long()
    prefer = torch.where(winner == 0, 1.0, -1.0).double().view(P, 1) * torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    starts, ends = torch.stack(starts), torch.stack(ends)  # [S, P, 2, C, h, w]
    t = torch.tensor(trained_t, dtype=torch.long)
    loss = ref.d3po_loss(unet64, starts.double(), ends.double(), t, alphas[t], ref.alpha_prev(alphas, t, T, steps),
                         uncond.double(), cond.double(), prefer, SPO["guidance_scale"], SPO["eta"], SPO["beta"],
                         SPO["clip_eps"])
    loss.backward()
    tensors = grads_of(unet64)
    zero_grads(unet64)
    pairs = {k: [] for k in ("x_t_w", "x_t_l", "x_w", "x_l", "timesteps", "prompts")}
    for p in range(P):  # the engine's order: prompt, then step
        w, l = int(winner[p]), 1 - int(winner[p])
        for s in range(len(trained_t)):
            pairs["x_t_w"].append(starts[s, p, w])
            pairs["x_t_l"].append(starts[s, p, l])
            pairs["x_w"].append(ends[s, p, w])
            pairs["x_l"].append(ends[s, p, l])
            pairs["timesteps"].append(torch.tensor(trained_t[s]))
            pairs["prompts"].append(torch.tensor(p))
    tensors.update({k: torch.stack(v).contiguous() for k, v in pairs.items()})
    save_file(tensors, str(out / "d3po.safetensors"))
    return {"loss": loss.item(), "winners": winner.tolist(), "scores": scores.tolist()}


def diffusion_dpo(unet64, alphas, cond, out):
    g = torch.Generator().manual_seed(7)
    x_w, x_l, noise = (torch.randn(2, 4, 16, 16, generator=g) for _ in range(3))
    t = torch.tensor([100, 700], dtype=torch.long)
    loss, inside = ref.diffusion_dpo_loss(unet64, x_w.double(), x_l.double(), noise.double(), t, alphas, cond.double(),
                                          DPO_BETA)
    loss.backward()
    tensors = grads_of(unet64)
    zero_grads(unet64)
    tensors.update(x_w=x_w, x_l=x_l, noise=noise, timesteps=t)
    save_file(tensors, str(out / "diffusion_dpo.safetensors"))
    return {"loss": loss.item(), "beta": DPO_BETA, "inside": inside.tolist()}


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    pipe = StableDiffusionPipeline.from_pretrained(str(out.parent / "pipeline" / "sd15"), safety_checker=None,
                                                   requires_safety_checker=False)
    # The schedule's alpha_bar as diffusers (and the authors' code) hold it: float32.
    sched = DDIMScheduler.from_config(pipe.scheduler.config, clip_sample=False, set_alpha_to_one=False)
    alphas = sched.alphas_cumprod.double()
    unet32 = pipe.unet.eval()
    unet32.requires_grad_(False)
    attach_lora(unet32)
    lora = {k: v.detach().clone().contiguous() for k, v in get_peft_model_state_dict(unet32).items()}
    StableDiffusionPipeline.save_lora_weights(
        str(out / "lora"), unet_lora_layers=lora, unet_lora_adapter_metadata=unet32.peft_config["default"].to_dict(),
        weight_name="pytorch_lora_weights.safetensors")
    unet64 = copy.deepcopy(unet32).double()
    for p in lora_params(unet64).values():
        p.requires_grad_(True)
    with torch.no_grad():
        cond, uncond = pipe.encode_prompt(PROMPTS, "cpu", 1, True)
    ts = ref.ddim_timesteps(1000, SPO["steps"], pipe.scheduler.config.steps_offset)
    sched.set_timesteps(SPO["steps"])
    assert ts == sched.timesteps.tolist(), (ts, sched.timesteps)
    check_ddim_mean_against_diffusers(sched, alphas, ts)

    results = {"prompts": PROMPTS, "lora": {"rank": RANK, "alpha": ALPHA}, "spo": dict(SPO), "d3po": dict(D3PO)}
    results["spo"].update(spo_update(unet64, unet32, alphas, ts, cond, uncond, out))
    results["d3po"].update(d3po_round(pipe, unet32, unet64, alphas, cond, uncond, out))
    results["diffusion_dpo"] = diffusion_dpo(unet64, alphas, cond, out)
    (out / "cases.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
