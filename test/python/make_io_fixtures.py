"""Writes safetensors files with the reference `safetensors` library for the C++
io tests (native/tests/io), plus the expected contents as plain JSON so the C++
side checks them independently of any safetensors code.

Usage: make_io_fixtures.py OUT_DIR. Deterministic: no random values."""
import json
import os
import sys

import torch
from safetensors.torch import save_file


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    # Values exactly representable in their dtype, so the C++ side compares exactly.
    tensors = {
        "f32.matrix": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1.25,
        "f16.vector": torch.tensor([0.5, -1.0, 2.25, 1024.0], dtype=torch.float16),
        "bf16.cube": torch.tensor([1.5, -2.0, 0.15625, 3.0, -0.5, 256.0, 0.0, -1.0], dtype=torch.bfloat16).reshape(2, 2, 2),
        "i64.ids": torch.tensor([0, 1, -3, 49407, 2**40 + 1], dtype=torch.int64),
        "f32.scalar": torch.tensor(3.75, dtype=torch.float32),
        "f32.empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    metadata = {"format": "pt", "note": "spo io fixture"}
    save_file(tensors, os.path.join(out_dir, "reference.safetensors"), metadata=metadata)

    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    expected = {
        "tensors": {
            name: {"dtype": names[t.dtype], "shape": list(t.shape), "values": t.flatten().tolist()}
            for name, t in tensors.items()
        },
        "metadata": metadata,
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)

    save_file({"f64.weight": torch.ones(2, 2, dtype=torch.float64)}, os.path.join(out_dir, "f64.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
