#!/usr/bin/env bash
# SIP interop with a real SIP implementation (SIPp) over UDP and TCP, with Prosody behind
# stox: OPTIONS, an unknown method, a malformed request, MESSAGE to XMPP (also with 10 %
# packet loss, proving retransmissions), an audio INVITE refused with 488 and its ACK, a chat
# INVITE/ACK/re-INVITE/BYE dialog (also lossy), CANCEL → 487 for a pending INVITE, CANCEL
# and BYE for unknown transactions/dialogs (481), and stox as UAC against a lossy SIPp UAS.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need_prosody
need_pkg sipp sip-tester

STOX=${STOX_BIN:-$STOX_ROOT/target/debug/stox}
[ -x "$STOX" ] || (cd "$STOX_ROOT" && cargo build -q)
dir=$(mktemp -d /tmp/stox-e2e-sip.XXXXXX)
c2s=$(free_port); comp=$(free_port); sipport=$(free_port); uasport=$(free_port); tlsport=$(free_port)
secret="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
stox_pid=""; failed=1
cleanup() {
  [ -n "$stox_pid" ] && kill "$stox_pid" 2>/dev/null || true
  prosody_stop "$dir"
  if [ "$failed" = 0 ] && [ -z "${KEEP_E2E:-}" ]; then rm -rf "$dir"; else log "logs kept in $dir"; fi
}
trap cleanup EXIT

prosody_config "$dir" "$c2s" "$comp" "$secret"
prosody_register "$dir" juliet pass
prosody_start "$dir"
wait_port "$c2s" || { log "Prosody did not start"; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
cat > "$dir/stox.toml" <<TOML
[store]
path = "$dir/stox.sqlite"
[metrics]
listen = ""
[xmpp]
component = "sip.example.com"
server = "127.0.0.1:$comp"
domains = ["example.com"]
[sip]
domain = "example.net"
listen = ["udp:127.0.0.1:$sipport", "tcp:127.0.0.1:$sipport", "tls:127.0.0.1:$tlsport"]
tls_cert = "$dir/cert.pem"
tls_key = "$dir/key.pem"
outbound_proxy = "sip:127.0.0.1:$uasport"
t1_ms = 100
TOML
STOX__XMPP__SECRET="$secret" RUST_LOG=stox=debug,info "$STOX" --config "$dir/stox.toml" >"$dir/stox.log" 2>&1 &
stox_pid=$!
client() { "$PY" "$STOX_ROOT/scripts/e2e/xmpp_client.py" "$c2s" juliet@example.com pass sip.example.com "$@" 2>>"$dir/client.err"; }
client wait >/dev/null

passed=0; fails=0
run_sipp() { # name, transport flag, scenario, extra args...
  local name=$1 t=$2 sf=$3; shift 3
  if (cd "$dir" && timeout 60 sipp 127.0.0.1:"$sipport" -sf "$STOX_ROOT/scripts/e2e/sipp/$sf" -i 127.0.0.1 -p "$(free_port)" \
        -t "$t" -s juliet -m "${COUNT:-1}" -nostdin -timeout 50s -timeout_error -trace_err "$@" >"$dir/sipp-$name.out" 2>&1); then
    log "ok   $name"; passed=$((passed + 1))
  else
    log "FAIL $name (see $dir/sipp-$name.out and *_errors.log)"; fails=$((fails + 1))
  fi
}
for t in u1 t1; do
  run_sipp "options-$t" "$t" options.xml
  run_sipp "unknown-method-$t" "$t" unknown_method.xml
  run_sipp "malformed-$t" "$t" malformed.xml
  COUNT=10 run_sipp "message-to-xmpp-$t" "$t" message_uac.xml
  run_sipp "invite-488-ack-$t" "$t" invite_488.xml
  COUNT=3 run_sipp "invite-ack-reinvite-bye-$t" "$t" invite_bye.xml
  run_sipp "cancel-unknown-$t" "$t" cancel_unknown.xml
  run_sipp "bye-unknown-$t" "$t" bye_unknown.xml
done
COUNT=20 run_sipp "message-to-xmpp-udp-lossy" u1 message_uac.xml -lost 10
COUNT=5 run_sipp "invite-ack-reinvite-bye-udp-lossy" u1 invite_bye.xml -lost 10

# SIP over TLS: Python's ssl module (OpenSSL) verifies stox's certificate and sends OPTIONS.
if "$PY" - "$tlsport" "$dir/cert.pem" <<'PYEOF'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
    lp = s.getsockname()[1]
    s.sendall((f"OPTIONS sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:{lp};branch=z9hG4bKtls1\r\n"
               "From: <sip:romeo@example.net>;tag=t\r\nTo: <sip:juliet@example.com>\r\nCall-ID: tls-1\r\n"
               "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    assert data.startswith(b"SIP/2.0 200 OK\r\n"), data
    s.sendall(b"\r\n\r\n")  # RFC 5626 keepalive ping: answered with a CRLF pong
    pong = b""
    while len(pong) < 2:
        chunk = s.recv(2 - len(pong))
        assert chunk, pong
        pong += chunk
    assert pong == b"\r\n", pong
    print(data.decode().splitlines()[0])
PYEOF
then log "ok   options-tls (verified certificate)"; passed=$((passed + 1))
else log "FAIL options-tls"; fails=$((fails + 1)); fi

# stox as UAC: the XMPP user writes to a SIP user; a lossy SIPp UAS answers.
(cd "$dir" && timeout 60 sipp -sf "$STOX_ROOT/scripts/e2e/sipp/message_uas.xml" -i 127.0.0.1 -p "$uasport" -t u1 -m 5 \
   -nostdin -lost 10 -timeout 50s -trace_logs -trace_err >"$dir/sipp-uas.out" 2>&1) &
uas=$!
sleep 0.5
if client "send:5:romeo@sip.example.com" && wait "$uas"; then
  log "ok   message-from-xmpp-udp-lossy"; passed=$((passed + 1))
  grep -h "sip:romeo@example.net" "$dir"/*_logs.log | head -1 >&2 || true
else
  log "FAIL message-from-xmpp-udp-lossy (see $dir/sipp-uas.out)"; fails=$((fails + 1))
fi

# CANCEL for a pending INVITE: with the XMPP server gone, stox holds chat INVITEs (RFC 3261
# §9.2: CANCEL → 200, INVITE → 487).
prosody_stop "$dir"
sleep 0.5
for t in u1 t1; do
  run_sipp "cancel-pending-invite-487-$t" "$t" cancel_487.xml
done

echo "sip interop: $passed passed, $fails failed"
[ "$fails" = 0 ] && failed=0
[ "$failed" = 0 ]
