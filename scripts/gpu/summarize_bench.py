"""Prints the figures of a bench report (spo_bench_cli / spo bench --json) that a GPU run is read for.

  python3 summarize_bench.py REPORT.json [LABEL]
"""
import json
import sys


def gib(b):
    return f"{b / 2**30:.2f} GiB" if isinstance(b, (int, float)) and b >= 0 else "n/a"


def main():
    r = json.load(open(sys.argv[1]))
    label = sys.argv[2] if len(sys.argv) > 2 else sys.argv[1]
    m, s = r["machine"], r["settings"]
    print(f"== {label}: {m['device']} {m['dtype']}, size {s.get('height') or 'default'}, k {s['k']}, "
          f"steps {s['steps']}, train batch {s['trainBatchSize']}")
    c = r.get("ceiling")
    if c:
        print(f"ceiling ({c['dtype']}): {c['best_gflops'] / 1e3:.1f} TFLOP/s; "
              + ", ".join(f"mm {z['n']}: {z['gflops'] / 1e3:.1f}" for z in c["sizes"])
              + f"; conv3x3 {c['conv3x3']['gflops'] / 1e3:.1f}"
              + (f"; fp32 mm 8192: {c['fp32_mm_8192_gflops'] / 1e3:.1f}" if "fp32_mm_8192_gflops" in c else ""))
    for x in r.get("components", []):
        print(f"  {x['name']} [batch {x['batch']}]: {x['time']['median_s'] * 1e3:.2f} ms "
              f"(min {x['time']['min_s'] * 1e3:.2f}), {x['gflop']:.1f} GFLOP, {x['gflops'] / 1e3:.1f} TFLOP/s, "
              f"{100 * x['share_of_ceiling']:.1f}% of ceiling, peak {gib(x.get('peak_device_bytes', -1))}")
    u = r.get("update")
    if u and not u.get("skipped"):
        print(f"update ({u['pairs']} pairs, backward only): default {u['default']['time']['median_s'] * 1e3:.1f} ms, "
              f"parity {u['parity']['time']['median_s'] * 1e3:.1f} ms, speedup {u['speedup_vs_parity']:.2f}x")
        o = u.get("optimizer_step")
        if o:
            for v in o["variants"]:
                print(f"  optimizer step, checkpointing {'on ' if v['gradient_checkpointing'] else 'off'}: "
                      f"{v['time']['median_s'] * 1e3:.1f} ms (min {v['time']['min_s'] * 1e3:.1f}), "
                      f"{v['model_gflop']:.0f} GFLOP, {v['gflops'] / 1e3:.1f} TFLOP/s, "
                      f"{100 * v['share_of_ceiling']:.1f}% of ceiling, peak {gib(v.get('peak_device_bytes', -1))} "
                      f"(live before {gib(v.get('live_device_bytes_before', -1))}); LoRA {o['lora_dtype']}")
    for k in r.get("kernels", []):
        print(f"  kernel {k['name']} {k['shape']}: fused {k['fused']['median_s'] * 1e3:.3f} ms, "
              f"ATen {k['aten']['median_s'] * 1e3:.3f} ms, speedup {k['speedup']:.2f}x")
    rd = r.get("round")
    if rd:
        print(f"round: {rd['prompts']} prompts x k {rd['k']} x {rd['steps']} steps: sampling {rd['sampling_s']:.2f} s, "
              f"update {rd['update_s']:.2f} s, {rd['pairs_kept']} pairs, {rd['pairs_per_second']:.2f} pairs/s, "
              f"peak GPU {gib(rd.get('peak_device_bytes', -1))} (sampling {gib(rd.get('sampling_peak_device_bytes', -1))})")


if __name__ == "__main__":
    main()
