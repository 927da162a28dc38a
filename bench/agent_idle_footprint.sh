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
BENCH_NAME=agent_idle_footprint
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

COORD=${KEYHOLE_COORDINATOR:-$ROOT/build/coordinator/keyhole-coordinator}
AGENT=${KEYHOLE_AGENT:-$ROOT/build/agent/keyhole-agent}
SECONDS_TOTAL=${BENCH_SECONDS:-60}
HEARTBEAT=${BENCH_HEARTBEAT:-30}
KEEP=${BENCH_KEEP:-0}

[ -x "$COORD" ] || die "no coordinator at $COORD (build first)"
[ -x "$AGENT" ] || die "no agent at $AGENT (build first)"
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || install_missing openssh-server  # the ssh -R peer

WORK=$(mktemp -d /tmp/keyhole-idle.XXXXXX)
stop_on_exit $((SECONDS_TOTAL + 120))

# --- coordinator, pool, code, agent ---
start_coordinator "$WORK/coord" "the coordinator"
printf 'heartbeat_interval_seconds = %s\n' "$HEARTBEAT" >"$WORK/agent.toml"
start_agent "$WORK" bench

# --- the peer: a private sshd and an idle ssh -R client ---
start_sshd "$WORK/ssh"
start_ssh_tunnel "$WORK/ssh" "0:127.0.0.1:${COORD_URL##*:}" -o ServerAliveInterval="$HEARTBEAT"

# Both settled (the agent connected, ssh authenticated) before the window opens.
for _ in $(seq 100); do grep -q "connected" "$WORK/agent.log" 2>/dev/null && break; sleep 0.1; done
sleep 2
kill -0 "$AGENT_PID" 2>/dev/null || die "the agent exited: $(tail -3 "$WORK/agent.log")"
kill -0 "$SSH_PID" 2>/dev/null || die "ssh exited: $(tail -3 "$WORK/ssh/ssh.log")"

TICKS=$(getconf CLK_TCK)
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
heartbeats=$(coord_api "$COORD_URL/api/v1/agentPools/$POOL/agents" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["operationalStatus"])')

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
