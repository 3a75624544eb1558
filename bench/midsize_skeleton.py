"""The mid-sized benchmark models without diffusers: a skeleton and its materialisation.

The mid-sized configuration (make_midsize_models.py) is made by diffusers and
transformers. A machine without diffusers (a rented GPU with only torch) can
still get the same directories with random weights from a skeleton: every
config, tokenizer and index file verbatim, and every safetensors file as its
tensor names, dtypes and shapes. Materialising fills each tensor by the same
rule as make_midsize_models.randomise (norm weights 1, other vectors 0,
matrices N(0, 1/fan_in); scalars and integer buffers as recorded), with plain
torch and safetensors, on a GPU when there is one.

  python midsize_skeleton.py write SKELETON.json [MODELS_DIR]   (needs diffusers; MODELS_DIR is made when missing)
  python midsize_skeleton.py materialize SKELETON.json OUT_DIR  (torch + safetensors; skips when OUT_DIR/.complete exists)

OUT_DIR then holds pipeline/ and evaluator/ as make_midsize_models.py makes them.
"""
import json
import pathlib
import struct
import sys

SKIP_DIRS = {"tokenizer-src"}


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def write(skeleton, models_dir):
    import subprocess
    models_dir = pathlib.Path(models_dir)
    if not (models_dir / ".complete").exists():
        here = pathlib.Path(__file__).resolve().parent
        subprocess.run([sys.executable, str(here / "make_midsize_models.py"), str(models_dir)], check=True)
    import torch
    from safetensors import safe_open
    files = {}
    for path in sorted(models_dir.rglob("*")):
        rel = path.relative_to(models_dir)
        if not path.is_file() or rel.parts[0] in SKIP_DIRS or rel.name == ".complete":
            continue
        if path.suffix == ".safetensors":
            header = read_header(path)
            tensors = {}
            with safe_open(str(path), framework="pt") as f:
                for name, info in header.items():
                    if name == "__metadata__":
                        continue
                    entry = {"dtype": info["dtype"], "shape": info["shape"]}
                    t = f.get_tensor(name)
                    if t.dim() == 0 or not t.is_floating_point():
                        entry["values"] = t.flatten().tolist()  # scalars (logit_scale) and integer buffers verbatim
                    tensors[name] = entry
            files[str(rel)] = {"tensors": tensors, "metadata": header.get("__metadata__", {})}
        else:
            files[str(rel)] = {"text": path.read_text(encoding="utf-8")}
    pathlib.Path(skeleton).write_text(json.dumps({"source": "bench/make_midsize_models.py", "files": files}))
    n = sum(len(v.get("tensors", {})) for v in files.values())
    print(f"skeleton: {len(files)} files, {n} tensors -> {skeleton}")


def fill(name, entry, gen, device, torch):
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
              "I32": torch.int32, "F64": torch.float64, "U8": torch.uint8, "BOOL": torch.bool}
    dtype, shape = dtypes[entry["dtype"]], entry["shape"]
    if "values" in entry:
        return torch.tensor(entry["values"], dtype=dtype).reshape(shape)
    if len(shape) == 1 and ("norm" in name or "layrnorm" in name) and name.endswith("weight"):
        return torch.ones(shape, dtype=dtype)
    if len(shape) == 1:
        return torch.zeros(shape, dtype=dtype)
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    t = torch.randn(shape, generator=gen, device=device) / fan_in ** 0.5
    return t.to(dtype).cpu()


def materialize(skeleton, out_dir):
    import torch
    from safetensors.torch import save_file
    out = pathlib.Path(out_dir)
    if (out / ".complete").exists():
        return
    device = "cuda" if torch.cuda.is_available() else "cpu"
    spec = json.loads(pathlib.Path(skeleton).read_text())
    for seed, (rel, entry) in enumerate(sorted(spec["files"].items()), start=1):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if "text" in entry:
            path.write_text(entry["text"], encoding="utf-8")
            continue
        gen = torch.Generator(device=device).manual_seed(seed)
        tensors = {name: fill(name, e, gen, device, torch) for name, e in sorted(entry["tensors"].items())}
        save_file(tensors, str(path), metadata=entry.get("metadata") or {"format": "pt"})
    (out / ".complete").touch()
    print(f"mid-sized models ({device} random weights) -> {out}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else pathlib.Path.home() / ".cache/spo-diffusion/bench-midsize")
    elif len(sys.argv) == 4 and sys.argv[1] == "materialize":
        materialize(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
