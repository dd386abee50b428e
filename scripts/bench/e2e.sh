#!/usr/bin/env bash
# The smaller, whole-deployment figure of scripts/bench.sh: SIP → XMPP page mode through real
# Prosody (Nagle off) with SIPp as the SIP side and slixmpp receiving, for both gateways:
#   stox:           SIPp → Kamailio proxy (Record-Route) → stox → Prosody → slixmpp
#   stox-no-proxy:  SIPp → stox → Prosody → slixmpp
#   kamailio-xmpp:  SIPp → Kamailio with the (patched) xmpp module → Prosody → slixmpp
# For each offered rate: sent, answered 200, received by the XMPP client, throughput.
# Usage: scripts/bench/e2e.sh OUT.csv [RATE ...]   (KAM_MPATH as set by scripts/bench.sh)
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/kamailio.sh"
need_prosody; need_kamailio; need_pkg sipp sip-tester
out=$1; shift; rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(500 1000 2000 4000)
N_SECS=10
STOX="$STOX_ROOT/target/release/stox"
dir=$(mktemp -d /tmp/stox-bench-e2e.XXXXXX)
c2s=$(free_port); comp=$(free_port); sipport=$(free_port); kport=$(free_port)
secret="bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
gw=""
cleanup() { [ -n "$gw" ] && kill "$gw" 2>/dev/null || true; kamailio_stop "$dir"; prosody_stop "$dir"; }
trap cleanup EXIT
prosody_config "$dir" "$c2s" "$comp" "$secret"
prosody_register "$dir" juliet pass
prosody_start "$dir"
wait_port "$c2s" || { log "Prosody did not start"; exit 1; }
echo "gateway,offered_rate,sent,answered_200,received_xmpp,throughput" > "$out"

measure() { # gateway-name sip-target rate
  local name=$1 target=$2 rate=$3
  local n=$((rate * N_SECS))
  "$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" juliet@example.com/bench pass sip.example.com "count:$n:$((N_SECS + 15))" \
    >"$dir/count.out" 2>>"$dir/client.err" &
  local cl=$!
  for _ in $(seq 1 100); do grep -q ready "$dir/count.out" 2>/dev/null && break; sleep 0.1; done
  (cd "$dir" && timeout $((N_SECS + 60)) sipp "$target" -sf "$STOX_ROOT/scripts/e2e/sipp/message_burst.xml" -i 127.0.0.1 \
     -p "$(free_port)" -s juliet -m "$n" -r "$rate" -rp 1000 -l 5000 -nostdin -timeout $((N_SECS + 40))s \
     -trace_stat -stf "$dir/stat-$name-$rate.csv" >"$dir/sipp.out" 2>&1) || true
  wait "$cl" || true
  local ok200 got first last
  ok200=$(grep -oE "Successful call +\| +[0-9]+ +\| +[0-9]+" "$dir/sipp.out" | awk '{print $NF}' | tail -1)
  read -r _ got first last < <(grep received "$dir/count.out" || echo "received 0 0 0")
  local tput; tput=$(awk -v g="$got" -v f="$first" -v l="$last" 'BEGIN { d = l - f; printf "%.0f", (d > 0 ? g / d : 0) }')
  echo "$name,$rate,$n,${ok200:-0},$got,$tput" | tee -a "$out"
}

# stox behind the Kamailio proxy, with the shared memory the issue's trap note asks for (at the
# tests' -m 128 the proxy capped this path at ~1,100 msg/s) and no per-request log line
KAM_DEBUG=1 KAM_SHM=512 kamailio_start "$dir" "$kport" "127.0.0.1:$sipport" "$sipport"
{ stox_xmpp_toml "$comp"; cat <<TOML; } > "$dir/stox.toml"
[sip]
domain = "sip.example.com"
listen = ["udp:127.0.0.1:$sipport"]
outbound_proxy = "sip:127.0.0.1:$kport"
[msrp]
listen = "127.0.0.1:0"
[limits]
xmpp_queue = 100000
[log]
level = "warn"
TOML
STOX__XMPP__SECRET="$secret" "$STOX" --config "$dir/stox.toml" >"$dir/stox.log" 2>&1 &
gw=$!
"$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" juliet@example.com pass sip.example.com wait >/dev/null 2>&1
for r in "${rates[@]}"; do measure stox "127.0.0.1:$kport" "$r"; done
# the same without the proxy hop, like the Kamailio module below (which is its own proxy)
for r in "${rates[@]}"; do measure stox-no-proxy "127.0.0.1:$sipport" "$r"; done
kill "$gw"; wait "$gw" 2>/dev/null || true; gw=""
kamailio_stop "$dir"

# Kamailio's xmpp module as Prosody's component
sed -e "s|@SIPPORT@|$sipport|g" -e "s|@XMPPPORT@|$comp|g" -e "s|@PEERSIP@|127.0.0.1:9|g" \
    -e "s|@SECRET@|$secret|g" -e "s|@MPATH@|$KAM_MPATH|g" \
    "$STOX_ROOT/scripts/bench/kamailio-xmpp.cfg" > "$dir/kx.cfg"
kamailio -f "$dir/kx.cfg" -P "$dir/kx.pid" -w "$dir" -m 512 -M 32 -DD -E >"$dir/kx.log" 2>&1 &
gw=$!
sleep 3   # the module answers no disco, so there is nothing to poll; it connects at once
for r in "${rates[@]}"; do measure kamailio-xmpp "127.0.0.1:$sipport" "$r"; done
