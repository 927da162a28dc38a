#!/usr/bin/env bash
# Keyhole's developer entry point, on Debian 12 as root (or with sudo):
#   installers/dev.sh run    install what is missing, build, run a coordinator on embedded defaults
#   installers/dev.sh test   install what is missing, build, run every test (what .ci/run calls)
#   installers/dev.sh deps | build
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${KEYHOLE_BUILD_DIR:-$ROOT/build}"
DATA="${KEYHOLE_DATA_DIR:-$ROOT/.keyhole/coordinator}"
LISTEN="${KEYHOLE_LISTEN:-127.0.0.1:8443}"
ADMIN_LOGIN="${KEYHOLE_ADMIN_LOGIN:-admin@keyhole.local}"

# Debian 12 packages the build and the tests need.
PACKAGES=(
  g++ cmake ninja-build pkg-config
  libboost-dev libboost-system-dev libssl-dev libcpprest-dev libsqlite3-dev libsystemd-dev zlib1g-dev libjemalloc-dev
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  libgtest-dev libgmock-dev
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  # The Okta SDK compatibility test needs Node.js and npm. Install Debian's only when there is
  # none: some images ship another nodejs that bundles npm and conflicts with Debian's npm.
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

build() {
  local werror=OFF
  [ "${CI:-}" = "true" ] && werror=ON
  if [ ! -f "$BUILD/build.ninja" ]; then
    log "configuring $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYHOLE_WERROR="$werror" >/dev/null
  elif [ "$werror" = ON ]; then
    cmake "$BUILD" -DKEYHOLE_WERROR=ON >/dev/null
  fi
  log "building"
  cmake --build "$BUILD"
}

run() {
  local bin="$BUILD/coordinator/keyhole-coordinator"
  local token
  if [ ! -f "$DATA/keyhole.db" ]; then
    log "initializing $DATA"
    token="$("$bin" init --data-dir "$DATA" --admin-login "$ADMIN_LOGIN")"
  else
    # The first token was shown once, at init; mint a fresh one for this session (unused, it
    # lapses after 30 days like any other).
    token="$("$bin" admin-token --data-dir "$DATA" --login "$ADMIN_LOGIN")"
  fi
  local url="https://${LISTEN}"
  cat >&2 <<MSG

  Keyhole coordinator
    URL          $url
    admin login  $ADMIN_LOGIN
    admin token  $token
    CA file      $DATA/tls/coordinator.crt (self-signed; its fingerprint is printed below)

  Try:
    curl --cacert $DATA/tls/coordinator.crt -H "Authorization: SSWS $token" $url/api/v1/users/me
    KEYHOLE_URL=$url KEYHOLE_TOKEN=$token KEYHOLE_CA_FILE=$DATA/tls/coordinator.crt $BUILD/coordinator/ctl/keyholectl users list

  Ctrl-C stops it.

MSG
  exec "$bin" serve --data-dir "$DATA" --listen "$LISTEN"
}

test_all() {
  log "running every test"
  ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" --timeout 300
}

cmd="${1:-run}"
case "$cmd" in
  deps) deps ;;
  build) deps; build ;;
  run) deps; build; run ;;
  test) deps; build; test_all ;;
  *) echo "usage: $0 run|test|deps|build" >&2; exit 2 ;;
esac
