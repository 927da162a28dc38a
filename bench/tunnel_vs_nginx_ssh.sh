#!/usr/bin/env bash
# The tunnel side by side (issue 5): one upstream (a private nginx serving a small static file and
# a 100 MiB file), reached on loopback through
#   direct         the upstream itself
#   nginx          nginx proxy_pass (1 worker, keep-alive connections to the upstream)
#   ssh -R         an `ssh -R` reverse tunnel through a private sshd (own host key, own
#                  authorized_keys, ephemeral port)
#   keyhole        a coordinator with one agent ([upstreams.bench] url = the upstream); callers
#                  send GET /api/v1/agentPools/{poolId}/tunnel/bench/... with an admin SSWS token.
#                  Three variants (BENCH_KEYHOLE_MODES): "mixed" = coordinator with its self-signed
#                  TLS and a loopback plain listener (--plain-listen): the caller speaks plain HTTP
#                  as to every other path, the agent dials wss:// (encrypted, as ssh's link is);
#                  "tls" = the caller speaks HTTPS too; "plain" = coordinator --plain-http, the
#                  agent dials ws:// (unencrypted, as loopback allows).
# Small requests: wrk -t2 -c64 (req/s, p50, p99), then wrk -t1 -c1 (p50 with no queueing);
# bulk: the 100 MiB file with curl (best of BENCH_BULK_TRIES). The path's own CPU per request
# and the machine's idle and steal CPU (/proc/stat) during the 64-connection run go beside them:
# a path that leaves the cores idle is bound by its latency, not by CPU. Prints a table and the issue's
# ratios against their targets (with each round's ratio to ssh), headed by what a system call and a
# wake-up cost on this machine at the time (bench/syscall_cost.cc, compiled with g++ if present).
# Loopback only; stops by itself; stops what it started on exit.
#
#   flock /tmp/keyhole-build.lock bash bench/tunnel_vs_nginx_ssh.sh
#
# Environment (defaults in brackets):
#   KEYHOLE_COORDINATOR / KEYHOLE_AGENT   binaries [build/coordinator/keyhole-coordinator, build/agent/keyhole-agent]
#   BENCH_DURATION [10s]  BENCH_WARMUP [2s]  BENCH_CONNECTIONS [64]  BENCH_WRK_THREADS [2]
#   BENCH_LATENCY_DURATION [5s] (the 1-connection run; 0 skips it)
#   BENCH_ROUNDS [1]      rounds of every path, alternating; medians are reported
#   BENCH_BULK_TRIES [3]  BENCH_SMALL_BYTES [300]  BENCH_BULK_MIB [100]
#   BENCH_KEYHOLE_MODES ["mixed tls plain"]; "" measures the peers only  BENCH_COORD_THREADS [0: one per core]
#   BENCH_SSH_CIPHER      ssh -c CIPHER [OpenSSH's default choice]
#   BENCH_KEEP            1: keep the temp dir (wrk outputs, logs) [0]
set -euo pipefail
BENCH_NAME=tunnel_vs_nginx_ssh
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

COORD=${KEYHOLE_COORDINATOR:-$ROOT/build/coordinator/keyhole-coordinator}
AGENT=${KEYHOLE_AGENT:-$ROOT/build/agent/keyhole-agent}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
LAT_DURATION=${BENCH_LATENCY_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-1}
BULK_TRIES=${BENCH_BULK_TRIES:-3}
SMALL_BYTES=${BENCH_SMALL_BYTES:-300}
BULK_MIB=${BENCH_BULK_MIB:-100}
KEYHOLE_MODES=${BENCH_KEYHOLE_MODES-"mixed tls plain"}
COORD_THREADS=${BENCH_COORD_THREADS:-0}
WORKERS=$COORD_THREADS
(( WORKERS > 0 )) || WORKERS=$(nproc)  # what --threads 0 gives: one lane per worker
SSH_CIPHER=${BENCH_SSH_CIPHER:-}
KEEP=${BENCH_KEEP:-0}

# The peers are Debian packages; install what is missing (as root).
need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx-light)
command -v sshd >/dev/null || [[ -x /usr/sbin/sshd ]] || need_pkgs+=(openssh-server)
command -v ssh >/dev/null || need_pkgs+=(openssh-client)
install_missing "${need_pkgs[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk curl ssh ssh-keygen awk python3; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x $COORD ]] || die "no coordinator at $COORD (build first)"
[[ -x $AGENT ]] || die "no agent at $AGENT (build first)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
read -r -a MODES <<<"$KEYHOLE_MODES"
for m in "${MODES[@]}"; do [[ $m == plain || $m == tls || $m == mixed ]] || die "BENCH_KEYHOLE_MODES: mixed, tls and/or plain"; done

DUR_S=$(to_seconds "$DURATION")
WARM_S=$(to_seconds "$WARMUP")
LAT_S=$(to_seconds "$LAT_DURATION")
N_PATHS=$(( 3 + ${#MODES[@]} ))
MAX_S=$(( ROUNDS * N_PATHS * (DUR_S + WARM_S + LAT_S + 15 + BULK_TRIES * 10) + 120 ))

WORK=$(mktemp -d /tmp/keyhole-tunnel-bench.XXXXXX)
chmod 755 "$WORK"
stop_on_exit "$MAX_S"

# ---- nginx instances: the upstream and the proxy, 1 worker each, no access log ----
UP=$WORK/upstream
mkdir -p "$UP/html"
head -c "$SMALL_BYTES" /dev/zero | tr '\0' 'k' >"$UP/html/small.txt"
head -c $(( BULK_MIB * 1024 * 1024 )) /dev/urandom >"$UP/html/bulk.bin"
BULK_BYTES=$(( BULK_MIB * 1024 * 1024 ))
chmod 755 "$UP" "$UP/html"; chmod 644 "$UP/html/"*
UP_PORT=$(free_port)
{ nginx_common "$UP"; cat <<EOF
  server {
    listen 127.0.0.1:$UP_PORT;
    root $UP/html;
  }
}
EOF
} >"$UP/nginx.conf"
start_nginx "$UP" "http://127.0.0.1:$UP_PORT/small.txt"
DIRECT=http://127.0.0.1:$UP_PORT

PX=$WORK/proxy
mkdir -p "$PX"
PX_PORT=$(free_port)
{ nginx_common "$PX"; cat <<EOF
  upstream bench { server 127.0.0.1:$UP_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$PX_PORT;
    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;   # stream the 100 MiB body, never spool it to disk
    }
  }
}
EOF
} >"$PX/nginx.conf"
start_nginx "$PX" "http://127.0.0.1:$PX_PORT/small.txt"
PROXY=http://127.0.0.1:$PX_PORT

# ---- ssh -R through a private sshd ----
S=$WORK/ssh
start_sshd "$S"
TUN_PORT=$(free_port)
cipher=()
[[ -n $SSH_CIPHER ]] && cipher=(-c "$SSH_CIPHER")
start_ssh_tunnel "$S" "127.0.0.1:$TUN_PORT:127.0.0.1:$UP_PORT" -o ServerAliveInterval=30 "${cipher[@]}"
wait_for 10 curl -fsS -o /dev/null "http://127.0.0.1:$TUN_PORT/small.txt" || die "ssh -R tunnel not up: $(tail -n 3 "$S/ssh.log")"
SSHR=http://127.0.0.1:$TUN_PORT
SSH_FIRST_CIPHER=$(ssh -G -p "$SSH_PORT" 127.0.0.1 "${cipher[@]}" 2>/dev/null | awk '$1 == "ciphers" {split($2, c, ","); print c[1]}')

# ---- keyhole: a coordinator per mode, one agent each ----
declare -A KH_URL KH_TOKEN KH_CURL KH_COORD_PID KH_AGENT_PID
for mode in "${MODES[@]}"; do
  K=$WORK/keyhole-$mode
  mkdir -p "$K"
  printf '[ratelimits]\nenabled = false\n' >"$K/coordinator.toml"
  plain=()
  [[ $mode == plain ]] && plain=(--plain-http)
  [[ $mode == mixed ]] && plain=(--plain-listen 127.0.0.1:0)
  start_coordinator "$K" "coordinator ($mode)" "${plain[@]}" --threads "$COORD_THREADS" --log-level warning --config "$K/coordinator.toml"
  KH_COORD_PID[$mode]=$COORD_PID
  caller_url=$COORD_URL caller_tls=("${COORD_TLS[@]}")
  if [[ $mode == mixed ]]; then
    wait_for 5 grep -q "also listening on" "$K/stdout" || die "coordinator ($mode): no plain listener"
    caller_url=$(sed -n 's/^keyhole-coordinator also listening on \([^ ]*\).*/\1/p' "$K/stdout" | head -n1)
    caller_tls=()
  fi
  printf '[upstreams.bench]\nurl = "http://127.0.0.1:%s"\n' "$UP_PORT" >"$K/agent.toml"
  start_agent "$K" bench-agent
  KH_AGENT_PID[$mode]=$AGENT_PID
  token=$COORD_TOKEN
  KH_URL[$mode]="$caller_url/api/v1/agentPools/$POOL/tunnel/bench"
  KH_TOKEN[$mode]=$token
  KH_CURL[$mode]="${caller_tls[*]}"
  # The tunnel is up once a request through it answers 200.
  wait_for 20 curl -fsS "${caller_tls[@]}" -H "Authorization: SSWS $token" -o /dev/null "${KH_URL[$mode]}/small.txt" ||
    die "keyhole ($mode): no answer through the tunnel: $(curl -sS "${caller_tls[@]}" -H "Authorization: SSWS $token" "${KH_URL[$mode]}/small.txt" 2>&1 | head -c 300); agent log: $(tail -n 3 "$K/agent.log")"
  # Lanes (docs/PROTOCOL.md 2.3): give the agent a moment to open one connection per worker.
  for _ in $(seq 1 30); do
    n=$(coord_api "$COORD_URL/api/v1/agentPools" | python3 -c 'import json,sys; print(max([a["tunnel"]["connections"] for p in json.load(sys.stdin) for a in p["agents"]] or [0]))')
    (( n >= WORKERS )) && break
    sleep 0.1
  done
  say "keyhole ($mode): the agent holds $n tunnel connection(s)"
done

# ---- the paths ----
PATH_NAMES=(direct nginx ssh)
declare -A P_URL P_AUTH P_CURL P_PIDS
P_URL[direct]=$DIRECT;  P_PIDS[direct]=""
P_URL[nginx]=$PROXY;    P_PIDS[nginx]="$(cat "$PX/nginx.pid" 2>/dev/null || true)"
P_URL[ssh]=$SSHR;       P_PIDS[ssh]="$SSHD_PID $SSH_PID"
for mode in "${MODES[@]}"; do
  p=keyhole-$mode
  PATH_NAMES+=("$p")
  P_URL[$p]=${KH_URL[$mode]}
  P_AUTH[$p]=${KH_TOKEN[$mode]}
  P_CURL[$p]=${KH_CURL[$mode]}
  P_PIDS[$p]="${KH_COORD_PID[$mode]} ${KH_AGENT_PID[$mode]}"
done

HZ=$(getconf CLK_TCK)

# The machine's CPU ticks from /proc/stat: total, idle (idle + iowait), steal (taken by the host).
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6, $9 }' /proc/stat; }

run_wrk() {  # run_wrk PATH ROUND: warm-up, measured run, 1-connection run
  local p=$1 r=$2 url=${P_URL[$1]}/small.txt hdr=()
  [[ -n ${P_AUTH[$p]:-} ]] && hdr=(-H "Authorization: SSWS ${P_AUTH[$p]}")
  timeout $(( WARM_S + 15 )) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${hdr[@]}" "$url" >/dev/null 2>&1 || true
  local c0=() c1=() pid i total=0 parts=()
  for pid in ${P_PIDS[$p]}; do c0+=("$(tree_ticks "$pid")"); done
  local m0 m1
  m0=$(machine_ticks)
  timeout $(( DUR_S + 20 )) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency --timeout 2s "${hdr[@]}" "$url" \
    >"$WORK/$p-r$r.wrk" 2>&1 || die "wrk failed for $p: $(tail -n 3 "$WORK/$p-r$r.wrk")"
  for pid in ${P_PIDS[$p]}; do c1+=("$(tree_ticks "$pid")"); done
  m1=$(machine_ticks)
  # Idle CPU while 64 requests are always outstanding: a path that leaves the cores idle is
  # bound by its own latency, not by CPU.
  awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[1] - x[1];
    printf "%.0f %.0f\n", (t > 0) ? 100 * (y[2] - x[2]) / t : 0, (t > 0) ? 100 * (y[3] - x[3]) / t : 0 }' >"$WORK/$p-r$r.idle"
  i=0
  for pid in ${P_PIDS[$p]}; do
    parts+=($(( c1[i] - c0[i] ))); total=$(( total + c1[i] - c0[i] )); i=$(( i + 1 ))
  done
  echo "$total" >"$WORK/$p-r$r.ticks"
  echo "${parts[*]}" >"$WORK/$p-r$r.parts"
  if (( LAT_S > 0 )); then
    timeout $(( LAT_S + 20 )) wrk -t1 -c1 -d"$LAT_DURATION" --latency --timeout 2s "${hdr[@]}" "$url" \
      >"$WORK/$p-r$r.lat" 2>&1 || die "wrk (1 connection) failed for $p: $(tail -n 3 "$WORK/$p-r$r.lat")"
  fi
}

run_bulk() {  # run_bulk PATH ROUND: best MB/s of BULK_TRIES downloads, checking the size
  local p=$1 r=$2 url=${P_URL[$1]}/bulk.bin best=0 i out code size speed hdr=() tls=()
  [[ -n ${P_AUTH[$p]:-} ]] && hdr=(-H "Authorization: SSWS ${P_AUTH[$p]}")
  # shellcheck disable=SC2206
  [[ -n ${P_CURL[$p]:-} ]] && tls=(${P_CURL[$p]})
  for i in $(seq 1 "$BULK_TRIES"); do
    out=$(timeout 120 curl -sS "${tls[@]}" "${hdr[@]}" -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$url") ||
      die "bulk download failed for $p: $out"
    read -r code size speed <<<"$out"
    [[ $code == 200 && $size == "$BULK_BYTES" ]] || die "bulk download for $p: HTTP $code, $size of $BULK_BYTES bytes"
    best=$(awk -v a="$best" -v b="$speed" 'BEGIN { print (b > a) ? b : a }')
  done
  awk -v b="$best" 'BEGIN { printf "%.1f\n", b / 1e6 }' >"$WORK/$p-r$r.bulk"
}

# What a system call and a wake-up cost here: on a paravirtualised guest ten times bare metal's,
# which weighs on a two-hop path more than on a one-hop one (bench/syscall_cost.cc).
SYSCALL_COST="not measured (no g++)"
if command -v g++ >/dev/null && g++ -std=c++20 -O2 -o "$WORK/syscall-cost" "$ROOT/bench/syscall_cost.cc" 2>"$WORK/syscall-cost.err"; then
  SYSCALL_COST=$("$WORK/syscall-cost" 2>&1 || true)
fi

say "upstream $DIRECT, nginx $PROXY, ssh -R $SSHR (sshd :$SSH_PORT), keyhole: $(for m in "${MODES[@]}"; do printf '%s=%s ' "$m" "${KH_URL[$m]}"; done)"
say "$ROUNDS round(s) x ${#PATH_NAMES[@]} paths x (${WARMUP} warm-up + ${DURATION} at $CONNECTIONS connections + ${LAT_DURATION} at 1 + $BULK_TRIES x ${BULK_MIB} MiB); watchdog ${MAX_S}s"
for r in $(seq 1 "$ROUNDS"); do
  for p in "${PATH_NAMES[@]}"; do
    say "round $r: $p"
    run_wrk "$p" "$r"
    run_bulk "$p" "$r"
  done
done

# ---- report ----
declare -A M_RPS M_P50 M_P99 M_LAT M_BULK M_BAD M_CPU M_IDLE M_STEAL
for p in "${PATH_NAMES[@]}"; do
  rps=() p50=() p99=() lat=() bulk=() cpu=() idle=() steal=() bad=0
  for r in $(seq 1 "$ROUNDS"); do
    read -r a b c d < <(parse_wrk "$WORK/$p-r$r.wrk")
    rps+=("$a"); p50+=("$b"); p99+=("$c"); bad=$(( bad + d ))
    if (( LAT_S > 0 )); then read -r _ b _ d < <(parse_wrk "$WORK/$p-r$r.lat"); lat+=("$b"); bad=$(( bad + d )); fi
    bulk+=("$(cat "$WORK/$p-r$r.bulk")")
    read -r a_idle a_steal <"$WORK/$p-r$r.idle"; idle+=("$a_idle"); steal+=("$a_steal")
    # CPU of the path's own processes (proxy, sshd+ssh, coordinator+agent) per request, µs.
    cpu+=("$(awk -v t="$(cat "$WORK/$p-r$r.ticks")" -v hz="$HZ" -v n="$a" -v d="$DUR_S" 'BEGIN { printf "%.1f", (n > 0) ? t / hz * 1e6 / (n * d) : 0 }')")
  done
  M_RPS[$p]=$(median "${rps[@]}"); M_P50[$p]=$(median "${p50[@]}"); M_P99[$p]=$(median "${p99[@]}")
  M_LAT[$p]=$( ((LAT_S > 0)) && median "${lat[@]}" || echo 0)
  M_BULK[$p]=$(printf '%.0f' "$(median "${bulk[@]}")"); M_BAD[$p]=$bad; M_CPU[$p]=$(printf '%.1f' "$(median "${cpu[@]}")")
  M_IDLE[$p]=$(printf '%.0f' "$(median "${idle[@]}")"); M_STEAL[$p]=$(printf '%.0f' "$(median "${steal[@]}")")
done

echo
echo "Machine: $(machine); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "System calls here: $SYSCALL_COST"
echo "Settings: BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP BENCH_CONNECTIONS=$CONNECTIONS BENCH_WRK_THREADS=$WRK_THREADS BENCH_LATENCY_DURATION=$LAT_DURATION BENCH_ROUNDS=$ROUNDS BENCH_BULK_TRIES=$BULK_TRIES BENCH_KEYHOLE_MODES=\"$KEYHOLE_MODES\" BENCH_COORD_THREADS=$COORD_THREADS (elapsed ${SECONDS}s)"
echo "Small: ${SMALL_BYTES}-byte static file, wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency, and wrk -t1 -c1 -d$LAT_DURATION for the unqueued p50; bulk: ${BULK_MIB} MiB, curl, best of $BULK_TRIES. nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), 1 worker each; $(ssh -V 2>&1 | cut -d, -f1), cipher ${SSH_CIPHER:-default (${SSH_FIRST_CIPHER:-?} first)}."
echo
echo "| path | req/s | p50 (ms) | p99 (ms) | p50 at 1 connection (ms) | bulk (MB/s) | path CPU per request (µs) | machine idle / steal at $CONNECTIONS connections (%) | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
label() {
  case $1 in
    direct) echo "direct (upstream nginx)" ;;
    nginx) echo "nginx proxy_pass" ;;
    ssh) echo "ssh -R tunnel" ;;
    keyhole-plain) echo "keyhole, caller HTTP, agent link ws://" ;;
    keyhole-mixed) echo "keyhole, caller HTTP, agent link wss://" ;;
    keyhole-tls) echo "keyhole, caller HTTPS, agent link wss://" ;;
  esac
}
for p in "${PATH_NAMES[@]}"; do
  cpu=${M_CPU[$p]}
  [[ $p == direct ]] && cpu="—"
  echo "| $(label "$p") | $(printf '%.0f' "${M_RPS[$p]}") | ${M_P50[$p]} | ${M_P99[$p]} | ${M_LAT[$p]} | ${M_BULK[$p]} | $cpu | ${M_IDLE[$p]} / ${M_STEAL[$p]} | ${M_BAD[$p]} |"
done
echo
# Who spent the path's CPU (last round): the proxy's own processes, per request.
for p in "${PATH_NAMES[@]}"; do
  [[ $p == direct || $p == nginx ]] && continue
  read -r -a parts <"$WORK/$p-r$ROUNDS.parts"
  read -r n _ < <(parse_wrk "$WORK/$p-r$ROUNDS.wrk")
  us() { awk -v t="$1" -v hz="$HZ" -v n="$n" -v d="$DUR_S" 'BEGIN { printf "%.1f", (n > 0) ? t / hz * 1e6 / (n * d) : 0 }'; }
  case $p in
    ssh) echo "- $(label "$p"): sshd $(us "${parts[0]}") µs + ssh client $(us "${parts[1]}") µs of CPU per request" ;;
    *) echo "- $(label "$p"): coordinator $(us "${parts[0]}") µs + agent $(us "${parts[1]}") µs of CPU per request" ;;
  esac
done
echo
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "met" : "MISSED" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
# The ratio within each round (the two paths measured a minute apart): the spread a single
# run's medians hide when the machine's speed drifts.
per_round() {  # per_round PATH PEER rps|bulk
  local r a b out=()
  for r in $(seq 1 "$ROUNDS"); do
    if [[ $3 == rps ]]; then
      read -r a _ < <(parse_wrk "$WORK/$1-r$r.wrk"); read -r b _ < <(parse_wrk "$WORK/$2-r$r.wrk")
    else
      a=$(cat "$WORK/$1-r$r.bulk"); b=$(cat "$WORK/$2-r$r.bulk")
    fi
    out+=("$(ratio "$a" "$b")")
  done
  (( ROUNDS > 1 )) && echo "; per round ${out[*]}"
  return 0
}
for mode in "${MODES[@]}"; do
  p=keyhole-$mode
  r_ssh=$(ratio "${M_RPS[$p]}" "${M_RPS[ssh]}")
  r_ngx=$(ratio "${M_RPS[$p]}" "${M_RPS[nginx]}")
  r_bulk=$(ratio "${M_BULK[$p]}" "${M_BULK[ssh]}")
  d64=$(awk -v a="${M_P50[$p]}" -v b="${M_P50[direct]}" 'BEGIN { printf "%.0f", (a - b) * 1000 }')
  d1=$(awk -v a="${M_LAT[$p]}" -v b="${M_LAT[direct]}" 'BEGIN { printf "%.0f", (a - b) * 1000 }')
  echo "$(label "$p"):"
  echo "- small req/s vs ssh -R: ${r_ssh}x (target >= 2: $(verdict "$r_ssh" 2 '>=')$(per_round "$p" ssh rps))"
  echo "- small req/s vs nginx proxy_pass: ${r_ngx}x (target >= 0.6: $(verdict "$r_ngx" 0.6 '>='))"
  echo "- bulk vs ssh -R: ${r_bulk}x, ${M_BULK[$p]} vs ${M_BULK[ssh]} MB/s (target >= 1: $(verdict "$r_bulk" 1 '>=')$(per_round "$p" ssh bulk))"
  echo "- p50 added over direct at $CONNECTIONS connections: ${d64} µs (target <= 300: $(verdict "$d64" 300 '<='))"
  (( LAT_S > 0 )) && echo "- p50 added over direct at 1 connection: ${d1} µs (target <= 300: $(verdict "$d1" 300 '<='))"
  (( ${M_BAD[$p]} > 0 )) && echo "- WARNING: ${M_BAD[$p]} errors or non-2xx answers: figures not valid"
done
exit 0
