"""Writes the key-and-shape manifests of the real SD-1.5, SDXL and PickScore
models into test/fixtures/model-manifests/ (or the folder given as argv[1]).

Each model is built from its published configuration with diffusers /
transformers on the meta device: no weights are downloaded or allocated. The
configurations are written out below, each with the Hugging Face Hub file it
comes from, so the manifests can be regenerated offline:

    .venv/bin/python test/python/make_model_manifests.py
    .venv/bin/python test/python/make_model_manifests.py --check test/fixtures/model-manifests   (ctest)

Per component NAME the folder gets
    NAME.config.json  the constructor configuration (the Hub file's fields),
    NAME.json         {state_dict key: shape}, in the model's state_dict order,
and index.json lists every component with its class, tensor and parameter
counts. The C++ tests (native/tests/models, native/tests/evaluator) build the
engine's own modules from NAME.config.json and compare their keys and shapes
with NAME.json. Test references only: nothing here is a runtime dependency.
"""

import json
import pathlib
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "fixtures" / "model-manifests"

SD15_UNET = {  # runwayml/stable-diffusion-v1-5, unet/config.json
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.6.0",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}

SD15_VAE = {  # runwayml/stable-diffusion-v1-5, vae/config.json
    "_class_name": "AutoencoderKL",
    "_diffusers_version": "0.6.0",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}

# The CLIP ViT-L/14 text tower that SD-1.5 and SDXL (first encoder) share.
_CLIP_L_TEXT = {
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "torch_dtype": "float32",
    "vocab_size": 49408,
}

# runwayml/stable-diffusion-v1-5, text_encoder/config.json (without transformers_version)
SD15_TEXT_ENCODER = {"_name_or_path": "openai/clip-vit-large-patch14", **_CLIP_L_TEXT}

# stabilityai/stable-diffusion-xl-base-1.0, text_encoder/config.json (without
# _name_or_path and transformers_version)
SDXL_TEXT_ENCODER = dict(_CLIP_L_TEXT)

SDXL_TEXT_ENCODER_2 = {  # stabilityai/stable-diffusion-xl-base-1.0, text_encoder_2/config.json (same omissions)
    "architectures": ["CLIPTextModelWithProjection"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 5120,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "pad_token_id": 1,
    "projection_dim": 1280,
    "torch_dtype": "float16",
    "vocab_size": 49408,
}

SDXL_UNET = {  # stabilityai/stable-diffusion-xl-base-1.0, unet/config.json
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.19.0.dev0",
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 2048,
    "cross_attention_norm": None,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "default",
    "sample_size": 128,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "upcast_attention": None,
    "use_linear_projection": True,
}

SDXL_VAE = {  # madebyollin/sdxl-vae-fp16-fix, config.json (the SPO SDXL preset's VAE; same shapes as SDXL's own)
    "_class_name": "AutoencoderKL",
    "_diffusers_version": "0.20.0.dev0",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "force_upcast": True,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}

PICKSCORE_CLIP_H14 = {  # yuvalkirstain/PickScore_v1, config.json: the fields that shape the network
    "architectures": ["CLIPModel"],
    "initializer_factor": 1.0,
    "logit_scale_init_value": 2.6592,
    "model_type": "clip",
    "projection_dim": 1024,
    "text_config": {
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "dropout": 0.0,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_size": 1024,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": 4096,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77,
        "model_type": "clip_text_model",
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "pad_token_id": 1,
        "projection_dim": 1024,
        "vocab_size": 49408,
    },
    "vision_config": {
        "attention_dropout": 0.0,
        "dropout": 0.0,
        "hidden_act": "gelu",
        "hidden_size": 1280,
        "image_size": 224,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": 5120,
        "layer_norm_eps": 1e-05,
        "model_type": "clip_vision_model",
        "num_attention_heads": 16,
        "num_channels": 3,
        "num_hidden_layers": 32,
        "patch_size": 14,
        "projection_dim": 1024,
    },
}

TEXT_NOTE = (
    "transformers registers *.embeddings.position_ids as a NON-persistent buffer, so it is not listed; older "
    "checkpoints (e.g. SD-1.5 text_encoder) may still contain it (int64 [1, 77] / [1, 257]) - ignore it."
)
VAE_NOTE = (
    "Hub checkpoints written by diffusers < 0.14 (e.g. runwayml/stable-diffusion-v1-5 vae) may name the VAE "
    "mid-block attention tensors {query,key,value,proj_attn}.{weight,bias}; diffusers renames them at load time "
    "(ModelMixin._convert_deprecated_attention_blocks) to {to_q,to_k,to_v,to_out.0}. Same shapes."
)

# name -> (class, config, note)
COMPONENTS = {
    "sd15_unet": ("UNet2DConditionModel", SD15_UNET, None),
    "sd15_vae": ("AutoencoderKL", SD15_VAE, VAE_NOTE),
    "sd15_text_encoder": ("CLIPTextModel", SD15_TEXT_ENCODER, TEXT_NOTE),
    "sdxl_unet": ("UNet2DConditionModel", SDXL_UNET, None),
    "sdxl_vae": ("AutoencoderKL", SDXL_VAE, None),
    "sdxl_text_encoder": ("CLIPTextModel", SDXL_TEXT_ENCODER, TEXT_NOTE),
    "sdxl_text_encoder_2": ("CLIPTextModelWithProjection", SDXL_TEXT_ENCODER_2, TEXT_NOTE),
    "pickscore_clip_h14": ("CLIPModel", PICKSCORE_CLIP_H14, TEXT_NOTE),
}


def build_on_meta(class_name, config):
    """The model with every parameter on the meta device (shapes only)."""
    import diffusers
    import transformers

    with torch.device("meta"):
        if hasattr(diffusers, class_name) and class_name in ("UNet2DConditionModel", "AutoencoderKL"):
            return getattr(diffusers, class_name).from_config(config)
        cls = getattr(transformers, class_name)
        config_cls = transformers.CLIPConfig if class_name == "CLIPModel" else transformers.CLIPTextConfig
        return cls(config_cls.from_dict(config))


def checkpoint_keys(class_name, state):
    """The state dict under the names the published checkpoints use.

    transformers >= 5 builds CLIPTextModel without its `text_model` wrapper and
    strips that prefix when it loads a checkpoint (conversion_mapping.py:
    PrefixChange(prefix_to_remove="text_model")); the files on the Hub, and
    transformers 4, name every tensor `text_model.*`.
    """
    if class_name == "CLIPTextModel" and not any(k.startswith("text_model.") for k in state):
        return {f"text_model.{k}": t for k, t in state.items()}
    return state


def manifest_text(state):
    """{key: shape}, one key a line, in state_dict order (the format the C++ tests read)."""
    lines = [f" {json.dumps(key)}: {json.dumps(list(t.shape))}" for key, t in state.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(out):
    import diffusers
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    components = {}
    for name, (class_name, config, note) in COMPONENTS.items():
        state = checkpoint_keys(class_name, build_on_meta(class_name, config).state_dict())
        parameters = sum(t.numel() for t in state.values())
        (out / f"{name}.json").write_text(manifest_text(state))
        (out / f"{name}.config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        entry = {
            "class": class_name,
            "tensors": len(state),
            "parameters": parameters,
            "fp32_bytes": 4 * parameters,
            "fp16_bytes": 2 * parameters,
            "manifest": f"{name}.json",
            "config": f"{name}.config.json",
        }
        if note:
            entry["note"] = note
        components[name] = entry
        print(f"{name}: {class_name}, {len(state)} tensors, {parameters} parameters")
    index = {
        "generator": "test/python/make_model_manifests.py: diffusers / transformers model classes built from the "
        "config files beside each manifest on the meta device (no weights)",
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__.split("+")[0],
        "format": "NAME.json = {state_dict key: shape}; NAME.config.json = constructor config",
        "components": components,
    }
    (out / "index.json").write_text(json.dumps(index, indent=2))


def check(committed):
    """Regenerates into a scratch folder and compares with the committed files
    (every manifest and config byte for byte; index.json's components, not the
    library versions it records). Exit status 1 on any difference."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        fresh = pathlib.Path(scratch)
        main(fresh)
        differ = [p.name for p in sorted(fresh.glob("*.json"))
                  if p.name != "index.json" and (committed / p.name).read_bytes() != p.read_bytes()]
        components = [json.loads((d / "index.json").read_text())["components"] for d in (fresh, committed)]
        if components[0] != components[1]:
            differ.append("index.json (components)")
    if differ:
        print("model manifests differ from what diffusers / transformers build now: " + ", ".join(differ))
        print("regenerate with: .venv/bin/python test/python/make_model_manifests.py")
        return 1
    print(f"model manifests in {committed} match")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        sys.exit(check(pathlib.Path(sys.argv[2])))
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
