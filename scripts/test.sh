#!/usr/bin/env bash
# Runs set-up (idempotent) and then the whole test suite under CTest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh"
cd "$build"
ctest --output-on-failure -j "$(nproc)" "$@"
"$root/scripts/fuzz.sh"  # libFuzzer targets, FUZZ_SECONDS (30) each (docs/SECURITY.md, "Fuzzing")
