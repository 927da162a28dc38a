#!/usr/bin/env bash
# The idle agent's footprint, side by side with its nearest peer: a connected, idle `ssh -N -R`
# reverse-tunnel client (what operators use without Keyhole), both sampled over the same window.
#
#   keyhole-agent run   activated against a private coordinator (TLS, self-signed, loopback),
#                       heartbeat every BENCH_HEARTBEAT seconds
#   ssh -N -R           to a private sshd on loopback, ServerAliveInterval = BENCH_HEARTBEAT
#
# Samples resident memory (VmRSS) of each process every second and their CPU time (utime+stime)
# at the start and the end of the window; prints a Markdown table for docs/BENCHMARKS.md.
# Installs openssh-server if sshd is missing (Debian). Stops by itself; cleans up on exit.
#
#   bash bench/agent_idle_footprint.sh
#
# Environment: BENCH_SECONDS [60], BENCH_HEARTBEAT [30], BENCH_KEEP=1 keeps the temp dir,
# KEYHOLE_COORDINATOR / KEYHOLE_AGENT binaries [build/ in this checkout].
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COORD=${KEYHOLE_COORDINATOR:-$ROOT/build/coordinator/keyhole-coordinator}
AGENT=${KEYHOLE_AGENT:-$ROOT/build/agent/keyhole-agent}
SECONDS_TOTAL=${BENCH_SECONDS:-60}
HEARTBEAT=${BENCH_HEARTBEAT:-30}
KEEP=${BENCH_KEEP:-0}

die() { echo "agent_idle_footprint: $*" >&2; exit 1; }
[ -x "$COORD" ] || die "no coordinator at $COORD (build first)"
[ -x "$AGENT" ] || die "no agent at $AGENT (build first)"
if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
  echo "installing openssh-server (for the ssh -R peer)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
  # Debian starts it where systemd runs; the benchmark uses a private instance only.
fi
SSHD=$(command -v sshd || echo /usr/sbin/sshd)

TMP=$(mktemp -d /tmp/keyhole-idle.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$KEEP" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
( sleep $((SECONDS_TOTAL + 120)); echo "agent_idle_footprint: global timeout" >&2; kill -TERM $$ ) &
PIDS+=($!)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- coordinator, pool, code, agent ---
TOKEN=$("$COORD" init --data-dir "$TMP/coord" 2>/dev/null)
PORT=$(free_port)
"$COORD" serve --data-dir "$TMP/coord" --listen "127.0.0.1:$PORT" >"$TMP/coord.out" 2>"$TMP/coord.log" &
PIDS+=($!)
URL="https://127.0.0.1:$PORT"
CA="$TMP/coord/tls/coordinator.crt"
for _ in $(seq 100); do curl -fsS --cacert "$CA" "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
api() { curl -fsS --cacert "$CA" -H "Authorization: SSWS $TOKEN" -H 'Content-Type: application/json' "$@"; }
POOL=$(api -d '{"name":"bench","type":"HTTP"}' "$URL/api/v1/agentPools" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
CODE=$(api -X POST "$URL/api/v1/agentPools/$POOL/activationCodes" | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
printf 'heartbeat_interval_seconds = %s\n' "$HEARTBEAT" >"$TMP/agent.toml"
echo "$CODE" | "$AGENT" activate --coordinator "$URL" --code - --ca-file "$CA" --name bench \
  --state-dir "$TMP/agent" --config "$TMP/agent.toml" >/dev/null
"$AGENT" run --state-dir "$TMP/agent" --config "$TMP/agent.toml" 2>"$TMP/agent.log" &
AGENT_PID=$!
PIDS+=($AGENT_PID)

# --- the peer: a private sshd and an idle ssh -R client ---
mkdir -p "$TMP/ssh" && chmod 700 "$TMP/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/ssh/host" && ssh-keygen -q -t ed25519 -N '' -f "$TMP/ssh/user"
cp "$TMP/ssh/user.pub" "$TMP/ssh/authorized_keys"
SSH_PORT=$(free_port)
cat >"$TMP/ssh/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $TMP/ssh/host
AuthorizedKeysFile $TMP/ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile $TMP/ssh/sshd.pid
StrictModes no
AllowTcpForwarding yes
EOF
mkdir -p /run/sshd
"$SSHD" -D -e -f "$TMP/ssh/sshd_config" 2>"$TMP/sshd.log" &
PIDS+=($!)
sleep 0.5
ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  -o ServerAliveInterval="$HEARTBEAT" -o ExitOnForwardFailure=yes -i "$TMP/ssh/user" -p "$SSH_PORT" \
  -R "0:127.0.0.1:$PORT" "$(id -un)@127.0.0.1" 2>"$TMP/ssh.log" &
SSH_PID=$!
PIDS+=($SSH_PID)

# Both settled (the agent connected, ssh authenticated) before the window opens.
for _ in $(seq 100); do grep -q "connected" "$TMP/agent.log" 2>/dev/null && break; sleep 0.1; done
sleep 2
kill -0 "$AGENT_PID" 2>/dev/null || die "the agent exited: $(tail -3 "$TMP/agent.log")"
kill -0 "$SSH_PID" 2>/dev/null || die "ssh exited: $(tail -3 "$TMP/ssh.log")"

TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
a0=$(cpu_ticks "$AGENT_PID"); s0=$(cpu_ticks "$SSH_PID")
a_max=0; s_max=0; a_sum=0; s_sum=0
for _ in $(seq "$SECONDS_TOTAL"); do
  sleep 1
  a=$(rss_kib "$AGENT_PID"); s=$(rss_kib "$SSH_PID")
  a_sum=$((a_sum + a)); s_sum=$((s_sum + s))
  ((a > a_max)) && a_max=$a; ((s > s_max)) && s_max=$s
done
a1=$(cpu_ticks "$AGENT_PID"); s1=$(cpu_ticks "$SSH_PID")
# Resident pages split by who else maps them: PSS charges shared library pages pro rata, the
# private (unique) set is what stopping the process would free.
rollup() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/smaps_rollup"; }
uss() { echo $(( $(rollup "$1" Private_Clean) + $(rollup "$1" Private_Dirty) )); }
a_pss=$(rollup "$AGENT_PID" Pss); s_pss=$(rollup "$SSH_PID" Pss)
a_uss=$(uss "$AGENT_PID"); s_uss=$(uss "$SSH_PID")
a_anon=$(rollup "$AGENT_PID" Anonymous); s_anon=$(rollup "$SSH_PID" Anonymous)
heartbeats=$(api "$URL/api/v1/agentPools/$POOL/agents" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["operationalStatus"])')

row() {  # name max_kib sum_kib ticks pss_kib uss_kib anon_kib
  python3 - "$@" "$SECONDS_TOTAL" "$TICKS" <<'EOF'
import sys
name = sys.argv[1]
mx, sm, ticks, pss, uss, anon, secs, hz = (int(v) for v in sys.argv[2:10])
cpu_s = ticks / hz
print(f"| {name} | {mx/1024:.1f} | {sm/secs/1024:.1f} | {pss/1024:.1f} | {uss/1024:.1f} | {anon/1024:.1f} | {cpu_s*1000:.0f} | {100*cpu_s/secs:.3f} % |")
EOF
}
echo
echo "Idle for ${SECONDS_TOTAL} s, keep-alive every ${HEARTBEAT} s ($(date -u +%Y-%m-%d), $(nproc) cores; agent: $heartbeats)"
echo
echo "| process | max RSS (MiB) | mean RSS (MiB) | PSS (MiB) | private (MiB) | anonymous (MiB) | CPU time (ms) | CPU |"
echo "|---|---|---|---|---|---|---|---|"
row "keyhole-agent run" "$a_max" "$a_sum" "$((a1 - a0))" "$a_pss" "$a_uss" "$a_anon"
row "ssh -N -R (peer)" "$s_max" "$s_sum" "$((s1 - s0))" "$s_pss" "$s_uss" "$s_anon"
