#!/usr/bin/env bash
# Everything the package needs on a bare Debian/Ubuntu machine, each step
# skipped when already done (a second run takes seconds):
#   system packages (apt), npm dependencies, libtorch (+ nvcc), the native
#   build (addon + C++ tests), the TypeScript build.
# `bootstrap.sh runtime` (what `npm run demo` and `npm run experiment` use) sets
# up only what the package runs: no GoogleTest, no Python test references, no
# C++ test binaries. `bootstrap.sh` (all; `npm test`) sets up everything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'spo-diffusion: %s\n' "$*" >&2; }
mode="${1:-all}"
[[ "$mode" == all || "$mode" == runtime ]] || { say "bootstrap: mode must be 'all' or 'runtime', got '$mode'"; exit 2; }

# 1. System packages.
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v ninja >/dev/null || need+=(ninja-build)
command -v ccache >/dev/null || need+=(ccache)
command -v python3 >/dev/null || need+=(python3)
[[ "$mode" == runtime || -f /usr/include/gtest/gtest.h ]] || need+=(libgtest-dev)
[[ -f /usr/include/nlohmann/json.hpp ]] || need+=(nlohmann-json3-dev)
if command -v python3 >/dev/null && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then need+=(python3-venv); fi
if (( ${#need[@]} )); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    say "missing system packages: ${need[*]} (install them, e.g. with apt-get, and rerun)"
    exit 1
  fi
fi
# Optional: gloo's headers for data-parallel training (libtorch_cpu carries Gloo
# itself). Without them the build has no Gloo backend and says so when asked.
if [[ ! -f /usr/include/gloo/rendezvous/store.h && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libgloo-dev >/dev/null 2>&1 ||
    say "libgloo-dev is not available: building without the Gloo backend (no data-parallel training on CPU)"
fi

# 2. npm dependencies (our own install script is not needed here: steps 3-4 do its work).
if [[ ! -f node_modules/.spo-lock ]] || ! cmp -s node_modules/.spo-lock package-lock.json; then
  say "installing npm dependencies"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.spo-lock
fi

# 3. libtorch (and nvcc) -> .libtorch; the Python references the tests compare
#    against (diffusers, transformers) in the same venv.
bash scripts/ensure-libtorch.sh >/dev/null
venv="${SPO_VENV:-$root/.venv}"
[[ -x "$venv/bin/python" ]] || { python3 -m venv "$venv"; "$venv/bin/python" -m pip install --quiet -r requirements-torch.txt; }
if [[ "$mode" == all ]] && { [[ ! -f "$venv/.spo-dev-requirements" ]] || ! cmp -s "$venv/.spo-dev-requirements" requirements-dev.txt; }; then
  say "installing the Python test references (requirements-dev.txt)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt "$venv/.spo-dev-requirements"
fi

# 4. Native build: the addon, and the C++ tests unless runtime (incremental; a
#    later `all` adds the tests to the same build folder).
if [[ "$mode" == runtime ]]; then SPO_BUILD_TESTS=OFF bash scripts/build-native.sh; else bash scripts/build-native.sh; fi

# 5. TypeScript (incremental), then the ESM entry points (dist/index.mjs) next to the CommonJS build.
#    First drop compiled files whose source is gone: a stale dist/x.js would shadow a new lib/x/ folder.
node scripts/prune-dist.mjs
node_modules/.bin/tsc -p tsconfig.json
node scripts/make-esm-entries.mjs
chmod +x dist/cli/main.js
