#!/usr/bin/env bash
# The browser test end to end: a fresh data directory with the demo photos
# ingested by the real pipeline, `lineup serve` on a free loopback port, one
# account per role created through the API as the printed admin, then
# tests/e2e/run.mjs in headless Chromium. Screenshots stay in $2.
#
#   tests/e2e/run_e2e.sh BUILD/lineup OUT_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
lineup="$1"
out="$2"
var="${LINEUP_HOME:-$root/var}"
photos="$var/packages/@vladmandic/face-api/demo"
playwright="$var/packages/playwright-core"
for need in "$photos/sample1.jpg" "$playwright/package.json" /usr/bin/chromium; do
  [ -e "$need" ] || { echo "e2e: missing $need (run scripts/setup.sh)" >&2; exit 1; }
done
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$out" && mkdir -p "$out"

echo "e2e: ingesting the demo photos"
mkdir -p "$work/photos"
cp "$photos"/sample*.jpg "$work/photos/"
"$lineup" ingest "$work/photos" --collection demo --legal-basis "demo photos of @vladmandic/face-api (MIT)" \
  --data "$work/data" --no-progress --json > "$out/ingest.json"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$lineup" serve --data "$work/data" --listen "127.0.0.1:$port" --logins-per-minute 120 --case-retention-days 30 > "$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
  sleep 0.5
done
password="$(sed -n 's/^  password: //p' "$out/server.log")"
[ -n "$password" ] || { echo "e2e: no admin password printed" >&2; cat "$out/server.log" >&2; exit 1; }

base="http://127.0.0.1:$port/api/v1"
jar="$work/cookies"
login() {  # user password -> prints the CSRF token, keeps the cookie in $jar
  curl -sf -c "$jar" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" "$base/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])'
}
user_password="e2e password $(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# The printed admin password is one-time: replace it first. (The web app's
# forced change is exercised with the "temporary" account below.)
csrf="$(login admin "$password")"
curl -sf -b "$jar" -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" \
  -d "{\"current\":\"$password\",\"new\":\"$user_password\"}" "$base/password" > /dev/null
password="$user_password"
csrf="$(login admin "$password")"
declare -A roles=([investigator]=ivan [investigator2]=iris [supervisor]=sam [auditor]=ada)
declare -A role_of=([investigator]=investigator [investigator2]=investigator [supervisor]=supervisor [auditor]=auditor)
users="{\"admin\": {\"username\": \"admin\", \"password\": \"$password\"}"
for key in investigator investigator2 supervisor auditor; do
  name="${roles[$key]}"
  unit="CID North"
  [ "$key" = auditor ] && unit=""
  curl -sf -b "$jar" -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" \
    -d "{\"username\":\"$name\",\"password\":\"$user_password\",\"role\":\"${role_of[$key]}\",\"unit\":\"$unit\",\"display_name\":\"$name\"}" \
    "$base/users" > /dev/null
  users="$users, \"$key\": {\"username\": \"$name\", \"password\": \"$user_password\", \"unit\": \"$unit\"}"
done
curl -sf -b "$jar" -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" \
  -d "{\"username\":\"tara\",\"password\":\"$user_password\",\"role\":\"auditor\",\"temporary_password\":true}" \
  "$base/users" > /dev/null
users="$users, \"temporary\": {\"username\": \"tara\", \"password\": \"$user_password\", \"unit\": \"\"}"
echo "$users}" > "$work/users.json"

versions="node $(node --version), playwright-core $(node -p "require('$playwright/package.json').version"), $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null)"
echo "e2e: browser scenarios against http://127.0.0.1:$port/ ($versions)"
LINEUP_URL="http://127.0.0.1:$port" LINEUP_E2E_USERS="$work/users.json" LINEUP_E2E_PHOTO="$photos/sample1.jpg" \
  LINEUP_E2E_OUT="$out" PLAYWRIGHT_CORE="$playwright" node "$root/tests/e2e/run.mjs"
