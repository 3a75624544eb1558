"""Reference fixtures for the C++ CLIP text encoders (native/core/models/clip_text_*).

make(out_dir) writes three tiny random transformers models, each in its own
directory with config.json + model.safetensors + reference.safetensors
(input_ids and transformers' outputs for them):

  legacy_eos/   CLIPTextModel, eos_token_id 2 (pooling at argmax(input_ids), as
                SD-1.5's and SDXL's configs), quick_gelu, 77 positions. Weights in
                the hub layout (text_model.* keys, as transformers 4.x wrote them)
                plus the old persistent text_model.embeddings.position_ids.
  eos_gelu/     CLIPTextModel, eos_token_id 777 (pooling at the first 777, with
                larger ids present so argmax would differ), gelu. Weights as
                transformers 5 save_pretrained writes them (no text_model. prefix).
  projection/   CLIPTextModelWithProjection (SDXL text_encoder_2 style: eos 2,
                gelu), projection_dim 24 != hidden 32.

Every parameter is randomised (layer norms included, so a swapped norm shows).
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

VOCAB = 1000


def _config(eos, act):
    return CLIPTextConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, projection_dim=24,
                          num_hidden_layers=3, num_attention_heads=4, max_position_embeddings=77,
                          hidden_act=act, layer_norm_eps=1e-5, bos_token_id=998, eos_token_id=eos,
                          pad_token_id=1, attn_implementation="eager")


def _randomise(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "layer_norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif "embedding" in name:
                p.copy_(0.5 * noise)
            else:
                p.copy_(noise / p.shape[-1] ** 0.5)


def _legacy_ids(gen):
    """SD-style rows: BOS 998, words < 990, EOS 999, then EOS padding (SD-1.5),
    0 padding (SDXL encoder 2), or no padding (full row)."""
    rows = []
    for length, pad in ((7, 999), (12, 0), (76, None)):
        words = torch.randint(3, 990, (length - 2,), generator=gen)
        row = torch.cat([torch.tensor([998]), words, torch.tensor([999])])
        fill = 0 if pad is None else pad
        row = torch.cat([row, torch.full((77 - row.numel(),), fill)])
        rows.append(row)
    return torch.stack(rows).long()


def _eos777_ids(gen):
    """L = 16. EOS 777 at 5 then 777 padding; at 10 with words after it; a row
    with no 777 at all (transformers pools position 0). Words avoid 777 but
    include ids above it, so argmax(ids) would pick elsewhere."""
    ids = torch.randint(3, 1000, (3, 16), generator=gen)
    ids[ids == 777] = 778
    ids[:, 0] = 998
    ids[0, 5:] = 777
    ids[1, 10] = 777
    ids[1, 11] = 999
    ids[2, 8] = 999
    return ids.long()


def _save_reference(path, model, ids, with_projection):
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    ref = {
        "input_ids": ids.contiguous(),
        "last_hidden_state": out.last_hidden_state.contiguous(),
        "penultimate_hidden_state": out.hidden_states[-2].contiguous(),
    }
    if with_projection:
        ref["text_embeds"] = out.text_embeds.contiguous()
        # transformers' projection model does not return the pooled state; take it from its text model.
        with torch.no_grad():
            ref["pooler_output"] = model.text_model(input_ids=ids).pooler_output.contiguous()
    else:
        ref["pooler_output"] = out.pooler_output.contiguous()
    save_file(ref, path)
    return ref


def _to_hub_layout(directory, max_positions):
    """Rewrites model.safetensors with the text_model. prefix and the position_ids
    buffer that transformers 4.x checkpoints (SD-1.5's text_encoder) carry."""
    path = os.path.join(directory, "model.safetensors")
    tensors = load_file(path)
    hub = {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in tensors.items()}
    hub["text_model.embeddings.position_ids"] = torch.arange(max_positions).unsqueeze(0)
    save_file(hub, path, metadata={"format": "pt"})


def make(out_dir: str) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    cases = [
        ("legacy_eos", CLIPTextModel, _config(2, "quick_gelu"), _legacy_ids, True),
        ("eos_gelu", CLIPTextModel, _config(777, "gelu"), _eos777_ids, False),
        ("projection", CLIPTextModelWithProjection, _config(2, "gelu"), _legacy_ids, False),
    ]
    for name, cls, config, make_ids, hub_layout in cases:
        directory = os.path.join(out_dir, name)
        os.makedirs(directory, exist_ok=True)
        model = cls(config).eval()
        _randomise(model, gen)
        model.save_pretrained(directory, safe_serialization=True)
        if hub_layout:
            _to_hub_layout(directory, config.max_position_embeddings)
        ref = _save_reference(os.path.join(directory, "reference.safetensors"), model, make_ids(gen),
                              cls is CLIPTextModelWithProjection)
        # The written directory must load back in transformers to the same numbers.
        again = cls.from_pretrained(directory, attn_implementation="eager").eval()
        with torch.no_grad():
            check = again(input_ids=ref["input_ids"]).last_hidden_state
        assert torch.allclose(check, ref["last_hidden_state"], atol=1e-6), f"{name}: reload differs"
        if name == "eos_gelu":  # the case is only useful if the two pooling rules disagree
            ids = ref["input_ids"]
            assert (ids.argmax(-1) != (ids == 777).int().argmax(-1)).all(), "eos_gelu ids do not separate the rules"
        with open(os.path.join(directory, "config.json")) as f:
            assert json.load(f)["eos_token_id"] == config.eos_token_id


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else "fixtures/models/clip_text")
