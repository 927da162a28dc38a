#!/usr/bin/env bash
# The keyhole-coordinator package's postinst initializes the data directory before the unit's
# first start and leaves the first admin's API token in a root-only file, never in its output
# (so never in a journal); serve then starts on an initialized database and logs no token.
#
# Contained: the package's real postinst runs with DPKG_ROOT (dpkg's variable for installing
# into another root) pointing at the package's contents unpacked in a temporary directory, and
# runs the package's own keyhole-coordinator binary. What would touch the running system
# (adduser, chown to the service user, runuser, deb-systemd-helper, systemctl) is replaced by
# stubs on PATH that record their calls; runuser's stub runs the command as the caller.
#   coordinator_postinst_test.sh POSTINST UNPACKED_DEB
set -euo pipefail
postinst="$(realpath "$1")"
unpacked="$(realpath "$2")"
PKG=keyhole-coordinator
[ -f "$postinst" ] || { echo "FAIL: no postinst $postinst" >&2; exit 1; }
[ -x "$unpacked/usr/bin/$PKG" ] || { echo "FAIL: no $unpacked/usr/bin/$PKG" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/keyhole-postinst-test.XXXXXX")"
serve_pid=""
cleanup() {
  set +e
  if [ -n "$serve_pid" ]; then kill -TERM "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- stubs -----------------------------------------------------------------------------------
stubs="$work/stubs"
mkdir -p "$stubs"
export STUB_LOG="$work/calls.log"
stub() {  # stub NAME BODY: a script that logs its arguments, then runs BODY
  printf '#!/bin/bash\nprintf "%%s\\n" "%s $*" >>"$STUB_LOG"\n%s\n' "$1" "$2" >"$stubs/$1"
  chmod +x "$stubs/$1"
}
stub getent 'case "$1 $2" in "passwd '$PKG'") echo "'$PKG':x:999:999::/var/lib/'$PKG':/usr/sbin/nologin";;
  "group '$PKG'") echo "'$PKG':x:999:";; *) exec /usr/bin/getent "$@";; esac'
stub adduser 'echo "adduser must not run: the user exists" >&2; exit 1'
stub dpkg-statoverride 'exit 1'
stub chown 'exit 0'
# install -o/-g USER: the user does not exist here; the rest is the real install.
stub install 'args=(); while [ $# -gt 0 ]; do case "$1" in -o|-g) shift 2;; *) args+=("$1"); shift;; esac; done
  exec /usr/bin/install "${args[@]}"'
# runuser -u USER -- CMD…: CMD as the caller. RUNUSER_FAIL=1: CMD runs, then runuser fails.
stub runuser '[ "$1" = -u ] && [ "$3" = -- ] || { echo "runuser stub: unexpected arguments" >&2; exit 2; }
  shift 3; status=0; "$@" || status=$?; [ -z "${RUNUSER_FAIL:-}" ] || exit 1; exit $status'
stub deb-systemd-helper 'exit 0'
stub deb-systemd-invoke 'echo "deb-systemd-invoke must not run under DPKG_ROOT" >&2; exit 1'
stub systemctl 'echo "systemctl must not run under DPKG_ROOT" >&2; exit 1'

run_postinst() {  # run_postinst ROOT OUT ARGS…: the postinst as dpkg would, under DPKG_ROOT=ROOT
  local root="$1" out="$2"; shift 2
  : >"$STUB_LOG"
  (cd / && DPKG_ROOT="$root" PATH="$stubs:$PATH" sh "$postinst" "$@") >"$out" 2>&1
}
fresh_root() {  # the unpacked package, as dpkg leaves it before configure
  rm -rf "$1"
  cp -a "$unpacked" "$1"
}

# --- a fresh install ---------------------------------------------------------------------------
root="$work/root"
fresh_root "$root"
data="$root/var/lib/$PKG"
token_file="$root/etc/$PKG/initial-admin-token"
run_postinst "$root" "$work/configure.out" configure || { cat "$work/configure.out" >&2; fail "postinst configure"; }
sed 's/^/   postinst: /' "$work/configure.out"
sed 's/^/   called: /' "$STUB_LOG"

grep -qx "runuser -u $PKG -- $root/usr/bin/$PKG init --data-dir $data" "$STUB_LOG" \
  || fail "postinst did not run '$PKG init' as $PKG"
[ "$(stat -c %a "$data")" = 700 ] || fail "$data mode $(stat -c %a "$data"), want 700"
[ -f "$data/keyhole.db" ] || fail "no $data/keyhole.db after postinst"
[ -f "$token_file" ] && [ ! -L "$token_file" ] || fail "no $token_file"
[ "$(stat -c %a "$token_file")" = 600 ] || fail "$token_file mode $(stat -c %a "$token_file"), want 600"
[ "$(stat -c %u "$token_file")" = "$(id -u)" ] || fail "$token_file is not the installer's (root's) own"
grep -qx "chown root:root .*/etc/$PKG/\.initial-admin-token\..*" "$STUB_LOG" || fail "the token file is not chowned to root:root"
[ "$(wc -l <"$token_file")" = 1 ] || fail "$token_file: $(wc -l <"$token_file") lines, want 1"
token="$(cat "$token_file")"
[ "${#token}" -ge 20 ] || fail "the token in $token_file is too short to be one"
leftover="$(find "$root/etc/$PKG" -name '.initial-admin-token.*')"
[ -z "$leftover" ] || fail "postinst left $leftover"
grep -qF "$token" "$work/configure.out" && fail "postinst printed the token"
grep -q "/etc/$PKG/initial-admin-token" "$work/configure.out" || fail "postinst does not say where the token is"
[ "$(grep -c . "$work/configure.out")" = 1 ] || fail "postinst printed more than the one line about the token"
echo "ok: a fresh install initializes $PKG and leaves the token in a 0600 file only"

# --- serve on that data directory: the token works, and nothing logs a token ---------------------
"$root/usr/bin/$PKG" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' "$work/serve.out" | head -n1)"
  [ -n "$url" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; fail "serve exited"; }
  sleep 0.1
done
[ -n "$url" ] || fail "serve did not print its URL"
login="$(curl -sS --fail-with-body --cacert "$data/tls/coordinator.crt" -H "Authorization: SSWS $token" \
  -H 'Accept: application/json' "$url/api/v1/users/me" | jq -r .profile.login)" || fail "GET /users/me with the token"
[ "$login" = admin@keyhole.local ] || fail "the token is $login's, want admin@keyhole.local"
kill -TERM "$serve_pid"; wait "$serve_pid" || true; serve_pid=""
if grep -qiF -e "$token" -e "API token" "$work/serve.out" "$work/serve.err"; then
  cat "$work/serve.out" "$work/serve.err" >&2
  fail "serve logged a token (it should have found the data directory initialized)"
fi
echo "ok: serve starts on the initialized database, the token is a SUPER_ADMIN's, and no token is logged"

# --- an upgrade (or a second configure): no second init, the token file untouched ---------------
before="$(stat -c '%i %Y' "$token_file")"
run_postinst "$root" "$work/upgrade.out" configure 0.1.0-1 || { cat "$work/upgrade.out" >&2; fail "postinst configure (upgrade)"; }
grep -q "^runuser" "$STUB_LOG" && fail "postinst ran init again on upgrade: $(grep '^runuser' "$STUB_LOG")"
[ "$before" = "$(stat -c '%i %Y' "$token_file")" ] || fail "an upgrade rewrote $token_file"
[ -s "$work/upgrade.out" ] && fail "postinst printed on upgrade: $(cat "$work/upgrade.out")"
echo "ok: an upgrade does not initialize again"

# --- a failing init: postinst fails, leaves no token and no database, and a retry works ----------
root2="$work/root-fail"
fresh_root "$root2"
if RUNUSER_FAIL=1 run_postinst "$root2" "$work/fail.out" configure; then
  fail "postinst succeeded although init failed"
fi
grep -q "could not initialize" "$work/fail.out" || { cat "$work/fail.out" >&2; fail "no explanation of the failed init"; }
left="$(find "$root2/etc/$PKG" "$root2/var/lib/$PKG" -name '*initial-admin-token*' -o -name 'keyhole.db*')"
[ -z "$left" ] || fail "a failed init left: $left"
run_postinst "$root2" "$work/retry.out" configure || { cat "$work/retry.out" >&2; fail "postinst retry"; }
[ -s "$root2/etc/$PKG/initial-admin-token" ] && [ -f "$root2/var/lib/$PKG/keyhole.db" ] || fail "the retry did not initialize"
grep -qF "$(cat "$root2/etc/$PKG/initial-admin-token")" "$work/fail.out" "$work/retry.out" && fail "postinst printed a token"
echo "ok: a failed init fails the configuration, leaves nothing behind, and the next configure initializes"
