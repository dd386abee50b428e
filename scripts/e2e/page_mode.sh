#!/usr/bin/env bash
# Page-mode IM end to end: real Prosody (component sip.example.com, users of example.com),
# real Kamailio (domain sip.example.com, routing example.com to stox, Record-Route), a real
# XMPP client (slixmpp) and real SIP UAs (SIPp). RFC 7572 fields both ways, error mapping,
# Unicode and languages, digest auth by the proxy, and a burst across a Prosody restart.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/kamailio.sh"
need_prosody
need_kamailio
need_pkg sipp sip-tester

STOX=${STOX_BIN:-$STOX_ROOT/target/debug/stox}
[ -x "$STOX" ] || (cd "$STOX_ROOT" && cargo build -q)
dir=$(mktemp -d /tmp/stox-e2e-page.XXXXXX)
c2s=$(free_port); comp=$(free_port); sipport=$(free_port); kport=$(free_port); uasport=$(free_port)
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
kamailio_start "$dir" "$kport" "127.0.0.1:$sipport" "$sipport"

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
[im]
page_form = "rfc7572"
[limits]
page_max_bytes = 1300
TOML
STOX__XMPP__SECRET="$secret" RUST_LOG=stox=debug,stox::sip::wire=trace,info "$STOX" --config "$dir/stox.toml" >"$dir/stox.log" 2>&1 &
stox_pid=$!
client() { local jid=$1; shift; "$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" "$jid" pass sip.example.com "$@" 2>>"$dir/client.err"; }
client juliet@example.com wait >/dev/null


# romeo registers at Kamailio; a SIPp UAS answers for him.
(cd "$dir" && timeout 90 sipp -sf "$STOX_ROOT/scripts/e2e/sipp/message_uas.xml" -i 127.0.0.1 -p "$uasport" -t u1 -m 2 \
   -nostdin -timeout 80s -trace_msg -message_file "$dir/uas.msg" >"$dir/sipp-uas.out" 2>&1) &
uas=$!
check "romeo registers at Kamailio" sipp_run register register.xml "127.0.0.1:$kport" -s romeo -m 1 -key contact_port "$uasport"

# 1. XMPP -> SIP: every RFC 7572 field arrives.
check "XMPP->SIP full message accepted" client juliet@example.com/e2e-res full:romeo@sip.example.com
sleep 0.5
msg=$(cat "$dir/uas.msg" 2>/dev/null || true)
field() { if grep -qiF -- "$1" <<<"$msg"; then ok "XMPP->SIP carries $1"; else bad "XMPP->SIP lacks $1"; fi; }
field "From: <sip:juliet@example.com;gr=e2e-res>;tag="
field "To: <sip:romeo@sip.example.com>"
field "Call-ID: e2e-thread-1"
field "Subject: Sujet é"
field "Content-Language: fr"
field "Content-Type: text/plain;charset=UTF-8"
field "Call-Info: <xmpp:juliet@example.com>;purpose=impp"
field "Record-Route: <sip:127.0.0.1:$kport;lr"
field "Bonjour ❤ été"

# 2. SIP -> XMPP through Kamailio: the same fields in the stanza.
client juliet@example.com/reader recv:1 >"$dir/received.xml" &
reader=$!
sleep 1.5
check "SIP->XMPP MESSAGE answered 200" sipp_run full message_full.xml "127.0.0.1:$kport" -s juliet -m 1
if wait "$reader"; then ok "SIP->XMPP stanza received"; else bad "SIP->XMPP stanza not received"; fi
got=$(cat "$dir/received.xml")
xfield() { if grep -qF -- "$1" <<<"$got"; then ok "SIP->XMPP carries $1"; else bad "SIP->XMPP lacks $1 in: $got"; fi; }
xfield "from=\"romeo@sip.example.com/urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6\""
xfield "<subject xml:lang=\"de\">Verona ☀</subject>"
xfield "<body xml:lang=\"de\">Gute Nacht, süße Julia ❤ 1"
xfield "<thread>1-"

# 3. Errors.
check "unregistered SIP user -> item-not-found" client juliet@example.com error:nobody@sip.example.com:item-not-found
check "oversize message -> policy-violation" client juliet@example.com error:romeo@sip.example.com:policy-violation:1400
check "spoofed From -> 403" sipp_run spoof message_spoof.xml "127.0.0.1:$kport" -s juliet -m 1
check "malformed SIP -> 400" sipp_run malformed malformed.xml "127.0.0.1:$sipport" -s juliet -m 1
check "MESSAGE to a non-existent XMPP user -> 200, then the bounce is logged" sipp_run nouser message_full.xml "127.0.0.1:$kport" -s nosuchuser -m 1
sleep 0.5
check "bounce logged with its id" grep -q "XMPP server bounced a message" "$dir/stox.log"

# 4. Digest: Kamailio now challenges stox, which answers with its credentials.
kamailio_stop "$dir"
kamailio_start "$dir" "$kport" "127.0.0.1:$sipport" "$sipport" -A WITH_AUTH
check "romeo registers again" sipp_run register2 register.xml "127.0.0.1:$kport" -s romeo -m 1 -key contact_port "$uasport"
check "XMPP->SIP through a digest challenge" client juliet@example.com/e2e-res full:romeo@sip.example.com
wait "$uas" && ok "SIP UAS got both messages" || bad "SIP UAS did not get both messages"
grep -q "Proxy-Authorization" "$dir/stox.log" || true

# 5. A burst of SIP MESSAGEs across a Prosody restart: every one is answered.
sipp_run burst message_burst.xml "127.0.0.1:$kport" -s juliet -m 200 -r 50 -rp 1000 &
burst=$!
sleep 1.2
prosody_stop "$dir"; prosody_start "$dir"
if wait "$burst"; then ok "burst: no MESSAGE left unanswered"; else bad "burst: some MESSAGEs unanswered (see $dir/sipp-burst.out)"; fi
# Final answers per Call-ID (retransmitted answers counted once).
read -r n200 n5xx < <("$PY" - "$dir/burst.msg" <<'PYEOF'
import re, sys
finals = {}
for block in open(sys.argv[1], encoding="utf-8", errors="replace").read().split("message received")[1:]:
    m = re.search(r"^SIP/2.0 (\d{3})", block, re.M)
    c = re.search(r"^Call-ID: *(\S+)", block, re.M)
    if m and c and int(m.group(1)) >= 200:
        finals.setdefault(c.group(1), int(m.group(1)))
print(sum(1 for v in finals.values() if v < 300), sum(1 for v in finals.values() if v >= 300))
PYEOF
)
echo "METRIC burst_sent 200"
echo "METRIC burst_delivered $n200"
echo "METRIC burst_errored $n5xx"
if [ $((n200 + n5xx)) -eq 200 ]; then ok "burst: delivered $n200 + errored $n5xx = sent 200"; else bad "burst: delivered $n200 + errored $n5xx != 200"; fi

echo "page mode e2e: $passed passed, $fails failed"
[ "$fails" = 0 ] && failed=0
[ "$failed" = 0 ]
