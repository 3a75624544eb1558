"""The SPO authors' way, in Python, on the same weights as the engine's bench:
diffusers' StableDiffusionPipeline, peft's LoRA (gaussian init, rank r on
to_q/to_k/to_v/to_out.0, added through diffusers' add_adapter) and a deep-copied
reference UNet, exactly the call pattern of the public training code:

  update step:   for a minibatch of N pairs, FOUR guided UNet calls of 2N rows
                 (policy on x_t for the winner, policy on x_t for the loser,
                 reference twice), the DDIM log-probabilities, the clamped
                 ratio loss, backward;
  sampling round: the prompts encoded, then per step one guided UNet call on
                 the shared latents; per branch step k candidates from them,
                 one guided UNet call on all of them for their x0, VAE decode,
                 CLIP scoring (transformers' CLIPModel: the plain model; the
                 adaLN layers the engine adds are a small share of its cost),
                 best and worst kept as the step's pair;
  round update:  the round's pairs in minibatches of N: forwards as above,
                 backward, gradient-norm clipping and AdamW on the LoRA.

The round's time is split by phase under the engine's phase names (text
encoding, candidate UNet calls, x0 calls, VAE decode, evaluator, update
forwards, backward, optimizer step, other), so `spo bench` prints both side by
side. Prints one JSON object. Run by `spo bench --python-baseline`; written from the
paper's description and docs/method.md, not copied from the authors' code.

Usage: python python_baseline.py PIPELINE_DIR EVALUATOR_DIR --prompts 2 --pairs 4 --k 4 --steps 6
       --divert 2 --reps 2 --warmup 1 --rank 4 --threads 2 [--prompt TEXT ...]
"""
import argparse
import contextlib
import copy
import json
import math
import statistics
import time

import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from peft import LoraConfig
from transformers import CLIPModel, CLIPTokenizer


PHASES = ("text encoding", "candidate UNet calls", "x0 calls", "VAE decode", "evaluator", "update forwards",
          "backward", "optimizer step", "other")


class Phases:
    """Wall seconds and entries per named phase; 'other' is the span's time outside them."""

    def __init__(self):
        self.seconds = {p: 0.0 for p in PHASES if p != "other"}
        self.calls = {p: 0 for p in PHASES if p != "other"}

    @contextlib.contextmanager
    def __call__(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += 1

    def report(self, total_s):
        seconds = dict(self.seconds)
        seconds["other"] = max(0.0, total_s - sum(self.seconds.values()))
        return {"seconds": seconds, "calls": dict(self.calls), "total_s": total_s}


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
    ap.add_argument("--lr", type=float, default=6e-5)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--prompt", action="append", default=[], help="the round's prompts (cycled to --prompts)")
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
    texts = args.prompt or [f"prompt {i}" for i in range(args.prompts)]
    prompts = [texts[i % len(texts)] for i in range(args.prompts)]

    @torch.no_grad()
    def encode():
        ids = pipe.tokenizer(prompts + [""], padding="max_length", max_length=pipe.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        emb = pipe.text_encoder(ids)[0]
        return emb[:-1], emb[-1:]

    pos_all, neg = encode()
    size = unet.config.sample_size

    # The update step on N pairs (shared x_t, as SPO's pairs are).
    n = args.pairs
    channels = unet.config.in_channels
    x_t = torch.randn(n, channels, size, size)
    x_w, x_l = torch.randn(n, channels, size, size), torch.randn(n, channels, size, size)
    t = torch.full((n,), int(sched.timesteps[args.divert]), dtype=torch.long)

    def spo_loss(x_t, x_w, x_l, t, pos):
        negs = neg.expand(x_t.shape[0], -1, -1)
        lp_w = log_prob(sched, guided(unet, x_t, t, negs, pos, args.guidance), x_t, t, x_w, 1.0)
        lp_l = log_prob(sched, guided(unet, x_t, t, negs, pos, args.guidance), x_t, t, x_l, 1.0)
        with torch.no_grad():
            rf_w = log_prob(sched, guided(reference, x_t, t, negs, pos, args.guidance), x_t, t, x_w, 1.0)
            rf_l = log_prob(sched, guided(reference, x_t, t, negs, pos, args.guidance), x_t, t, x_l, 1.0)
        r_w = torch.clamp(torch.exp(lp_w - rf_w), 0.9, 1.1)
        r_l = torch.clamp(torch.exp(lp_l - rf_l), 0.9, 1.1)
        return -torch.nn.functional.logsigmoid(10 * (torch.log(r_w) - torch.log(r_l))).mean()

    def update():
        spo_loss(x_t, x_w, x_l, t, pos_all[torch.arange(n) % args.prompts]).backward()
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
    def sampling_round(phases):
        """One round the authors' way; returns its pairs (x_t, winner, loser, t, prompt rows)."""
        with phases("text encoding"):
            pos_p, neg_p = encode()
        p_count, k = args.prompts, args.k
        x = torch.randn(p_count, channels, size, size)
        negs_p = neg_p.expand(p_count, -1, -1)
        rows = torch.arange(p_count)
        pairs = []
        for i, t_i in enumerate(list(sched.timesteps)):
            tt = torch.full((p_count,), int(t_i), dtype=torch.long)
            with phases("candidate UNet calls"):
                eps = guided(unet, x, tt, negs_p, pos_p, args.guidance)
            if i < args.divert:
                x = sched.step(eps, t_i, x, eta=1.0).prev_sample
                continue
            cands = torch.stack([sched.step(eps, t_i, x, eta=1.0).prev_sample for _ in range(k)], 1)
            flat = cands.flatten(0, 1)
            prev_t = int(t_i) - sched.config.num_train_timesteps // sched.num_inference_steps
            if prev_t >= 0:
                tp = torch.full((p_count * k,), prev_t, dtype=torch.long)
                with phases("x0 calls"):
                    out = guided(unet, flat, tp, neg_p.expand(p_count * k, -1, -1), pos_p.repeat_interleave(k, 0),
                                 args.guidance)
                a = sched.alphas_cumprod[prev_t]
                x0 = (flat - (1 - a).sqrt() * out) / a.sqrt()
            else:
                x0 = flat
            with phases("VAE decode"):
                images = pipe.vae.decode(x0 / pipe.vae.config.scaling_factor).sample
            with phases("evaluator"):
                scores = score(images, [prompts[j // k] for j in range(p_count * k)]).view(p_count, k)
            best, worst = scores.argmax(1), scores.argmin(1)
            pairs += [(x[p], cands[p, best[p]], cands[p, worst[p]], int(t_i), p) for p in range(p_count)]
            x = cands[rows, torch.randint(0, k, (p_count,))]
        return pairs

    def round_update(pairs, phases):
        """The round's pairs in minibatches of N, each followed by one optimizer step, as the trainer does."""
        for start in range(0, len(pairs), n):
            chunk = pairs[start:start + n]
            with phases("update forwards"):
                loss = spo_loss(torch.stack([c[0] for c in chunk]), torch.stack([c[1] for c in chunk]),
                                torch.stack([c[2] for c in chunk]), torch.tensor([c[3] for c in chunk]),
                                pos_all[torch.tensor([c[4] for c in chunk])])
            with phases("backward"):
                loss.backward()
            with phases("optimizer step"):
                torch.nn.utils.clip_grad_norm_(lora_params, args.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

    lora_params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(lora_params, lr=args.lr)
    if args.warmup > 0:  # the engine's components section has run every model once before its round
        with torch.no_grad():
            score(pipe.vae.decode(torch.zeros(1, pipe.vae.config.latent_channels, size, size)).sample, prompts[:1])
    sampling_phases, update_phases = Phases(), Phases()
    start = time.perf_counter()
    pairs = sampling_round(sampling_phases)
    sampling_s = time.perf_counter() - start
    start = time.perf_counter()
    round_update(pairs, update_phases)
    update_s = time.perf_counter() - start
    round_timing = {"min_s": sampling_s, "median_s": sampling_s, "spread": 0.0, "reps": 1, "seconds": [sampling_s]}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "pairs": n,
                      "update": update_timing, "update_unet_calls_per_minibatch": 4,
                      "round": {"prompts": args.prompts, "k": args.k, "steps": args.steps, "sampling": round_timing,
                                "update_s": update_s, "pairs": len(pairs),
                                "profile": {"sampling": sampling_phases.report(sampling_s),
                                            "update": update_phases.report(update_s)}}}))


if __name__ == "__main__":
    main()
