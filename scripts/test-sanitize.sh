#!/usr/bin/env bash
# The C++ core and its ctest tests under AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer included), in its own build directory (default build-asan).
# On demand (`npm run test:sanitize`): it is a full rebuild of the core, far
# too slow for `npm test`. Extra arguments go to ctest (e.g. -R spo_io).
#   SPO_SANITIZE_BUILD_DIR  build directory (default build-asan)
#   SPO_SANITIZE_JOBS       parallel compile jobs (default: all cores)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${SPO_SANITIZE_BUILD_DIR:-build-asan}"
jobs="${SPO_SANITIZE_JOBS:-$(nproc)}"
torch_root="$(readlink -f .libtorch)"
[[ -f "$torch_root/include/ATen/ATen.h" ]] || { echo "test:sanitize: no libtorch at .libtorch; run npm run build first" >&2; exit 1; }

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# CUDA off: the sanitizers cover host code; ASan and the CUDA driver do not mix.
# -O1 -g1: line numbers in reports at a bearable compile time.
cmake -S . -B "$build" -G Ninja "${launcher[@]}" -DSPO_TORCH_ROOT="$torch_root" -DSPO_WITH_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1 $san" \
  -DCMAKE_EXE_LINKER_FLAGS_SANITIZE="$san" -DCMAKE_SHARED_LINKER_FLAGS_SANITIZE="$san" >/dev/null

supp="$root/native/sanitize"
# Also in force during the build: gtest_discover_tests runs each test binary.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0:strict_init_order=1${SPO_ASAN_OPTIONS:+:$SPO_ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="suppressions=$supp/ubsan.supp:print_stacktrace=1:halt_on_error=1"
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure "$@"
