"""Reference fixtures for the C++ UNet2DConditionModel: tiny random UNets in
the diffusers component layout (config.json + diffusion_pytorch_model.safetensors)
and their outputs for fixed inputs, computed by diffusers in float32.

make(out_dir) writes out_dir/{sd15_tiny,sdxl_tiny,sd15_odd}/ and
out_dir/{name}_io.safetensors with the inputs and the expected output.
"""
import os

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

# SD-1.5-like: conv projections, heads per block from the legacy
# `attention_head_dim` (a head count), one transformer layer per block.
SD15_TINY = dict(
    sample_size=16, in_channels=4, out_channels=4,
    block_out_channels=[32, 64], layers_per_block=1,
    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
    cross_attention_dim=32, attention_head_dim=[2, 4], norm_num_groups=8,
)

# SDXL-like: linear projections, transformer_layers_per_block [1, 2],
# "text_time" added conditioning (pooled text 16 + 6 time ids x 8).
SDXL_TINY = dict(
    sample_size=16, in_channels=4, out_channels=4,
    block_out_channels=[32, 64], layers_per_block=2,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
    cross_attention_dim=64, attention_head_dim=[2, 4], transformer_layers_per_block=[1, 2],
    use_linear_projection=True, norm_num_groups=8,
    addition_embed_type="text_time", addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=16 + 6 * 8,
)

# Three levels, odd latent sides (upsampling to the skip's size), freq_shift 1,
# flip_sin_to_cos false, center_input_sample, mid_block_scale_factor, layers as a list.
SD15_ODD = dict(
    sample_size=9, in_channels=4, out_channels=3,
    block_out_channels=[16, 32, 32], layers_per_block=[1, 2, 1],
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    cross_attention_dim=24, attention_head_dim=2, norm_num_groups=8,
    flip_sin_to_cos=False, freq_shift=1, center_input_sample=True, mid_block_scale_factor=1.5,
    downsample_padding=1, norm_eps=1e-6,
)


def _randomize(model, seed):
    # Norms start at weight 1, bias 0: perturb every parameter so that a
    # swapped or misread tensor changes the output.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def _one(out_dir, name, config, batch, h, w, seq, seed, sdxl):
    torch.manual_seed(seed)
    model = UNet2DConditionModel(**config).eval()
    _randomize(model, seed + 1)
    comp = os.path.join(out_dir, name)
    model.save_pretrained(comp, safe_serialization=True)

    g = torch.Generator().manual_seed(seed + 2)
    sample = torch.randn(batch, config["in_channels"], h, w, generator=g)
    # Different timesteps per sample, including a large one (phases sensitive to precision).
    timesteps = torch.tensor([999.0, 1.0, 500.0, 37.0][:batch])
    context = torch.randn(batch, seq, config["cross_attention_dim"], generator=g)
    tensors = {"sample": sample, "timesteps": timesteps, "encoder_hidden_states": context}
    kwargs = {}
    if sdxl:
        text_embeds = torch.randn(batch, 16, generator=g)
        time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0], [48.0, 80.0, 4.0, 8.0, 64.0, 56.0]][:batch])
        kwargs["added_cond_kwargs"] = {"text_embeds": text_embeds, "time_ids": time_ids}
        tensors.update(text_embeds=text_embeds, time_ids=time_ids)
    with torch.no_grad():
        out = model(sample, timesteps, context, **kwargs).sample
    tensors["expected"] = out
    # An integer-timestep variant of the same call, batch broadcast from one value.
    with torch.no_grad():
        tensors["expected_t10"] = model(sample, torch.tensor(10), context, **kwargs).sample
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, name + "_io.safetensors"))


def make(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    _one(out_dir, "sd15_tiny", SD15_TINY, batch=2, h=16, w=16, seq=7, seed=10, sdxl=False)
    _one(out_dir, "sdxl_tiny", SDXL_TINY, batch=2, h=16, w=12, seq=5, seed=20, sdxl=True)
    _one(out_dir, "sd15_odd", SD15_ODD, batch=3, h=9, w=7, seq=4, seed=30, sdxl=False)


if __name__ == "__main__":
    import sys

    make(sys.argv[1])
