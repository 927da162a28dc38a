    # A fresh install initializes the data directory here, before the unit first starts: started
    # on an empty one, `keyhole-coordinator serve` would initialize it itself and log the first
    # SUPER_ADMIN's API token to the journal (persistent, readable by adm and systemd-journal,
    # often forwarded). `init` prints that token on its standard output, which goes straight into
    # a root-only file; the token is never echoed.
    if [ ! -e "$STATE/keyhole.db" ]; then
      token_file="$ROOT/etc/$PKG/initial-admin-token"
      token_tmp="$(umask 077 && mktemp "$ROOT/etc/$PKG/.initial-admin-token.XXXXXX")"
      if (umask 077 && runuser -u "$PKG" -- "$ROOT/usr/bin/keyhole-coordinator" init \
            --data-dir "$STATE" >"$token_tmp") && [ -s "$token_tmp" ]; then
        chown root:root "$token_tmp"
        chmod 0600 "$token_tmp"
        mv -f "$token_tmp" "$token_file"
        echo "keyhole-coordinator: the first admin's (admin@keyhole.local) API token is in /etc/$PKG/initial-admin-token (root only); replace it with a token made through the API, then delete that file" >&2
      else
        rm -f "$token_tmp"
        # Whatever this attempt created, so that the next `dpkg --configure` initializes again
        # rather than leaving an uninitialized database for serve to initialize (and log).
        rm -f "$STATE/keyhole.db" "$STATE/keyhole.db-wal" "$STATE/keyhole.db-shm" "$STATE/keyhole.db-journal"
        echo "keyhole-coordinator: could not initialize $STATE (see above); not starting the service. Fix it, then run: dpkg --configure $PKG" >&2
        exit 1
      fi
    fi
