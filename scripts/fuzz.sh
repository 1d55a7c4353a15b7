#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang++ with ASan + UBSan) into
# build-fuzz/ and runs each for a bounded time over its corpus. Fails if any
# target crashes, leaks, times out on an input or breaks an invariant; the
# input is kept in build-fuzz/crashes/<target>/ and the log in
# build-fuzz/logs/<target>.log. See docs/SECURITY.md, "Fuzzing".
#
#   scripts/fuzz.sh                          every target, FUZZ_SECONDS (30) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh tflite_fuzz    one target, longer
#   FUZZ_BUILD_DIR=... scripts/fuzz.sh       build elsewhere (default: build-fuzz/)
#   FUZZ_SEED=1 scripts/fuzz.sh              fixed mutation seed (test.sh sets it: CI
#                                            repeats the same mutations; unset = random)
#
# The committed seeds (fuzz/corpus/<target>/) are only read; inputs the run
# finds interesting go to build-fuzz/corpus/<target>/ and are reused by the
# next run. Reproduce a crash: build-fuzz/fuzz/<target> <crash file>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
seed_flag=()
[ -z "${FUZZ_SEED:-}" ] || seed_flag=(-seed="$FUZZ_SEED")
all_targets=(image_header_fuzz image_decode_fuzz manifest_fuzz multipart_fuzz json_body_fuzz tflite_fuzz tfjs_weights_fuzz)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 1; }
start=$(date +%s)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DLINEUP_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
echo "== building fuzz targets ($build)"
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >"$build/build.log" 2>&1 ||
  { tail -n 40 "$build/build.log"; echo "fuzz.sh: build failed ($build/build.log)" >&2; exit 1; }
echo "   built in $(( $(date +%s) - start )) s"

mkdir -p "$build/logs"
failed=()
for t in "${targets[@]}"; do
  seeds="$root/fuzz/corpus/$t"
  work="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$work" "$crashes"
  rm -f "$crashes"/*
  log="$build/logs/$t.log"
  echo "== $t: ${seconds} s over $seeds${FUZZ_SEED:+ (seed $FUZZ_SEED)}"
  # -rss_limit_mb / -malloc_limit_mb: an input that makes a parser allocate
  # over 2 GB is a failure (a tiny file must not claim huge buffers);
  # -timeout: one input taking over 10 s is a failure.
  if (cd "$build" && "$build/fuzz/$t" "${seed_flag[@]}" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -timeout=10 -artifact_prefix="$crashes/" -print_final_stats=1 "$work" "$seeds") >"$log" 2>&1; then
    echo "   ok: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs"
  else
    failed+=("$t")
    echo "   FAILED: $(grep -m1 -E 'SUMMARY|FUZZ_CHECK|ERROR:' "$log" || echo "see $log")"
    for f in "$crashes"/*; do [ -e "$f" ] && echo "   input kept: $f (reproduce: $build/fuzz/$t $f)"; done
  fi
done
echo "== fuzzing took $(( $(date +%s) - start )) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: failing targets: ${failed[*]} (logs in $build/logs/)" >&2
  exit 1
fi
