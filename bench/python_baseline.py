"""The SPO authors' way, in Python, on the same weights as the engine's bench:
diffusers' StableDiffusionPipeline, peft's LoRA (gaussian init, rank r on
to_q/to_k/to_v/to_out.0, added through diffusers' add_adapter) and a deep-copied
reference UNet, exactly the call pattern of the public training code:

  update step:   for a minibatch of N pairs, FOUR guided UNet calls of 2N rows
                 (policy on x_t for the winner, policy on x_t for the loser,
                 reference twice), the DDIM log-probabilities, the clamped
                 ratio loss, backward;
  sampling round: per branch step, k candidates from the shared latent, one
                 guided UNet call on all of them for their x0, VAE decode,
                 CLIP scoring (transformers' CLIPModel: the plain model; the
                 adaLN layers the engine adds are a small share of its cost).

Prints one JSON object. Run by `spo bench --python-baseline`; written from the
paper's description and docs/method.md, not copied from the authors' code.

Usage: python python_baseline.py PIPELINE_DIR EVALUATOR_DIR --prompts 2 --pairs 4 --k 4 --steps 6
       --divert 2 --reps 2 --warmup 1 --rank 4 --threads 2
"""
import argparse
import copy
import json
import math
import statistics
import time

import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from peft import LoraConfig
from transformers import CLIPModel, CLIPTokenizer


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {"min_s": min(seconds), "median_s": statistics.median(seconds),
            "spread": (max(seconds) - min(seconds)) / statistics.median(seconds), "reps": reps, "seconds": seconds}


def guided(unet, x, t, neg, pos, w):
    out = unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([neg, pos])).sample
    u, c = out.chunk(2)
    return u + w * (c - u)


def log_prob(sched, out, x_t, t, x_prev, eta):
    a_t = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    prev_t = (t - sched.config.num_train_timesteps // sched.num_inference_steps).clamp(min=0)
    a_p = sched.alphas_cumprod[prev_t].view(-1, 1, 1, 1)
    x0 = (x_t - (1 - a_t).sqrt() * out) / a_t.sqrt()
    var = (1 - a_p) / (1 - a_t) * (1 - a_t / a_p)
    std = eta * var.sqrt()
    mean = a_p.sqrt() * x0 + (1 - a_p - std ** 2).sqrt() * out
    lp = -((x_prev - mean) ** 2) / (2 * std ** 2) - torch.log(std) - math.log(math.sqrt(2 * math.pi))
    return lp.mean(dim=(1, 2, 3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pipeline")
    ap.add_argument("evaluator")
    for name, default in (("prompts", 2), ("pairs", 4), ("k", 4), ("steps", 6), ("divert", 2), ("reps", 2),
                          ("warmup", 1), ("rank", 4), ("threads", 0)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--guidance", type=float, default=5.0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    pipe = StableDiffusionPipeline.from_pretrained(args.pipeline, safety_checker=None, requires_safety_checker=False)
    sched = DDIMScheduler.from_config(pipe.scheduler.config)
    sched.set_timesteps(args.steps)
    unet = pipe.unet
    unet.requires_grad_(False)
    reference = copy.deepcopy(unet)  # the public code's copied reference
    unet.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.rank, init_lora_weights="gaussian",
                                target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    prompts = [f"prompt {i}" for i in range(args.prompts)]
    with torch.no_grad():
        ids = pipe.tokenizer(prompts + [""], padding="max_length", max_length=77, truncation=True,
                             return_tensors="pt").input_ids
        emb = pipe.text_encoder(ids)[0]
    pos_all, neg = emb[:-1], emb[-1:]
    size = unet.config.sample_size

    # The update step on N pairs (shared x_t, as SPO's pairs are).
    n = args.pairs
    x_t = torch.randn(n, 4, size, size)
    x_w, x_l = torch.randn(n, 4, size, size), torch.randn(n, 4, size, size)
    t = torch.full((n,), int(sched.timesteps[args.divert]), dtype=torch.long)
    pos, negs = pos_all[torch.arange(n) % args.prompts], neg.expand(n, -1, -1)

    def update():
        lp_w = log_prob(sched, guided(unet, x_t, t, negs, pos, args.guidance), x_t, t, x_w, 1.0)
        lp_l = log_prob(sched, guided(unet, x_t, t, negs, pos, args.guidance), x_t, t, x_l, 1.0)
        with torch.no_grad():
            rf_w = log_prob(sched, guided(reference, x_t, t, negs, pos, args.guidance), x_t, t, x_w, 1.0)
            rf_l = log_prob(sched, guided(reference, x_t, t, negs, pos, args.guidance), x_t, t, x_l, 1.0)
        r_w = torch.clamp(torch.exp(lp_w - rf_w), 0.9, 1.1)
        r_l = torch.clamp(torch.exp(lp_l - rf_l), 0.9, 1.1)
        loss = -torch.nn.functional.logsigmoid(10 * (torch.log(r_w) - torch.log(r_l))).mean()
        loss.backward()
        for p in unet.parameters():
            p.grad = None

    update_timing = timed(update, args.warmup, args.reps)

    # One sampling round (no LoRA change matters for the timing).
    clip = CLIPModel.from_pretrained(args.evaluator).eval()
    clip_tok = CLIPTokenizer.from_pretrained(args.evaluator)
    image_size = clip.config.vision_config.image_size
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)

    @torch.no_grad()
    def score(images, texts):
        x = torch.nn.functional.interpolate(images, size=(image_size, image_size), mode="bicubic", align_corners=False)
        x = ((x / 2 + 0.5).clamp(0, 1) - mean) / std
        ids = clip_tok(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        img = clip.get_image_features(pixel_values=x)
        txt = clip.get_text_features(input_ids=ids)
        img = getattr(img, "pooler_output", img)
        txt = getattr(txt, "pooler_output", txt)
        img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
        return clip.logit_scale.exp() * (img * txt).sum(-1)

    @torch.no_grad()
    def sampling_round():
        p_count, k = args.prompts, args.k
        x = torch.randn(p_count, 4, size, size)
        negs_p = neg.expand(p_count, -1, -1)
        timesteps = list(sched.timesteps)
        for i, t_i in enumerate(timesteps):
            tt = torch.full((p_count,), int(t_i), dtype=torch.long)
            eps = guided(unet, x, tt, negs_p, pos_all, args.guidance)
            if i < args.divert:
                x = sched.step(eps, t_i, x, eta=1.0).prev_sample
                continue
            cands = torch.stack([sched.step(eps, t_i, x, eta=1.0).prev_sample for _ in range(k)], 1)
            flat = cands.flatten(0, 1)
            prev_t = int(t_i) - sched.config.num_train_timesteps // sched.num_inference_steps
            if prev_t >= 0:
                tp = torch.full((p_count * k,), prev_t, dtype=torch.long)
                out = guided(unet, flat, tp, neg.expand(p_count * k, -1, -1), pos_all.repeat_interleave(k, 0), args.guidance)
                a = sched.alphas_cumprod[prev_t]
                x0 = (flat - (1 - a).sqrt() * out) / a.sqrt()
            else:
                x0 = flat
            images = pipe.vae.decode(x0 / pipe.vae.config.scaling_factor).sample
            score(images, [prompts[j // k] for j in range(p_count * k)])
            x = cands[torch.arange(p_count), torch.randint(0, k, (p_count,))]

    round_timing = timed(sampling_round, 0, 1)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "pairs": n,
                      "update": update_timing, "update_unet_calls_per_minibatch": 4,
                      "round": {"prompts": args.prompts, "k": args.k, "steps": args.steps, "sampling": round_timing}}))


if __name__ == "__main__":
    main()
