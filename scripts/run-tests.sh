#!/usr/bin/env bash
# Every test suite: the C++ core (ctest), the CUDA compile check, and vitest.
# `npm test` runs scripts/bootstrap.sh first (the pretest hook).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Every .cu file must have been compiled by nvcc when one is available, so CUDA code cannot rot.
nvcc_path="$(grep -E '^SPO_NVCC:' build/CMakeCache.txt | cut -d= -f2- || true)"
if [[ -n "$nvcc_path" && -x "$nvcc_path" ]]; then
  while IFS= read -r cu; do
    obj="build/native/core/cuda/$(basename "${cu%.cu}").o"
    [[ -f "$obj" ]] || { echo "CUDA source $cu was not compiled ($obj missing)" >&2; exit 1; }
  done < <(find native -name '*.cu')
  echo "cuda: every .cu file compiled with $nvcc_path"
else
  echo "cuda: no nvcc found; .cu files not compiled" >&2
fi

ctest --test-dir build --output-on-failure
# A few seconds of fuzzing per parser that reads outside data (the long runs:
# `npm run test:fuzz -- SECONDS`); builds the fuzz targets incrementally.
bash scripts/fuzz.sh "${SPO_FUZZ_SECONDS:-3}"
node_modules/.bin/vitest run "$@"
