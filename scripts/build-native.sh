#!/usr/bin/env bash
# Builds the addon (build/Release/spo_diffusion.node) and, unless
# SPO_BUILD_TESTS=OFF, the C++ tests, with cmake-js against .libtorch.
# Incremental: a second run with nothing changed takes seconds.
# SPO_BUILD_DIR picks another build directory (default: build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[[ -e .libtorch ]] || bash scripts/ensure-libtorch.sh >/dev/null
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
jobs="${SPO_BUILD_JOBS:-$(nproc)}"
# ccache, when present, makes rebuilds and the same sources built from another
# folder (an installed copy of the package) cheap: paths are hashed relative
# to the package root.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  launcher=(--CDCMAKE_CXX_COMPILER_LAUNCHER=ccache --CDCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# cmake-js sits in our node_modules in a checkout, or beside us once installed.
cmake_js="$(node -p "require.resolve('cmake-js/bin/cmake-js')")"
CMAKE_BUILD_PARALLEL_LEVEL="$jobs" node "$cmake_js" compile \
  "${generator[@]}" --log-level warn --out "${SPO_BUILD_DIR:-build}" \
  "${launcher[@]}" --CDSPO_TORCH_ROOT="$(readlink -f .libtorch)" \
  --CDSPO_BUILD_TESTS="${SPO_BUILD_TESTS:-ON}"
# A source build replaces a CUDA prebuild the installer may have put there.
rm -f "${SPO_BUILD_DIR:-build}/Release/.spo-cuda-prebuild"
