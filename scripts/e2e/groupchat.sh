#!/usr/bin/env bash
# RFC 7702 groupchat end to end, both directions, through real Prosody (with its real MUC
# component) and real Kamailio (Record-Route, so every in-dialog SUBSCRIBE/NOTIFY/REFER/BYE
# crosses the proxy):
#  B (§6): a SIP/MSRP participant (room_peers.py, written from RFC 3261/4975/7701/4575)
#     enters the XMPP room capulet@muc.example.com where Juliet (slixmpp) is; NICKNAME,
#     conference NOTIFYs, CPIM both ways, a private message each way, REFER → mediated invite
#     to Benvolio (slixmpp), a nick change, BYE.
#  A (§5): Juliet (slixmpp) enters the SIP room sip:montague@chat.example.net, whose focus
#     and MSRP switch is room_peers.py (RFC 7701): a nick conflict (425), the XEP-0045 join
#     order, the CUSAX audio/video link in disco, messages with reflection, a private
#     message, two REFERs (one declined), a nick change, the exit.
# The peers check stox's bytes against the RFC grammars, not against stox's parsers.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/kamailio.sh"
need_prosody
need_kamailio

STOX=${STOX_BIN:-$STOX_ROOT/target/debug/stox}
[ -x "$STOX" ] || (cd "$STOX_ROOT" && cargo build -q)
dir=$(mktemp -d /tmp/stox-e2e-groupchat.XXXXXX)
c2s=$(free_port); comp=$(free_port); sipport=$(free_port); kport=$(free_port); msrpport=$(free_port)
psip=$(free_port); pmsrp=$(free_port); fsip=$(free_port); fmsrp=$(free_port)
secret="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
stox_pid=""; failed=1; bg=()
cleanup() {
  [ -n "$stox_pid" ] && kill "$stox_pid" 2>/dev/null || true
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
  kamailio_stop "$dir"
  prosody_stop "$dir"
  if [ "$failed" = 0 ] && [ -z "${KEEP_E2E:-}" ]; then rm -rf "$dir"; else log "logs kept in $dir"; fi
}
trap cleanup EXIT

prosody_config "$dir" "$c2s" "$comp" "$secret"
cat >>"$dir/prosody.cfg.lua" <<LUA

Component "muc.example.com" "muc"
    muc_room_locking = false
    restrict_room_creation = false
LUA
for u in juliet benvolio; do prosody_register "$dir" "$u" pass; done
prosody_start "$dir"
wait_port "$c2s" || { log "Prosody did not start"; exit 1; }
KAM_FOCUS="127.0.0.1:$fsip" kamailio_start "$dir" "$kport" "127.0.0.1:$sipport" "$sipport" -A WITH_FOCUS

{ stox_xmpp_toml "$comp"; cat <<TOML; } > "$dir/stox.toml"
muc_domains = ["muc.example.com"]
[sip]
domain = "sip.example.com"
listen = ["udp:127.0.0.1:$sipport"]
outbound_proxy = "sip:127.0.0.1:$kport"
t1_ms = 100
[msrp]
listen = "127.0.0.1:$msrpport"
[groupchat]
notify_interval_ms = 100
nickname_wait_ms = 3000
[groupchat.audio_video]
"sip:montague@chat.example.net" = "sip:montague-av@chat.example.net"
TOML
STOX__XMPP__SECRET="$secret" RUST_LOG=stox=debug,stox::sip::wire=trace,stox::msrp::wire=trace,info "$STOX" --config "$dir/stox.toml" >"$dir/stox.log" 2>&1 &
stox_pid=$!
"$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" juliet@example.com pass sip.example.com wait >/dev/null 2>>"$dir/client.err"
indent() { sed 's/^/     /' >&2; }
muc() { "$PY" "$STOX_ROOT/scripts/e2e/muc_client.py" "$c2s" "$@" 2>>"$dir/client.err"; }
peer() { (cd "$STOX_ROOT/scripts/e2e" && "$PY" room_peers.py "$@"); }

# B: a SIP participant in an XMPP room (stox is the focus)
muc juliet@example.com/balcony pass owner "$dir/owner_ready" >"$dir/owner.out" &
owner=$!; bg+=("$owner")
muc benvolio@example.com/home pass invitee >"$dir/invitee.out" &
invitee=$!; bg+=("$invitee")
for _ in $(seq 1 200); do [ -s "$dir/owner_ready" ] && break; sleep 0.05; done
check "B: the SIP participant's checks (room_peers.py participant)" peer participant "$kport" "$psip" "$pmsrp" >"$dir/participant.out" 2>&1
indent <"$dir/participant.out"
if wait "$owner"; then ok "B: Juliet's checks in the XMPP room (slixmpp)"; else bad "B: Juliet's checks in the XMPP room"; fi
indent <"$dir/owner.out"
if wait "$invitee"; then ok "B: Benvolio got the mediated invitation (REFER)"; else bad "B: Benvolio's invitation"; fi
indent <"$dir/invitee.out"

# A: an XMPP user in a SIP room (stox is the participant)
peer focus "$fsip" "$fmsrp" "$dir/focus_ready" >"$dir/focus.out" 2>&1 &
focus=$!; bg+=("$focus")
for _ in $(seq 1 200); do [ -s "$dir/focus_ready" ] && break; sleep 0.05; done
check "A: Juliet's checks in the SIP room (slixmpp)" muc juliet@example.com/garden pass sip_room >"$dir/sip_room.out"
indent <"$dir/sip_room.out"
if wait "$focus"; then ok "A: the focus's checks (room_peers.py focus)"; else bad "A: the focus's checks"; fi
indent <"$dir/focus.out"

# Read the whole page first: `curl | grep -q` under pipefail fails when grep exits before curl
# has written everything (SIGPIPE → curl 23), which made this check flaky.
metrics=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" || true)
if grep -q '^stox_groupchat_sessions ' <<<"$metrics"; then ok "metrics: stox_groupchat_sessions exported"; else bad "metrics: no stox_groupchat_sessions"; fi
if grep -q "panicked" "$dir/stox.log"; then bad "stox panicked"; else ok "no panic in stox's log"; fi

echo "groupchat e2e: $passed passed, $fails failed"
[ "$fails" = 0 ] && failed=0
[ "$failed" = 0 ]
