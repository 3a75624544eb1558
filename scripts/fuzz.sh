#!/usr/bin/env bash
# Builds the libFuzzer targets (native/fuzz, clang + ASan/UBSan, own build
# directory) and runs each for a fixed time over its seed corpus; prints one
# line per target with executions and crashes, and fails if any crashed.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 5 s, every target)
#   SPO_FUZZ_BUILD_DIR  build directory (default build-fuzz); runs over 30 s keep
#                       the corpus each target grows there (<dir>/corpus/<target>)
#   SPO_FUZZ_JOBS       parallel compile jobs (default: all cores)
#   SPO_FUZZ_MAX_LEN    longest input tried (default 65536; smaller runs faster)
# Without clang: installs clang-14 with apt-get when running as root on a
# Debian/Ubuntu machine (as CI does), otherwise prints "skipped: no clang".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-5}"
shift || true
build="${SPO_FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${SPO_FUZZ_JOBS:-$(nproc)}"

# libFuzzer's runtime comes with clang's compiler-rt (Debian: libclang-rt-14-dev).
have_fuzzer() { [[ -n "$(clang++-14 -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null | grep /)" ]] &&
                [[ -f "$(clang++-14 -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]]; }
if ! command -v clang++-14 >/dev/null || ! have_fuzzer; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "fuzz: installing clang-14 and libclang-rt-14-dev" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev ||
           { apt-get update -qq && apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev; }; } >/dev/null; then
      echo "fuzz: skipped: no clang (apt-get could not install clang-14 and libclang-rt-14-dev)"
      exit 0
    fi
  else
    echo "fuzz: skipped: no clang (install clang-14 and libclang-rt-14-dev to run the fuzz targets)"
    exit 0
  fi
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S native/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" \
    -DSPO_TORCH_ROOT="$(readlink -f .libtorch)" >/dev/null
fi
start=$(date +%s)
cmake --build "$build" -j "$jobs" | { grep -v '^\[' || true; }
echo "fuzz: targets built in $(( $(date +%s) - start )) s"

targets=("$@")
if (( ${#targets[@]} == 0 )); then
  for src in native/fuzz/*_fuzz.cpp; do targets+=("$(basename "${src%_fuzz.cpp}")"); done
fi

# libtorch's own allocations are not ours to report; leaks in our code are
# covered by the sanitizer build's LeakSanitizer (scripts/test-sanitize.sh).
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=0
printf '%-24s %12s %8s %6s %s\n' target executions exec/s crash seconds
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  # Short runs start from the repo's seeds only (replaying a corpus grown by long
  # runs would take longer than the run); long runs keep growing the build's.
  corpus="$build/corpus/$t" artifacts="$build/artifacts/$t"
  (( seconds <= 30 )) && corpus="$scratch/$t"
  mkdir -p "$corpus" "$artifacts"
  log="$build/logs/$t.log"
  mkdir -p "$(dirname "$log")"
  # New inputs go to the build directory's corpus; the seeds in the repo are read only.
  set +e
  "$build/${t}_fuzz" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len="${SPO_FUZZ_MAX_LEN:-65536}" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" "native/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  crash=0
  if (( rc != 0 )); then crash=1; failed=1; fi
  printf '%-24s %12s %8s %6s %s\n' "$t" "${execs:-0}" "${rate:-0}" "$crash" "$seconds"
  if (( rc != 0 )); then
    echo "fuzz: $t failed (exit $rc); its log: $log; the input: $(ls -t "$artifacts" | head -1)" >&2
    grep -m 20 -E 'ERROR|SUMMARY|runtime error|fuzz contract|untyped exception|#[0-9]+ 0x' "$log" >&2 || true
  fi
done
exit $failed
