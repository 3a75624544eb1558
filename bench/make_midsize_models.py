"""The benchmark harness's mid-sized configuration: random weights in the real
layouts, closer to SD-1.5's shape than the test models, made by diffusers and
transformers themselves (nothing is downloaded).

  pipeline/   StableDiffusionPipeline directory: the SD-1.5 UNet layout at half
              width (block_out_channels 160/320/640/640, 768-wide text context,
              sample_size 32: 256 px images), SD-1.5's VAE layout at quarter
              width, a 12-layer 768-wide CLIP text encoder (SD-1.5's shape; a
              small BPE vocabulary), DDIM scheduler config with SD's schedule.
  evaluator/  CLIPModel: ViT-B/16-shaped vision tower (224 px, 12 layers, 768),
              12-layer 512-wide text tower, projection 512, logit scale 100
              (PickScore's layout at about 1/6 of ViT-H's compute).

Usage: python make_midsize_models.py OUT_DIR   (skips the work when OUT_DIR/.complete exists)
"""
import pathlib
import shutil
import sys

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "test" / "python"))
import make_text_fixtures  # noqa: E402


def randomise(model, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or "layrnorm" in name) and name.endswith("weight"):
                p.fill_(1.0)
            elif p.dim() == 1:
                p.zero_()
            elif p.dim() == 0:
                continue
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)


def tokenizer_files(path):
    merges = make_text_fixtures.learn_merges(make_text_fixtures.CORPUS, make_text_fixtures.NUM_MERGES)
    make_text_fixtures.write_tokenizer_dir(path, merges, make_text_fixtures.EOS)
    return CLIPTokenizer.from_pretrained(str(path))


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    if (out / ".complete").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    tok_dir = out / "tokenizer-src"
    tok = tokenizer_files(tok_dir)
    unet = UNet2DConditionModel(sample_size=32, in_channels=4, out_channels=4, layers_per_block=2,
                                block_out_channels=(160, 320, 640, 640), cross_attention_dim=768,
                                attention_head_dim=8,
                                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    randomise(unet, 1)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
                        block_out_channels=(32, 64, 128, 128),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        norm_num_groups=32, sample_size=256, scaling_factor=0.18215)
    randomise(vae, 2)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        hidden_act="quick_gelu", bos_token_id=tok.bos_token_id,
                                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    randomise(text, 3)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", steps_offset=1, clip_sample=False, set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(out / "pipeline"), safe_serialization=True)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(tok_dir / name, out / "pipeline" / "tokenizer" / name)

    config = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77, hidden_act="gelu", eos_token_id=2,
                         bos_token_id=0, pad_token_id=1),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=16, hidden_act="gelu"),
        projection_dim=512, logit_scale_init_value=4.6052)
    clip = CLIPModel(config)
    randomise(clip, 4)
    with torch.no_grad():
        clip.logit_scale.fill_(4.6052)
    clip.save_pretrained(str(out / "evaluator"), safe_serialization=True)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(tok_dir / name, out / "evaluator" / name)
    (out / ".complete").touch()
    print(f"mid-sized models -> {out}")


if __name__ == "__main__":
    main()
