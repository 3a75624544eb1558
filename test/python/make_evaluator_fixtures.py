"""Reference fixtures for the step-aware preference model (the Evaluator) tests.

Writes into OUT_DIR:
  tokenizer/    a tiny CLIP BPE tokenizer (make_text_fixtures.py's vocabulary:
                vocab.json, merges.txt, tokenizer_config.json,
                special_tokens_map.json), pad token "!" as in the ViT-H /
                PickScore tokenizer; EOS is the largest id, as in CLIP.
  plain/        a tiny random transformers CLIPModel in PickScore's hub layout:
                config.json (text eos_token_id 2: pooling at argmax(input_ids)),
                model.safetensors with the hub key names (text_model.*,
                vision_model.*, visual_projection.weight, text_projection.weight,
                logit_scale; no position_ids), preprocessor_config.json (a CLIP
                image processor's, size 32) and the tokenizer files.
  step_aware/   the same tensors plus the authors' adaLN parameters
                (t_embedder.mlp.{0,2}.*, vision_model.encoder.layers.N.
                adaLN_modulation.1.*, vision_model.adaLN_modulation.1.*), all
                random so scores depend on t; same config and tokenizer files.
  step_aware_prefixed/  the same tensors with every key prefixed "model." (the
                layout of the authors' published state dicts).
  reference.safetensors  inputs and outputs (float32; input_ids int64):
      images_{landscape,portrait,square}   [2,3,40,56] [2,3,50,36] [2,3,20,20]
                smooth images in about [-1.1, 1.1]
      pixels_{landscape,portrait,square}   [2,3,32,32] after the authors'
                get_preference_score preprocessing with S = 32
      input_ids [2,77]   the two prompts, padded with "!" to 77
      plain_image_embeds, plain_text_embeds [2,24]   unnormalised projections
      plain_scores [2]   exp(logit_scale) * cos(image_i, text_i) (landscape)
      temb_t{t} [1,40]   time embedding, t in 0 251 501 701 951
      step_aware_image_embeds_t{t} [2,24], step_aware_scores_t{t} [2]
      timesteps_mixed [2] = (101, 801), step_aware_scores_mixed [2]
  reference.json  prompts, timesteps, image sizes, the resize / crop each
                case got, the preprocessing rule, tokenizer ids.
  .complete     stamp: the script skips its work while the stamp is newer
                than this script and make_text_fixtures.py.

The step-aware outputs come from an independent composition of torch ops (the
transformers CLIPModel supplies only its embeddings, attention, MLP and layer
norm modules), checked against transformers' plain CLIPModel with the adaLN
layers at their identity setting. Everything is tiny and seeded, so the script
is deterministic and runs in seconds on a CPU.

Usage: python make_evaluator_fixtures.py OUT_DIR
"""
import json
import math
import pathlib
import shutil
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_text_fixtures  # noqa: E402

S = 32  # the vision image_size; 224 for PickScore
PROJ = 24
D = 40  # vision hidden size
VISION_LAYERS = 3
FREQ_DIM = 256
MAX_PERIOD = 10000
LOGIT_SCALE = 4.6052  # exp = 100.0 (to 4 digits), as PickScore's trained value
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PROMPTS = ["a red circle above a blue square", "two green triangles"]
TIMESTEPS = (0, 251, 501, 701, 951)
MIXED = (101.0, 801.0)
IMAGE_SIZES = {"landscape": (40, 56), "portrait": (50, 36), "square": (20, 20)}
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


# --------------------------------------------------------------------------- models

def _config(vocab_size):
    from transformers import CLIPConfig

    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5,
                bos_token_id=0, pad_token_id=1, eos_token_id=2, projection_dim=PROJ)
    vision = dict(hidden_size=D, intermediate_size=64, num_hidden_layers=VISION_LAYERS, num_attention_heads=4,
                  image_size=S, patch_size=8, num_channels=3, hidden_act="gelu", layer_norm_eps=1e-5,
                  projection_dim=PROJ)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJ,
                        logit_scale_init_value=LOGIT_SCALE)
    config._attn_implementation = "eager"
    config.architectures = ["CLIPModel"]
    assert config.text_config.eos_token_id == 2
    return config


def _randomise(model, gen):
    """Every parameter but logit_scale gets non-trivial random values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(LOGIT_SCALE)
                continue
            noise = torch.randn(p.shape, generator=gen)
            is_norm = "layer_norm" in name or "layrnorm" in name or "layernorm" in name
            if is_norm and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif name.endswith(("class_embedding", "position_embedding.weight", "token_embedding.weight")):
                p.copy_(0.5 * noise)
            else:  # linear and patch-conv weights
                fan_in = p[0].numel()
                p.copy_(noise / fan_in ** 0.5)


def _adaln_tensors(gen):
    """The authors' step-aware parameters, random around their identity setting."""
    def rand(*shape):
        return torch.randn(shape, generator=gen)

    t = {
        "t_embedder.mlp.0.weight": rand(D, FREQ_DIM) / FREQ_DIM ** 0.5,
        "t_embedder.mlp.0.bias": 0.1 * rand(D),
        "t_embedder.mlp.2.weight": rand(D, D) / D ** 0.5,
        "t_embedder.mlp.2.bias": 0.1 * rand(D),
    }
    for i in range(VISION_LAYERS):
        prefix = f"vision_model.encoder.layers.{i}.adaLN_modulation.1."
        t[prefix + "weight"] = 0.4 * rand(6 * D, D) / D ** 0.5
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = (rand(D) for _ in range(6))
        t[prefix + "bias"] = torch.cat([0.1 * shift_a, 0.2 * scale_a, 1 + 0.2 * gate_a,
                                        0.1 * shift_m, 0.2 * scale_m, 1 + 0.2 * gate_m])
    t["vision_model.adaLN_modulation.1.weight"] = 0.4 * rand(2 * D, D) / D ** 0.5
    t["vision_model.adaLN_modulation.1.bias"] = torch.cat([0.1 * rand(D), 0.2 * rand(D)])
    return {k: v.float().contiguous() for k, v in t.items()}


def _identity_adaln(adaln):
    """Weights 0; shift 0, scale 0, gate 1; final modulation 0 (keeps the time MLP)."""
    out = dict(adaln)
    for i in range(VISION_LAYERS):
        prefix = f"vision_model.encoder.layers.{i}.adaLN_modulation.1."
        out[prefix + "weight"] = torch.zeros(6 * D, D)
        bias = torch.zeros(6 * D)
        bias[2 * D:3 * D] = 1
        bias[5 * D:] = 1
        out[prefix + "bias"] = bias
    out["vision_model.adaLN_modulation.1.weight"] = torch.zeros(2 * D, D)
    out["vision_model.adaLN_modulation.1.bias"] = torch.zeros(2 * D)
    return out


def _check_manifest_structure(keys):
    """Same key set as the real PickScore manifest, modulo layer count."""
    import re

    # The repository's own manifest (test/python/make_model_manifests.py): a
    # missing file is a broken checkout, never a reason to skip the check.
    manifest = HERE.parent / "fixtures" / "model-manifests" / "pickscore_clip_h14.json"
    if not manifest.exists():
        raise FileNotFoundError(f"evaluator fixtures: {manifest} is missing (run test/python/make_model_manifests.py)")

    def pattern(names):
        return {re.sub(r"\.layers\.\d+\.", ".layers.N.", k) for k in names}

    expected = pattern(json.loads(manifest.read_text()))
    got = pattern(keys)
    assert got == expected, (sorted(got - expected), sorted(expected - got))


# --------------------------------------------------------------------------- inputs

def _images(gen):
    """Smooth images: bilinear-upsampled low-res noise, scaled so each image's
    largest magnitude is 1.1 (beyond [-1, 1], so the clamp matters)."""
    out = {}
    for name, (h, w) in IMAGE_SIZES.items():
        low = torch.randn(2, 3, max(2, h // 8), max(2, w // 8), generator=gen)
        up = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
        up = up + 0.05 * torch.randn(up.shape, generator=gen)  # a little fine detail for bicubic to see
        up = 1.1 * up / up.abs().amax(dim=(1, 2, 3), keepdim=True)
        out[name] = up.float().contiguous()
    return out


def _preprocess(images):
    """The authors' get_preference_score preprocessing with S in place of 224."""
    h, w = images.shape[-2:]
    scale = S / min(h, w)
    new_size = (int(h * scale + 0.5), int(w * scale + 0.5))
    x = F.interpolate(images, size=new_size, mode="bicubic", align_corners=False)
    top = left = 0
    if new_size[0] != new_size[1]:
        # torchvision CenterCrop: int(round((size - crop) / 2.0)), Python's round (half to even).
        top = int(round((new_size[0] - S) / 2.0))
        left = int(round((new_size[1] - S) / 2.0))
        x = x[..., top:top + S, left:left + S]
    x = (x / 2 + 0.5).clamp(0, 1).float()
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    x = (x - mean) / std
    assert x.shape[-2:] == (S, S), x.shape
    return x.contiguous(), {"input_size": [h, w], "resized_size": list(new_size),
                            "cropped": new_size[0] != new_size[1], "crop_top": top, "crop_left": left}


# --------------------------------------------------------------------------- step-aware composition

def _sinusoid(t):
    half = FREQ_DIM // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _temb(t, w):
    x = F.linear(_sinusoid(t), w["t_embedder.mlp.0.weight"], w["t_embedder.mlp.0.bias"])
    x = F.silu(x)
    return F.linear(x, w["t_embedder.mlp.2.weight"], w["t_embedder.mlp.2.bias"])


def _layer_norm(x, module):
    return F.layer_norm(x, (x.shape[-1],), module.weight, module.bias, module.eps)


def _step_aware_image_embeds(model, w, pixels, t):
    """Plain torch ops over the CLIPModel's submodules plus the adaLN tensors w."""
    vision = model.vision_model
    temb = _temb(t, w)
    cond = F.silu(temb)
    h = vision.embeddings(pixels)
    h = _layer_norm(h, vision.pre_layrnorm)
    for i, layer in enumerate(vision.encoder.layers):
        prefix = f"vision_model.encoder.layers.{i}.adaLN_modulation.1."
        mod = F.linear(cond, w[prefix + "weight"], w[prefix + "bias"])
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = mod.chunk(6, dim=1)
        x = _layer_norm(h, layer.layer_norm1) * (1 + scale_a[:, None]) + shift_a[:, None]
        h = h + gate_a[:, None] * layer.self_attn(x)[0]
        x = _layer_norm(h, layer.layer_norm2) * (1 + scale_m[:, None]) + shift_m[:, None]
        h = h + gate_m[:, None] * layer.mlp(x)
    pooled = _layer_norm(h[:, 0], vision.post_layernorm)
    shift, scale = F.linear(cond, w["vision_model.adaLN_modulation.1.weight"],
                            w["vision_model.adaLN_modulation.1.bias"]).chunk(2, dim=1)
    pooled = pooled * (1 + scale) + shift
    return F.linear(pooled, model.visual_projection.weight), temb


def _scores(image_embeds, text_embeds, logit_scale):
    image = image_embeds / image_embeds.norm(dim=-1, keepdim=True)
    text = text_embeds / text_embeds.norm(dim=-1, keepdim=True)
    return logit_scale.exp() * (image * text).sum(dim=-1)


def _pooled(output):
    """transformers 5 returns a ModelOutput from get_*_features; older ones a tensor."""
    return output if torch.is_tensor(output) else output.pooler_output


# --------------------------------------------------------------------------- writing

def _write_model_dir(directory, config, tensors, tokenizer_dir):
    directory.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(directory))
    written = json.loads((directory / "config.json").read_text())
    assert written["text_config"]["eos_token_id"] == 2, written["text_config"].get("eos_token_id")
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, directory / name)


def _preprocessor_config():
    return {
        "crop_size": {"height": S, "width": S},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": list(CLIP_MEAN),
        "image_processor_type": "CLIPImageProcessor",
        "image_std": list(CLIP_STD),
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"shortest_edge": S},
    }


def _stale(out):
    stamp = out / ".complete"
    if not stamp.exists():
        return True
    sources = [pathlib.Path(__file__).resolve(), HERE / "make_text_fixtures.py"]
    return stamp.stat().st_mtime < max(p.stat().st_mtime for p in sources)


def make(out: pathlib.Path) -> None:
    from transformers import CLIPModel, CLIPTokenizer

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20240611)

    # Tokenizer.
    tok_dir = out / "tokenizer"
    merges = make_text_fixtures.learn_merges(make_text_fixtures.CORPUS, make_text_fixtures.NUM_MERGES)
    make_text_fixtures.write_tokenizer_dir(tok_dir, merges, "!")
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    vocab = tokenizer.get_vocab()
    vocab_size = len(vocab)
    assert tokenizer.pad_token == "!"
    assert tokenizer.eos_token_id == max(vocab.values()) == vocab_size - 1
    input_ids = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True,
                          return_tensors="pt").input_ids.long().contiguous()
    assert input_ids.shape == (2, 77)
    assert (input_ids.argmax(dim=-1) == (input_ids == tokenizer.eos_token_id).int().argmax(dim=-1)).all()

    # Plain CLIPModel.
    config = _config(vocab_size)
    model = CLIPModel(config).eval()
    assert model.vision_model.config._attn_implementation == "eager"
    _randomise(model, gen)
    plain = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()
             if not k.endswith("position_ids")}
    _check_manifest_structure(plain.keys())
    _write_model_dir(out / "plain", config, plain, tok_dir)
    (out / "plain" / "preprocessor_config.json").write_text(json.dumps(_preprocessor_config(), indent=2) + "\n")

    # Step-aware weights.
    adaln = _adaln_tensors(gen)
    step_aware = {**plain, **adaln}
    _write_model_dir(out / "step_aware", config, step_aware, tok_dir)
    _write_model_dir(out / "step_aware_prefixed", config, {"model." + k: v for k, v in step_aware.items()}, tok_dir)

    # Inputs.
    images = _images(gen)
    ref = {"input_ids": input_ids}
    cases = {}
    for name, img in images.items():
        ref[f"images_{name}"] = img
        ref[f"pixels_{name}"], cases[name] = _preprocess(img)
    pixels = ref["pixels_landscape"]

    with torch.no_grad():
        # Plain scores, through transformers.
        image_embeds = _pooled(model.get_image_features(pixel_values=pixels))
        text_embeds = _pooled(model.get_text_features(input_ids=input_ids))
        vision_out = model.vision_model(pixel_values=pixels)
        by_hand = model.visual_projection(vision_out.pooler_output)
        assert torch.allclose(image_embeds, by_hand, atol=1e-6, rtol=0)
        full = model(input_ids=input_ids, pixel_values=pixels)
        assert torch.allclose(image_embeds / image_embeds.norm(dim=-1, keepdim=True), full.image_embeds, atol=1e-6)
        assert torch.allclose(text_embeds / text_embeds.norm(dim=-1, keepdim=True), full.text_embeds, atol=1e-6)
        plain_scores = _scores(image_embeds, text_embeds, model.logit_scale)
        assert torch.allclose(plain_scores, full.logits_per_image.diagonal(), atol=1e-5)
        ref["plain_image_embeds"] = image_embeds.contiguous()
        ref["plain_text_embeds"] = text_embeds.contiguous()
        ref["plain_scores"] = plain_scores.contiguous()

        # Cross-check of the composition: identity adaLN reproduces the plain model.
        identity = _identity_adaln(adaln)
        for t in (0.0, 501.0):
            embeds, _ = _step_aware_image_embeds(model, identity, pixels, torch.full((2,), t))
            assert torch.allclose(embeds, image_embeds, atol=1e-6, rtol=0), (embeds - image_embeds).abs().max()
            diff = (_scores(embeds, text_embeds, model.logit_scale) - plain_scores).abs().max()
            assert diff <= 1e-6, diff

        # Step-aware outputs.
        for t in TIMESTEPS:
            embeds, temb = _step_aware_image_embeds(model, adaln, pixels, torch.full((2,), float(t)))
            single = _temb(torch.tensor([float(t)]), adaln)
            assert torch.allclose(temb, single.expand(2, -1), atol=1e-6, rtol=0)
            ref[f"temb_t{t}"] = single.contiguous()
            ref[f"step_aware_image_embeds_t{t}"] = embeds.contiguous()
            ref[f"step_aware_scores_t{t}"] = _scores(embeds, text_embeds, model.logit_scale).contiguous()
        mixed = torch.tensor(MIXED, dtype=torch.float32)
        embeds, _ = _step_aware_image_embeds(model, adaln, pixels, mixed)
        ref["timesteps_mixed"] = mixed
        ref["step_aware_scores_mixed"] = _scores(embeds, text_embeds, model.logit_scale).contiguous()

    for k, v in ref.items():
        assert v.dtype == (torch.int64 if k == "input_ids" else torch.float32), (k, v.dtype)
    spread = torch.stack([ref[f"step_aware_scores_t{t}"] for t in TIMESTEPS])
    assert (spread.amax(0) - spread.amin(0)).min() > 0.5, spread  # scores clearly depend on t
    save_file(ref, str(out / "reference.safetensors"))

    facts = {
        "prompts": PROMPTS,
        "timesteps": list(TIMESTEPS),
        "timesteps_mixed": list(MIXED),
        "image_size": S,
        "images": {name: {"shape": list(ref[f"images_{name}"].shape), **cases[name]} for name in images},
        "scored_images": "pixels_landscape (plain_* and step_aware_*)",
        "preprocessing": (
            "x in [-1,1] (B,3,h,w); short = min(h,w); scale = S / short; new = (int(h*scale + 0.5), "
            "int(w*scale + 0.5)); x = F.interpolate(x, new, mode='bicubic', align_corners=False) (no antialias); "
            "if new_h != new_w: centre crop S with top = int(round((new_h - S) / 2.0)), "
            "left = int(round((new_w - S) / 2.0)) (Python round, half to even, as torchvision CenterCrop); "
            "x = (x/2 + 0.5).clamp(0, 1); x = (x - mean) / std (CLIP mean/std)"),
        "clip_mean": list(CLIP_MEAN),
        "clip_std": list(CLIP_STD),
        "score": "exp(logit_scale) * cos(image_embeds_i, text_embeds_i), row-wise",
        "logit_scale": LOGIT_SCALE,
        "time_embedding": ("temb = Linear2(SiLU(Linear0(cat[cos(t*f), sin(t*f)]))), f = exp(-ln(10000) * "
                           "arange(128) / 128), sinusoid dim 256"),
        "adaln": ("per vision layer: (shift_a, scale_a, gate_a, shift_m, scale_m, gate_m) = "
                  "Linear(SiLU(temb)).chunk(6); h += gate_a * attn(LN1(h)*(1+scale_a)+shift_a); "
                  "h += gate_m * mlp(LN2(h)*(1+scale_m)+shift_m); pooled = post_layernorm(h[:,0]); "
                  "(shift, scale) = Linear(SiLU(temb)).chunk(2); pooled = pooled*(1+scale)+shift; "
                  "visual_projection"),
        "tokenizer": {"vocab_size": vocab_size, "pad_id": tokenizer.pad_token_id,
                      "bos_id": tokenizer.bos_token_id, "eos_id": tokenizer.eos_token_id,
                      "pad_token": tokenizer.pad_token},
        "model": {"projection_dim": PROJ, "text_hidden": 32, "text_layers": 2, "vision_hidden": D,
                  "vision_layers": VISION_LAYERS, "patch_size": 8, "text_eos_token_id_config": 2},
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                    for k, v in ref.items()},
    }
    (out / "reference.json").write_text(json.dumps(facts, indent=1) + "\n")


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    if not _stale(out):
        return
    (out / ".complete").unlink(missing_ok=True)
    start = time.time()
    make(out)
    (out / ".complete").touch()
    print(f"evaluator fixtures -> {out} ({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
