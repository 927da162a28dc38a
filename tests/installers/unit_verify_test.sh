#!/usr/bin/env bash
# `systemd-analyze verify` of the shipped units, offline, is clean: exit 0 and no message at all
# (verify exits 0 on unknown keys and only warns). The units are staged with the binaries they
# name, in a root that also holds this host's units (for sysinit.target and the like) and
# /bin/kill (ExecReload=).
#   unit_verify_test.sh BUILD_DIR
set -euo pipefail
build="$1"
. "$(dirname "$0")/stage.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
stage_install "$build" "$root"
cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
mkdir -p "$root/bin"
cp "$(readlink -f /bin/kill)" "$root/bin/kill"

fail=0
for unit in keyhole-agent.service keyhole-coordinator.service; do
  status=0
  out="$(systemd-analyze verify --root="$root" "$unit" 2>&1)" || status=$?
  if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    echo "FAIL: systemd-analyze verify $unit: exit $status" >&2
    fail=1
  else
    echo "ok: $unit verifies clean"
  fi
done
# The staged units name the binaries where the packages put them.
for bin in keyhole-agent keyhole-coordinator; do
  grep -q "^ExecStart=/usr/bin/$bin " "$root/lib/systemd/system/$bin.service" || {
    echo "FAIL: $bin.service does not start /usr/bin/$bin" >&2
    fail=1
  }
done
exit "$fail"
