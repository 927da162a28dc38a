#!/usr/bin/env bash
# The Debian packages: cpack builds keyhole-agent and keyhole-coordinator .debs into a temporary
# directory; lintian finds no error in either; each holds what it should (binaries stripped,
# units, conffiles, docs, maintainer scripts) and its Depends was computed; the coordinator's
# postinst initializes the database before the first start without printing the token
# (coordinator_postinst_test.sh runs it against the unpacked package).
#   deb_packages_test.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cpack --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 || {
  cat "$work/cpack.log" >&2
  echo "FAIL: cpack" >&2
  exit 1
}
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

for pkg in keyhole-agent keyhole-coordinator; do
  deb="$(ls "$work"/out/"${pkg}"_*.deb 2>/dev/null | head -n1)"
  if [ -z "$deb" ]; then bad "no $pkg .deb in: $(ls "$work/out")"; continue; fi
  echo "== $(basename "$deb")"

  # lintian: errors fail; warnings are shown.
  status=0
  lintian --fail-on error --tag-display-limit 0 "$deb" >"$work/lintian.$pkg" 2>&1 || status=$?
  sed 's/^/   lintian: /' "$work/lintian.$pkg"
  [ "$status" -eq 0 ] || bad "lintian reports errors in $pkg (exit $status)"

  dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$work/contents.$pkg"
  expect() {  # expect MODE PATH
    grep -qx -- "$1 root/root $2" "$work/contents.$pkg" || bad "$pkg: no '$1 root/root $2'"
  }
  conf="$([ "$pkg" = keyhole-agent ] && echo agent.toml || echo coordinator.toml)"
  expect -rwxr-xr-x "./usr/bin/$pkg"
  expect -rw-r--r-- "./lib/systemd/system/$pkg.service"
  expect -rw-r--r-- "./etc/$pkg/$conf"
  expect -rw-r--r-- "./usr/share/doc/$pkg/copyright"
  expect -rw-r--r-- "./usr/share/doc/$pkg/changelog.Debian.gz"
  [ "$pkg" = keyhole-coordinator ] && expect -rwxr-xr-x ./usr/bin/keyholectl
  if [ "$pkg" = keyhole-agent ] && grep -q keyholectl "$work/contents.$pkg"; then
    bad "keyholectl belongs in keyhole-coordinator only"
  fi

  # The unit names the binary where the package puts it.
  dpkg-deb -x "$deb" "$work/x.$pkg"
  grep -q "^ExecStart=/usr/bin/$pkg " "$work/x.$pkg/lib/systemd/system/$pkg.service" \
    || bad "$pkg.service: ExecStart is not /usr/bin/$pkg"
  file "$work/x.$pkg/usr/bin/$pkg" | grep -q ", stripped" || bad "$pkg: /usr/bin/$pkg is not stripped"

  # Control: maintainer scripts (executable, sh syntax), conffiles, computed Depends.
  dpkg-deb -e "$deb" "$work/c.$pkg"
  for script in postinst prerm postrm; do
    [ -x "$work/c.$pkg/$script" ] || { bad "$pkg: no executable $script"; continue; }
    sh -n "$work/c.$pkg/$script" || bad "$pkg: $script is not valid sh"
  done
  grep -qx "/etc/$pkg/$conf" "$work/c.$pkg/conffiles" || bad "$pkg: /etc/$pkg/$conf is not a conffile"
  grep -q "adduser --system" "$work/c.$pkg/postinst" || bad "$pkg: postinst does not create the system user"
  grep -q 'rm -rf "/var/lib/$PKG"' "$work/c.$pkg/postrm" || bad "$pkg: postrm does not purge the state"
  # The coordinator's postinst initializes the data directory (init's output, the first admin's
  # token, straight into a root-only file) before it starts the unit, and never prints the token.
  if [ "$pkg" = keyhole-coordinator ]; then
    post="$work/c.$pkg/postinst"
    init_line="$(grep -n 'keyhole-coordinator" init' "$post" | head -n1 | cut -d: -f1)"
    start_line="$(grep -n 'deb-systemd-invoke "$action"' "$post" | head -n1 | cut -d: -f1)"
    if [ -z "$init_line" ] || [ -z "$start_line" ] || [ "$init_line" -ge "$start_line" ]; then
      bad "$pkg: postinst does not run 'keyhole-coordinator init' before it starts the unit"
    fi
    grep -q -- '--data-dir "$STATE" >"$token_tmp"' "$post" || bad "$pkg: init's output does not go to the token file"
    grep -q 'runuser -u "$PKG"' "$post" || bad "$pkg: init does not run as the service user"
    if grep -nE '(cat|echo|printf|tee)[^|>]*"?\$token_(tmp|file)' "$post"; then
      bad "$pkg: postinst prints the token file"
    fi
    grep -q 'rm -f "/etc/$PKG/initial-admin-token"' "$work/c.$pkg/postrm" || bad "$pkg: postrm purge keeps the token file"
    if ! bash "$(dirname "$0")/coordinator_postinst_test.sh" "$post" "$work/x.$pkg" 2>&1 | sed 's/^/   /'; then
      bad "$pkg: the postinst test (coordinator_postinst_test.sh) failed"
    fi
  elif grep -q ' init ' "$work/c.$pkg/postinst"; then
    bad "$pkg: postinst has the coordinator's init step"
  fi
  depends="$(dpkg-deb -f "$deb" Depends)"
  echo "   Depends: $depends"
  case "$depends" in *libc6*) ;; *) bad "$pkg: Depends lacks libc6 (dpkg-shlibdeps did not run?)" ;; esac
  case "$depends" in *adduser*) ;; *) bad "$pkg: Depends lacks adduser" ;; esac
done
exit "$fail"
