#!/usr/bin/env bash
# Installs keyhole-agent on a host without the Debian package, activates it and starts it.
#
#   install-agent.sh --coordinator URL --code CODE|- [--pin sha256:HEX | --ca-file FILE]
#                    [--name NAME] [--binary PATH] [--prefix DIR] [--root DIR]
#   install-agent.sh --uninstall [--force] [--root DIR]
#
# Installs the binary (PREFIX/bin, default /usr/local/bin), the systemd unit
# (/etc/systemd/system/keyhole-agent.service), a default /etc/keyhole-agent/agent.toml (never
# overwritten) and the keyhole-agent system user; activates the agent as that user, so that its
# state (/var/lib/keyhole-agent) is owned by it; enables and starts the unit where systemd runs.
# A second run changes only what differs and never activates again.
#
# The activation code: --code CODE, --code - (read from standard input) or
# KEYHOLE_ACTIVATION_CODE. It reaches keyhole-agent on its standard input, never its command line.
#
# --uninstall stops and disables the unit, deactivates the agent at its coordinator
# (`keyhole-agent deactivate`; if that fails it stops, unless --force), and removes the unit,
# the binary, /etc/keyhole-agent, /var/lib/keyhole-agent and the user.
#
# --root DIR stages everything under DIR instead of / (for tests and image builds): no user is
# created, nothing is chowned, systemctl is not called, and keyhole-agent runs as the caller.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NAME=keyhole-agent
USER_NAME=keyhole-agent

coordinator="" code="" pin="" ca_file="" agent_name="" binary="" prefix=/usr/local root=""
uninstall=0 force=0

say() { printf 'install-agent: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage() {
  sed -n '3,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --coordinator) coordinator="${2:?--coordinator needs a URL}"; shift 2 ;;
    --code) code="${2:?--code needs a code or -}"; shift 2 ;;
    --pin) pin="${2:?--pin needs sha256:HEX}"; shift 2 ;;
    --ca-file) ca_file="${2:?--ca-file needs a file}"; shift 2 ;;
    --name) agent_name="${2:?--name needs a name}"; shift 2 ;;
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    --force) force=1; shift ;;
    -h|--help) usage ;;
    *) say "unknown argument: $1"; usage ;;
  esac
done

if [ -n "$root" ]; then
  mkdir -p "$root"
  root="$(cd "$root" && pwd)"
  [ "$root" != / ] || root=""
fi
staged() { [ -n "$root" ]; }

# Paths on the target system (what the unit names) and where this run writes them.
UNIT_PATH=/etc/systemd/system/$NAME.service
CONF_DIR=/etc/$NAME
CONF_PATH=$CONF_DIR/agent.toml
STATE_DIR=/var/lib/$NAME
R_UNIT="$root$UNIT_PATH" R_CONF_DIR="$root$CONF_DIR" R_CONF="$root$CONF_PATH" R_STATE="$root$STATE_DIR"

systemd_running() { ! staged && [ -d /run/systemd/system ]; }

# Runs keyhole-agent ARGS… as the service user (staged: as the caller), against this install's
# state and config.
agent_cmd() {
  local bin="$1"; shift
  if staged; then
    "$bin" "$@" --state-dir "$R_STATE" --config "$R_CONF"
  else
    runuser -u "$USER_NAME" -- "$bin" "$@" --state-dir "$STATE_DIR" --config "$CONF_PATH"
  fi
}

package_installed() {
  ! staged && dpkg-query -W -f='${Status}' "$NAME" 2>/dev/null | grep -q "ok installed"
}

# --- uninstall ----------------------------------------------------------------------------------
if [ "$uninstall" = 1 ]; then
  [ "$(id -u)" -eq 0 ] || staged || die "--uninstall needs root"
  package_installed && die "$NAME is installed by its Debian package: run 'keyhole-agent deactivate' as $USER_NAME, then 'apt purge $NAME'"
  bin=""
  if [ -f "$R_UNIT" ]; then
    bin="$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$R_UNIT" | head -n1)"
  fi
  if systemd_running; then
    systemctl disable --now "$NAME.service" >/dev/null 2>&1 || true
  fi
  if [ -f "$R_STATE/state.json" ]; then
    if [ -n "$bin" ] && [ -x "$root$bin" ] && agent_cmd "$root$bin" deactivate; then
      say "deactivated the agent at its coordinator"
    elif [ "$force" = 1 ]; then
      say "WARNING: could not deactivate the agent; deactivate it at the coordinator (POST /api/v1/agents/{id}/lifecycle/deactivate)"
    else
      die "could not deactivate the agent at its coordinator; nothing removed (--force removes it anyway)"
    fi
  fi
  rm -f "$R_UNIT"
  systemd_running && systemctl daemon-reload
  if [ -n "$bin" ] && [ -e "$root$bin" ]; then
    if ! staged && dpkg-query -S "$bin" >/dev/null 2>&1; then
      say "leaving $bin: it belongs to a Debian package"
    else
      rm -f "$root$bin"
    fi
  fi
  rm -rf "$R_CONF_DIR" "$R_STATE"
  if staged; then
    say "staged under $root: no user to remove"
  elif getent passwd "$USER_NAME" >/dev/null; then
    if command -v deluser >/dev/null 2>&1; then
      deluser --system --quiet "$USER_NAME" >/dev/null 2>&1 || true
    else
      userdel "$USER_NAME" || true
    fi
    if getent group "$USER_NAME" >/dev/null; then
      groupdel "$USER_NAME" 2>/dev/null || true
    fi
  fi
  say "uninstalled $NAME"
  exit 0
fi

# --- install ------------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || staged || die "needs root (or --root DIR to stage)"
if [ -n "$pin" ] && [ -n "$ca_file" ]; then die "--pin and --ca-file exclude each other"; fi
if [ -n "$ca_file" ] && [ ! -r "$ca_file" ]; then die "cannot read --ca-file $ca_file"; fi

# The binary: --binary, else one next to this script, else the build tree's.
if [ -z "$binary" ]; then
  for b in "$HERE/$NAME" "$HERE/../build/agent/$NAME"; do
    if [ -x "$b" ]; then binary="$b"; break; fi
  done
fi
if package_installed; then
  BIN="$(command -v "$NAME")"
  say "$NAME is installed by its Debian package ($BIN): only activating and starting it"
else
  [ -n "$binary" ] && [ -x "$binary" ] || die "no $NAME binary: pass --binary PATH"
  BIN="$prefix/bin/$NAME"
fi
R_BIN="$root$BIN"

unit_template="$HERE/systemd/$NAME.service.in"
config_template="$HERE/packaging/agent.toml"
[ -r "$unit_template" ] || die "missing $unit_template"
[ -r "$config_template" ] || die "missing $config_template"

# 1. The service user.
if staged; then
  say "staged under $root: not creating the $USER_NAME user"
elif ! getent passwd "$USER_NAME" >/dev/null; then
  if command -v adduser >/dev/null 2>&1; then
    adduser --system --group --quiet --home "$STATE_DIR" --no-create-home --comment "Keyhole agent" "$USER_NAME"
  else
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "Keyhole agent" "$USER_NAME"
  fi
  say "created the $USER_NAME system user"
fi

# 2. Binary, unit, config, state directory: each only when missing or different.
changed=0
if ! package_installed; then
  if ! cmp -s "$binary" "$R_BIN"; then
    install -D -m 0755 "$binary" "$R_BIN"
    changed=1
    say "installed $BIN"
  fi
  unit_tmp="$(mktemp)"
  trap 'rm -f "$unit_tmp"' EXIT
  sed "s|@KEYHOLE_BINDIR@|$prefix/bin|g" "$unit_template" >"$unit_tmp"
  if ! cmp -s "$unit_tmp" "$R_UNIT"; then
    install -D -m 0644 "$unit_tmp" "$R_UNIT"
    changed=1
    say "installed $UNIT_PATH"
  fi
  if [ ! -e "$R_CONF" ]; then
    install -d -m 0750 "$R_CONF_DIR"
    install -m 0640 "$config_template" "$R_CONF"
    say "installed $CONF_PATH"
  fi
  if ! staged; then
    chown root:"$USER_NAME" "$R_CONF_DIR" "$R_CONF"
  fi
fi
if [ ! -d "$R_STATE" ]; then
  install -d -m 0700 "$R_STATE"
fi
staged || chown "$USER_NAME:$USER_NAME" "$R_STATE"

# 3. Activation, once.
if [ -f "$R_STATE/state.json" ]; then
  say "already activated ($STATE_DIR/state.json exists): not activating again"
else
  if [ "$code" = - ]; then
    IFS= read -r code || true
  elif [ -z "$code" ]; then
    code="${KEYHOLE_ACTIVATION_CODE:-}"
  fi
  [ -n "$code" ] || die "no activation code: --code CODE, --code - (standard input) or KEYHOLE_ACTIVATION_CODE"
  args=(activate --code -)
  [ -n "$coordinator" ] && args+=(--coordinator "$coordinator")
  [ -n "$agent_name" ] && args+=(--name "$agent_name")
  [ -n "$pin" ] && args+=(--pin "$pin")
  ca_tmp=""
  if [ -n "$ca_file" ]; then
    # The service user may not be able to read the caller's file: hand it a copy (a CA
    # certificate is public).
    ca_tmp="$(mktemp -d)"
    chmod 0755 "$ca_tmp"
    install -m 0644 "$ca_file" "$ca_tmp/ca.pem"
    args+=(--ca-file "$ca_tmp/ca.pem")
  fi
  status=0
  printf '%s\n' "$code" | (unset KEYHOLE_ACTIVATION_CODE; agent_cmd "$R_BIN" "${args[@]}") || status=$?
  [ -z "$ca_tmp" ] || rm -rf "$ca_tmp"
  [ "$status" -eq 0 ] || die "activation failed (keyhole-agent exited $status)"
  say "activated"
fi

# 4. Enable and start.
if systemd_running; then
  systemctl daemon-reload
  systemctl enable "$NAME.service" >/dev/null 2>&1
  if [ "$changed" = 1 ]; then
    systemctl try-restart --no-block "$NAME.service"
  fi
  # --no-block: the agent signals readiness only once it reaches the network.
  systemctl start --no-block "$NAME.service"
  say "enabled and started $NAME.service (systemctl status $NAME; journalctl -u $NAME)"
elif staged; then
  say "staged under $root: not enabling or starting $NAME.service"
else
  say "systemd is not running here: cannot start $NAME.service. Run the agent in the foreground with:"
  say "  runuser -u $USER_NAME -- $BIN run --state-dir $STATE_DIR --config $CONF_PATH"
fi
