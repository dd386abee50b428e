#!/usr/bin/env bash
# Real SIP clients end to end (issue 10): Prosody + Kamailio (registrar and proxy) + stox,
# Juliet on slixmpp, Romeo on Linphone (linphone-daemon, Debian's linphone-cli) with CPIM
# off and on, Tybalt on baresip (text/plain only). Checks in scripts/e2e/sip_clients.py plus
# what each client was sent, read from stox's wire log.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/kamailio.sh"
need_prosody
need_kamailio
need_pkg linphone-daemon linphone-cli
need_pkg baresip baresip

STOX=${STOX_BIN:-$STOX_ROOT/target/debug/stox}
[ -x "$STOX" ] || (cd "$STOX_ROOT" && cargo build -q)
dir=$(mktemp -d /tmp/stox-e2e-clients.XXXXXX)
c2s=$(free_port); comp=$(free_port); sipport=$(free_port); kport=$(free_port); msrpport=$(free_port)
lport=$(free_port); bport=$(free_port); bctrl=$(free_port)
pipe="stox-lp-$$"
secret="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
stox_pid=""; lp_pid=""; bs_pid=""; failed=1
cleanup() {
  [ -n "$stox_pid" ] && kill "$stox_pid" 2>/dev/null || true
  [ -n "$lp_pid" ] && kill "$lp_pid" 2>/dev/null || true
  [ -n "$bs_pid" ] && kill "$bs_pid" 2>/dev/null || true
  rm -f "/tmp/$pipe"
  kamailio_stop "$dir"
  prosody_stop "$dir"
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
[[sip.credentials]]
realm = "sip.example.com"
username = "stox"
password = "stox-digest-pw"
[msrp]
listen = "127.0.0.1:$msrpport"
TOML
STOX__XMPP__SECRET="$secret" RUST_LOG=stox=debug,stox::sip::wire=trace,info "$STOX" --config "$dir/stox.toml" >"$dir/stox.log" 2>&1 &
stox_pid=$!
"$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" juliet@example.com pass sip.example.com wait >/dev/null 2>>"$dir/client.err"

# lp_rc CPIM(0|1): $dir/lpN/linphonerc, Romeo's account (proxy_0) through Kamailio.
lp_rc() {
  local cpim=$1 home="$dir/lp$1"
  mkdir -p "$home/.local/share/linphone"
  cat > "$home/linphonerc" <<LPRC
[sip]
default_proxy=0
sip_port=$lport
sip_tcp_port=-1
sip_tls_port=-1
[rtp]
audio_rtp_port=$(free_port)
video_rtp_port=$(free_port)
[sound]
capture_dev_id=
playback_dev_id=
[misc]
file_transfer_server_url=
[proxy_0]
reg_proxy=<sip:127.0.0.1:$kport;transport=udp>
reg_route=<sip:127.0.0.1:$kport;transport=udp;lr>
reg_identity=sip:romeo@sip.example.com
reg_expires=3600
reg_sendregister=1
publish=0
cpim_in_basic_chat_rooms_enabled=$cpim
LPRC
}

# linphone_start CPIM(0|1): linphone-daemon as Romeo.
linphone_start() {
  local cpim=$1 home="$dir/lp$1"
  lp_rc "$cpim"
  rm -f "/tmp/$pipe"
  HOME="$home" linphone-daemon --config "$home/linphonerc" --pipe "$pipe" --log "$dir/linphone$cpim.log" \
    >"$dir/linphone$cpim.out" 2>&1 &
  lp_pid=$!
  for _ in $(seq 1 100); do [ -S "/tmp/$pipe" ] && break; sleep 0.1; done
}
linphone_stop() { [ -n "$lp_pid" ] && kill "$lp_pid" 2>/dev/null; wait "$lp_pid" 2>/dev/null || true; lp_pid=""; }

scenario() { "$PY" "$STOX_ROOT/scripts/e2e/sip_clients.py" "$c2s" "$@" 2>>"$dir/clients.err" | tee -a "$dir/clients.out"; }

log "Linphone, CPIM off"
linphone_start 0
if scenario linphone "$pipe,$kport,0,$dir/lp0" basic; then ok "Linphone (CPIM off): text both ways, one thread, long text, receipt"; else bad "Linphone (CPIM off) scenario"; fi
linphone_stop
# what Linphone with CPIM off must never be sent: CPIM (it never used it) nor typing notices
# (it never sent one)
if grep -a -q "^Content-Type: \(message/cpim\|application/im-iscomposing+xml\)" "$dir/stox.log"; then
  bad "Linphone (CPIM off) was sent CPIM or isComposing"
else ok "Linphone (CPIM off) was sent neither CPIM nor typing notices"; fi

log "Linphone's library with CPIM on (what the Linphone apps use with sip.linphone.org accounts)"
lp_rc 1
if HOME="$dir/lp1" scenario lpcpim "$dir/lp1/linphonerc" cpim; then ok "Linphone (CPIM on): unwrapped, typing, receipts and read markers both ways"; else bad "Linphone (CPIM on) scenario"; fi

log "baresip (text/plain only: refuses everything else with 415)"
baresip_config "$dir" "$bport" "$bctrl" uuid.so
echo "<sip:tybalt@sip.example.com>;outbound=\"sip:127.0.0.1:$kport\";regint=600" > "$dir/bs/accounts"
echo '"Juliet" <sip:juliet@example.com>' > "$dir/bs/contacts"
stdbuf -oL -eL baresip -f "$dir/bs" >"$dir/baresip.log" 2>&1 &
bs_pid=$!
wait_port "$bctrl" 10 || log "baresip's ctrl_tcp did not come up"
sleep 1
if scenario baresip "127.0.0.1:$bctrl,$dir/stox.log" basic; then ok "baresip: text both ways, one thread, long text, receipt"; else bad "baresip scenario"; fi
# what baresip must never be sent: anything but text/plain (it answers 415 to the rest)
# (buffered, not piped into grep -q: under pipefail an early exit of grep -q would SIGPIPE the
# upstream grep and turn a hit into a false pass)
sent_types=$(grep -a -A30 "MESSAGE sip:tybalt" "$dir/stox.log" | grep -a "^Content-Type:" || true)
if [ -n "$sent_types" ] && grep -qv "text/plain" <<<"$sent_types"; then
  bad "baresip was sent something other than text/plain"
else ok "baresip was sent text/plain only"; fi
if grep -a -q "SIP/2.0 415" "$dir/baresip.log" "$dir/stox.log"; then bad "a 415 from baresip"; else ok "baresip refused nothing"; fi

log "PJSIP (the pjsua2-python wheel in a virtualenv)"
venv="${STOX_PJ_VENV:-$STOX_ROOT/target/pjsua2-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pjsua2" 2>/dev/null; then
  need_pkg /usr/lib/python3/dist-packages/venv python3-venv 2>/dev/null || true
  "$PY" -m venv "$venv" && "$venv/bin/pip" install -q pjsua2-python >/dev/null
fi
pport=$(free_port)
if scenario pjsip "$venv/bin/python,$pport,$kport,$dir/pjsip.jsonl" basic; then ok "PJSIP: text both ways, one thread, long text, receipt, typing both ways"; else bad "PJSIP scenario"; fi

echo "e2e clients: $passed passed, $fails failed"
[ "$fails" = 0 ] && failed=0
exit "$fails"
