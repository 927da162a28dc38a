# Sourced by the installer tests: stage_install BUILD_DIR DEST — `cmake --install` of both
# packages' components with prefix /usr under DEST, the tree the .debs ship.
stage_install() {
  local build="$1" dest="$2" component
  for component in keyhole-agent keyhole-coordinator; do
    DESTDIR="$dest" cmake --install "$build" --prefix /usr --component "$component" >/dev/null
  done
}
