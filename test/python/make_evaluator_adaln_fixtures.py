"""Fixtures: the engine's step-aware preference model against an independent
PyTorch adaLN CLIP (adaln_clip_reference.py, written from the SPO authors'
time_conditioned_clip.py), with random NON-identity modulation weights.

Writes into OUT_DIR:
  step_aware/   a tiny CLIPModel directory in PickScore's layout plus the
                authors' adaLN keys, every weight random (adaLN shifts, scales
                and gates far from their identity setting): config.json,
                model.safetensors, the tokenizer files. The reference model
                loads its weights back from this file, as the engine does.
  reference.safetensors (float32; input ids int64)
      images [2,3,40,56]          smooth images in about [-1.1, 1.1]
      input_ids [2,77]             the two prompts
      scores_t{t} [2]              reference scores, t in TIMESTEPS, both images at t
      timesteps_mixed [2], scores_mixed [2]   one t per image
      pair_images_0, pair_images_1 [6,3,40,56], pair_labels [6] (P(image 0
                preferred): 1, 0 or 0.5), pair_timesteps [6], pair_counts [6]
                (pairs of the pair's prompt), pair_input_ids [6,77]
      step_loss []                 the preference loss of the six pairs (clean:
                each pair's images scored at its own timestep)
      step_grad_norm []            the total gradient norm before clipping
      grad.<param> / after.<param> every parameter's gradient, and its value
                after one clipped AdamW step (TRAIN below)
  reference.json  prompts, timesteps, the pairs' prompts, the step's settings,
                the spread of the scores over t.
  .complete     stamp: skipped while newer than this script and its imports.

The reference is checked on itself first: with the modulation at its identity
setting its scores are transformers' CLIPModel's (to 1e-5).

Usage: python make_evaluator_adaln_fixtures.py OUT_DIR
"""
import json
import pathlib
import shutil
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import adaln_clip_reference as ref_model  # noqa: E402
import make_text_fixtures  # noqa: E402

S = 32
D = 48  # vision width (the other evaluator fixtures use 40)
PROJ = 20
LOGIT_SCALE = 4.6052
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PROMPTS = ["a red circle above a blue square", "two green triangles"]
TIMESTEPS = (0, 251, 501, 951)
MIXED = (101.0, 801.0)
IMAGE_HW = (40, 56)  # landscape: resized to 32 x 45, then centre-cropped
# Six pairs over three prompts (1, 2 and 3 pairs: unequal weights), each label
# kind, each pair at its own timestep (clean training: no denoiser involved).
PAIR_PROMPTS = ["a yellow star", "two green triangles", "two green triangles",
                "a red circle above a blue square", "a red circle above a blue square",
                "a red circle above a blue square"]
PAIR_LABELS = (1.0, 0.0, 0.5, 1.0, 0.0, 1.0)
PAIR_TIMESTEPS = (0, 251, 501, 951, 101, 801)
# One step of the engine's train_preference_model: steps 1, batch = all pairs,
# no warm-up (so the learning rate is the base rate), AdamW, clipping at 1.
TRAIN = {"learning_rate": 1e-3, "weight_decay": 0.3, "beta1": 0.9, "beta2": 0.999, "adam_eps": 1e-4,
         "max_grad_norm": 1.0}
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def clip_config(vocab_size):
    from transformers import CLIPConfig

    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=56, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5,
                bos_token_id=0, pad_token_id=1, eos_token_id=2, projection_dim=PROJ)
    vision = dict(hidden_size=D, intermediate_size=72, num_hidden_layers=2, num_attention_heads=4,
                  image_size=S, patch_size=8, num_channels=3, hidden_act="gelu", layer_norm_eps=1e-5,
                  projection_dim=PROJ)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJ,
                        logit_scale_init_value=LOGIT_SCALE)
    config._attn_implementation = "eager"
    config.architectures = ["CLIPModel"]
    return config


def random_weights(model, gen):
    """Random values for every parameter, the adaLN ones far from identity:
    shifts ~0.3, scales ~0.4 and gates 1 +- 0.5 in the biases, and weights
    large enough that t moves the modulation by tens of percent."""
    out = {}
    for name, p in model.state_dict().items():
        if name.endswith("position_ids"):
            continue
        noise = torch.randn(p.shape, generator=gen)
        if name == "logit_scale":
            value = torch.tensor(LOGIT_SCALE)
        elif "adaLN_modulation" in name and name.endswith("weight"):
            value = 1.5 * noise / p.shape[1] ** 0.5
        elif "adaLN_modulation" in name:  # bias: chunks of D
            chunks = p.shape[0] // D
            spread = {6: (0.3, 0.4, 0.5, 0.3, 0.4, 0.5), 2: (0.3, 0.4)}[chunks]
            centre = {6: (0, 0, 1, 0, 0, 1), 2: (0, 0)}[chunks]
            value = torch.cat([c + s * noise[i * D:(i + 1) * D] for i, (c, s) in enumerate(zip(centre, spread))])
        elif name.startswith("t_embedder") and name.endswith("weight"):
            value = 2.0 * noise / p.shape[1] ** 0.5
        elif "norm" in name and name.endswith("weight"):
            value = 1 + 0.2 * noise
        elif name.endswith("bias"):
            value = 0.1 * noise
        elif name.endswith(("class_embedding", "position_embedding.weight", "token_embedding.weight")):
            value = 0.5 * noise
        else:  # linear and patch-conv weights
            value = noise / p[0].numel() ** 0.5
        out[name] = value.float().contiguous()
    return out


def smooth_images(n, gen):
    h, w = IMAGE_HW
    low = torch.randn(n, 3, 5, 7, generator=gen)
    x = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    x = x + 0.05 * torch.randn(x.shape, generator=gen)
    return (1.1 * x / x.abs().amax(dim=(1, 2, 3), keepdim=True)).float().contiguous()


def check_identity_setting(config, weights, pixels, input_ids):
    """A sanity check of the reference itself: with the modulation at identity
    (weights 0; shifts, scales 0; gates 1) it is transformers' CLIPModel."""
    from transformers import CLIPModel

    identity = dict(weights)
    for name, value in weights.items():
        if "adaLN_modulation" in name:
            identity[name] = torch.zeros_like(value)
            if name.endswith("bias") and value.shape[0] == 6 * D:
                identity[name][2 * D:3 * D] = 1
                identity[name][5 * D:] = 1
    model = ref_model.AdaLnClip(config)
    model.load_authors_weights(identity)
    clip = CLIPModel(config)
    missing, unexpected = clip.load_state_dict(
        {k: v for k, v in weights.items() if "adaLN" not in k and not k.startswith("t_embedder")}, strict=False)
    assert not [k for k in missing if not k.endswith("position_ids")] and not unexpected, (missing, unexpected)
    with torch.no_grad():
        expected = clip(input_ids=input_ids, pixel_values=pixels).logits_per_image.diagonal()
        for t in (0.0, 777.0):
            got = model.eval().scores(pixels, input_ids, torch.full((len(pixels),), t))
            assert torch.allclose(got, expected, atol=1e-5, rtol=0), (got, expected)


def stale(out):
    stamp = out / ".complete"
    if not stamp.exists():
        return True
    sources = [pathlib.Path(__file__).resolve(), HERE / "adaln_clip_reference.py", HERE / "make_text_fixtures.py"]
    return stamp.stat().st_mtime < max(p.stat().st_mtime for p in sources)


def make(out):
    from transformers import CLIPTokenizer

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20260604)

    tok_dir = out / "tokenizer"
    merges = make_text_fixtures.learn_merges(make_text_fixtures.CORPUS, make_text_fixtures.NUM_MERGES)
    make_text_fixtures.write_tokenizer_dir(tok_dir, merges, "!")
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    # CLIP's EOS is the largest id, so pooling at argmax(input_ids) finds it.
    assert tokenizer.eos_token_id == max(tokenizer.get_vocab().values())

    def ids(prompts):
        return tokenizer(prompts, padding="max_length", max_length=77, truncation=True,
                         return_tensors="pt").input_ids.long().contiguous()

    config = clip_config(len(tokenizer.get_vocab()))
    weights = random_weights(ref_model.AdaLnClip(config), gen)
    model_dir = out / "step_aware"
    model_dir.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(model_dir))
    save_file(weights, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    for name in TOKENIZER_FILES:
        shutil.copyfile(tok_dir / name, model_dir / name)

    # The reference reads the weights back from the file the engine will read.
    model = ref_model.AdaLnClip(config)
    model.load_authors_weights(load_file(str(model_dir / "model.safetensors")))
    model.eval()

    images = smooth_images(2, gen)
    input_ids = ids(PROMPTS)
    ref = {"images": images, "input_ids": input_ids}
    pixels = ref_model.preprocess(images, S, CLIP_MEAN, CLIP_STD)
    check_identity_setting(config, weights, pixels, input_ids)
    with torch.no_grad():
        for t in TIMESTEPS:
            ref[f"scores_t{t}"] = model.scores(pixels, input_ids, torch.full((2,), float(t))).contiguous()
        mixed = torch.tensor(MIXED)
        ref["timesteps_mixed"] = mixed
        ref["scores_mixed"] = model.scores(pixels, input_ids, mixed).contiguous()
    by_t = torch.stack([ref[f"scores_t{t}"] for t in TIMESTEPS])
    spread = (by_t.amax(0) - by_t.amin(0)).min().item()
    assert spread > 1.0, by_t  # the modulation is far from identity: t moves the scores

    # One training step on six clean pairs.
    n = len(PAIR_PROMPTS)
    images_0, images_1 = smooth_images(n, gen), smooth_images(n, gen)
    labels = torch.tensor(PAIR_LABELS)
    timesteps = torch.tensor(PAIR_TIMESTEPS, dtype=torch.float32)
    counts = torch.tensor([float(PAIR_PROMPTS.count(p)) for p in PAIR_PROMPTS])
    pair_ids = ids(PAIR_PROMPTS)
    ref.update(pair_images_0=images_0, pair_images_1=images_1, pair_labels=labels, pair_timesteps=timesteps,
               pair_counts=counts, pair_input_ids=pair_ids)
    model.train()
    params = dict(model.named_parameters())
    assert set(params) == set(weights), sorted(set(params) ^ set(weights))
    optimizer = torch.optim.AdamW(params.values(), lr=TRAIN["learning_rate"], betas=(TRAIN["beta1"], TRAIN["beta2"]),
                                  eps=TRAIN["adam_eps"], weight_decay=TRAIN["weight_decay"])
    optimizer.zero_grad()
    s0 = model.scores(ref_model.preprocess(images_0, S, CLIP_MEAN, CLIP_STD), pair_ids, timesteps)
    s1 = model.scores(ref_model.preprocess(images_1, S, CLIP_MEAN, CLIP_STD), pair_ids, timesteps)
    loss = ref_model.preference_loss(s0, s1, labels, counts)
    loss.backward()
    for name, p in params.items():
        ref[f"grad.{name}"] = p.grad.detach().clone().contiguous()
    grad_norm = torch.nn.utils.clip_grad_norm_(list(params.values()), TRAIN["max_grad_norm"])
    assert grad_norm > TRAIN["max_grad_norm"], grad_norm  # the clipping is exercised
    optimizer.step()
    for name, p in params.items():
        ref[f"after.{name}"] = p.detach().clone().contiguous()
    ref["step_loss"] = loss.detach().reshape(())
    ref["step_grad_norm"] = grad_norm.detach().float().reshape(())
    ref["pair_scores_0"] = s0.detach().contiguous()
    ref["pair_scores_1"] = s1.detach().contiguous()
    save_file({k: v.contiguous() for k, v in ref.items()}, str(out / "reference.safetensors"))

    facts = {
        "prompts": PROMPTS,
        "timesteps": list(TIMESTEPS),
        "timesteps_mixed": list(MIXED),
        "image_size": S,
        "pair_prompts": PAIR_PROMPTS,
        "pair_timesteps": list(PAIR_TIMESTEPS),
        "train": TRAIN,
        "score_spread_over_t": spread,
        "parameters": sorted(params),
    }
    (out / "reference.json").write_text(json.dumps(facts, indent=1) + "\n")


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    if not stale(out):
        return
    (out / ".complete").unlink(missing_ok=True)
    start = time.time()
    make(out)
    (out / ".complete").touch()
    print(f"evaluator adaLN fixtures -> {out} ({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
