"""Where a UNet forward's time goes, op by op: diffusers' UNet2DConditionModel on
a `unet` directory under torch.profiler (docs/benchmarks.md, "The shapes-world
UNet forward"):

    .venv/bin/python bench/unet_forward_profile.py <unet dir> [rows] [reps]

`rows` is the forward's batch (a guided call of B latents is 2B rows; default
16), the latents are the config's sample_size, the text states 77 tokens of
its cross_attention_dim, t = 500. Prints the mean wall time of `reps` forwards
(default 20, after 5 warm-ups), then each op's share of the profiled self CPU
time, calls and microseconds per forward, and the FLOP rate of the products
torch counts (convolutions from aten::conv2d over aten::mkldnn_convolution's
time). Threads: $SPO_NUM_THREADS, else 2.
"""
import os
import sys
import time

import torch
from diffusers import UNet2DConditionModel
from torch.profiler import ProfilerActivity, profile


def main(argv):
    directory = argv[1]
    rows = int(argv[2]) if len(argv) > 2 else 16
    reps = int(argv[3]) if len(argv) > 3 else 20
    torch.set_num_threads(int(os.environ.get("SPO_NUM_THREADS", "2")))
    unet = UNet2DConditionModel.from_pretrained(directory).eval()
    side = unet.config.sample_size
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(rows, unet.config.in_channels, side, side, generator=g)
    text = torch.randn(rows, 77, unet.config.cross_attention_dim, generator=g)
    t = torch.full((rows,), 500)
    with torch.no_grad():
        for _ in range(5):
            unet(latents, t, text)
        start = time.perf_counter()
        for _ in range(reps):
            unet(latents, t, text)
        wall = (time.perf_counter() - start) / reps
        with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            for _ in range(reps):
                unet(latents, t, text)
    ops = prof.key_averages()
    self_us = sum(e.self_cpu_time_total for e in ops)
    flops = sum(e.flops for e in ops if e.flops) / reps
    print(f"{rows} rows of {side}x{side}: {wall * 1e3:.2f} ms per forward (mean of {reps}), "
          f"{flops / 1e9:.3f} GFLOP counted, {flops / wall / 1e9:.1f} GFLOP/s")
    print(f"{'op':50s} {'share':>6s} {'calls':>6s} {'us/call':>8s} {'GFLOP/s':>8s}")
    for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[:16]:
        rate = f"{e.flops / (e.self_cpu_time_total * 1e-6) / 1e9:8.1f}" if e.flops and e.self_cpu_time_total else " " * 8
        print(f"{e.key[:50]:50s} {100 * e.self_cpu_time_total / self_us:5.1f}% {e.count / reps:6.0f} "
              f"{e.self_cpu_time_total / e.count:8.1f} {rate}")
    conv_flops = sum(e.flops for e in ops if e.key == "aten::conv2d" and e.flops)
    conv_us = sum(e.self_cpu_time_total for e in ops if e.key == "aten::mkldnn_convolution")
    if conv_us:
        print(f"convolutions: {conv_flops / reps / 1e9:.3f} GFLOP per forward at "
              f"{conv_flops / (conv_us * 1e-6) / 1e9:.1f} GFLOP/s")
    print(f"ops per forward: {sum(e.count for e in ops) / reps:.0f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv)
