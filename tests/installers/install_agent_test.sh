#!/usr/bin/env bash
# install-agent.sh end to end, staged (--root), against a real coordinator over TLS:
# install + activate (the state is 0600), a second run changes nothing and does not activate
# again, a wrong code fails and leaves nothing activated, KEYHOLE_ACTIVATION_CODE works,
# --ca-file refuses symlinks, non-regular files and private keys, and --uninstall removes
# everything and leaves the agent INACTIVE at the coordinator; with the coordinator unreachable
# it carries on and names the agent that may still be ACTIVE, while deactivate cannot run it
# removes nothing unless --force, and it deletes only an agent binary where it installs one.
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

# --- --ca-file: a symlink, a non-regular file or a private key is refused before anything ------
root_ca="$work/root-ca"
ln -s "$ca" "$work/ca-link.pem"
openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
cat "$ca" "$work/key.pem" >"$work/ca-and-key.pem"
for bad_ca in "$work/ca-link.pem" "$work" "$work/ca-and-key.pem" "$work/key.pem"; do
  if bash "$INSTALL" --root "$root_ca" --coordinator "$url" --code "$(new_code)" --ca-file "$bad_ca" \
      --binary "$KEYHOLE_AGENT_BIN" 2>"$work/install-ca.err"; then
    fail "install-agent.sh accepted --ca-file $bad_ca"
  fi
  grep -q -- "--ca-file" "$work/install-ca.err" || { cat "$work/install-ca.err" >&2; fail "--ca-file $bad_ca failed, but not for the CA file"; }
  left="$(find "$root_ca" -mindepth 1)"
  [ -z "$left" ] || fail "a refused --ca-file $bad_ca left: $left"
done
echo "ok: --ca-file refuses a symlink, a directory and private keys, before installing anything"

# --- uninstall when the coordinator cannot be reached: deactivate removed the state, so the -----
# uninstall carries on and names the agent that may still be ACTIVE there.
root_gone="$work/root-gone"
bash "$INSTALL" --root "$root_gone" --coordinator "$url" --code "$(new_code)" --pin "$pin" \
  --binary "$KEYHOLE_AGENT_BIN" 2>"$work/install-gone.err" \
  || { cat "$work/install-gone.err" >&2; fail "install-agent.sh (root-gone)"; }
gone_state="$root_gone/var/lib/keyhole-agent/state.json"
gone_agent="$(jq -r .agent_id "$gone_state")"
# The coordinator moved away: nothing listens on port 1.
jq '.coordinator = "https://127.0.0.1:1"' "$gone_state" >"$gone_state.new" && chmod 0600 "$gone_state.new" && mv "$gone_state.new" "$gone_state"
bash "$INSTALL" --uninstall --root "$root_gone" 2>"$work/uninstall-gone.err" \
  || { cat "$work/uninstall-gone.err" >&2; fail "--uninstall with an unreachable coordinator failed"; }
cat "$work/uninstall-gone.err"
grep "WARNING" "$work/uninstall-gone.err" | grep -F "$gone_agent" | grep -q "ACTIVE" \
  || fail "no warning that agent $gone_agent may still be ACTIVE"
grep -q "nothing removed" "$work/uninstall-gone.err" && fail "--uninstall says nothing was removed"
left="$(find "$root_gone" -mindepth 1 -not -type d)"
[ -z "$left" ] || fail "--uninstall (coordinator unreachable) left: $left"
[ "$(agent_status "$gone_agent")" = ACTIVE ] || fail "agent $gone_agent: the warning is wrong, it is not ACTIVE"
api POST "/api/v1/agents/$gone_agent/lifecycle/deactivate" >/dev/null || fail "deactivating $gone_agent by the API"
echo "ok: --uninstall carries on when the coordinator is unreachable and names agent $gone_agent"

# --- uninstall when deactivate cannot run (no binary; the state is intact): nothing removed ------
# unless --force, which warns with the agent's id.
root_nobin="$work/root-nobin"
bash "$INSTALL" --root "$root_nobin" --coordinator "$url" --code "$(new_code)" --pin "$pin" \
  --binary "$KEYHOLE_AGENT_BIN" 2>"$work/install-nobin.err" \
  || { cat "$work/install-nobin.err" >&2; fail "install-agent.sh (root-nobin)"; }
nobin_agent="$(jq -r .agent_id "$root_nobin/var/lib/keyhole-agent/state.json")"
rm "$root_nobin/usr/local/bin/keyhole-agent"
if bash "$INSTALL" --uninstall --root "$root_nobin" 2>"$work/uninstall-nobin.err"; then
  fail "--uninstall succeeded although it could not deactivate and the state is intact"
fi
grep -q "nothing removed" "$work/uninstall-nobin.err" || { cat "$work/uninstall-nobin.err" >&2; fail "no 'nothing removed'"; }
[ -f "$root_nobin/var/lib/keyhole-agent/state.json" ] && [ -f "$root_nobin/etc/systemd/system/keyhole-agent.service" ] \
  || fail "--uninstall without --force removed something"
bash "$INSTALL" --uninstall --force --root "$root_nobin" 2>"$work/uninstall-force.err" \
  || { cat "$work/uninstall-force.err" >&2; fail "--uninstall --force"; }
grep "WARNING" "$work/uninstall-force.err" | grep -qF "$nobin_agent" || { cat "$work/uninstall-force.err" >&2; fail "--force: no warning naming $nobin_agent"; }
left="$(find "$root_nobin" -mindepth 1 -not -type d)"
[ -z "$left" ] || fail "--uninstall --force left: $left"
api POST "/api/v1/agents/$nobin_agent/lifecycle/deactivate" >/dev/null || fail "deactivating $nobin_agent by the API"
echo "ok: --uninstall refuses while deactivate cannot run, and --force removes with a warning"

# --- uninstall deletes only keyhole-agent in /usr/local/bin or /usr/bin (or --prefix DIR/bin) ----
for target in /usr/sbin/sshd /opt/keyhole/bin/keyhole-agent /usr/local/bin/../sbin/keyhole-agent; do
  root_l6="$work/root-l6"
  rm -rf "$root_l6"
  mkdir -p "$root_l6/etc/systemd/system" "$(dirname "$root_l6$target")"
  echo keep >"$root_l6$target"
  printf '[Service]\nExecStart=%s run\n' "$target" >"$root_l6/etc/systemd/system/keyhole-agent.service"
  bash "$INSTALL" --uninstall --root "$root_l6" 2>"$work/uninstall-l6.err" \
    || { cat "$work/uninstall-l6.err" >&2; fail "--uninstall (ExecStart=$target)"; }
  [ -f "$root_l6$target" ] || fail "--uninstall deleted $target, which the unit named"
  grep -qF "leaving $target" "$work/uninstall-l6.err" || { cat "$work/uninstall-l6.err" >&2; fail "no 'leaving $target'"; }
done
# An install under --prefix: removed when the same --prefix is given.
root_l6="$work/root-l6"
rm -rf "$root_l6"
mkdir -p "$root_l6/etc/systemd/system" "$root_l6/opt/keyhole/bin"
echo agent >"$root_l6/opt/keyhole/bin/keyhole-agent"
printf '[Service]\nExecStart=/opt/keyhole/bin/keyhole-agent run\n' >"$root_l6/etc/systemd/system/keyhole-agent.service"
bash "$INSTALL" --uninstall --prefix /opt/keyhole --root "$root_l6" 2>/dev/null || fail "--uninstall --prefix /opt/keyhole"
[ ! -e "$root_l6/opt/keyhole/bin/keyhole-agent" ] || fail "--uninstall --prefix /opt/keyhole left its binary"
echo "ok: --uninstall deletes only the agent binary where install-agent.sh puts it"

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
