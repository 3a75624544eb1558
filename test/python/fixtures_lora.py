"""Reference fixtures for the C++ LoRA: a tiny SD-1.5-like UNet with a peft
LoRA adapter (r=4, lora_alpha=8 so the scale 2 is visible, gaussian init,
lora_B set to random non-zero values), saved the way diffusers saves it, and
the UNet's outputs with the adapter on and off for fixed inputs.

make(out_dir) writes:
  unet/                          the base UNet (config.json + safetensors)
  pytorch_lora_weights.safetensors   StableDiffusionPipeline.save_lora_weights
                                 (unet.X.lora_A/lora_B.weight + lora_adapter_metadata)
  old_style.safetensors          the same LoRA as unet.X.lora.down/up.weight, no
                                 metadata (so alpha = rank: lora_B holds the 2x scale)
  peft_default.safetensors       unprefixed X.lora_A.default.weight keys with X.alpha = 8
  io.safetensors                 sample, timesteps, encoder_hidden_states,
                                 expected (LoRA on), expected_base (LoRA off)
"""
import os

import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file

from fixtures_unet import SD15_TINY, _randomize

TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
RANK, ALPHA = 4, 8


def make(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(50)
    unet = UNet2DConditionModel(**SD15_TINY).eval()
    _randomize(unet, 51)
    unet.save_pretrained(os.path.join(out_dir, "unet"), safe_serialization=True)

    unet.add_adapter(LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, init_lora_weights="gaussian"))
    g = torch.Generator().manual_seed(52)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "lora_B" in name:  # zero after init: make the adapter change the output
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    lora = {k: v.detach().clone().contiguous() for k, v in get_peft_model_state_dict(unet).items()}

    StableDiffusionPipeline.save_lora_weights(
        out_dir, unet_lora_layers=lora, unet_lora_adapter_metadata=unet.peft_config["default"].to_dict(),
        weight_name="pytorch_lora_weights.safetensors")

    scale = ALPHA / RANK
    old = {}
    for k, v in lora.items():
        k2 = k.replace(".lora_A.weight", ".lora.down.weight").replace(".lora_B.weight", ".lora.up.weight")
        old["unet." + k2] = v * scale if ".lora_B." in k else v
    save_file(old, os.path.join(out_dir, "old_style.safetensors"))

    peft_default = {}
    for k, v in lora.items():
        peft_default[k.replace(".weight", ".default.weight")] = v
        if ".lora_A." in k:
            peft_default[k.split(".lora_A.")[0] + ".alpha"] = torch.tensor(float(ALPHA))
    save_file(peft_default, os.path.join(out_dir, "peft_default.safetensors"))

    g = torch.Generator().manual_seed(53)
    sample = torch.randn(2, 4, 16, 16, generator=g)
    timesteps = torch.tensor([999.0, 37.0])
    context = torch.randn(2, 7, SD15_TINY["cross_attention_dim"], generator=g)
    with torch.no_grad():
        expected = unet(sample, timesteps, context).sample
        unet.disable_adapters()
        expected_base = unet(sample, timesteps, context).sample
    save_file({"sample": sample, "timesteps": timesteps, "encoder_hidden_states": context,
               "expected": expected, "expected_base": expected_base},
              os.path.join(out_dir, "io.safetensors"))


if __name__ == "__main__":
    import sys

    make(sys.argv[1])
