"""Reference fixtures for the text-to-image pipeline tests.

Writes into OUT_DIR:
  sd15/   a tiny SD-1.5-like pipeline directory written by diffusers'
          StableDiffusionPipeline.save_pretrained (PNDM scheduler config, as
          the SD-1.5 hub repository ships it; no safety checker)
  sdxl/   a tiny SDXL-like directory written by StableDiffusionXLPipeline
          (two text encoders, the second with projection; Euler scheduler config)
  references.safetensors  for each case: the initial latents, the final
          latents (output_type="latent") and the decoded image in [0, 1]
          (output_type="pt") of diffusers' own pipeline with a DDIMScheduler
          built from the directory's scheduler config, eta 0, guidance 5
  cases.json  the prompt, negative prompt, steps, size of each case
  tokenizers/ the tiny tokenizers (make_text_fixtures.py's) the pipelines use

Components are random and tiny (the shapes of fixtures_unet.py's UNets), so
the whole script runs in seconds on a CPU.

Usage: python make_pipeline_fixtures.py OUT_DIR
"""
import json
import pathlib
import shutil
import sys

import torch
from diffusers import (AutoencoderKL, DDIMScheduler, EulerDiscreteScheduler, PNDMScheduler,
                       StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel)
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fixtures_clip_text  # noqa: E402
import fixtures_unet  # noqa: E402
import fixtures_vae  # noqa: E402
import make_text_fixtures  # noqa: E402

# SD's training schedule, as the hub's scheduler configs state it.
SD_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                   steps_offset=1)

# Four levels: the VAE reduces by 8, as SD's does.
VAE_CONFIG = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=4,
                  down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                  block_out_channels=[8, 8, 16, 16], sample_size=64)

HEIGHT, WIDTH, STEPS = 64, 48, 3


def _tokenizer(path, pad_token):
    merges = make_text_fixtures.learn_merges(make_text_fixtures.CORPUS, make_text_fixtures.NUM_MERGES)
    make_text_fixtures.write_tokenizer_dir(path, merges, pad_token)
    return CLIPTokenizer.from_pretrained(str(path))


def _hub_tokenizer_files(source, target):
    """transformers 5 saves a tokenizer as tokenizer.json only; the SD-1.5 and
    SDXL hub repositories carry vocab.json + merges.txt (what the engine
    reads): put the original files beside it, as those repositories have them."""
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(source / name, target / name)


def _text_encoder(tokenizer, cls, gen, projection_dim=16):
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=48,
                            projection_dim=projection_dim, num_hidden_layers=3, num_attention_heads=4,
                            max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=tokenizer.bos_token_id,
                            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = cls(config).eval()
    fixtures_clip_text._randomise(model, gen)
    return model


def _unet(config, seed):
    torch.manual_seed(seed)  # the default init draws from the global RNG: seed it so every run makes the same files
    model = UNet2DConditionModel(**config).eval()
    fixtures_unet._randomize(model, seed)
    return model


def _vae(gen, scaling_factor):
    model = AutoencoderKL(**VAE_CONFIG, scaling_factor=scaling_factor).eval()
    fixtures_vae._randomize(model, gen)
    return model


def _ddim(pipe):
    # diffusers' DDIM defaults (clip_sample, set_alpha_to_one True) are not SD's:
    # a PNDM / Euler config lacks those fields, so state SD's values.
    return DDIMScheduler.from_config(pipe.scheduler.config, clip_sample=False, set_alpha_to_one=False)


def _run(pipe, case, latents):
    kwargs = dict(prompt=case["prompts"], num_inference_steps=case["steps"], guidance_scale=case["guidance"],
                  eta=0.0, height=HEIGHT, width=WIDTH, latents=latents.clone())
    if case["negative"] is not None:
        kwargs["negative_prompt"] = [case["negative"]] * len(case["prompts"])
    with torch.no_grad():
        final = pipe(**kwargs, output_type="latent").images
        image = pipe(**kwargs, output_type="pt").images
    return final, image


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)

    tok = _tokenizer(out / "tokenizers" / "tokenizer", make_text_fixtures.EOS)
    sd15 = StableDiffusionPipeline(
        vae=_vae(gen, 0.18215), text_encoder=_text_encoder(tok, CLIPTextModel, gen), tokenizer=tok,
        unet=_unet(fixtures_unet.SD15_TINY, 11), scheduler=PNDMScheduler(**SD_SCHEDULE, skip_prk_steps=True),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    sd15.save_pretrained(str(out / "sd15"), safe_serialization=True)
    _hub_tokenizer_files(out / "tokenizers" / "tokenizer", out / "sd15" / "tokenizer")

    tok2 = _tokenizer(out / "tokenizers" / "tokenizer_2", "!")
    sdxl = StableDiffusionXLPipeline(
        vae=_vae(gen, 0.13025), text_encoder=_text_encoder(tok, CLIPTextModel, gen),
        text_encoder_2=_text_encoder(tok2, CLIPTextModelWithProjection, gen), tokenizer=tok, tokenizer_2=tok2,
        unet=_unet(fixtures_unet.SDXL_TINY, 12),
        scheduler=EulerDiscreteScheduler(**SD_SCHEDULE, timestep_spacing="leading"))
    sdxl.save_pretrained(str(out / "sdxl"), safe_serialization=True)
    for name in ("tokenizer", "tokenizer_2"):
        _hub_tokenizer_files(out / "tokenizers" / name, out / "sdxl" / name)

    cases = {
        "sd15": dict(pipeline="sd15", prompts=["a photo of a cat", "a red sofa"], negative=None),
        "sd15_negative": dict(pipeline="sd15", prompts=["a dog in the park"], negative="blurry painting"),
        "sdxl": dict(pipeline="sdxl", prompts=["an astronaut riding a horse", "a castle"], negative=None),
        "sdxl_negative": dict(pipeline="sdxl", prompts=["a bowl of fruit"], negative="dark"),
    }
    pipes = {"sd15": sd15, "sdxl": sdxl}
    tensors = {}
    for name, case in cases.items():
        case.update(steps=STEPS, guidance=5.0, height=HEIGHT, width=WIDTH)
        pipe = pipes[case["pipeline"]]
        pipe.scheduler = _ddim(pipe)
        latents = torch.randn((len(case["prompts"]), 4, HEIGHT // 8, WIDTH // 8), generator=gen)
        final, image = _run(pipe, case, latents)
        tensors[f"{name}.initial"] = latents.contiguous()
        tensors[f"{name}.latents"] = final.contiguous()
        tensors[f"{name}.image"] = image.contiguous()
    save_file(tensors, str(out / "references.safetensors"))
    (out / "cases.json").write_text(json.dumps(cases, indent=1))


if __name__ == "__main__":
    main()
