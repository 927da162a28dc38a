#!/usr/bin/env bash
# The rate limiter's cost per authenticated request, in CPU instructions rather than seconds:
# the coordinator runs under valgrind --tool=callgrind (deterministic counts, immune to the noise
# of a shared 2-core VM), once with the limiter on and once off, each serving the same number of
# GET /api/v1/users/me; a third run serves none, to subtract start-up and shutdown.
# Loopback only; stops by itself. Usage: bash bench/ratelimit_cost_callgrind.sh [REQUESTS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COORD=${KEYHOLE_COORDINATOR:-$ROOT/build/coordinator/keyhole-coordinator}
REQUESTS=${1:-2000}
command -v valgrind >/dev/null || { [[ $(id -u) -eq 0 ]] && apt-get install -y -qq valgrind >/dev/null; }
WORK=$(mktemp -d /tmp/keyhole-cg.XXXXXX)
trap 'pkill -f "$WORK" 2>/dev/null || true; [[ ${KEEP:-0} == 1 ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT

run() {  # $1 label, $2 config text, $3 requests → prints total instructions
  local d=$WORK/$1
  mkdir -p "$d"
  printf '%b' "$2" >"$d/c.toml"
  local tok
  tok=$("$COORD" init --data-dir "$d/data")
  timeout 300 valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$COORD" serve --data-dir "$d/data" \
    --listen 127.0.0.1:0 --plain-http --threads 1 --log-level error --config "$d/c.toml" >"$d/out" 2>"$d/err" &
  local pid=$!
  for _ in $(seq 1 600); do grep -q "listening on" "$d/out" && break; sleep 0.1; done
  local url
  url=$(sed -n 's/^keyhole-coordinator listening on //p' "$d/out")
  for ((i = 0; i < $3; i += 100)); do
    # 100 requests on one keep-alive connection per curl invocation.
    # shellcheck disable=SC2046
    curl -s -H "Authorization: SSWS $tok" $(for _ in $(seq 1 100); do printf '%s/api/v1/users/me ' "$url"; done) \
      >/dev/null 2>&1 || true
  done
  kill -TERM "$pid"
  wait "$pid" || true
  grep -m1 '^summary:' "$d/cg.out" | awk '{print $2}'
}

ON='[ratelimits.endpoints]\n"GET /api/v1/users/me" = 2000000000\n'
OFF='[ratelimits]\nenabled = false\n'
base_on=$(run base-on "$ON" 0)
base_off=$(run base-off "$OFF" 0)
on=$(run on "$ON" "$REQUESTS")
off=$(run off "$OFF" "$REQUESTS")
awk -v on="$on" -v off="$off" -v bon="$base_on" -v boff="$base_off" -v n="$REQUESTS" 'BEGIN {
  pon = (on - bon) / n; poff = (off - boff) / n
  printf "instructions per request: limiter on %.0f, off %.0f; the limiter costs %.0f (%.1f%%)\n", pon, poff, pon - poff, 100 * (pon - poff) / poff
}'
