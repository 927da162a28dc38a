#!/usr/bin/env bash
# install-agent.sh end to end, staged (--root), against a real coordinator over TLS:
# install + activate (the state is 0600), a second run changes nothing and does not activate
# again, a wrong code fails and leaves nothing activated, KEYHOLE_ACTIVATION_CODE works, and
# --uninstall removes everything and leaves the agent INACTIVE at the coordinator.
# Environment: KEYHOLE_COORDINATOR_BIN, KEYHOLE_AGENT_BIN (the built binaries).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
INSTALL="$HERE/../../installers/install-agent.sh"
: "${KEYHOLE_COORDINATOR_BIN:?}"
[ -n "${KEYHOLE_AGENT_BIN:-}" ] && [ -x "$KEYHOLE_AGENT_BIN" ] || { echo "FAIL: no keyhole-agent binary (KEYHOLE_AGENT_BIN='${KEYHOLE_AGENT_BIN:-}')" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhole-install-agent-test.XXXXXX")"
coord_pid=""
cleanup() {
  set +e
  if [ -n "$coord_pid" ]; then
    kill -TERM "$coord_pid" 2>/dev/null
    wait "$coord_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/coord.err" ] && sed 's/^/   coordinator: /' "$work/coord.err" | tail -20 >&2; exit 1; }

# --- a coordinator on an ephemeral loopback port, TLS with its self-signed pair ---------------
data="$work/coordinator"
admin="$("$KEYHOLE_COORDINATOR_BIN" init --data-dir "$data" --admin-login admin@example.com)"
"$KEYHOLE_COORDINATOR_BIN" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/coord.out" 2>"$work/coord.err" &
coord_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' "$work/coord.out" | head -n1)"
  [ -n "$url" ] && break
  kill -0 "$coord_pid" 2>/dev/null || fail "the coordinator exited"
  sleep 0.1
done
[ -n "$url" ] || fail "the coordinator did not print its URL"
ca="$data/tls/coordinator.crt"
[ -f "$ca" ] || fail "no $ca"

api() {  # api METHOD PATH [BODY] → body on stdout; fails on a non-2xx status
  curl -sS --fail-with-body --cacert "$ca" -X "$1" -H "Authorization: SSWS $admin" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' ${3:+--data "$3"} "$url$2"
}
pool="$(api POST /api/v1/agentPools '{"name":"installers","type":"HTTP"}' | jq -r .id)" || fail "POST agentPools"
new_code() { api POST "/api/v1/agentPools/$pool/activationCodes" | jq -r .code; }
agent_status() { api GET "/api/v1/agents/$1" | jq -r .status; }

# --- install and activate ----------------------------------------------------------------------
root="$work/root"
code="$(new_code)"
[[ "$code" == khc_* ]] || fail "no activation code: $code"
printf '%s\n' "$code" | bash "$INSTALL" --root "$root" --coordinator "$url" --code - --ca-file "$ca" \
  --name installer-test --binary "$KEYHOLE_AGENT_BIN" 2>"$work/install1.err" \
  || { cat "$work/install1.err" >&2; fail "first install-agent.sh run"; }
cat "$work/install1.err"

[ -x "$root/usr/local/bin/keyhole-agent" ] || fail "binary not installed"
cmp -s "$KEYHOLE_AGENT_BIN" "$root/usr/local/bin/keyhole-agent" || fail "installed binary differs"
unit="$root/etc/systemd/system/keyhole-agent.service"
grep -q '^ExecStart=/usr/local/bin/keyhole-agent run ' "$unit" || fail "unit ExecStart: $(grep ExecStart "$unit")"
grep -q '@KEYHOLE_' "$unit" && fail "unit has unsubstituted @KEYHOLE_…@: $(grep '@KEYHOLE_' "$unit")"
[ -f "$root/etc/keyhole-agent/agent.toml" ] || fail "no agent.toml"
state="$root/var/lib/keyhole-agent/state.json"
[ -f "$state" ] || fail "no state file after activation"
[ "$(stat -c %a "$state")" = 600 ] || fail "state file mode $(stat -c %a "$state"), want 600"
[ "$(stat -c %a "$root/var/lib/keyhole-agent")" = 700 ] || fail "state dir mode is not 700"
agent_id="$(jq -r .agent_id "$state")"
[ -n "$agent_id" ] && [ "$agent_id" != null ] || fail "no agent_id in the state"
[ "$(agent_status "$agent_id")" = ACTIVE ] || fail "agent $agent_id is not ACTIVE at the coordinator"
echo "ok: installed and activated agent $agent_id"

# --- a second run: nothing to do, no second activation (the code is used by now) --------------
before="$(sha256sum "$state" "$unit" "$root/usr/local/bin/keyhole-agent")"
bash "$INSTALL" --root "$root" --coordinator "$url" --code "$code" --ca-file "$ca" \
  --name installer-test --binary "$KEYHOLE_AGENT_BIN" 2>"$work/install2.err" \
  || { cat "$work/install2.err" >&2; fail "second install-agent.sh run"; }
cat "$work/install2.err"
grep -q "already activated" "$work/install2.err" || fail "second run did not say it was already activated"
grep -q "installed /" "$work/install2.err" && fail "second run reinstalled something"
[ "$before" = "$(sha256sum "$state" "$unit" "$root/usr/local/bin/keyhole-agent")" ] || fail "second run changed files"
echo "ok: second run is a no-op"

# --- a wrong code fails and activates nothing ---------------------------------------------------
root_bad="$work/root-bad"
if printf 'khc_wrong\n' | bash "$INSTALL" --root "$root_bad" --coordinator "$url" --code - --ca-file "$ca" \
    --binary "$KEYHOLE_AGENT_BIN" 2>"$work/install-bad.err"; then
  fail "install-agent.sh succeeded with a wrong code"
fi
grep -q "activation failed" "$work/install-bad.err" || { cat "$work/install-bad.err" >&2; fail "a wrong code failed, but not in activation"; }
[ -f "$root_bad/var/lib/keyhole-agent/state.json" ] && fail "a wrong code left a state file"
echo "ok: a wrong code fails"

# --- the code from KEYHOLE_ACTIVATION_CODE, trust by pin ---------------------------------------
root_env="$work/root-env"
pin="sha256:$(openssl x509 -in "$ca" -outform DER | sha256sum | cut -d' ' -f1)"
KEYHOLE_ACTIVATION_CODE="$(new_code)" bash "$INSTALL" --root "$root_env" --coordinator "$url" --pin "$pin" \
  --binary "$KEYHOLE_AGENT_BIN" 2>"$work/install-env.err" \
  || { cat "$work/install-env.err" >&2; fail "install-agent.sh with KEYHOLE_ACTIVATION_CODE and --pin"; }
env_agent="$(jq -r .agent_id "$root_env/var/lib/keyhole-agent/state.json")"
[ "$(agent_status "$env_agent")" = ACTIVE ] || fail "agent $env_agent (code from the environment) is not ACTIVE"
echo "ok: code from KEYHOLE_ACTIVATION_CODE, trust by --pin"

# --- uninstall: deactivated at the coordinator, nothing left ------------------------------------
bash "$INSTALL" --uninstall --root "$root" 2>"$work/uninstall.err" \
  || { cat "$work/uninstall.err" >&2; fail "install-agent.sh --uninstall"; }
cat "$work/uninstall.err"
[ "$(agent_status "$agent_id")" = INACTIVE ] || fail "agent $agent_id is not INACTIVE after --uninstall"
left="$(find "$root" -mindepth 1 -not -type d)"
[ -z "$left" ] || fail "--uninstall left: $left"
# A second uninstall has nothing to do and does not fail.
bash "$INSTALL" --uninstall --root "$root" 2>/dev/null || fail "a second --uninstall failed"
bash "$INSTALL" --uninstall --root "$root_env" 2>/dev/null || fail "--uninstall of the second agent"
[ "$(agent_status "$env_agent")" = INACTIVE ] || fail "agent $env_agent is not INACTIVE after --uninstall"
echo "ok: --uninstall deactivated the agents and removed everything"
