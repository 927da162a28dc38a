#!/usr/bin/env bash
# Installs keyhole-agent on a host without the Debian package, activates it and starts it.
#
#   install-agent.sh --coordinator URL --code CODE|- [--pin sha256:HEX | --ca-file FILE]
#                    [--name NAME] [--binary PATH] [--prefix DIR] [--root DIR]
#   install-agent.sh --uninstall [--force] [--prefix DIR] [--root DIR]
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
# (`keyhole-agent deactivate`), and removes the unit, the binary (only keyhole-agent in
# /usr/local/bin, /usr/bin or --prefix DIR/bin), /etc/keyhole-agent, /var/lib/keyhole-agent and
# the user. If deactivate removed the state but could not reach the coordinator, it carries on
# and warns that the agent (its id) may still be ACTIVE there; if deactivate could not run at
# all (the state is intact), it removes nothing, unless --force.
#
# --root DIR stages everything under DIR instead of / (for tests and image builds): no user is
# created, nothing is chowned, systemctl is not called, and keyhole-agent runs as the caller.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NAME=keyhole-agent
USER_NAME=keyhole-agent

coordinator="" code="" pin="" ca_file="" agent_name="" binary="" prefix=/usr/local root=""
uninstall=0 force=0 prefix_given=0

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
    --prefix) prefix="${2:?--prefix needs a directory}"; prefix_given=1; shift 2 ;;
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
# The binary the unit names is deleted only where this script installs it (a tampered or edited
# unit must not make root delete some other file).
removable_binary() {
  local bin="$1" dir
  [ "$(basename -- "$bin")" = "$NAME" ] || return 1
  dir="$(dirname -- "$bin")"
  [ "$dir" = /usr/local/bin ] || [ "$dir" = /usr/bin ] || { [ "$prefix_given" = 1 ] && [ "$dir" = "$prefix/bin" ]; }
}

# The agent's id from its state, for the operator (jq where it is installed).
state_agent_id() {
  local id=""
  if command -v jq >/dev/null 2>&1; then
    id="$(jq -r '.agent_id // empty' "$R_STATE/state.json" 2>/dev/null)" || id=""
  else
    id="$(sed -n 's/.*"agent_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$R_STATE/state.json" 2>/dev/null | head -n1)"
  fi
  printf '%s' "${id:-unknown}"
}

if [ "$uninstall" = 1 ]; then
  [ "$(id -u)" -eq 0 ] || staged || die "--uninstall needs root"
  package_installed && die "$NAME is installed by its Debian package: run 'keyhole-agent deactivate' as $USER_NAME, then 'apt purge $NAME'"
  bin=""
  if [ -f "$R_UNIT" ]; then
    bin="$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$R_UNIT" | head -n1)"
  fi
  # Stop the daemon first: it holds its state directory, and deactivate refuses while it runs.
  if systemd_running; then
    systemctl stop "$NAME.service" >/dev/null 2>&1 || true
    systemctl disable "$NAME.service" >/dev/null 2>&1 || true
  fi
  if [ -f "$R_STATE/state.json" ]; then
    agent_id="$(state_agent_id)"
    admin_hint="an admin should deactivate it there (POST /api/v1/agents/$agent_id/lifecycle/deactivate)"
    status=0
    if [ -n "$bin" ] && [ "$(basename -- "$bin")" = "$NAME" ] && [ -x "$root$bin" ]; then
      agent_cmd "$root$bin" deactivate || status=$?
    else
      say "no $NAME binary to run (the unit names ${bin:-none})"
      status=127
    fi
    if [ "$status" -eq 0 ]; then
      say "deactivated agent $agent_id at its coordinator"
    elif [ ! -e "$R_STATE/state.json" ]; then
      # deactivate removes the state even when the coordinator cannot be reached: there is
      # nothing left to retry with, so carry on.
      say "WARNING: removed agent $agent_id's state, but could not deactivate it at its coordinator: it may still be ACTIVE there; $admin_hint"
    elif [ "$force" = 1 ]; then
      say "WARNING: could not deactivate agent $agent_id (keyhole-agent exited $status); removing it anyway (--force): it may still be ACTIVE at its coordinator; $admin_hint"
    else
      die "could not deactivate agent $agent_id (keyhole-agent exited $status) and its state is intact; nothing removed (--force removes it anyway; then $admin_hint)"
    fi
  fi
  rm -f "$R_UNIT"
  if systemd_running; then systemctl daemon-reload; fi
  if [ -n "$bin" ] && { [ -e "$root$bin" ] || [ -L "$root$bin" ]; }; then
    if ! removable_binary "$bin"; then
      say "leaving $bin: not $NAME in /usr/local/bin or /usr/bin (--prefix DIR allows DIR/bin); remove it yourself if it is this agent's"
    elif ! staged && dpkg-query -S "$bin" >/dev/null 2>&1; then
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
# The CA certificate is read once, here, and only from a regular file that is no symlink; it must
# hold certificates and no private key (what root can read is not necessarily public).
ca_pem=""
if [ -n "$ca_file" ]; then
  [ ! -L "$ca_file" ] || die "--ca-file $ca_file is a symbolic link: name the file itself"
  [ -f "$ca_file" ] || die "--ca-file $ca_file is not a regular file"
  ca_pem="$(cat -- "$ca_file")" || die "cannot read --ca-file $ca_file"
  case "$ca_pem" in
    *"PRIVATE KEY"*) die "--ca-file $ca_file holds a private key: pass the CA certificate only" ;;
    *"-----BEGIN CERTIFICATE-----"*) ;;
    *) die "--ca-file $ca_file holds no PEM certificate" ;;
  esac
fi

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
  if [ -n "$ca_pem" ]; then
    # The service user may not be able to read the caller's file: hand it a copy that only root
    # and the service user can read (0750 / 0640 root:keyhole-agent), written from what was read
    # and checked above, and never readable by anyone else meanwhile (umask 077 until chgrp).
    ca_tmp="$(mktemp -d)"
    (umask 077 && printf '%s\n' "$ca_pem" >"$ca_tmp/ca.pem")
    if ! staged; then
      chgrp "$USER_NAME" "$ca_tmp" "$ca_tmp/ca.pem"
      chmod 0750 "$ca_tmp"
      chmod 0640 "$ca_tmp/ca.pem"
    fi
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
