#!/usr/bin/env bash
# Keyhole's developer entry point, on Debian 12 as root (or with sudo):
#   installers/dev.sh run    install what is missing, build, run a coordinator, a local agent and a sample
#                            upstream on embedded defaults, and show one request tunneled through them
#   installers/dev.sh test   install what is missing, build, run every test and a 30 s fuzz run (what .ci/run calls)
#   installers/dev.sh deps | build
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${KEYHOLE_BUILD_DIR:-$ROOT/build}"
DATA="${KEYHOLE_DATA_DIR:-$ROOT/.keyhole/coordinator}"
AGENT_STATE="${KEYHOLE_AGENT_STATE_DIR:-$ROOT/.keyhole/agent}"
LISTEN="${KEYHOLE_LISTEN:-127.0.0.1:8443}"
ADMIN_LOGIN="${KEYHOLE_ADMIN_LOGIN:-admin@keyhole.local}"

# Debian 12 packages the build and the tests need.
PACKAGES=(
  g++ cmake ninja-build pkg-config
  libboost-dev libboost-system-dev libssl-dev libcpprest-dev libsqlite3-dev libsystemd-dev zlib1g-dev libjemalloc-dev
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  libgtest-dev libgmock-dev
  # the fuzz targets (tests/fuzz/run.sh): clang with libFuzzer; the sanitizer and -fsanitize=fuzzer
  # runtimes are in libclang-rt-14-dev, only a Recommends of clang-14
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
  # the installer tests: systemd units, Debian packages, install-agent.sh
  systemd dpkg-dev fakeroot lintian file binutils adduser curl jq openssl strace procps
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
  local bin="$BUILD/coordinator/keyhole-coordinator" agent="$BUILD/agent/keyhole-agent"
  local token
  if [ ! -f "$DATA/keyhole.db" ]; then
    log "initializing $DATA"
    token="$("$bin" init --data-dir "$DATA" --admin-login "$ADMIN_LOGIN")"
  else
    # The first token was shown once, at init; mint a fresh one for this session (unused, it
    # lapses after 30 days like any other).
    token="$("$bin" admin-token --data-dir "$DATA" --login "$ADMIN_LOGIN")"
  fi
  local url="https://${LISTEN}" ca="$DATA/tls/coordinator.crt"
  # Globals: the traps run after this function's locals are gone.
  COORD_PID="" AGENT_PID="" UPSTREAM_PID=""
  trap 'kill $AGENT_PID $UPSTREAM_PID $COORD_PID 2>/dev/null; wait 2>/dev/null; exit 0' INT TERM
  trap 'kill $AGENT_PID $UPSTREAM_PID $COORD_PID 2>/dev/null || true' EXIT
  "$bin" serve --data-dir "$DATA" --listen "$LISTEN" &
  COORD_PID=$!
  local i
  for i in $(seq 100); do
    [ -f "$ca" ] && curl -fsS --cacert "$ca" "$url/healthz" >/dev/null 2>&1 && break
    kill -0 "$COORD_PID" 2>/dev/null || { echo "the coordinator did not start" >&2; exit 1; }
    sleep 0.1
  done

  # A sample on-premises service for the agent to reach: the test suite's HTTP upstream, on an
  # ephemeral loopback port.
  local upstream_bin="$BUILD/tests/keyhole-test-upstream" upstream_port=""
  mkdir -p -m 0700 "$AGENT_STATE"
  "$upstream_bin" --name sample >"$AGENT_STATE/upstream.out" 2>"$AGENT_STATE/upstream.log" &
  UPSTREAM_PID=$!
  for i in $(seq 50); do
    upstream_port="$(sed -n 's/^PORT //p' "$AGENT_STATE/upstream.out")"
    [ -n "$upstream_port" ] && break
    sleep 0.1
  done
  [ -n "$upstream_port" ] || { echo "the sample upstream did not start" >&2; exit 1; }

  # A local agent in a pool named "local", activated once with a one-time code; its config names
  # the sample upstream (rewritten each run: the port is new every time).
  cat >"$AGENT_STATE/agent.toml" <<TOML
# keyhole-agent configuration (docs/AGENTS.md), written by installers/dev.sh run
[upstreams.sample]
url = "http://127.0.0.1:$upstream_port"
TOML
  local api=(curl -fsS --cacert "$ca" -H "Authorization: SSWS $token" -H "Content-Type: application/json")
  if [ ! -f "$AGENT_STATE/state.json" ]; then
    log "activating a local agent ($AGENT_STATE)"
    local pool code
    pool="$("${api[@]}" "$url/api/v1/agentPools?poolType=HTTP&limitPerPoolType=200" | jq -r '[.[] | select(.name == "local")][0].id // empty')"
    [ -n "$pool" ] || pool="$("${api[@]}" -d '{"name":"local","type":"HTTP"}' "$url/api/v1/agentPools" | jq -r .id)"
    code="$("${api[@]}" -X POST "$url/api/v1/agentPools/$pool/activationCodes" | jq -r .code)"
    printf '%s\n' "$code" | "$agent" activate --coordinator "$url" --code - --ca-file "$ca" --name "local-agent" \
      --state-dir "$AGENT_STATE" --config "$AGENT_STATE/agent.toml" >/dev/null
  fi
  "$agent" run --state-dir "$AGENT_STATE" --config "$AGENT_STATE/agent.toml" 2>"$AGENT_STATE/agent.log" &
  AGENT_PID=$!
  local pool_id tunnel="" reply=""
  pool_id="$(jq -r .pool_id "$AGENT_STATE/state.json")"
  tunnel="$url/api/v1/agentPools/$pool_id/tunnel/sample/hello"
  # One request through the tunnel: caller → coordinator → agent → the sample upstream.
  for i in $(seq 100); do
    reply="$(curl -fsS --cacert "$ca" -H "Authorization: SSWS $token" "$tunnel" 2>/dev/null)" && break
    kill -0 "$AGENT_PID" 2>/dev/null || { echo "the agent stopped; see $AGENT_STATE/agent.log" >&2; exit 1; }
    sleep 0.1
  done

  cat >&2 <<MSG

  Keyhole coordinator
    URL          $url
    admin login  $ADMIN_LOGIN
    admin token  $token
    CA file      $ca (self-signed; its fingerprint is printed above)
    console      none yet: the REST API above is the interface (docs/API.md)

  Local agent (state in $AGENT_STATE, log in $AGENT_STATE/agent.log)
$("$agent" status --state-dir "$AGENT_STATE" --config "$AGENT_STATE/agent.toml" 2>&1 | sed 's/^/    /')

  One tunneled request (coordinator → agent → sample upstream on 127.0.0.1:$upstream_port):
    curl --cacert $ca -H "Authorization: SSWS $token" $tunnel
    → ${reply:-(no answer yet: see $AGENT_STATE/agent.log)}

  Try:
    curl --cacert $ca -H "Authorization: SSWS $token" $url/api/v1/users/me
    curl --cacert $ca -H "Authorization: SSWS $token" $url/api/v1/agentPools
    KEYHOLE_URL=$url KEYHOLE_TOKEN=$token KEYHOLE_CA_FILE=$ca $BUILD/coordinator/ctl/keyholectl users list

  Ctrl-C stops all three.

MSG
  wait "$COORD_PID"
}

test_all() {
  log "running every test"
  ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" --timeout 300
  # The protocol decoder's fuzz target, bounded (KEYHOLE_FUZZ_SECONDS, 30 by default), in a clang
  # build of its own next to the main one.
  KEYHOLE_FUZZ_BUILD_DIR="${KEYHOLE_FUZZ_BUILD_DIR:-$BUILD-fuzz}" bash "$ROOT/tests/fuzz/run.sh"
}

cmd="${1:-run}"
case "$cmd" in
  deps) deps ;;
  build) deps; build ;;
  run) deps; build; run ;;
  test) deps; build; test_all ;;
  *) echo "usage: $0 run|test|deps|build" >&2; exit 2 ;;
esac
