"""Reference outputs of the shapes world's models, from diffusers and transformers.

Usage: python check_world_models.py PIPELINE_DIR EVALUATOR_DIR OUT.safetensors

Loads the engine-written directories with the Python libraries (so their
layout, configs and key names are checked by the libraries themselves) and
writes fixed inputs and the libraries' outputs:
  ids              CLIPTokenizer ids of PROMPTS, padded to 77
  text_hidden      CLIPTextModel last_hidden_state of ids
  latents, t       a fixed UNet input; unet_eps its output with text_hidden
  vae_decoded      AutoencoderKL.decode(latents / scaling_factor)
  pixels, scores   CLIPModel: exp(logit_scale) * cos(image, text) of ids[i] with pixels[i]
"""
import sys

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPModel, CLIPTextModel, CLIPTokenizer

PROMPTS = ["a red circle", "a small blue square on the left", "a green triangle above a large yellow diamond",
           "a purple diamond to the right of a cyan circle", "an unknown word"]


def main(pipeline_dir, evaluator_dir, out):
    torch.manual_seed(0)
    tokenizer = CLIPTokenizer.from_pretrained(f"{pipeline_dir}/tokenizer")
    ids = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    text = CLIPTextModel.from_pretrained(f"{pipeline_dir}/text_encoder").eval()
    unet = UNet2DConditionModel.from_pretrained(f"{pipeline_dir}/unet").eval()
    vae = AutoencoderKL.from_pretrained(f"{pipeline_dir}/vae").eval()
    clip = CLIPModel.from_pretrained(evaluator_dir).eval()
    n = len(PROMPTS)
    size = unet.config.sample_size
    latents = torch.randn(n, 4, size, size)
    t = torch.tensor([0, 250, 500, 750, 999])
    image_size = clip.config.vision_config.image_size
    pixels = torch.randn(n, 3, image_size, image_size)
    with torch.no_grad():
        hidden = text(ids).last_hidden_state
        eps = unet(latents, t, hidden).sample
        decoded = vae.decode(latents / vae.config.scaling_factor).sample
        img = clip.get_image_features(pixel_values=pixels)
        txt = clip.get_text_features(input_ids=ids)
        img = img.pooler_output if hasattr(img, "pooler_output") else img
        txt = txt.pooler_output if hasattr(txt, "pooler_output") else txt
        img = img / img.norm(dim=-1, keepdim=True)
        txt = txt / txt.norm(dim=-1, keepdim=True)
        scores = clip.logit_scale.exp() * (img * txt).sum(-1)
    save_file({"ids": ids.contiguous(), "text_hidden": hidden.contiguous(), "latents": latents, "t": t,
               "unet_eps": eps.contiguous(), "vae_decoded": decoded.contiguous(), "pixels": pixels,
               "scores": scores.contiguous()}, out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
