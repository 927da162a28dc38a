#!/usr/bin/env bash
# Side-by-side load test: authenticated GET /api/v1/users/me on keyhole-coordinator (plain HTTP)
# against a private nginx (1 worker) serving the same body as a static file, both on loopback,
# measured with wrk using identical parameters, runs alternating (nginx, coordinator, nginx, ...).
# Builds nothing; stops by itself (every step has a timeout, plus a global watchdog); cleans up
# every process it started on exit. Prints a Markdown table for docs/BENCHMARKS.md.
#
# Run it while no compile runs on the same cores:
#   flock /tmp/keyhole-build.lock bash bench/users_me_vs_nginx.sh
#
# Environment (defaults in brackets):
#   KEYHOLE_COORDINATOR   coordinator binary [build/coordinator/keyhole-coordinator in this checkout]
#   BENCH_DURATION        wrk duration of each measured run [15s]
#   BENCH_WARMUP          wrk duration of the warm-up before each measured run [2s]
#   BENCH_CONNECTIONS     wrk connections [64]
#   BENCH_WRK_THREADS     wrk threads [2]
#   BENCH_ROUNDS          measured rounds; each round runs nginx then each coordinator once [3]
#   BENCH_COORD_THREADS   coordinator --threads values to compare, space separated ["2 1"]; "2-nolimit"
#                         runs --threads 2 with the rate limiter off (for the limiter's cost)
#   BENCH_KEEP            1: keep the temp dir (wrk outputs, logs) and print its path [0]
#   NGINX                 nginx binary [nginx from PATH, else /usr/sbin/nginx]
set -euo pipefail
BENCH_NAME=users_me_vs_nginx
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

COORD=${KEYHOLE_COORDINATOR:-$ROOT/build/coordinator/keyhole-coordinator}
DURATION=${BENCH_DURATION:-15s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-3}
COORD_THREADS=${BENCH_COORD_THREADS:-"2 1"}
KEEP=${BENCH_KEEP:-0}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

# The peers are Debian packages; install them when missing (as root), like installers/dev.sh.
need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v curl >/dev/null || need_pkgs+=(curl)
[[ -x $NGINX ]] || need_pkgs+=(nginx-light)
install_missing "${need_pkgs[@]}"
[[ -x $NGINX ]] || NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk curl awk python3; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x $NGINX ]] || die "nginx not found (apt-get install nginx-light)"
[[ -x $COORD ]] || die "coordinator binary not found: $COORD (set KEYHOLE_COORDINATOR)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"

DUR_S=$(to_seconds "$DURATION")
WARM_S=$(to_seconds "$WARMUP")
read -r -a THREAD_LIST <<<"$COORD_THREADS"
N_TARGETS=$(( 1 + ${#THREAD_LIST[@]} ))
# Upper bound for the whole script: measured runs, warm-ups, start-up and shutdown slack.
MAX_S=$(( ROUNDS * N_TARGETS * (DUR_S + WARM_S + 10) + 60 ))

WORK=$(mktemp -d /tmp/keyhole-bench.XXXXXX)
stop_on_exit "$MAX_S"

# ---- coordinators: one data dir and process per --threads value, each on an ephemeral port ----
declare -A URL_OF
for t in "${THREAD_LIST[@]}"; do
  d=$WORK/coord-t$t
  mkdir -p "$d"
  # "N" runs the coordinator with N threads and its rate limiter on, the endpoint's limit raised
  # so that no request is refused (the decision is measured, not the 429s); "N-nolimit" runs it
  # with the limiter off (ratelimits.enabled = false).
  if [[ $t == *-nolimit ]]; then
    printf '[ratelimits]\nenabled = false\n' >"$d/coordinator.toml"
  else
    printf '[ratelimits.endpoints]\n"GET /api/v1/users/me" = 2000000000\n' >"$d/coordinator.toml"
  fi
  start_coordinator "$d" "coordinator (--threads $t)" --plain-http --threads "${t%%-*}" --log-level warning \
    --config "$d/coordinator.toml"
  url=$COORD_URL tok=$COORD_TOKEN
  [[ $url == http://127.0.0.1:* ]] || die "unexpected listen URL: $url"
  code=$(curl -sS -o "$d/me.json" -w '%{http_code}' -H "Authorization: SSWS $tok" "$url/api/v1/users/me")
  [[ $code == 200 ]] || die "coordinator (--threads $t): GET /api/v1/users/me answered $code"
  URL_OF[$t]=$url
done
BODY_FILE=$WORK/coord-t${THREAD_LIST[0]}/me.json
BODY_BYTES=$(wc -c <"$BODY_FILE")

# ---- nginx: one worker, no access log, the coordinator's own body as a static file ----
NG=$WORK/nginx
mkdir -p "$NG/html/api/v1/users"
cp "$BODY_FILE" "$NG/html/api/v1/users/me"
# When run as root, nginx's worker runs as nobody: let it read the files.
chmod 755 "$WORK" "$NG" "$NG/html" "$NG/html/api" "$NG/html/api/v1" "$NG/html/api/v1/users"
chmod 644 "$NG/html/api/v1/users/me"
port=$(free_port)
{ nginx_common "$NG"; cat <<EOF
  server {
    listen 127.0.0.1:$port;
    root $NG/html;
    default_type application/json;
  }
}
EOF
} >"$NG/nginx.conf"
start_nginx "$NG" "http://127.0.0.1:$port/api/v1/users/me"
NGINX_URL=http://127.0.0.1:$port

# ---- wrk ----
WRK_ARGS=(-t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency --timeout 2s)

# run_wrk NAME URL [AUTH]: warm-up, then a measured run into $WORK/NAME.txt
run_wrk() {
  local name=$1 url=$2 auth=${3:-}
  local hdr=()
  [[ -n $auth ]] && hdr=(-H "Authorization: SSWS $auth")
  timeout $(( WARM_S + 15 )) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${hdr[@]}" "$url" >/dev/null 2>&1 || true
  timeout $(( DUR_S + 20 )) wrk "${WRK_ARGS[@]}" "${hdr[@]}" "$url" >"$WORK/$name.txt" 2>&1 ||
    die "wrk failed for $name: $(tail -n 3 "$WORK/$name.txt")"
}

echo "users_me_vs_nginx: body $BODY_BYTES bytes; nginx $NGINX_URL; coordinators: $(for t in "${THREAD_LIST[@]}"; do printf '%s(threads=%s) ' "${URL_OF[$t]}" "$t"; done)" >&2
echo "users_me_vs_nginx: $ROUNDS round(s) x $N_TARGETS target(s) x (${WARMUP} warm-up + ${DURATION}); watchdog ${MAX_S}s" >&2

for r in $(seq 1 "$ROUNDS"); do
  echo "users_me_vs_nginx: round $r: nginx" >&2
  run_wrk "nginx-r$r" "$NGINX_URL/api/v1/users/me"
  for t in "${THREAD_LIST[@]}"; do
    echo "users_me_vs_nginx: round $r: coordinator --threads $t" >&2
    run_wrk "coord-t$t-r$r" "${URL_OF[$t]}/api/v1/users/me" "$(cat "$WORK/coord-t$t/admin.token")"
  done
done

# ---- report ----
fmt_rps() { printf '%.0f' "$1"; }
echo
echo "Machine: $(machine)"
echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "Settings: KEYHOLE_COORDINATOR=$COORD BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP BENCH_CONNECTIONS=$CONNECTIONS BENCH_WRK_THREADS=$WRK_THREADS BENCH_ROUNDS=$ROUNDS BENCH_COORD_THREADS=\"$COORD_THREADS\" (elapsed ${SECONDS}s)"
echo "wrk: $(wrk -v 2>&1 | head -n1 | awk '{print $2}'), ${WRK_ARGS[*]}; nginx: $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), worker_processes 1, access_log off, sendfile on, tcp_nopush on, keepalive_requests 1000000; body ${BODY_BYTES} bytes (the coordinator's own /users/me JSON)"
echo
echo "| server | run | req/s | p50 (ms) | p99 (ms) | errors | coordinator / nginx (same round) |"
echo "|---|---|---:|---:|---:|---:|---:|"
NG_RPS=() NG_P50=() NG_P99=()
for r in $(seq 1 "$ROUNDS"); do
  read -r rps p50 p99 bad < <(parse_wrk "$WORK/nginx-r$r.txt")
  NG_RPS+=("$rps"); NG_P50+=("$p50"); NG_P99+=("$p99")
  echo "| nginx (1 worker) | $r | $rps | $p50 | $p99 | $bad | |"
done
ng_med=$(median "${NG_RPS[@]}")
echo "| **nginx (1 worker)** | **median** | **$(fmt_rps "$ng_med")** | **$(median "${NG_P50[@]}")** | **$(median "${NG_P99[@]}")** | | |"
SUMMARY=()
for t in "${THREAD_LIST[@]}"; do
  C_RPS=() C_P50=() C_P99=() total_bad=0 worst_p99=0
  for r in $(seq 1 "$ROUNDS"); do
    read -r rps p50 p99 bad < <(parse_wrk "$WORK/coord-t$t-r$r.txt")
    read -r ng_rps _ < <(parse_wrk "$WORK/nginx-r$r.txt")
    C_RPS+=("$rps"); C_P50+=("$p50"); C_P99+=("$p99")
    total_bad=$(( total_bad + bad ))
    worst_p99=$(awk -v a="$worst_p99" -v b="$p99" 'BEGIN { print (b > a) ? b : a }')
    ratio=$(awk -v c="$rps" -v n="$ng_rps" 'BEGIN { printf "%.2f", (n > 0) ? c / n : 0 }')
    echo "| coordinator --threads $t | $r | $rps | $p50 | $p99 | $bad | ${ratio}x |"
  done
  c_med=$(median "${C_RPS[@]}")
  p99_med=$(median "${C_P99[@]}")
  ratio=$(awk -v c="$c_med" -v n="$ng_med" 'BEGIN { printf "%.2f", (n > 0) ? c / n : 0 }')
  echo "| **coordinator --threads $t** | **median** | **$(fmt_rps "$c_med")** | **$(median "${C_P50[@]}")** | **$p99_med** | $total_bad | **${ratio}x** |"
  rps_ok=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.60) ? "met" : "MISSED" }')
  p99_ok=$(awk -v p="$p99_med" 'BEGIN { print (p < 2.0) ? "met" : "MISSED" }')
  err_note=""
  (( total_bad > 0 )) && err_note=" WARNING: $total_bad error/non-2xx responses, figures not valid."
  SUMMARY+=("- coordinator --threads $t: median ${ratio}x nginx req/s (target >= 0.60x: $rps_ok); median p99 ${p99_med} ms, worst ${worst_p99} ms (target < 2 ms: $p99_ok).$err_note")
done
echo
printf '%s\n' "${SUMMARY[@]}"
