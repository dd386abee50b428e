#!/usr/bin/env bash
# Presence both ways end to end (issue 13, RFC 8048): Prosody + Kamailio as registrar, proxy
# and presence server (presence + presence_xml, db_text) + stox.
#  - XMPP → SIP: Juliet (slixmpp) subscribes to alice@sip.example.com; Alice is baresip,
#    PUBLISHing her presence into Kamailio; stox SUBSCRIBEs there; Juliet gets `subscribed`
#    and Alice's presence.
#  - SIP → XMPP: baresip (Alice) and a minimal RFC watcher (Bob, sip_watcher.py) SUBSCRIBE
#    to juliet@example.com; Juliet approves in her client; her "dnd / In a meeting" reaches
#    both as PIDF (checked as bytes, and as baresip shows it).
#  - Restart: stox is killed with -9 and started again on the same store: Bob's in-dialog
#    refresh succeeds (no 481), Juliet sees Alice again within seconds, nobody is asked again.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/kamailio.sh"
need_prosody
need_kamailio
need_pkg /usr/lib/x86_64-linux-gnu/kamailio/modules/presence_xml.so kamailio-presence-modules
need_pkg baresip baresip

STOX=${STOX_BIN:-$STOX_ROOT/target/debug/stox}
[ -x "$STOX" ] || (cd "$STOX_ROOT" && cargo build -q)
dir=$(mktemp -d /tmp/stox-e2e-presence.XXXXXX)
c2s=$(free_port); comp=$(free_port); sipport=$(free_port); kport=$(free_port); msrpport=$(free_port)
bport=$(free_port); bctrl=$(free_port); wport=$(free_port)
secret="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
stox_pid=""; bs_pid=""; jc_pid=""; w_pid=""; failed=1
cleanup() {
  for p in "$stox_pid" "$bs_pid" "$jc_pid" "$w_pid"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  kamailio_stop "$dir"
  prosody_stop "$dir"
  if [ "$failed" = 0 ] && [ -z "${KEEP_E2E:-}" ]; then rm -rf "$dir"; else log "logs kept in $dir"; fi
}
trap cleanup EXIT

prosody_config "$dir" "$c2s" "$comp" "$secret"
prosody_register "$dir" juliet pass
prosody_start "$dir"
wait_port "$c2s" || { log "Prosody did not start"; exit 1; }
kamailio_start "$dir" "$kport" "127.0.0.1:$sipport" "$sipport" -A WITH_PRESENCE

{ stox_xmpp_toml "$comp"; cat <<TOML; } > "$dir/stox.toml"
[sip]
domain = "sip.example.com"
listen = ["udp:127.0.0.1:$sipport", "tcp:127.0.0.1:$sipport"]
outbound_proxy = "sip:127.0.0.1:$kport"
[msrp]
listen = "127.0.0.1:$msrpport"
[presence]
notify_interval_ms = 200
TOML
# The live check an admin runs after setting up Prosody and Kamailio: all pass, exit 0.
STOX__XMPP__SECRET="$secret" "$STOX" --config "$dir/stox.toml" --check --live > "$dir/live.txt" 2>&1 && lrc=0 || lrc=$?
cat "$dir/live.txt" >&2
check "stox --check --live passes against this Prosody and Kamailio" [ "$lrc" = 0 ]
start_stox() {
  STOX__XMPP__SECRET="$secret" RUST_LOG=stox=debug,stox::sip::wire=trace,info "$STOX" --config "$dir/stox.toml" >>"$dir/stox.log" 2>&1 &
  stox_pid=$!
  "$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" juliet@example.com pass sip.example.com wait >/dev/null 2>>"$dir/client.err"
}
start_stox

# Alice on baresip: registers, PUBLISHes (pubint) and watches Juliet (presence=p2p).
baresip_config "$dir" "$bport" "$bctrl" presence.so
echo "<sip:alice@sip.example.com>;outbound=\"sip:127.0.0.1:$kport\";regint=600;pubint=600" > "$dir/bs/accounts"
echo '"Juliet" <sip:juliet@example.com>;presence=p2p' > "$dir/bs/contacts"
stdbuf -oL -eL baresip -v -f "$dir/bs" >"$dir/baresip.log" 2>&1 &
bs_pid=$!
wait_port "$bctrl" 10 || log "baresip's ctrl_tcp did not come up"

"$PY" "$STOX_ROOT/scripts/e2e/presence_client.py" "$c2s" juliet@example.com pass alice@sip.example.com "$dir" >"$dir/juliet.out" 2>"$dir/juliet.err" &
jc_pid=$!
"$PY" "$STOX_ROOT/scripts/e2e/sip_watcher.py" "$kport" "$wport" sip:juliet@example.com "$dir" "In a meeting" >"$dir/watcher.out" 2>&1 &
w_pid=$!

waitfile() { local i=0; while [ ! -e "$1" ]; do sleep 0.2; i=$((i + 1)); [ $i -gt $(($2 * 5)) ] && return 1; done; }
waitfile "$dir/xmpp_ready" 60 || log "Juliet's client did not get through its first part"
waitfile "$dir/watcher_ready" 30 || log "the SIP watcher saw no active NOTIFY with Juliet's status"

check "Juliet got subscribed from alice@sip.example.com (after an active NOTIFY)" grep -q "^ok subscribed" "$dir/juliet.out"
check "Juliet got Alice's presence (baresip PUBLISH → Kamailio → NOTIFY → stox)" grep -q "^ok available from alice@sip.example.com/" "$dir/juliet.out"
asked() { grep -q "subscribe request from alice@sip.example.com" "$dir/juliet.out" && grep -q "subscribe request from bob@sip.example.com" "$dir/juliet.out"; }
i=0; until asked || [ $i -gt 50 ]; do sleep 0.2; i=$((i + 1)); done
check "Juliet was asked (in her client) for Alice's and Bob's subscriptions" asked
check "Bob (RFC watcher) got an active NOTIFY with PIDF carrying Juliet's status" grep -q "^ok active PIDF" "$dir/watcher.out"
# The PIDF bytes stox sent (RFC 3863 + note 7 of RFC 8048 Table 1 + RPID for phones).
pidf_ok() {
  local n; n=$(grep -a -A40 "^NOTIFY sip:bob@" "$dir/stox.log" | tr -d '\r')
  grep -q "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:juliet@example.com'>" <<<"$n" &&
  grep -q "<basic>open</basic>" <<<"$n" && grep -q "<show xmlns='jabber:client'>dnd</show>" <<<"$n" &&
  grep -q "<note[^>]*>In a meeting</note>" <<<"$n" && grep -q "<rpid:busy/>" <<<"$n" &&
  grep -q "^Subscription-State: active;expires=" <<<"$n" && grep -q "^Content-Type: application/pidf+xml" <<<"$n"
}
check "the PIDF stox sent: entity, tuple, basic open, show dnd, note, RPID busy" pidf_ok
check "no stanza before active: the pending NOTIFY to Bob had no body" \
  bash -c "grep -a -A14 '^NOTIFY sip:bob@' '$dir/stox.log' | tr -d '\r' | grep -B12 '^Subscription-State: pending' | grep -q . "
# baresip's contact list as its ctrl_tcp tells it (the status baresip shows for Juliet).
bs_contacts() {
  "$PY" - "$bctrl" <<'PYEOF'
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
d = json.dumps({"command": "contacts", "token": "c"}).encode()
s.sendall(str(len(d)).encode() + b":" + d + b",")
buf = b""
while buf.count(b",") < 1 or b'"response"' not in buf:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode(errors="replace"))
PYEOF
}
# (baresip 1.0 shows RPID busy as Busy, and reads RPID away as offline.)
bs_away() { bs_contacts > "$dir/bs_contacts.out" 2>&1; grep -q "Busy.*Juliet" "$dir/bs_contacts.out"; }
i=0; until bs_away || [ $i -gt 50 ]; do sleep 0.2; i=$((i + 1)); done
check "baresip shows Juliet as Busy (her dnd)" bs_away

log "kill -9 stox, start it again on the same store"
t0=$(date +%s.%N)
kill -9 "$stox_pid"; wait "$stox_pid" 2>/dev/null || true
start_stox
echo "$t0" > "$dir/restarted"
t1=$(date +%s.%N)
log "stox back on the component link after $(echo "$t1 - $t0" | bc) s"
wait "$w_pid" && wrc=0 || wrc=$?; w_pid=""
check "Bob's in-dialog refresh after the restart succeeded (no 481) and a NOTIFY followed" [ "$wrc" = 0 ]
wait "$jc_pid" && jrc=0 || jrc=$?; jc_pid=""
check "Juliet saw Alice again after the restart, and nobody asked her again" [ "$jrc" = 0 ]
grep -h "^METRIC" "$dir/juliet.out" || true
grep -q "presence subscriptions restored" "$dir/stox.log" && grep -a "presence subscriptions restored" "$dir/stox.log" | tail -1 >&2

echo "e2e presence: $passed passed, $fails failed"
[ "$fails" = 0 ] && failed=0
exit "$fails"
