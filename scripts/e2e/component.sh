#!/usr/bin/env bash
# End to end through a real Prosody: stox connects as sip.example.com; a real XMPP client
# (slixmpp) logged in as juliet@example.com gets disco#info, XEP-0100, version and ping
# answers; Prosody is restarted mid-test and stox reconnects by itself (time measured);
# SIGTERM shuts stox down cleanly with exit status 0.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need_prosody

STOX=${STOX_BIN:-$STOX_ROOT/target/debug/stox}
[ -x "$STOX" ] || (cd "$STOX_ROOT" && cargo build -q)
dir=$(mktemp -d /tmp/stox-e2e-component.XXXXXX)
c2s=$(free_port); comp=$(free_port); mport=$(free_port)
secret="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
stox_pid=""
cleanup() {
  [ -n "$stox_pid" ] && kill "$stox_pid" 2>/dev/null || true
  prosody_stop "$dir"
  if [ "${KEEP_E2E:-}" = "" ] && [ "${failed:-0}" = 0 ]; then rm -rf "$dir"; else log "logs kept in $dir"; fi
}
trap cleanup EXIT
failed=1

prosody_config "$dir" "$c2s" "$comp" "$secret"
prosody_register "$dir" juliet pass
prosody_start "$dir"
wait_port "$c2s" || { log "Prosody did not start"; cat "$dir/prosody.log" >&2; exit 1; }

cat > "$dir/stox.toml" <<TOML
[xmpp]
component = "sip.example.com"
server = "127.0.0.1:$comp"
domains = ["example.com"]
keepalive_secs = 30
[sip]
domain = "example.net"
listen = ["udp:127.0.0.1:0"]
# a proxy that refuses at once: messages to SIP users come back as errors quickly
outbound_proxy = "sip:127.0.0.1:9;transport=tcp"
[metrics]
listen = "127.0.0.1:$mport"
TOML
STOX__XMPP__SECRET="$secret" "$STOX" --config "$dir/stox.toml" --check
# The live check with a wrong secret: the operator-worded reason, exit 1.
rc=0; XDG_STATE_HOME="$dir/xdg" STOX__XMPP__SECRET="wrong" "$STOX" --config "$dir/stox.toml" --check --live > "$dir/live.txt" 2>&1 || rc=$?
cat "$dir/live.txt" >&2
[ "$rc" = 1 ] && grep -q "^FAIL xmpp: the XMPP server rejected the component secret for sip.example.com" "$dir/live.txt" \
  || { log "--check --live with a wrong secret: exit $rc"; exit 1; }
# No [store] in the file: the default location (here under XDG_STATE_HOME) is created.
XDG_STATE_HOME="$dir/xdg" STOX__XMPP__SECRET="$secret" RUST_LOG=stox=debug,info "$STOX" --config "$dir/stox.toml" >"$dir/stox.log" 2>&1 &
stox_pid=$!

client() { "$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" juliet@example.com pass sip.example.com "$@" 2>>"$dir/client.err"; }

log "waiting for the component link"
client wait >/dev/null
log "checks through Prosody"
client check
# /health and /metrics (Prometheus text format) while the link is up.
code=$(curl -s -o "$dir/health.txt" -w '%{http_code}' "http://127.0.0.1:$mport/health")
[ "$code" = 200 ] || { log "/health said $code: $(cat "$dir/health.txt")"; exit 1; }
sleep 1.2
curl -s "http://127.0.0.1:$mport/metrics" > "$dir/metrics.txt"
for m in 'stox_xmpp_link_up 1' 'stox_stanzas_total{direction="in"}' 'stox_messages_total{direction="xmpp_to_sip",kind="page",outcome="errored"' \
         'stox_sip_transactions ' 'stox_processing_seconds_bucket{' '# TYPE stox_chat_sessions gauge'; do
  grep -qF "$m" "$dir/metrics.txt" || { log "/metrics lacks: $m"; cat "$dir/metrics.txt" >&2; exit 1; }
done
log "/health 200 and /metrics as expected"

log "restarting Prosody"
prosody_stop "$dir"
sleep 0.5
code=$(curl -s -o "$dir/health.txt" -w '%{http_code}' "http://127.0.0.1:$mport/health")
[ "$code" = 503 ] && grep -q "link is down" "$dir/health.txt" || { log "/health with Prosody down said $code: $(cat "$dir/health.txt")"; exit 1; }
log "/health 503 while Prosody is down: $(head -1 "$dir/health.txt")"
t0=$(date +%s.%N)
prosody_start "$dir"
wait_port "$c2s"
client wait >/dev/null
t1=$(date +%s.%N)
reconnect=$(echo "$t1 - $t0" | bc)
log "stox answered again $reconnect s after Prosody was restarted"
echo "METRIC component_reconnect_seconds $reconnect"
client check >/dev/null

log "SIGTERM"
kill -TERM "$stox_pid"
rc=0; wait "$stox_pid" || rc=$?
stox_pid=""
[ "$rc" = 0 ] || { log "stox exited $rc after SIGTERM"; exit 1; }
grep -q "shutting down" "$dir/stox.log"
# The store's default location was created without any configuration.
[ -s "$dir/xdg/stox/stox.sqlite" ] || { log "no store at the default location"; exit 1; }
# The secret never reaches the logs.
if grep -q "$secret" "$dir/stox.log"; then log "secret leaked into the log"; exit 1; fi
failed=0
echo "e2e component: 1 passed, 0 failed"
