"""Checks that diffusers accepts a LoRA file written by the engine: loads the
UNet with diffusers, applies the file the way `pipe.load_lora_weights(file)`
does for the UNet (lora_state_dict + load_lora_into_unet, metadata included),
runs the forward on the inputs of IO_FILE and compares with its `expected`.

Usage: python check_lora_file.py UNET_DIR LORA_FILE IO_FILE
Exit code 0: the output matches to 1e-4; 1: it does not; 2: diffusers refused the file.
"""
import sys

import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import load_file


def main() -> int:
    unet_dir, lora_file, io_file = sys.argv[1:4]
    unet = UNet2DConditionModel.from_pretrained(unet_dir).eval()
    try:
        state_dict, network_alphas, metadata = StableDiffusionPipeline.lora_state_dict(
            lora_file, return_lora_metadata=True)
        StableDiffusionPipeline.load_lora_into_unet(state_dict, network_alphas, unet, metadata=metadata)
    except Exception as e:  # noqa: BLE001 - any refusal is the answer we report
        print(f"diffusers refused {lora_file}: {type(e).__name__}: {e}")
        return 2
    io = load_file(io_file)
    with torch.no_grad():
        out = unet(io["sample"], io["timesteps"], io["encoder_hidden_states"]).sample
    diff = (out - io["expected"]).abs().max().item()
    print(f"max abs difference {diff:.3g}")
    return 0 if diff <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
