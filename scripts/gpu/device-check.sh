#!/usr/bin/env bash
# The GPU check, in one pass, on a machine with an NVIDIA GPU, python3's
# CUDA torch (its libtorch is built against), nvcc, cmake and ninja, and no
# Node or network. First, on a development machine:
#   bash scripts/gpu/prepare-deps.sh     # GoogleTest, nlohmann-json, Node-API headers, model skeleton -> .device-deps/
# then, on the GPU machine, from the repository root:
#   bash scripts/gpu/device-check.sh
# It builds (build-gpu/) the kernel tests, the kernel micro-benches, the
# benchmark harness's CLI and the addon against that torch; runs every kernel
# test on the GPU (fused DDIM step, adaLN, SPO loss against ATen, fp32/fp16/bf16,
# forward and backward); times the kernels against ATen on the GPU; runs the
# benchmark harness on the mid-sized random-weight models in bf16 (fp32 LoRA
# and AdamW; gradient checkpointing off and on); copies the addon out.
# Everything goes to $OUT (default build-gpu/out): build.log, kernel-tests.log,
# kernel-bench.log, bench.log, bench.json, bench-512.json, summary.txt and
# spo_diffusion.node. Phases past SPO_GPU_BUDGET_S seconds (default 430) are skipped.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
OUT="${OUT:-$root/build-gpu/out}"
mkdir -p "$OUT"
deps="$root/.device-deps"
B="${SPO_GPU_BUILD:-$root/build-gpu}"
jobs="${SPO_BUILD_JOBS:-$(nproc)}"
budget="${SPO_GPU_BUDGET_S:-430}"
dry="${SPO_GPU_DRY:-0}"  # 1: GoogleTest and the configure only (a check of this script on a CPU machine)
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }
left() { echo $((budget - $(elapsed))); }
summary="$OUT/summary.txt"
: >"$summary"
note() { echo "[$(elapsed)s] $*" | tee -a "$summary"; }
# Scratch files of this run (the models, the background build's log and flags);
# mktemp's path has no spaces, so it is used unquoted inside the strings below.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---- environment
export PATH="$PATH:/usr/local/cuda/bin"
py="${PYTHON:-python3}"
torch_root="$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
{
  echo "== environment"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || echo "no nvidia-smi"
  "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available() and torch.cuda.get_device_name(0))'
  echo "torch root: $torch_root"
  command -v nvcc && nvcc --version | tail -2
  c++ --version | head -1
  cmake --version | head -1
  echo "ninja $(ninja --version); $(nproc) cores"
} 2>&1 | tee "$OUT/build.log"
torch_version="$("$py" -c 'import torch; print(torch.__version__)')"
note "torch $torch_version at $torch_root"

# ---- the mid-sized models (random weights from the skeleton; on the GPU), beside the build
models="$work/midsize"
if [[ "$dry" != 1 ]]; then
  ("$py" bench/midsize_skeleton.py materialize "$deps/midsize-skeleton.json" "$models" >$work/models.log 2>&1;
   echo "rc=$?" >>$work/models.log) &
  models_pid=$!
fi

# ---- GoogleTest (from the carried sources) and the configure
gtest_prefix="$B/gtest"  # kept with the build, so a second run reuses it
if ! find "$gtest_prefix" -name GTestConfig.cmake 2>/dev/null | grep -q .; then
  {
    echo "== GoogleTest"
    cmake -S "$deps/googletest" -B "$B/gtest-build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF \
      -DINSTALL_GTEST=ON -DCMAKE_INSTALL_PREFIX="$gtest_prefix" -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null &&
      cmake --build "$B/gtest-build" -j "$jobs" >/dev/null && cmake --install "$B/gtest-build" >/dev/null
  } 2>&1 | tee -a "$OUT/build.log"
fi
# Link the CUDA runtime the torch wheel carries (nvidia/cu*/lib), as torch does, so that the
# addon's run path also finds it beside a user's torch wheel (a CUDA prebuild).
cudart_args=()
for f in "$torch_root"/../nvidia/cu*/lib/libcudart.so.* "$torch_root"/../nvidia/cuda_runtime/lib/libcudart.so.*; do
  [[ -f "$f" ]] && { cudart_args=(-DSPO_CUDART_LIBRARY="$(readlink -f "$f")"); break; }
done
addon_args=()
if [[ -d "$deps/node-api-headers/include" ]]; then
  addon_args=(-DCMAKE_JS_VERSION=carried "-DCMAKE_JS_INC=$deps/node-api-headers/include;$deps/node-addon-api")
fi
{
  echo "== configure"
  # NCCL off: the check needs one GPU, and the torch wheel's NCCL headers may not match.
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPO_TORCH_ROOT="$torch_root" \
    -DSPO_CUDA_ARCHS="${SPO_CUDA_ARCHS:-80;90}" -DCMAKE_PREFIX_PATH="$gtest_prefix" \
    -Dnlohmann_json_DIR="$deps/nlohmann_json" -DSPO_NCCL_INCLUDE_DIR=OFF -DSPO_PYTHON="$(command -v "$py")" \
    "${cudart_args[@]}" "${addon_args[@]}"
} 2>&1 | tee -a "$OUT/build.log" | grep -E "^-- spo|Error|error|Warning: .*not found|^== " || true
[[ -f "$B/build.ninja" ]] || { note "FAILED: configure (see build.log)"; exit 1; }
if [[ "$dry" == 1 ]]; then
  note "dry run: configured $B; stopping"
  exit 0
fi

# ---- phase 1: the kernel tests and micro-benches
kernel_targets=(spo_core_tests spo_ddim_step_bench spo_adaln_bench spo_spo_loss_bench)
{ echo "== build: ${kernel_targets[*]}"; ninja -C "$B" -k 0 -j "$jobs" "${kernel_targets[@]}"; } 2>&1 |
  tee -a "$OUT/build.log" | grep -E "FAILED|error" | head -40
note "kernel build done (rc ${PIPESTATUS[0]})"

# ---- phase 2 (background, its own process group): the harness CLI, then the addon
rm -f $work/build2a.done $work/build2b.done $work/build2.pid
setsid bash -c "echo \$\$ >$work/build2.pid
  echo '== build: spo_bench_cli'; ninja -C '$B' -k 0 -j $jobs spo_bench_cli; echo \"ninja rc=\$?\" | tee $work/build2a.done
  if [[ ${#addon_args[@]} -gt 0 ]]; then
    echo '== build: spo_addon'; ninja -C '$B' -k 0 -j $jobs spo_addon; echo \"ninja rc=\$?\" | tee $work/build2b.done
  fi" >$work/build2.log 2>&1 &
while [[ ! -s $work/build2.pid ]]; do sleep 0.2; done
build_pid=$(cat $work/build2.pid)  # the session's leader: kill -- -PID stops the build
trap 'kill -- -$build_pid 2>/dev/null; rm -rf "$work"' EXIT

# ---- kernel tests on the GPU (every test of spo_core_tests: the CPU kernels too)
if [[ -x "$B/tests/spo_core_tests" ]]; then
  timeout 180 "$B/tests/spo_core_tests" --gtest_color=no 2>&1 | tee "$OUT/kernel-tests.log" >/dev/null
  note "kernel tests: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/kernel-tests.log" | tr '\n' ' ')"
  grep -E '^\[       OK \] .*Cuda|^\[  FAILED  \]|^\[  SKIPPED \] .*Cuda' "$OUT/kernel-tests.log" | sort -u | tee -a "$summary"
else
  note "FAILED: spo_core_tests did not build"
fi

# The harness CLI first; then the addon, for at most two more minutes, so that the benches
# below run on a quiet machine (the addon build is stopped when it would take longer).
while [[ ! -f $work/build2a.done ]] && (( $(left) > 60 )); do sleep 2; done
note "harness CLI build: $(cat $work/build2a.done 2>/dev/null || echo 'not finished')"
if [[ ${#addon_args[@]} -gt 0 ]]; then
  addon_deadline=$(( $(elapsed) + 120 ))
  while [[ ! -f $work/build2b.done ]] && (( $(elapsed) < addon_deadline && $(left) > 200 )); do sleep 2; done
fi
if [[ ! -f $work/build2a.done ]] || [[ ${#addon_args[@]} -gt 0 && ! -f $work/build2b.done ]]; then
  kill -- -"$build_pid" 2>/dev/null
  note "stopped the build (time): $(grep -c '^\[' $work/build2.log) steps run"
fi
cat $work/build2.log >>"$OUT/build.log"
note "addon build: $(cat $work/build2b.done 2>/dev/null || echo 'not finished'); failed steps: $(grep -c '^FAILED' $work/build2.log)"
grep -A12 '^FAILED' $work/build2.log | grep -E 'error' | head -20 | tee -a "$summary"

# ---- kernel micro-benches on the GPU (the machine quiet: no build running)
{
  [[ -x "$B/tests/spo_ddim_step_bench" ]] && "$B/tests/spo_ddim_step_bench" 10 50 cuda && "$B/tests/spo_ddim_step_bench" 64 50 cuda
  [[ -x "$B/tests/spo_adaln_bench" ]] && "$B/tests/spo_adaln_bench" 30 cuda
  [[ -x "$B/tests/spo_spo_loss_bench" ]] && "$B/tests/spo_spo_loss_bench" 30 cuda
} 2>&1 | tee "$OUT/kernel-bench.log" >/dev/null
grep -E "ratio" "$OUT/kernel-bench.log" | sed 's/^/  /' >>"$summary"
note "kernel benches done"

# ---- the benchmark harness on the mid-sized models, bf16
wait "$models_pid"
cat $work/models.log >>"$OUT/bench.log"
bench() {  # bench <json> <seconds> <settings> [sections]
  local json="$1" limit="$2" settings="$3" sections="${4:-}"
  local args=(--model "$models/pipeline" --evaluator "$models/evaluator" --device cuda --dtype bf16 --prompts 8
    --settings "$settings" --reps 5 --warmup 2 --json "$OUT/$json")
  [[ -n "$sections" ]] && args+=(--sections "$sections")
  echo "== spo_bench_cli ${args[*]}" >>"$OUT/bench.log"
  timeout "$limit" "$B/tests/spo_bench_cli" "${args[@]}" >>"$OUT/bench.log" 2>&1
  local rc=$?
  note "bench $json: rc $rc"
  [[ -f "$OUT/$json" ]] && "$py" scripts/gpu/summarize_bench.py "$OUT/$json" "$json" | tee -a "$summary"
}
if [[ -x "$B/tests/spo_bench_cli" && -f "$models/.complete" ]]; then
  bench bench.json $(( $(left) > 60 ? $(left) - 20 : 40 )) \
    '{"steps":10,"divertStartStep":2,"k":4,"threshold":0,"trainBatchSize":8}'
  if (( $(left) > 70 )); then  # SD-1.5's 512 px (64x64 latents) on the same half-width UNet
    bench bench-512.json $(( $(left) - 10 )) \
      '{"steps":10,"divertStartStep":2,"k":4,"threshold":0,"trainBatchSize":8,"width":512,"height":512}' \
      ceiling,components,update
  else
    note "skipped: the 512 px bench (time)"
  fi
else
  note "FAILED: no spo_bench_cli or no models ($(tail -1 $work/models.log 2>/dev/null))"
fi

# ---- the addon, for a CUDA prebuild
if [[ -f "$B/Release/spo_diffusion.node" ]]; then
  cp "$B/Release/spo_diffusion.node" "$OUT/spo_diffusion.node"
  note "addon: $(du -h "$OUT/spo_diffusion.node" | cut -f1); NEEDED $(readelf -d "$B/Release/spo_diffusion.node" 2>/dev/null | grep -oE 'lib(torch_cuda|c10_cuda|cudart)[^]]*' | tr '\n' ' ')"
  note "addon RPATH: $(readelf -d "$B/Release/spo_diffusion.node" 2>/dev/null | grep -oE 'R(UN)?PATH.*' | head -1)"
  # No Node here: dlopen it lazily (Node-API symbols unresolved) to check that libtorch and CUDA resolve.
  note "addon dlopen: $("$py" -c 'import ctypes, os, sys; ctypes.CDLL(sys.argv[1], mode=os.RTLD_LAZY); print("ok")' "$B/Release/spo_diffusion.node" 2>&1 | tail -1)"
  note "prebuild facts: torch $torch_version, torch.version.cuda $("$py" -c 'import torch; print(torch.version.cuda)'), nvcc $(nvcc --version 2>/dev/null | grep -oE 'release [0-9.]+' ), archs ${SPO_CUDA_ARCHS:-80;90}, $(grep -E '^SPO_CUDA_ENABLED|^SPO_CUDART_LIBRARY' "$B/CMakeCache.txt" | tr '\n' ' ')"
else
  note "addon: not built"
fi
note "done"
