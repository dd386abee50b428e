#!/usr/bin/env bash
# Runs stox against a local Prosody (started here, on loopback, in a temp dir) so you can
# point an XMPP client at 127.0.0.1:${C2S_PORT:-5222} as juliet@example.com / juliet.
# Ctrl-C stops both.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need_prosody
C2S_PORT=${C2S_PORT:-5222}; COMPONENT_PORT=${COMPONENT_PORT:-5347}
dir=${STOX_DEV_DIR:-$(mktemp -d /tmp/stox-dev.XXXXXX)}
secret=${STOX__XMPP__SECRET:-dev-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')}
prosody_config "$dir" "$C2S_PORT" "$COMPONENT_PORT" "$secret"
prosody_register "$dir" juliet juliet
prosody_register "$dir" romeo romeo
prosody_start "$dir"
trap 'prosody_stop "$dir"' EXIT
wait_port "$C2S_PORT" || { log "Prosody did not start; see $dir/prosody.log"; exit 1; }
sed -e "s/^server = .*/server = \"127.0.0.1:$COMPONENT_PORT\"/" -e '/^secret = /d' \
  "$STOX_ROOT/component.example.toml" > "$dir/stox.toml"
log "Prosody: c2s 127.0.0.1:$C2S_PORT (juliet@example.com / juliet), component port $COMPONENT_PORT; logs in $dir"
cd "$STOX_ROOT"
STOX__XMPP__SECRET="$secret" cargo run --quiet -- --config "$dir/stox.toml"
