#!/usr/bin/env bash
# A complete local deployment on loopback, for trying stox by hand:
#   Prosody   c2s 127.0.0.1:${C2S_PORT:-5222}  (juliet@example.com / juliet, romeo@example.com / romeo)
#   Kamailio  127.0.0.1:${SIP_PORT:-5060}      registrar + proxy for sip.example.com; routes
#                                              example.com (XMPP users) to stox
#   stox      SIP 127.0.0.1:5070, MSRP :2855, /metrics and /health on 127.0.0.1:9870
# `scripts/dev.sh --demo` also runs a short conversation between a real SIP client
# (baresip, as romeo@sip.example.com) and a real XMPP client (slixmpp, as Juliet), prints it
# and exits 0. Ctrl-C or SIGTERM stops everything this script started.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/kamailio.sh"
DEMO=""; [ "${1:-}" = "--demo" ] && DEMO=1
t_start=$(date +%s.%N)
need_prosody
need_kamailio
[ -n "$DEMO" ] && need_pkg baresip baresip
C2S_PORT=${C2S_PORT:-5222}; COMPONENT_PORT=${COMPONENT_PORT:-5347}; SIP_PORT=${SIP_PORT:-5060}
STOX_SIP=${STOX_SIP_PORT:-5070}; MSRP_PORT=${MSRP_PORT:-2855}; METRICS=${METRICS_PORT:-9870}
dir=${STOX_DEV_DIR:-$(mktemp -d /tmp/stox-dev.XXXXXX)}
secret=${STOX__XMPP__SECRET:-dev-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')}
stox_pid=""; bs_pid=""
stop_all() {
  trap - EXIT INT TERM
  [ -n "$bs_pid" ] && kill "$bs_pid" 2>/dev/null || true
  [ -n "$stox_pid" ] && kill "$stox_pid" 2>/dev/null && wait "$stox_pid" 2>/dev/null || true
  kamailio_stop "$dir"
  prosody_stop "$dir"
}
trap stop_all EXIT
trap 'log "stopping"; exit 130' INT
trap 'log "stopping"; exit 143' TERM

prosody_config "$dir" "$C2S_PORT" "$COMPONENT_PORT" "$secret"
prosody_register "$dir" juliet juliet
prosody_register "$dir" romeo romeo
prosody_start "$dir"
wait_port "$C2S_PORT" || { log "Prosody did not start; see $dir/prosody.log"; exit 1; }
kamailio_start "$dir" "$SIP_PORT" "127.0.0.1:$STOX_SIP" "$STOX_SIP" -A WITH_PRESENCE \
  || { log "Kamailio did not start; see $dir/kamailio.log"; exit 1; }

sed -e "s/^server = .*/server = \"127.0.0.1:$COMPONENT_PORT\"/" \
  "$STOX_ROOT/component.example.toml" > "$dir/stox.toml"
python3 - "$dir/stox.toml" "$SIP_PORT" "$STOX_SIP" "$MSRP_PORT" "$METRICS" "$dir" <<'PYEOF'
import re, sys
path, sip, stox_sip, msrp, metrics, d = sys.argv[1:]
t = open(path).read()
t = re.sub(r'(?m)^listen = \["udp:[^\]]*\]', f'listen = ["udp:127.0.0.1:{stox_sip}", "tcp:127.0.0.1:{stox_sip}"]', t)
t = re.sub(r'(?m)^#? ?outbound_proxy = .*$', f'outbound_proxy = "sip:127.0.0.1:{sip}"', t, count=1)
t = re.sub(r'(?m)^listen = "127.0.0.1:2855"', f'listen = "127.0.0.1:{msrp}"', t)
t = re.sub(r'(?m)^# path = .*$', f'path = "{d}/stox.sqlite"', t)
t = re.sub(r'(?m)^domain = "example.net"', 'domain = "sip.example.com"', t)
t = re.sub(r'(?m)^listen = "127.0.0.1:9870"', f'listen = "127.0.0.1:{metrics}"', t)
open(path, "w").write(t)
PYEOF
STOX=${STOX_BIN:-$STOX_ROOT/target/debug/stox}
log "building stox"
(cd "$STOX_ROOT" && cargo build -q --bin stox)
STOX__XMPP__SECRET="$secret" "$STOX" --config "$dir/stox.toml" --check >/dev/null
# One line per message with both sides' ids (debug) in $dir/stox.log; RUST_LOG overrides.
RUST_LOG=${RUST_LOG:-stox=debug,info} STOX__XMPP__SECRET="$secret" "$STOX" --config "$dir/stox.toml" >"$dir/stox.log" 2>&1 &
stox_pid=$!
i=0; until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS/health")" = 200 ]; do
  sleep 0.1; i=$((i + 1))
  if [ $i -gt 300 ] || ! kill -0 "$stox_pid" 2>/dev/null; then log "stox did not become healthy; see $dir/stox.log"; tail -5 "$dir/stox.log" >&2; exit 1; fi
done
ready=$(echo "$(date +%s.%N) - $t_start" | bc)
cat <<EOF2

stox is ready ($(printf '%.1f' "$ready") s after scripts/dev.sh started). Everything listens on 127.0.0.1; files in $dir

  XMPP client:   server 127.0.0.1 port $C2S_PORT, no TLS needed;
                 accounts juliet@example.com / juliet and romeo@example.com / romeo
  SIP softphone: any user at sip.example.com (e.g. romeo), no password,
                 proxy/registrar 127.0.0.1:$SIP_PORT (UDP or TCP)
  Try:           from Juliet write to romeo@sip.example.com; from the phone write to
                 sip:juliet@example.com; add romeo@sip.example.com to Juliet's roster for presence
  Watch:         curl 127.0.0.1:$METRICS/metrics ; curl 127.0.0.1:$METRICS/health ; tail -f $dir/stox.log
EOF2

if [ -z "$DEMO" ]; then
  log "Ctrl-C stops Prosody, Kamailio and stox"
  wait "$stox_pid"
  exit $?
fi

# --- the demo: baresip (Romeo, SIP) and slixmpp (Juliet, XMPP) talk through stox ----------
bport=$(free_port); bctrl=$(free_port)
baresip_config "$dir" "$bport" "$bctrl"
echo "<sip:romeo@sip.example.com>;outbound=\"sip:127.0.0.1:$SIP_PORT\";regint=600" > "$dir/bs/accounts"
echo '"Juliet" <sip:juliet@example.com>' > "$dir/bs/contacts"
stdbuf -oL -eL baresip -f "$dir/bs" >"$dir/baresip.log" 2>&1 &
bs_pid=$!
i=0; until grep -q "200 OK" "$dir/baresip.log" 2>/dev/null; do sleep 0.1; i=$((i + 1)); [ $i -gt 100 ] && { log "baresip did not register"; exit 1; }; done
echo
echo "--- demo: Romeo on baresip (SIP) and Juliet on slixmpp (XMPP), through stox ---"
rc=0
"$PY" - "$C2S_PORT" "$bctrl" "$dir/stox.log" <<'PYEOF' || rc=$?
import asyncio, json, socket, sys, time
import slixmpp
port, bctrl, stox_log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def baresip_send(text):
    s = socket.create_connection(("127.0.0.1", bctrl), timeout=5)
    d = json.dumps({"command": "message", "params": text, "token": "demo"}).encode()
    s.sendall(str(len(d)).encode() + b":" + d + b",")
    time.sleep(0.3)

def romeo_got(text):
    # baresip prints messages to its console only; stox's log says it answered 200.
    log = open(stox_log, errors="replace").read()
    return "SIP MESSAGE delivered" in log

class Juliet(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__("juliet@example.com", "juliet")
        self.ok = False
        self.got = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", lambda m: self.got.put_nowait(m))

    async def start(self, _):
        self.send_presence()
        line = "Good morrow, Romeo! (from Juliet's XMPP client)"
        print(f"juliet@example.com  → romeo@sip.example.com : {line}", flush=True)
        self.send_message(mto="romeo@sip.example.com", mbody=line, mtype="chat")
        for _ in range(50):
            await asyncio.sleep(0.2)
            if romeo_got(line):
                break
        print("  baresip (romeo) answered 200: delivered" if romeo_got(line) else "  (no delivery seen)", flush=True)
        reply = "Good morrow, Juliet! (from Romeo's SIP phone)"
        print(f"romeo@sip.example.com → juliet@example.com  : {reply}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, baresip_send, reply)
        try:
            m = await asyncio.wait_for(self.got.get(), 15)
            print(f"  Juliet's client shows from {m['from'].bare}: {m['body']}", flush=True)
            self.ok = romeo_got(line) and m["body"] == reply
        except asyncio.TimeoutError:
            print("  Juliet's client got nothing", flush=True)
        self.disconnect()

async def main():
    j = Juliet()
    j.connect(("127.0.0.1", port))
    await asyncio.wait_for(j.disconnected, 40)
    sys.exit(0 if j.ok else 1)

asyncio.run(main())
PYEOF
if [ "$rc" = 0 ]; then echo "--- demo finished: both messages arrived as written ---"
else echo "--- demo FAILED; logs in $dir ---"; fi
exit $rc
