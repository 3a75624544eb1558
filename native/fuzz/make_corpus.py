#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into native/fuzz/corpus/<target>/.

Seeds are small valid inputs (the fuzzer mutates from there): the tiny test
fixtures' config files when a fixture directory is given (ctest makes them,
e.g. build/fixtures), plus hand-made files for the formats the fixtures do not
cover as separate small files (safetensors, pairs, prompts, settings,
checkpoints). Uses only the standard library.

    python3 native/fuzz/make_corpus.py [build/fixtures]
"""
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SEP = b"\x01"  # fuzz_support.h: kPartSeparator


def put(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad_to=8):
    """tensors: [(name, dtype, shape, raw bytes)] -> file bytes, laid out in order."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % pad_to)  # aligned data, as the writers do
    return struct.pack("<Q", len(text)) + text + data


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def hand_made():
    put("safetensors_header", "two_f32.safetensors",
        safetensors([("a", "F32", [2, 2], f32([1, 2, 3, 4])), ("b", "F32", [3], f32([5, 6, 7]))], {"format": "pt"}))
    put("safetensors_header", "mixed_dtypes.safetensors",
        safetensors([("ids", "I64", [1, 2], struct.pack("<2q", 0, 1)), ("h", "F16", [2], b"\x00\x3c\x00\x40"),
                     ("bf", "BF16", [1], b"\x80\x3f"), ("empty", "F32", [0, 3], b"")]))
    put("safetensors_header", "unread_dtype.safetensors", safetensors([("q", "I8", [4], b"\x01\x02\x03\x04")]))

    put("pairs_jsonl", "labels.jsonl",
        '{"prompt": "a red circle", "image_0": "a.png", "image_1": "b.png", "label": 0}\n'
        '\n{"prompt": "two squares", "image_0": "/abs/c.png", "image_1": "d.png", "label": "tie"}\r\n'
        '{"prompt": "a blue star", "image_0": "e.png", "image_1": "f.png", "label": 1}\n')
    put("prompt_file", "lines.txt", "a photo of a cat\n\n  a red circle  \r\nthree blue squares\n")
    put("prompt_file", "captions.json", '[{"caption": "a dog"}, "a plain string", {"caption": "x", "id": 3}]')
    put("prompt_file", "bom.json", b"\xef\xbb\xbf" + b'["caf\xc3\xa9"]')

    put("spo_settings", "sdxl.json", '{"preset": "sdxl", "k": 3, "resampler": "win", "onNonFinite": "skip"}')
    put("spo_settings", "full.json", json.dumps({
        "preset": "sd15", "k": 4, "transitionsPerChain": 1, "divertStartStep": 4, "kappa": -1, "threshold": 0.3,
        "resampler": "random", "pairSelection": "best-worst", "beta": 10.0, "eps": 0.1, "loraRank": 4,
        "loraAlpha": 4.0, "learningRate": 6e-5, "adamBeta1": 0.9, "adamBeta2": 0.999, "weightDecay": 1e-4,
        "adamEps": 1e-8, "sampleBatchSize": 10, "trainBatchSize": 10, "gradientAccumulation": 1,
        "maxGradNorm": 1.0, "authorsNoopClip": False, "epochs": 10, "seed": 42, "steps": 20, "eta": 1.0,
        "guidanceScale": 5.0, "guidanceInTraining": True, "width": 0, "height": 0, "maxBatch": 0,
        "gradientCheckpointing": False, "onNonFinite": "stop", "mode": "spo", "method": "spo"}))

    put("scheduler_config", "ddim.json", json.dumps({
        "_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000, "steps_offset": 1, "timestep_spacing": "trailing",
        "prediction_type": "v_prediction", "clip_sample": True, "clip_sample_range": 1.5}))
    put("scheduler_config", "cosine.json", '{"beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "linspace"}')

    # The lora_checkpoint target's run: parameters a.down [2,4], a.up [4,2]; this identity.
    identity = {"prompts": 3, "settings": {"k": 4}}
    lora = safetensors([("a.down", "F32", [2, 4], f32(range(8))), ("a.up", "F32", [4, 2], f32(range(8)))],
                       {"format": "spo-lora-state"})
    adam = safetensors([("a.down.exp_avg", "F32", [2, 4], f32([0.1] * 8)),
                        ("a.down.exp_avg_sq", "F32", [2, 4], f32([0.01] * 8)),
                        ("a.down.step", "I64", [1], struct.pack("<q", 7))], {"format": "spo-adamw-state"})
    state = json.dumps({"counter": 7, "run": identity}, indent=2).encode() + b"\n"
    put("lora_checkpoint", "complete", SEP.join([b"step-000000007\n", state, lora, adam]))
    put("lora_checkpoint", "no_optimizer_state", SEP.join([b"step-000000007\n", state, lora,
                                                             safetensors([], {"format": "spo-adamw-state"})]))

    # A tokenizer small enough to read: "a", "b", "c", "ab", "abc</w>" and the specials.
    vocab = {"a": 0, "b": 1, "c": 2, "a</w>": 3, "b</w>": 4, "c</w>": 5, "ab": 6, "abc</w>": 7,
             "<|startoftext|>": 8, "<|endoftext|>": 9}
    merges = "#version: 0.2\na b\nab c</w>\n"
    put("clip_tokenizer", "tiny", SEP.join([json.dumps(vocab).encode(), merges.encode(), b"", b"", b"abc ab c"]))


def from_fixtures(root):
    """Config files of the tiny fixture models (test/python/make_*_fixtures.py)."""
    copies = {
        "unet_config": ["pipeline/sd15/unet/config.json", "pipeline/sdxl/unet/config.json"],
        "autoencoder_kl_config": ["pipeline/sd15/vae/config.json", "pipeline/sdxl/vae/config.json"],
        "clip_text_config": ["pipeline/sd15/text_encoder/config.json", "pipeline/sdxl/text_encoder_2/config.json"],
        "clip_model_config": ["evaluator/plain/config.json", "evaluator/step_aware/config.json"],
        "model_index": ["pipeline/sd15/model_index.json", "pipeline/sdxl/model_index.json"],
        "scheduler_config": ["pipeline/sd15/scheduler/scheduler_config.json",
                             "pipeline/sdxl/scheduler/scheduler_config.json"],
    }
    for target, paths in copies.items():
        for rel in paths:
            src = os.path.join(root, rel)
            if os.path.exists(src):
                put(target, rel.replace("/", "_"), open(src, "rb").read())
    for name in ["clip", "clip_legacy", "clip_pad_bang"]:
        d = os.path.join(root, "text", name)
        if not os.path.isdir(d):
            continue
        files = [open(os.path.join(d, f), "rb").read() if os.path.exists(os.path.join(d, f)) else b""
                 for f in ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]]
        put("clip_tokenizer", "fixture_" + name, SEP.join(files + ["A photo of <|endoftext|> two Cats!".encode()]))


if __name__ == "__main__":
    hand_made()
    if len(sys.argv) > 1:
        from_fixtures(sys.argv[1])
    for target in sorted(os.listdir(CORPUS)):
        print(target, len(os.listdir(os.path.join(CORPUS, target))))
