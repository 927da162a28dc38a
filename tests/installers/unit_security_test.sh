#!/usr/bin/env bash
# The shipped units' `systemd-analyze security --offline=yes` exposure: keyhole-agent at most
# 1.5, keyhole-coordinator at most 2.0 (systemd-timesyncd.service on Debian 12: 2.3).
#   unit_security_test.sh BUILD_DIR
set -euo pipefail
build="$1"
. "$(dirname "$0")/stage.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage_install "$build" "$work/root"

fail=0
check() {
  local unit="$1" max="$2" out score
  out="$(systemd-analyze security --offline=yes "$work/root/lib/systemd/system/$unit" 2>&1)" || {
    printf '%s\n' "$out" >&2
    echo "FAIL: systemd-analyze security failed on $unit" >&2
    fail=1
    return
  }
  score="$(printf '%s\n' "$out" | sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p")"
  if [ -z "$score" ]; then
    printf '%s\n' "$out" >&2
    echo "FAIL: no exposure level for $unit in the output above" >&2
    fail=1
  elif awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
    echo "ok: $unit exposure $score (at most $max)"
  else
    printf '%s\n' "$out" | grep -v '^✓' >&2
    echo "FAIL: $unit exposure $score is above $max" >&2
    fail=1
  fi
}
check keyhole-agent.service 1.5
# Not part of the score: the agent's memory cap (its resident set is about 15 MiB).
grep -qx 'MemoryMax=64M' "$work/root/lib/systemd/system/keyhole-agent.service" \
  || { echo "FAIL: keyhole-agent.service has no MemoryMax=64M" >&2; fail=1; }
check keyhole-coordinator.service 2.0
exit "$fail"
