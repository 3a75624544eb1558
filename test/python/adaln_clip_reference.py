"""An independent PyTorch step-aware preference model (the SPO authors' adaLN CLIP).

Written from the description of the authors' time_conditioned_clip.py and
step_aware_preference_model.py (RockeyCoss/SPO) and their criterion
(spm_criterion.py), on top of transformers' CLIPModel modules. It shares no
code with the engine, nor with make_evaluator_fixtures.py's composition:

  time embedding   t (cast to the pixels' dtype) -> sinusoid of 256 features,
                   [cos(t f), sin(t f)] with f_i = exp(-ln(10000) i / 128),
                   -> t_embedder.mlp = Linear(256, D), SiLU, Linear(D, D)
  encoder layer    adaLN_modulation = SiLU, Linear(D, 6D) of the time embedding,
                   chunks in the order shift_msa, scale_msa, gate_msa,
                   shift_mlp, scale_mlp, gate_mlp;
                   h = h + gate_msa * attn(LN1(h) * (1 + scale_msa) + shift_msa)
                   h = h + gate_mlp * mlp(LN2(h) * (1 + scale_mlp) + shift_mlp)
  pooled token     post_layernorm(h[:, 0]), then the vision model's own
                   adaLN_modulation = SiLU, Linear(D, 2D): chunks shift, scale;
                   pooled * (1 + scale) + shift; visual_projection
  score            exp(logit_scale) * cos(image_embeds, text_embeds)
  preprocessing    images in [-1, 1]; bicubic resize (align_corners False) of the
                   short side to S with int(size * S / short + 0.5); torchvision
                   CenterCrop when not square; (x / 2 + 0.5).clamp(0, 1); CLIP
                   mean / std normalisation
  loss             per pair, cross-entropy of [s0, s1] against the labels, plus
                   log(0.5) for a tie; weights 1 / (pairs of the prompt),
                   normalised over the batch; summed

The module tree reproduces the authors' state-dict names (t_embedder.mlp.{0,2},
vision_model.encoder.layers.N.adaLN_modulation.1, vision_model.adaLN_modulation.1),
so their weight files load with load_state_dict.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

FREQUENCY_DIM = 256
MAX_PERIOD = 10000.0


class TimestepEmbedder(nn.Module):
    """DiT's timestep embedder, as the authors use it."""

    def __init__(self, hidden, frequency_dim=FREQUENCY_DIM):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def sinusoid(self, t):
        half = self.frequency_dim // 2
        exponents = torch.arange(half, dtype=torch.float32, device=t.device) / half
        freqs = torch.exp(-math.log(MAX_PERIOD) * exponents)
        angles = t.float().unsqueeze(1) * freqs.unsqueeze(0)
        out = torch.cat([angles.cos(), angles.sin()], dim=1)
        if self.frequency_dim % 2:
            out = F.pad(out, (0, 1))
        return out

    def forward(self, t):
        return self.mlp(self.sinusoid(t))


def _modulation(hidden, chunks):
    # nn.Sequential(SiLU, Linear): the Linear is child "1" as in the authors' files.
    return nn.Sequential(nn.SiLU(), nn.Linear(hidden, chunks * hidden))


def _modulate(x, shift, scale):
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class AdaLnClip(nn.Module):
    """transformers' CLIPModel submodules plus the authors' time conditioning.

    The adaLN modules are attached to transformers' own encoder layers and
    vision transformer, so state_dict() keys are exactly the authors' layout
    (text_model.*, vision_model.*, visual_projection.weight,
    text_projection.weight, logit_scale, t_embedder.*, *.adaLN_modulation.1.*).
    """

    def __init__(self, clip_config):
        super().__init__()
        from transformers import CLIPModel

        clip = CLIPModel(clip_config)
        self.text_model = clip.text_model
        self.vision_model = clip.vision_model
        self.visual_projection = clip.visual_projection
        self.text_projection = clip.text_projection
        self.logit_scale = clip.logit_scale
        hidden = clip_config.vision_config.hidden_size
        for layer in self.vision_model.encoder.layers:
            layer.adaLN_modulation = _modulation(hidden, 6)
        self.vision_model.adaLN_modulation = _modulation(hidden, 2)
        self.t_embedder = TimestepEmbedder(hidden)

    def load_authors_weights(self, tensors):
        """Every parameter from `tensors` (the authors' key names); nothing left over."""
        missing, unexpected = self.load_state_dict(tensors, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]  # buffers, not weights
        assert not missing and not unexpected, (missing, unexpected)

    def image_features(self, pixels, timesteps):
        vision = self.vision_model
        temb = self.t_embedder(timesteps.to(pixels.dtype))
        h = vision.pre_layrnorm(vision.embeddings(pixels))
        for layer in vision.encoder.layers:
            (shift_msa, scale_msa, gate_msa,
             shift_mlp, scale_mlp, gate_mlp) = layer.adaLN_modulation(temb).chunk(6, dim=1)
            attn_out = layer.self_attn(hidden_states=_modulate(layer.layer_norm1(h), shift_msa, scale_msa))[0]
            h = h + attn_out * gate_msa[:, None, :]
            mlp_out = layer.mlp(_modulate(layer.layer_norm2(h), shift_mlp, scale_mlp))
            h = h + mlp_out * gate_mlp[:, None, :]
        pooled = vision.post_layernorm(h[:, 0, :])
        shift, scale = vision.adaLN_modulation(temb).chunk(2, dim=1)
        return self.visual_projection(pooled * (1 + scale) + shift)

    def text_features(self, input_ids):
        return self.text_projection(self.text_model(input_ids=input_ids).pooler_output)

    def scores(self, pixels, input_ids, timesteps):
        image = F.normalize(self.image_features(pixels, timesteps), dim=-1)
        text = F.normalize(self.text_features(input_ids), dim=-1)
        return self.logit_scale.exp() * (image * text).sum(dim=-1)


def center_crop(x, size):
    """torchvision.transforms.CenterCrop for an image larger than `size` both ways."""
    h, w = x.shape[-2:]
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return x[..., top:top + size, left:left + size]


def preprocess(images, size, mean, std):
    """The authors' get_preference_score: [-1, 1] images of any size -> CLIP pixels."""
    short = min(images.shape[-2:])
    scale = size / short
    new_size = (int(images.shape[-2] * scale + 0.5), int(images.shape[-1] * scale + 0.5))
    x = F.interpolate(images, size=new_size, mode="bicubic", align_corners=False)
    if new_size[0] != new_size[1]:
        x = center_crop(x, size)
    x = (x / 2 + 0.5).clamp(0, 1).float()
    mean = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def preference_loss(s0, s1, label_0, pairs_per_prompt):
    """The authors' criterion without in-batch negatives."""
    logits = torch.stack([s0, s1], dim=-1)
    first = torch.zeros(len(s0), dtype=torch.long)
    loss_0 = F.cross_entropy(logits, first, reduction="none")
    loss_1 = F.cross_entropy(logits, first + 1, reduction="none")
    label_1 = 1 - label_0
    loss = label_0 * loss_0 + label_1 * loss_1
    loss = loss + (label_0 == label_1).float() * math.log(0.5)
    weight = 1 / pairs_per_prompt
    return (loss * (weight / weight.sum())).sum()
