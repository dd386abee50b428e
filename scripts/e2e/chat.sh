#!/usr/bin/env bash
# RFC 7573 chat sessions end to end: real Prosody, real Kamailio (Record-Route, digest for
# stox), a real XMPP client (slixmpp), SIPp for the INVITE dialogs, and msrp_peer.py for
# MSRP — which checks every frame stox writes against the RFC 4975 grammar, not against
# stox's own parser. Both directions: several messages, a chat state and a receipt each
# way, a message larger than one chunk, BYE from SIP (XMPP gets <gone/>), <gone/> from XMPP
# (SIP gets BYE).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/kamailio.sh"
need_prosody
need_kamailio
need_pkg sipp sip-tester

STOX=${STOX_BIN:-$STOX_ROOT/target/debug/stox}
[ -x "$STOX" ] || (cd "$STOX_ROOT" && cargo build -q)
dir=$(mktemp -d /tmp/stox-e2e-chat.XXXXXX)
c2s=$(free_port); comp=$(free_port); sipport=$(free_port); kport=$(free_port); uasport=$(free_port)
msrpport=$(free_port); peerport=$(free_port)
secret="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
stox_pid=""; failed=1
cleanup() {
  [ -n "$stox_pid" ] && kill "$stox_pid" 2>/dev/null || true
  kamailio_stop "$dir"
  prosody_stop "$dir"
  pkill -f "sipp.*$uasport" 2>/dev/null || true
  if [ "$failed" = 0 ] && [ -z "${KEEP_E2E:-}" ]; then rm -rf "$dir"; else log "logs kept in $dir"; fi
}
trap cleanup EXIT

prosody_config "$dir" "$c2s" "$comp" "$secret"
prosody_register "$dir" juliet pass
prosody_start "$dir"
wait_port "$c2s" || { log "Prosody did not start"; exit 1; }
kamailio_start "$dir" "$kport" "127.0.0.1:$sipport" "$sipport" -A WITH_AUTH

{ stox_xmpp_toml "$comp"; cat <<TOML; } > "$dir/stox.toml"
[sip]
domain = "sip.example.com"
listen = ["udp:127.0.0.1:$sipport", "tcp:127.0.0.1:$sipport"]
outbound_proxy = "sip:127.0.0.1:$kport"
t1_ms = 100
[[sip.credentials]]
realm = "sip.example.com"
username = "stox"
password = "stox-digest-pw"
[msrp]
listen = "127.0.0.1:$msrpport"
TOML
STOX__XMPP__SECRET="$secret" RUST_LOG=stox=debug,stox::sip::wire=trace,stox::msrp::wire=trace,info "$STOX" --config "$dir/stox.toml" >"$dir/stox.log" 2>&1 &
stox_pid=$!
client() { local jid=$1; shift; "$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" "$jid" pass sip.example.com "$@" 2>>"$dir/client.err"; }
client juliet@example.com wait >/dev/null

indent() { sed 's/^/     /' >&2; }

# 1. SIP -> XMPP (RFC 7573 §5): romeo's SIPp INVITEs juliet through Kamailio; msrp_peer.py
#    connects to stox's path, talks; the XMPP client answers; romeo hangs up after 8 s.
client juliet@example.com/balcony chat_s2x:romeo@sip.example.com >"$dir/xmpp-s2x.out" &
xs2x=$!
sleep 1.5
"$PY" "$STOX_ROOT/scripts/e2e/msrp_peer.py" s2x "$dir/path_s2x" "msrp://127.0.0.1:7313/sippS2Xsess;tcp" >"$dir/msrp-s2x.out" 2>&1 &
ms2x=$!
check "SIP->XMPP: INVITE 200, ACK, BYE 200 (SIPp through Kamailio)" \
  sipp_run s2x chat_uac.xml "127.0.0.1:$kport" -s juliet -m 1 -key our_path "msrp://127.0.0.1:7313/sippS2Xsess;tcp" \
  -key pathfile "$dir/path_s2x" -d 8000
if wait "$ms2x"; then ok "SIP->XMPP: MSRP peer checks"; else bad "SIP->XMPP: MSRP peer checks"; fi
indent <"$dir/msrp-s2x.out"
if wait "$xs2x"; then ok "SIP->XMPP: XMPP client checks"; else bad "SIP->XMPP: XMPP client checks"; fi
indent <"$dir/xmpp-s2x.out"

# 2. XMPP -> SIP (RFC 7573 §4): romeo registers; his SIPp UAS answers stox's INVITE (which
#    Kamailio challenges) with a=setup:passive, so stox connects to msrp_peer.py.
(cd "$dir" && timeout 90 sipp -sf "$STOX_ROOT/scripts/e2e/sipp/chat_uas.xml" -i 127.0.0.1 -p "$uasport" -t u1 -m 1 \
   -key mport "$peerport" -key pathfile "$dir/path_x2s" -nostdin -timeout 80s -timeout_error -trace_err -trace_msg \
   -message_file "$dir/uas.msg" >"$dir/sipp-uas.out" 2>&1) &
uas=$!
check "romeo registers at Kamailio" sipp_run register register.xml "127.0.0.1:$kport" -s romeo -m 1 -key contact_port "$uasport"
"$PY" "$STOX_ROOT/scripts/e2e/msrp_peer.py" x2s "$peerport" "msrp://127.0.0.1:$peerport/sippX2Ssess;tcp" >"$dir/msrp-x2s.out" 2>&1 &
mx2s=$!
sleep 0.3
check "XMPP->SIP: XMPP client checks" client juliet@example.com/balcony chat_x2s:romeo@sip.example.com
if wait "$mx2s"; then ok "XMPP->SIP: MSRP peer checks"; else bad "XMPP->SIP: MSRP peer checks"; fi
indent <"$dir/msrp-x2s.out"
if wait "$uas"; then ok "XMPP->SIP: INVITE answered, ACK and BYE received (SIPp UAS)"; else bad "XMPP->SIP: SIPp UAS (see $dir/sipp-uas.out)"; fi
msg=$(cat "$dir/uas.msg" 2>/dev/null || true)
field() { if grep -qiF -- "$1" <<<"$msg"; then ok "XMPP->SIP INVITE carries $1"; else bad "XMPP->SIP INVITE lacks $1"; fi; }
field "INVITE sip:romeo@"
field "Contact: <sip:juliet@127.0.0.1:$sipport;transport=udp;gr=balcony>"
field "Call-Info: <xmpp:juliet@example.com>;purpose=impp"
field "a=setup:actpass"
field "m=message $msrpport TCP/MSRP *"
grep -q "^Proxy-Authorization: Digest" "$dir/stox.log" && ok "XMPP->SIP: INVITE challenged by Kamailio and retried with digest" || bad "XMPP->SIP: no digest retry"
grep -q "^BYE sip:romeo@" <<<"$msg" && ok "XMPP->SIP: <gone/> became BYE" || bad "XMPP->SIP: no BYE after <gone/>"

echo "chat e2e: $passed passed, $fails failed"
[ "$fails" = 0 ] && failed=0
[ "$failed" = 0 ]
