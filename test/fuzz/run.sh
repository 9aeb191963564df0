#!/usr/bin/env bash
# Builds every libFuzzer target with clang (-fsanitize=fuzzer,address,undefined) in a build
# dir of its own and runs each for a bounded time from its seed corpus.
#   test/fuzz/run.sh [seconds per target, default 60] [build dir]
#   test/fuzz/run.sh runs=N [build dir]     N inputs per target from a fixed seed (-seed=1):
#                                           the same inputs every time, for CI's smoke test
# A finding stops with the target's name and the reproducer file; rerun it with
#   <build dir>/test/fuzz/fuzz_<target> <reproducer>
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
if [[ $seconds == runs=* ]]; then
  budget=(-runs="${seconds#runs=}" -seed=1)
  label="${seconds#runs=} inputs (seed 1)"
else
  budget=(-max_total_time="$seconds")
  label="${seconds}s"
fi
build=${2:-${TMPDIR:-/tmp}/edgestack-fuzz-build}
targets=(model_file onnx_import idx npy csv checkpoint pnm image clean drift_reference manifest
  history)
targets+=(server) # the inference server's request handling (fuzz_server.cmake)

cxx=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$cxx" ]; then
  echo "run.sh: clang++ not found (Debian: clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDGESTACK_AREAS=fuzz -DEDGESTACK_BUILD_FUZZERS=ON -DEDGESTACK_BUILD_EXAMPLES=OFF \
  -DEDGESTACK_BUILD_BENCH=OFF -DEDGESTACK_NATIVE=OFF -DEDGESTACK_SANITIZE=OFF \
  "${launcher[@]}" > "$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]/#/fuzz_}"

status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  crashes="$build/findings/$t"
  mkdir -p "$corpus" "$crashes"
  cp -n "$here/corpus/$t/"* "$corpus/" 2>/dev/null || true
  if [ "$t" = onnx_import ]; then cp -n "$root/test/fixtures/"*.onnx "$corpus/" 2>/dev/null || true; fi
  if [ "$t" = image ]; then cp -n "$root/test/fixtures/images/"*.{png,jpg} "$corpus/" 2>/dev/null || true; fi
  echo "== fuzz_$t for $label"
  if ! "$build/test/fuzz/fuzz_$t" "${budget[@]}" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" > "$build/fuzz_$t.log" 2>&1; then
    echo "!! fuzz_$t found a problem; reproducer(s) in $crashes:" >&2
    ls "$crashes" >&2 || true
    grep -m 20 -E "ERROR|runtime error|SUMMARY|terminate|what\(\)" "$build/fuzz_$t.log" >&2 || tail -n 30 "$build/fuzz_$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$t.log" | tr '\n' ' '
    echo
  fi
done
exit $status
