"""diffusers' AutoencoderKL.decode timed on a `vae` directory, the Python side of
build/tests/spo_vae_decode_bench (same arguments, same printout):

    .venv/bin/python bench/vae_decode_profile.py <vae dir> [batch] [latent side] [reps] [profile]

Each rep prints wall time and this process's CPU time and minor page faults
(CPU time is what a loaded machine distorts least); `profile` adds torch's
per-op self times for one decode. The decodes run on a second thread, as in
the engine's bench. Threads: $SPO_NUM_THREADS, else torch's default.
"""
import os
import resource
import sys
import threading
import time

import torch
from diffusers import AutoencoderKL


def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_minflt


def run(argv):
    directory = argv[1]
    batch, side, reps = (int(argv[i]) if len(argv) > i else d for i, d in ((2, 8), (3, 32), (4, 3)))
    vae = AutoencoderKL.from_pretrained(directory).eval()
    z = torch.randn(batch, vae.config.latent_channels, side, side, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        vae.decode(z)  # warm-up
        print(f"diffusers decode {batch}x{z.shape[1]}x{side}x{side}, {torch.get_num_threads()} threads:")
        for _ in range(reps):
            c0, f0 = usage()
            start = time.perf_counter()
            vae.decode(z)
            wall = time.perf_counter() - start
            c1, f1 = usage()
            print(f"  wall {wall:.3f} s, cpu {c1 - c0:.3f} s, page faults {f1 - f0}")
        if len(argv) > 5:
            from torch.profiler import profile
            with profile() as p:
                vae.decode(z)
            print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if os.environ.get("SPO_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["SPO_NUM_THREADS"]))
    worker = threading.Thread(target=run, args=(sys.argv,))
    worker.start()
    worker.join()


if __name__ == "__main__":
    main()
