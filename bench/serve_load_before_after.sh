#!/bin/sh
# The ServeProcessLoad rows (bench/serve_process_load_bench.cc) for two builds
# of lineup, alternating, so both see the same shared machine:
#
#   bench/serve_load_before_after.sh BEFORE_COMMIT [ROUNDS]
#
# Builds BEFORE_COMMIT's `lineup` once in a detached worktree under /var/tmp
# (lineup-before-<commit>), then runs ROUNDS (default 2) rounds of
# "this checkout's build/lineup_bench against build/lineup, then against the
# old binary". JSON results and the console output go to
# /var/tmp/lineup-load-results/. Needs build/lineup_bench (Release).
set -eu
before=$(git rev-parse --short "$1")
rounds=${2:-2}
top=$(git rev-parse --show-toplevel)
old=/var/tmp/lineup-before-$before
out=/var/tmp/lineup-load-results
mkdir -p "$out"
if [ ! -x "$old/build/lineup" ]; then
  [ -d "$old" ] || git worktree add --detach "$old" "$before"
  cmake -S "$old" -B "$old/build" -DCMAKE_BUILD_TYPE=Release > "$out/before-cmake.log"
  cmake --build "$old/build" -j2 --target lineup > "$out/before-build.log"
fi
for round in $(seq "$rounds"); do
  for which in after before; do
    if [ "$which" = before ]; then bin="$old/build/lineup"; else bin="$top/build/lineup"; fi
    echo "== round $round $which ($bin) $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
    LINEUP_LOAD_BINARY="$bin" "$top/build/lineup_bench" --benchmark_filter=ServeProcessLoad \
      --benchmark_out="$out/$which-$round.json" --benchmark_out_format=json
  done
done
