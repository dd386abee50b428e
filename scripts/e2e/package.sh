#!/usr/bin/env bash
# The Debian package and the service unit (issue 14): builds the .deb with cargo-deb,
# installs it, runs the installed binary's --check on the installed config, checks the
# system user, the file modes and the unit's hardening, runs `systemd-analyze verify` on
# the unit, and checks that `cargo install --path .` gives a working stox. The package is
# purged at the end. Needs root (dpkg); skipped otherwise.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
if [ "$(id -u)" != 0 ]; then echo "e2e package: skipped (needs root for dpkg)"; exit 0; fi
need_pkg systemd-analyze systemd
need_pkg adduser adduser
dir=$(mktemp -d /tmp/stox-e2e-package.XXXXXX)
failed=1
cleanup() {
  dpkg --purge stox >/dev/null 2>&1 || true
  if [ "$failed" = 0 ] && [ -z "${KEEP_E2E:-}" ]; then rm -rf "$dir"; else log "logs kept in $dir"; fi
}
trap cleanup EXIT
cd "$STOX_ROOT"
if ! cargo deb --version >/dev/null 2>&1; then
  log "installing cargo-deb"
  cargo install -q cargo-deb --locked
fi
log "release build, then cargo deb --no-build (cargo install below reuses the same build)"
cargo build -q --release --bin stox
cargo deb --no-build 2>&1 | tail -1 > "$dir/deb.txt"
deb=$(ls -t target/debian/stox_*.deb | head -1)
log "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb -c "$deb" > "$dir/contents.txt"
check "package has the binary, the config, the env file, the unit and the admin guide" \
  bash -c "grep -q './usr/bin/stox$' '$dir/contents.txt' && grep -q './etc/stox/component.toml$' '$dir/contents.txt' \
    && grep -q './etc/stox/stox.env$' '$dir/contents.txt' && grep -q 'lib/systemd/system/stox.service$' '$dir/contents.txt' \
    && grep -q './usr/share/doc/stox/admin.md$' '$dir/contents.txt'"
dpkg -i "$deb" > "$dir/dpkg.txt" 2>&1 || { cat "$dir/dpkg.txt"; exit 1; }
check "installed: /usr/bin/stox runs" /usr/bin/stox --version
check "the stox system user exists" getent passwd stox
check "the secret file is root:stox 0640" [ "$(stat -c '%U:%G %a' /etc/stox/stox.env)" = "root:stox 640" ]
/usr/bin/stox --config /etc/stox/component.toml --check > "$dir/nosecret.txt" 2>&1 && nrc=0 || nrc=$?
check "the installed config without a secret is refused with what to do" \
  bash -c "[ $nrc = 1 ] && grep -q 'xmpp.secret: missing: set it in the file or in STOX__XMPP__SECRET' '$dir/nosecret.txt'"
check "the installed binary's --check passes on the installed config (secret from the env file)" \
  env STOX__XMPP__SECRET=e2e-secret /usr/bin/stox --config /etc/stox/component.toml --check
/usr/bin/stox --help > "$dir/help.txt"
check "--help covers every flag" bash -c "for f in --config --check --live --version --help; do grep -q -- \"\$f\" '$dir/help.txt' || exit 1; done"
unit=/lib/systemd/system/stox.service
check "systemd-analyze verify passes on the unit" systemd-analyze verify "$unit"
check "the unit is hardened (own user, ProtectSystem=strict, NoNewPrivileges, restart on failure, env file)" \
  bash -c "grep -q '^User=stox' $unit && grep -q '^ProtectSystem=strict' $unit && grep -q '^NoNewPrivileges=yes' $unit \
    && grep -q '^Restart=on-failure' $unit && grep -q '^EnvironmentFile=-/etc/stox/stox.env' $unit && grep -q '^StateDirectory=stox' $unit"
dpkg --purge stox > "$dir/purge.txt" 2>&1
check "purge removes the binary and the user" bash -c "[ ! -e /usr/bin/stox ] && ! getent passwd stox >/dev/null"
log "cargo install --locked --path . (same target dir and lock file: reuses the release build)"
CARGO_TARGET_DIR="$STOX_ROOT/target" cargo install --locked -q --path . --root "$dir/inst" 2>"$dir/install.txt" || cat "$dir/install.txt" >&2
check "cargo install --path . gives a working stox" "$dir/inst/bin/stox" --version
echo "e2e package: $passed passed, $fails failed"
[ "$fails" = 0 ] && failed=0
exit "$fails"
