# What the side-by-side scripts in bench/ share: messages, timing, clean-up, the peers (nginx,
# sshd) and a private coordinator with its agent. Sourced, not run:
#   BENCH_NAME=my_script          # the prefix of every message
#   . "$(dirname "$0")/lib.sh"
# The script owns WORK (its temp dir) and KEEP (1: keep WORK), and reads COORD / AGENT (binaries).
# Every process started here is added to PIDS, which stop_on_exit's trap stops.
# shellcheck shell=bash disable=SC2154,SC2034

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIDS=()

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
say() { echo "$BENCH_NAME: $*" >&2; }

to_seconds() {  # "10s" / "1m" / "10" -> seconds, for timeouts
  local v=$1
  case $v in
    *ms) echo 1 ;;
    *s) echo "${v%s}" ;;
    *m) echo $(( ${v%m} * 60 )) ;;
    *h) echo $(( ${v%h} * 3600 )) ;;
    *) echo "$v" ;;
  esac
}

wait_for() {  # wait_for SECONDS COMMAND...: poll every 0.1 s
  local deadline=$(( SECONDS + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || return 1
    sleep 0.1
  done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

machine() {  # "2 cores, <CPU model>, Linux <release>"
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
}

# The peers are Debian packages: install_missing PACKAGE... installs them (as root) or stops.
install_missing() {
  (($#)) || return 0
  [[ $(id -u) -eq 0 ]] || die "missing: $* (apt-get install them)"
  say "installing $*"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  # Debian starts sshd/nginx where systemd runs; the benchmarks use private instances only.
}

# ---- clean-up: every process in PIDS, TERM first and KILL after a while; then WORK ----
STOP_TENTHS=50
stop_all() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 "$STOP_TENTHS"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $KEEP == 1 ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
stop_on_exit() {  # stop_on_exit MAX_SECONDS [TENTHS]: the traps, and a watchdog that ends the script
  STOP_TENTHS=${2:-50}
  trap stop_all EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep "$1" & nap=$!
    wait "$nap"
    echo "$BENCH_NAME: watchdog: over ${1}s, stopping" >&2
    kill -TERM $$
  ) &
  PIDS+=($!)
}

# ---- CPU time from /proc ----
cpu_ticks() {  # cpu_ticks PID: utime + stime in clock ticks (fields 14 and 15, counted after the comm)
  awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
tree_ticks() {  # tree_ticks PID...: the same for each process and all its descendants (sshd forks)
  local total=0 pid kids
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    total=$(( total + $(cpu_ticks "$pid") ))
    kids=$(pgrep -P "$pid" | tr '\n' ' ' || true)
    # shellcheck disable=SC2086
    [[ -n ${kids// /} ]] && total=$(( total + $(tree_ticks $kids) ))
  done
  echo "$total"
}

# ---- wrk ----
parse_wrk() {  # parse_wrk FILE -> "rps p50_ms p99_ms bad" (bad: non-2xx/3xx responses plus socket errors)
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
      return v + 0
    }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { bad += $NF }
    /Socket errors:/ { gsub(/,/, ""); for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) bad += $i }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, bad }
  ' "$1"
}
median() {  # median of the arguments
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- a private nginx: 1 worker, no access log ----
nginx_common() {  # nginx_common DIR: the shared top of a config
  cat <<EOF
worker_processes 1;
error_log $1/error.log warn;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;   # Debian's default nginx.conf: header and body in one segment
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;  # the coordinator has no per-connection cap either
  client_body_temp_path $1/tmp_body;
  proxy_temp_path $1/tmp_proxy;
  fastcgi_temp_path $1/tmp_fastcgi;
  uwsgi_temp_path $1/tmp_uwsgi;
  scgi_temp_path $1/tmp_scgi;
  default_type application/octet-stream;
EOF
}
start_nginx() {  # start_nginx DIR URL_TO_PROBE: the config is DIR/nginx.conf
  "$NGINX" -p "$1" -c "$1/nginx.conf" -e "$1/error.log" -g 'daemon off;' >"$1/stdout" 2>&1 &
  PIDS+=($!)
  wait_for 5 curl -fsS -o /dev/null "$2" || die "nginx in $1 did not start: $(tail -n 3 "$1/error.log" 2>/dev/null)"
}

# ---- a private sshd on loopback (own host key, own authorized_keys) and ssh -R through it ----
start_sshd() {  # start_sshd DIR: sets SSHD_PID and SSH_PORT; the client key is DIR/user
  local d=$1 sshd
  sshd=$(command -v sshd || echo /usr/sbin/sshd)
  mkdir -p "$d" && chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host" && ssh-keygen -q -t ed25519 -N '' -f "$d/user"
  cp "$d/user.pub" "$d/authorized_keys"
  SSH_PORT=$(free_port)
  cat >"$d/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $d/host
AuthorizedKeysFile $d/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile $d/sshd.pid
StrictModes no
AllowTcpForwarding yes
EOF
  mkdir -p /run/sshd
  "$sshd" -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
  SSHD_PID=$!
  PIDS+=("$SSHD_PID")
  wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SSH_PORT" || die "sshd did not start: $(tail -n 3 "$d/sshd.log")"
}
start_ssh_tunnel() {  # start_ssh_tunnel DIR -R_SPEC [SSH_OPTION...]: ssh -N -R to start_sshd's; sets SSH_PID
  local d=$1 spec=$2; shift 2
  ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ExitOnForwardFailure=yes "$@" -i "$d/user" -p "$SSH_PORT" \
    -R "$spec" "$(id -un)@127.0.0.1" 2>"$d/ssh.log" &
  SSH_PID=$!
  PIDS+=("$SSH_PID")
}

# ---- a private coordinator (fresh data dir, loopback, ephemeral port) ----
# start_coordinator DIR WHAT [SERVE_OPTION...]: init (the admin token in DIR/admin.token), serve
# (DIR/stdout, DIR/stderr), wait for /healthz; WHAT names it in messages. Sets COORD_URL (no
# trailing slash), COORD_PID, COORD_TOKEN, COORD_CA (the self-signed certificate) and COORD_TLS
# (curl's options for COORD_URL: --cacert when it is https).
start_coordinator() {
  local d=$1 what=$2; shift 2
  mkdir -p "$d"
  timeout 30 "$COORD" init --data-dir "$d/data" >"$d/admin.token" 2>"$d/init.err" || die "init failed: $(cat "$d/init.err")"
  [[ -s $d/admin.token ]] || die "init printed no token"
  COORD_TOKEN=$(cat "$d/admin.token")
  "$COORD" serve --data-dir "$d/data" --listen 127.0.0.1:0 "$@" >"$d/stdout" 2>"$d/stderr" &
  COORD_PID=$!
  PIDS+=("$COORD_PID")
  wait_for 15 grep -q "listening on" "$d/stdout" || die "$what did not start: $(tail -n 5 "$d/stderr")"
  COORD_URL=$(sed -n 's/^keyhole-coordinator listening on //p' "$d/stdout" | head -n1)
  COORD_URL=${COORD_URL%/}
  COORD_CA=$d/data/tls/coordinator.crt
  COORD_TLS=()
  [[ $COORD_URL == https://* ]] && COORD_TLS=(--cacert "$COORD_CA")
  wait_for 10 curl -fsS "${COORD_TLS[@]}" -o /dev/null "$COORD_URL/healthz" || die "$what: /healthz not 200"
}
coord_api() {  # coord_api CURL_ARGS...: the admin API of the coordinator last started
  curl -fsS "${COORD_TLS[@]}" -H "Authorization: SSWS $COORD_TOKEN" -H 'Content-Type: application/json' "$@"
}
# start_agent DIR NAME: a pool "bench" on the coordinator last started, an activation code, then
# `keyhole-agent activate` and `run` with DIR/agent.toml (the caller writes it), state in DIR/agent,
# log in DIR/agent.log. Sets POOL and AGENT_PID.
start_agent() {
  local d=$1 name=$2 code agent_tls=()
  [[ $COORD_URL == https://* ]] && agent_tls=(--ca-file "$COORD_CA")
  POOL=$(coord_api -d '{"name":"bench","type":"HTTP"}' "$COORD_URL/api/v1/agentPools" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  code=$(coord_api -X POST "$COORD_URL/api/v1/agentPools/$POOL/activationCodes" | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
  echo "$code" | "$AGENT" activate --coordinator "$COORD_URL" --code - "${agent_tls[@]}" --name "$name" \
    --state-dir "$d/agent" --config "$d/agent.toml" >"$d/activate.out" 2>&1 || die "agent activation ($d) failed: $(tail -n 3 "$d/activate.out")"
  "$AGENT" run --state-dir "$d/agent" --config "$d/agent.toml" 2>"$d/agent.log" &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}
