#!/usr/bin/env bash
# Scale of the tunnel (issue 5): BENCH_AGENTS agents (default 10,000) connected at once to one
# coordinator, each an idle keyhole-tunnel.v1 WebSocket/TLS connection sending a PING every
# BENCH_PING seconds. Runs bench/tunnel_load/ (keyhole-tunnel-load) against a private
# coordinator (TLS, self-signed, loopback, fresh data dir, rate limits off, max_connections above
# the agent count) and prints its figures: set-up time, coordinator memory per idle connection,
# coordinator CPU of the heartbeats, and whether GET /api/v1/agentPools lists them connected.
# Stops by itself (watchdog); stops what it started on exit.
#
#   flock /tmp/keyhole-build.lock ninja -C build-bench keyhole-tunnel-load   # -DKEYHOLE_BUILD_BENCH=ON
#   flock /tmp/keyhole-build.lock bash bench/tunnel_load.sh
#
# Environment (defaults in brackets):
#   KEYHOLE_COORDINATOR   coordinator binary [build/coordinator/keyhole-coordinator]
#   KEYHOLE_TUNNEL_LOAD   load tool [build-bench/bench/keyhole-tunnel-load, else build/bench/…]
#   BENCH_AGENTS [10000]  BENCH_IDLE seconds [60]  BENCH_PING seconds [20]  BENCH_BASELINE seconds [10]
#   BENCH_QUIET           seconds connected without PINGs, before the PING period [15]
#   BENCH_THREADS         load tool io threads [2]      BENCH_IN_FLIGHT  set-ups in flight [200]
#   BENCH_ACTIVATORS      parallel activation connections [16]
#   BENCH_COORD_THREADS   coordinator --threads [0: one per core]
#   BENCH_KEEP            1: keep the temp dir (logs, data, tokens) and print its path [0]
#   BENCH_PROFILE         1: perf record -e cpu-clock -g the coordinator for 15 s of the mass set-up and
#                         during the quiet window, and print the top symbols of each [0]
set -euo pipefail
BENCH_NAME=tunnel_load
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

COORD=${KEYHOLE_COORDINATOR:-$ROOT/build/coordinator/keyhole-coordinator}
LOAD=${KEYHOLE_TUNNEL_LOAD:-}
if [[ -z $LOAD ]]; then
  for c in "$ROOT/build-bench/bench/keyhole-tunnel-load" "$ROOT/build/bench/keyhole-tunnel-load"; do
    [[ -x $c ]] && { LOAD=$c; break; }
  done
fi
AGENTS=${BENCH_AGENTS:-10000}
IDLE=${BENCH_IDLE:-60}
PING=${BENCH_PING:-20}
BASELINE=${BENCH_BASELINE:-10}
QUIET=${BENCH_QUIET:-15}
THREADS=${BENCH_THREADS:-2}
IN_FLIGHT=${BENCH_IN_FLIGHT:-200}
ACTIVATORS=${BENCH_ACTIVATORS:-16}
COORD_THREADS=${BENCH_COORD_THREADS:-0}
KEEP=${BENCH_KEEP:-0}
PROFILE=${BENCH_PROFILE:-0}

[[ -x $COORD ]] || die "no coordinator at $COORD (build first)"
[[ -n $LOAD && -x $LOAD ]] || die "no keyhole-tunnel-load (cmake -B build-bench -DKEYHOLE_BUILD_BENCH=ON; ninja -C build-bench keyhole-tunnel-load)"
[[ $AGENTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_AGENTS must be a positive integer"

# Each side holds one descriptor per agent, plus some.
need=$(( AGENTS + 1024 ))
hard=$(ulimit -Hn)
[[ $hard == unlimited || $hard -ge $need ]] || die "ulimit -Hn is $hard, $need needed for $AGENTS agents"
ulimit -n "$need"

WORK=$(mktemp -d /tmp/keyhole-tunnel-load.XXXXXX)

# Watchdog: activation (~ a few ms per agent), set-up, baseline, idle, plus slack.
MAX_S=$(( AGENTS / 20 + IDLE + BASELINE + QUIET + 300 ))
stop_on_exit "$MAX_S" 100

# ---- the coordinator: TLS (self-signed), loopback, rate limits off, room for every agent ----
D=$WORK/coord
mkdir -p "$D"
cat >"$D/coordinator.toml" <<EOF
[server]
max_connections = $(( AGENTS + 1000 ))

[ratelimits]
enabled = false
EOF
start_coordinator "$D" "the coordinator" --threads "$COORD_THREADS" --log-level warning --config "$D/coordinator.toml"
URL=$COORD_URL
[[ $URL == https://127.0.0.1:* ]] || die "unexpected listen URL: $URL"
CA=$COORD_CA

echo "tunnel_load: coordinator $URL (pid $COORD_PID); $AGENTS agents, $THREADS io threads, $IN_FLIGHT set-ups in flight, idle ${IDLE}s, PING every ${PING}s" >&2
hooks=()
if [[ $PROFILE == 1 ]]; then
  command -v perf >/dev/null || die "BENCH_PROFILE=1 needs perf (apt-get install linux-perf)"
  hooks=(--on-connect "perf record -q -e cpu-clock -F 499 -g -p $COORD_PID -o $WORK/connect.perf -- sleep 15 >/dev/null 2>&1"
         --on-idle "perf record -q -e cpu-clock -F 499 -g -p $COORD_PID -o $WORK/idle.perf -- sleep $(( QUIET > 5 ? QUIET - 2 : 5 )) >/dev/null 2>&1")
fi
set +e
"$LOAD" "${hooks[@]}" --url "$URL" --ca-file "$CA" --admin-token-file "$D/admin.token" --coordinator-pid "$COORD_PID" \
  --agents "$AGENTS" --threads "$THREADS" --in-flight "$IN_FLIGHT" --activation-workers "$ACTIVATORS" \
  --baseline-seconds "$BASELINE" --quiet-seconds "$QUIET" --idle-seconds "$IDLE" --ping-interval "$PING" \
  --tokens-file "$WORK/tokens.txt" >"$WORK/load.out" 2> >(tee "$WORK/load.err" >&2)
rc=$?
set -e
kill -0 "$COORD_PID" 2>/dev/null || echo "tunnel_load: WARNING: the coordinator exited during the run: $(tail -n 5 "$D/stderr")" >&2

echo
echo "Machine: $(machine); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "Settings: BENCH_AGENTS=$AGENTS BENCH_IDLE=$IDLE BENCH_PING=$PING BENCH_BASELINE=$BASELINE BENCH_QUIET=$QUIET BENCH_THREADS=$THREADS BENCH_IN_FLIGHT=$IN_FLIGHT BENCH_COORD_THREADS=$COORD_THREADS (elapsed ${SECONDS}s)"
grep -v '^RESULT\|^LISTING' "$WORK/load.out" || true
listing=$(grep '^LISTING ' "$WORK/load.out" || true)
if [[ -n $listing ]]; then
  eval "$(sed 's/^LISTING //' <<<"$listing" | tr ' ' '\n' | sed 's/^/L_/')"
  echo "| GET /api/v1/agentPools lists connected | ${L_connected} of ${L_listed} agents listed (${L_seconds} s, ${L_bytes} bytes) |"
fi
after=$(grep '^LISTING_AFTER ' "$WORK/load.out" || true)
if [[ -n $after ]]; then
  eval "$(sed 's/^LISTING_AFTER //' <<<"$after" | tr ' ' '\n' | sed 's/^/A_/')"
  echo "| … 15 s after the load tool closed every connection | ${A_connected} of ${A_listed} still listed connected |"
fi
echo
grep '^RESULT' "$WORK/load.out" || true
if grep -q 'stopping\|error' "$D/stderr"; then
  echo "coordinator log (last lines):"; tail -n 5 "$D/stderr"
fi
if [[ $PROFILE == 1 ]]; then
  for phase in connect idle; do
    [[ -s $WORK/$phase.perf ]] || continue
    echo
    echo "coordinator profile, $phase (perf cpu-clock, self time, top 25; 'idle' = the quiet window):"
    perf report -i "$WORK/$phase.perf" --no-children --stdio --sort dso,sym 2>/dev/null | grep -E '^ +[0-9.]+%' | head -n 25 | cut -c1-200
    echo "… inclusive (children), top 40:"
    perf report -i "$WORK/$phase.perf" --children --stdio --sort sym -g none 2>/dev/null | grep -E '^ +[0-9.]+%' |
      grep -v '\[k\]\|0x0000' | head -n 30 | cut -c1-220
  done
fi
(( rc == 0 )) || echo "tunnel_load: the load tool exited with $rc (not every agent connected, some dropped, or PONGs missing)" >&2
exit "$rc"
