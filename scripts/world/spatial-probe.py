"""Does a shapes-world base model use position words at the start of sampling?

Reads the pipeline with diffusers / transformers (the dev venv), independently
of the engine. For "a large red circle on the left / right / at the top / at
the bottom" it predicts x0 from 64 pure-noise latents at a high timestep (the
guided prediction the first sampling step makes), decodes them, and prints
where the red mass lies: the share in the left half and in the top half. A
model that follows the words puts most red on the named side; one that ignores
them gives about the same shares for all four.

    .venv/bin/python scripts/world/spatial-probe.py assets/shapes-world/base [--t 951]
"""
import argparse

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

PLACES = ("on the left", "on the right", "at the top", "at the bottom")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="a shapes-world diffusers pipeline folder")
    ap.add_argument("--t", type=int, default=951, help="timestep of the prediction (default 951, the first of 20 steps)")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--guidance", type=float, default=5.0)
    args = ap.parse_args()

    tokenizer = CLIPTokenizer.from_pretrained(f"{args.base}/tokenizer")
    text = CLIPTextModel.from_pretrained(f"{args.base}/text_encoder").eval()
    unet = UNet2DConditionModel.from_pretrained(f"{args.base}/unet").eval()
    vae = AutoencoderKL.from_pretrained(f"{args.base}/vae").eval()
    scheduler = DDIMScheduler.from_pretrained(f"{args.base}/scheduler")
    alpha_bar = scheduler.alphas_cumprod[args.t]
    v_prediction = scheduler.config.prediction_type == "v_prediction"

    def encode(prompt: str) -> torch.Tensor:
        ids = tokenizer([prompt], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
        return text(ids).last_hidden_state.repeat(args.samples, 1, 1)

    torch.manual_seed(0)
    size = unet.config.sample_size
    noise = torch.randn(args.samples, unet.config.in_channels, size, size)  # the same noise for every prompt
    t = torch.full((args.samples,), args.t)
    with torch.no_grad():
        uncond = unet(noise, t, encoder_hidden_states=encode("")).sample
        for place in PLACES:
            cond = unet(noise, t, encoder_hidden_states=encode(f"a large red circle {place}")).sample
            out = uncond + args.guidance * (cond - uncond)
            if v_prediction:
                x0 = alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * out
            else:
                x0 = (noise - (1 - alpha_bar).sqrt() * out) / alpha_bar.sqrt()
            image = vae.decode(x0 / vae.config.scaling_factor).sample.clamp(-1, 1)
            red = (image[:, 0] - 0.5 * (image[:, 1] + image[:, 2])).clamp(min=0).mean(0)  # redness, [H, W]
            h, w = red.shape
            left = red[:, : w // 2].sum() / red.sum()
            top = red[: h // 2].sum() / red.sum()
            print(f"{place:14s} red in the left half {left:.2f}, in the top half {top:.2f}")


if __name__ == "__main__":
    main()
