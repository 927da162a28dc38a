#!/usr/bin/env bash
# Okta Node SDK compatibility test: drives a real keyhole-coordinator with the unmodified official
# @okta/okta-sdk-nodejs (version pinned in package.json / package-lock.json).
#   bash tests/compat/okta-node/run.sh
# Needs node (18 or newer) and npm (Debian 12: apt-get install nodejs npm) and the npm registry.
# Installs node_modules with `npm ci` only when it is missing or package.json / package-lock.json
# changed since the last install. Coordinator binary: $KEYHOLE_COORDINATOR_BIN, else
# build/coordinator/keyhole-coordinator at the top of the tree.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: '$tool' not found; on Debian 12: apt-get install nodejs npm" >&2
    exit 1
  fi
done

# --- install the pinned SDK when needed -----------------------------------------------------
# Serialised, in case two runs share this tree.
lock="${TMPDIR:-/tmp}/keyhole-okta-node-npm-$(printf '%s' "$HERE" | sha256sum | cut -c1-16).lock"
exec 9>"$lock"
flock 9
stamp="node_modules/.keyhole-install-stamp"
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "run.sh: npm ci (node $(node --version), npm $(npm --version))" >&2
  npm ci --no-audit --no-fund --update-notifier=false
  printf '%s\n' "$want" >"$stamp"
fi
flock -u 9
exec 9>&-

# --- run the test ---------------------------------------------------------------------------
# Each test run keeps its coordinator's data directory (and a pid file) under $work. Should the test
# process die without cleaning up (killed runner, broken pipe), the coordinator is reaped here.
work="$(mktemp -d "${TMPDIR:-/tmp}/keyhole-okta-node-run.XXXXXX")"
stop_leftovers() {
  local f pid dir i
  for f in "$work"/*/coordinator.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null || true)"
    dir="$(dirname "$f")/data"
    # Only if that pid is still our coordinator: its command line names our data directory.
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir"; then
      echo "run.sh: stopping leftover coordinator $pid" >&2
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}
reap() {
  local i
  set +e       # best effort from here on
  trap '' PIPE # our stdout/stderr may be a closed pipe by now: do not die writing to it
  # A test worker orphaned by a killed runner may live on for a moment: retry for up to ~10 s.
  for i in $(seq 1 50); do
    stop_leftovers
    rm -rf "$work" 2>/dev/null || true
    [ -e "$work" ] || break
    sleep 0.2
  done
}
trap reap EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

TMPDIR="$work" node --test okta-sdk.test.js
