#!/usr/bin/env bash
# Would the services still run under their units' sandbox? systemd is not PID 1 here, so each
# binary runs the way its unit starts it as far as that can be done without systemd: as a user
# that is not root (nobody), no capabilities, no_new_privs (setpriv), umask 077, NOTIFY_SOCKET and
# WATCHDOG_USEC set; it does its job, and a trace of every system call (strace -f) is checked
# against what the units' directives would refuse:
#   SystemCallFilter=@system-service ~@privileged @resources   every call made is allowed
#   RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX            every socket() family is one of them
#   MemoryDenyWriteExecute=yes                                  no W+X mmap, no mprotect(PROT_EXEC)
#   LockPersonality=yes                                         no personality change
#   PrivateDevices=yes                                          only the devices it provides
#   ProcSubset=pid / ProtectProc=invisible                      only the process's own /proc entries
# and Type=notify with WatchdogSec=: READY=1, WATCHDOG=1 pings, STOPPING=1 on SIGTERM.
# The coordinator's run is its unit's first start (it initializes its data directory) with the
# shipped coordinator.toml; the agent's is `run` after activation, with a SIGHUP (ExecReload=).
# Environment: KEYHOLE_COORDINATOR_BIN, KEYHOLE_AGENT_BIN; argument: the source tree's installers/.
set -euo pipefail
installers="$1"
: "${KEYHOLE_COORDINATOR_BIN:?}"
[ -n "${KEYHOLE_AGENT_BIN:-}" ] && [ -x "$KEYHOLE_AGENT_BIN" ] || { echo "FAIL: no keyhole-agent binary" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhole-sandbox-test.XXXXXX")"
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
chmod 0755 "$work"
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
die() { echo "FAIL: $*" >&2; for f in "$work"/*.err; do [ -f "$f" ] && tail -5 "$f" | sed "s|^|   $(basename "$f"): |" >&2; done; exit 1; }

# The service user: nobody, owning what the unit's StateDirectory= would give it.
svc_uid=65534 svc_gid=65534
mkdir -p "$work/coordinator" "$work/agent" "$work/trace"
chown "$svc_uid:$svc_gid" "$work/coordinator" "$work/agent" "$work/trace"
chmod 0700 "$work/coordinator" "$work/agent"

# A notify socket per service: a receiver that logs each datagram on one line.
notify_listen() {  # notify_listen SOCKET LOG
  perl -MSocket -e '
    socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
    bind($s, pack_sockaddr_un($ARGV[0])) or die "bind: $!";
    chmod 0777, $ARGV[0];
    open(my $log, ">>", $ARGV[1]) or die; $log->autoflush(1);
    while (defined recv($s, my $m, 65536, 0)) { $m =~ s/\n/ /g; print $log "$m\n"; }' "$1" "$2" &
  pids+=($!)
  for _ in $(seq 1 50); do [ -S "$1" ] && return; sleep 0.1; done
  die "no notify socket $1"
}

# sandboxed NAME CMD… &: CMD as nobody without capabilities, traced into trace/NAME.
sandboxed() {
  local name="$1"; shift
  exec setpriv --reuid="$svc_uid" --regid="$svc_gid" --clear-groups --inh-caps=-all --bounding-set=-all \
    --no-new-privs -- sh -c 'umask 077; exec "$@"' sh \
    strace -f -qq -s 256 -o "$work/trace/$name" "$@"
}
# The traced process: strace's child (setpriv and sh exec into strace, so $! is strace).
tracee() {
  local c
  for _ in $(seq 1 50); do
    c="$(pgrep -P "$1" | head -n1 || true)"
    [ -n "$c" ] && { echo "$c"; return; }
    sleep 0.1
  done
}
wait_for() {  # wait_for FILE REGEX SECONDS
  for _ in $(seq 1 $(($3 * 10))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# --- the coordinator ---------------------------------------------------------------------------
notify_listen "$work/coordinator.notify" "$work/coordinator.msgs"
NOTIFY_SOCKET="$work/coordinator.notify" WATCHDOG_USEC=2000000 sandboxed coordinator \
  "$KEYHOLE_COORDINATOR_BIN" serve --config "$installers/packaging/coordinator.toml" \
  --data-dir "$work/coordinator" --listen 127.0.0.1:0 >"$work/coordinator.out" 2>"$work/coordinator.err" &
coord_strace=$!
pids+=("$coord_strace")
wait_for "$work/coordinator.out" 'listening on https://' 60 || die "the coordinator did not start"
url="$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' "$work/coordinator.out" | head -n1)"
admin="$(grep -o 'khu_[A-Za-z0-9]*' "$work/coordinator.err" | head -n1)"
[ -n "$admin" ] || die "no first admin token in the coordinator's log"
cp "$work/coordinator/tls/coordinator.crt" "$work/ca.pem"
chmod 0644 "$work/ca.pem"
wait_for "$work/coordinator.msgs" '^READY=1' 10 || bad "the coordinator sent no READY=1"
api() {
  curl -sS --fail-with-body --cacert "$work/ca.pem" -X "$1" -H "Authorization: SSWS $admin" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' ${3:+--data "$3"} "$url$2"
}
curl -sS --fail --cacert "$work/ca.pem" "$url/healthz" >/dev/null || bad "GET /healthz failed"

# --- the agent: activated (as the service user), then run as its unit runs it ------------------
pool="$(api POST /api/v1/agentPools '{"name":"sandbox","type":"HTTP"}' | jq -r .id)"
code="$(api POST "/api/v1/agentPools/$pool/activationCodes" | jq -r .code)"
printf 'heartbeat_interval_seconds = 1\n' >"$work/agent.toml"
chmod 0644 "$work/agent.toml"
printf '%s\n' "$code" | setpriv --reuid="$svc_uid" --regid="$svc_gid" --clear-groups -- \
  "$KEYHOLE_AGENT_BIN" activate --coordinator "$url" --code - --ca-file "$work/ca.pem" --name sandbox \
  --state-dir "$work/agent" --config "$work/agent.toml" >"$work/activate.out" 2>"$work/activate.err" \
  || die "activation failed"
agent_id="$(api GET "/api/v1/agentPools/$pool/agents" | jq -r '.[0].id')"

notify_listen "$work/agent.notify" "$work/agent.msgs"
NOTIFY_SOCKET="$work/agent.notify" WATCHDOG_USEC=2000000 sandboxed agent \
  "$KEYHOLE_AGENT_BIN" run --state-dir "$work/agent" --config "$work/agent.toml" \
  >"$work/agent.out" 2>"$work/agent.err" &
agent_strace=$!
pids+=("$agent_strace")
wait_for "$work/agent.msgs" '^READY=1' 30 || bad "the agent sent no READY=1"
agent_pid="$(tracee "$agent_strace")"
sleep 3
kill -HUP "$agent_pid"   # ExecReload=
sleep 1
last="$(api GET "/api/v1/agents/$agent_id" | jq -r .lastConnection)"
[ "${last:-0}" != 0 ] && [ "$last" != null ] || bad "the sandboxed agent sent no heartbeat (lastConnection $last)"
kill -TERM "$agent_pid"
status=0; wait "$agent_strace" || status=$?
[ "$status" -eq 0 ] || bad "the agent exited $status on SIGTERM"
grep -q '^WATCHDOG=1' "$work/agent.msgs" || bad "the agent sent no WATCHDOG=1 (WATCHDOG_USEC=2 s)"
grep -q 'STOPPING=1' "$work/agent.msgs" || bad "the agent sent no STOPPING=1"

coord_pid="$(tracee "$coord_strace")"
grep -q '^WATCHDOG=1' "$work/coordinator.msgs" || bad "the coordinator sent no WATCHDOG=1 (WATCHDOG_USEC=2 s)"
kill -TERM "$coord_pid"
status=0; wait "$coord_strace" || status=$?
[ "$status" -eq 0 ] || bad "the coordinator exited $status on SIGTERM"
grep -q 'STOPPING=1' "$work/coordinator.msgs" || bad "the coordinator sent no STOPPING=1"
echo "notify, coordinator: $(sort -u "$work/coordinator.msgs" | cut -c1-40 | tr '\n' '|')"
echo "notify, agent: $(sort -u "$work/agent.msgs" | cut -c1-40 | tr '\n' '|')"

# --- what the sandbox would have refused -------------------------------------------------------
# The allowed calls: @system-service minus @privileged and @resources, groups expanded.
systemd-analyze syscall-filter 2>/dev/null | awk '
  /^@/ { g = $1; next }
  /^ +[@a-z_0-9]/ { m[g] = m[g] " " $1 }
  function expand(g, out,   n, a, i) {
    n = split(m[g], a, " ")
    for (i = 1; i <= n; i++) if (a[i] ~ /^@/) expand(a[i], out); else out[a[i]] = 1
  }
  END {
    expand("@system-service", allow); expand("@privileged", deny); expand("@resources", deny)
    for (s in allow) if (!(s in deny)) print s
  }' | sort >"$work/allowed"
[ "$(wc -l <"$work/allowed")" -gt 200 ] || die "could not read systemd's syscall groups"

# Tolerated reads the sandbox hides, each handled by its reader:
#   /proc/sys/vm/overcommit_memory  jemalloc: unreadable means "assume no overcommit" (it
#                                   then decommits memory it returns instead of relying on it)
proc_ok='^/proc/(self|thread-self|[0-9]+)(/|$)|^/proc/sys/vm/overcommit_memory$'
dev_ok='^/dev/(null|zero|full|random|urandom|tty|ptmx|pts/.*|shm/.*|log|stdin|stdout|stderr|fd/.*)$'
for name in coordinator agent; do
  t="$work/trace/$name"
  [ -s "$t" ] || { bad "no trace for $name"; continue; }
  sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' "$t" | sort -u >"$work/$name.calls"
  refused="$(comm -23 "$work/$name.calls" "$work/allowed" | tr '\n' ' ')"
  [ -z "$refused" ] || bad "$name: system calls SystemCallFilter= refuses: $refused"
  # Tolerated: getaddrinfo's AI_ADDRCONFIG probe (glibc __check_pf) opens a NETLINK_ROUTE socket;
  # refused, glibc assumes both IPv4 and IPv6 are configured (systemd-timesyncd resolves names
  # under the same restriction).
  families="$(grep -v 'socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE' "$t" \
    | sed -nE 's/^[0-9]+ +socket\((AF_[A-Z0-9]+),.*/\1/p' | sort -u | tr '\n' ' ')"
  for f in $families; do
    case "$f" in
      AF_INET|AF_INET6|AF_UNIX) ;;
      *) bad "$name: RestrictAddressFamilies= refuses: $(grep -E "socket\($f," "$t" | head -3)" ;;
    esac
  done
  wx="$(grep -E '^[0-9]+ +mmap\(.*PROT_WRITE\|PROT_EXEC|^[0-9]+ +mmap\(.*PROT_EXEC\|PROT_WRITE|^[0-9]+ +(pkey_)?mprotect\(.*PROT_EXEC' "$t" | head -3 || true)"
  [ -z "$wx" ] || bad "$name: MemoryDenyWriteExecute= refuses: $wx"
  pers="$(grep -E '^[0-9]+ +personality\(' "$t" | grep -vE 'personality\((0xffffffff|PER_LINUX)\)' | head -3 || true)"
  [ -z "$pers" ] || bad "$name: LockPersonality= refuses: $pers"
  paths="$(sed -nE 's/^[0-9]+ +(open|openat|stat|lstat|newfstatat|statx|access|faccessat|faccessat2|readlink|readlinkat)\((AT_FDCWD, )?"([^"]*)".*/\3/p' "$t" | sort -u)"
  hidden="$(printf '%s\n' "$paths" | grep '^/proc/' | grep -vE "$proc_ok" | tr '\n' ' ' || true)"
  [ -z "$hidden" ] || bad "$name: reads /proc entries ProcSubset=pid hides: $hidden"
  devs="$(printf '%s\n' "$paths" | grep '^/dev/' | grep -vE "$dev_ok" | tr '\n' ' ' || true)"
  [ -z "$devs" ] || bad "$name: opens devices PrivateDevices= hides: $devs"
  home="$(printf '%s\n' "$paths" | grep -E '^/(home|root|run/user)(/|$)' | tr '\n' ' ' || true)"
  [ -z "$home" ] || bad "$name: reads paths ProtectHome= hides: $home"
  echo "$name: $(wc -l <"$work/$name.calls") distinct system calls, socket families: ${families:-none}"
done
[ "$fail" -eq 0 ] && echo "ok: both services run within their units' sandbox"
exit "$fail"
