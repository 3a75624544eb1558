"""Fixtures for the C++ VAE and shared-block tests: a tiny random diffusers
AutoencoderKL in the component layout, the same weights under the pre-0.14
attention names, and diffusers' outputs for fixed inputs (fp32)."""

import json
import os

import torch
from diffusers import AutoencoderKL
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D
from safetensors.torch import save_file

TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
    up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
    block_out_channels=[8, 16],
    layers_per_block=1,
    norm_num_groups=4,
    latent_channels=4,
    sample_size=32,
    scaling_factor=0.18215,
)

OLD_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def _randomize(module: torch.nn.Module, gen: torch.Generator) -> None:
    # Random norms and biases too, so a swapped weight/bias or a missed norm shows.
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)


def _prefixed(prefix: str, module: torch.nn.Module) -> dict:
    return {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def _vae(out_dir: str, gen: torch.Generator) -> None:
    vae = AutoencoderKL(**TINY_VAE).eval()
    _randomize(vae, gen)
    vae.save_pretrained(os.path.join(out_dir, "tiny"), safe_serialization=True)

    # The same weights as a diffusers < 0.14 checkpoint would name them.
    old = {}
    for k, v in vae.state_dict().items():
        for new, legacy in OLD_NAMES.items():
            k = k.replace(f"mid_block.attentions.0.{new}.", f"mid_block.attentions.0.{legacy}.")
        old[k] = v.contiguous()
    legacy_dir = os.path.join(out_dir, "tiny_legacy")
    os.makedirs(legacy_dir, exist_ok=True)
    save_file(old, os.path.join(legacy_dir, "diffusion_pytorch_model.safetensors"))
    with open(os.path.join(out_dir, "tiny", "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(legacy_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    # Odd width: exercises the encoder's right/bottom padding.
    image = torch.rand((2, 3, 32, 24), generator=gen) * 2 - 1
    latent = torch.randn((2, 4, 8, 6), generator=gen)
    noise = torch.randn((2, 4, 16, 12), generator=gen)
    with torch.no_grad():
        dist = vae.encode(image).latent_dist
        decoded = vae.decode(latent).sample
    save_file(
        {
            "image": image,
            "mean": dist.mean.contiguous(),
            "logvar": dist.logvar.contiguous(),
            "noise": noise,
            "sample": (dist.mean + dist.std * noise).contiguous(),
            "latent": latent,
            "decoded": decoded.contiguous(),
        },
        os.path.join(out_dir, "tiny_reference.safetensors"),
    )


def _shared_blocks(out_dir: str, gen: torch.Generator) -> None:
    tensors = {}
    resnet = ResnetBlock2D(in_channels=8, out_channels=12, temb_channels=16, groups=4, eps=1e-6).eval()
    _randomize(resnet, gen)
    x = torch.randn((2, 8, 6, 5), generator=gen)
    temb = torch.randn((2, 16), generator=gen)
    tensors.update(_prefixed("resnet", resnet))
    tensors.update({"resnet_in": x, "resnet_temb": temb})

    cross = Attention(query_dim=12, cross_attention_dim=10, heads=3, dim_head=4, bias=False).eval()
    _randomize(cross, gen)
    h = torch.randn((2, 7, 12), generator=gen)
    ctx = torch.randn((2, 5, 10), generator=gen)
    tensors.update(_prefixed("cross", cross))
    tensors.update({"cross_in": h, "cross_context": ctx})

    # name="op" as the UNet and VAE blocks use it (name="conv" also registers an alias Conv2d_0).
    down = Downsample2D(8, use_conv=True, out_channels=8, padding=1, name="op").eval()
    down0 = Downsample2D(8, use_conv=True, out_channels=8, padding=0, name="op").eval()
    up = Upsample2D(8, use_conv=True, out_channels=6).eval()
    for m in (down, down0, up):
        _randomize(m, gen)
    y = torch.randn((2, 8, 7, 9), generator=gen)
    tensors.update(_prefixed("down", down))
    tensors.update(_prefixed("down0", down0))
    tensors.update(_prefixed("up", up))
    tensors["sampling_in"] = y

    with torch.no_grad():
        tensors["resnet_out"] = resnet(x, temb)
        tensors["cross_out"] = cross(h, encoder_hidden_states=ctx)
        tensors["down_out"] = down(y)
        tensors["down0_out"] = down0(y)
        tensors["up_out"] = up(y)
        tensors["up_sized_out"] = up(y, output_size=(15, 19))
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, "shared_blocks.safetensors"))


def make(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    _vae(out_dir, gen)
    _shared_blocks(out_dir, gen)


if __name__ == "__main__":
    import sys

    make(sys.argv[1])
