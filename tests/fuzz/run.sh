#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in a build directory of their own (the main build uses
# g++) and runs each for a bounded time on a temporary copy of its seed corpus, so the repository's
# corpus stays as committed. Exits non-zero if a target crashes or the build fails; the crashing
# input is kept in the build directory's artifacts/ folder.
#   tests/fuzz/run.sh                        # 30 s per target
#   KEYHOLE_FUZZ_SECONDS=600 tests/fuzz/run.sh
# Environment: KEYHOLE_FUZZ_SECONDS (30), KEYHOLE_FUZZ_BUILD_DIR (<repo>/build-fuzz),
# KEYHOLE_FUZZ_CC / KEYHOLE_FUZZ_CXX (clang-14 / clang++-14). Needs clang-14 and libfuzzer-14-dev.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${KEYHOLE_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
FUZZ_SECONDS="${KEYHOLE_FUZZ_SECONDS:-30}"
CC_BIN="${KEYHOLE_FUZZ_CC:-clang-14}"
CXX_BIN="${KEYHOLE_FUZZ_CXX:-clang++-14}"
TARGETS=(frame_decoder)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ ! -f "$BUILD/build.ninja" ]; then
  log "configuring $BUILD ($CXX_BIN)"
  CC="$CC_BIN" CXX="$CXX_BIN" cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKEYHOLE_BUILD_FUZZ=ON -DKEYHOLE_BUILD_TESTS=OFF >/dev/null
fi
log "building the fuzz targets"
cmake --build "$BUILD" --target "${TARGETS[@]/%/_fuzz}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$BUILD/artifacts"
status=0
for t in "${TARGETS[@]}"; do
  log "fuzzing $t for ${FUZZ_SECONDS}s"
  cp -r "$ROOT/tests/fuzz/corpus/$t" "$WORK/$t"
  # Inputs are at most 4 KiB, so one allocation past 1 MiB means the decoder trusted a count or
  # length the input does not back: -malloc_limit_mb reports it as a crash.
  if ! "$BUILD/tests/fuzz/${t}_fuzz" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -malloc_limit_mb=1 \
      -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/${t}-" "$WORK/$t" 2>"$WORK/$t.log"; then
    tail -n 60 "$WORK/$t.log" >&2
    log "$t FAILED; the input is in $BUILD/artifacts/ (reproduce: $BUILD/tests/fuzz/${t}_fuzz <file>)"
    status=1
    continue
  fi
  # The summary: runs, speed, coverage.
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|Done [0-9]+ runs)' \
    "$WORK/$t.log" >&2 || tail -n 5 "$WORK/$t.log" >&2
done
exit "$status"
