#!/usr/bin/python3
"""A minimal SIP presence watcher (RFC 3856/6665) over UDP through the proxy, written from
the RFCs rather than with stox's code: it checks what stox sends against the grammar it
expects, and what a restart must not break (its in-dialog refresh).

Usage: sip_watcher.py PROXY_PORT MY_PORT TARGET_URI SYNC_DIR NOTE
  1. SUBSCRIBE TARGET_URI (Expires 600) through the proxy; answer every NOTIFY with 200;
  2. once a NOTIFY says active with a PIDF containing NOTE, touch SYNC_DIR/watcher_ready;
  3. wait for SYNC_DIR/restarted, then refresh in the dialog (Route from Record-Route) and
     report the status, then wait for the NOTIFY that follows it.
One line per event on stdout; exit 0 when the refresh got a 2xx and a NOTIFY followed.
"""
import os
import random
import re
import socket
import sys
import time

from sip_text import get, parse

PROXY, MY, TARGET, SYNC, NOTE = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", MY))
sock.settimeout(0.5)
call_id = "w%x@127.0.0.1" % random.getrandbits(48)
tag = "%x" % random.getrandbits(32)
cseq = 0
remote_tag = None
route = []
target = TARGET


def say(*a):
    print(*a, flush=True)


def subscribe(in_dialog):
    global cseq
    cseq += 1
    to = "<%s>" % TARGET + (";tag=%s" % remote_tag if in_dialog else "")
    lines = ["SUBSCRIBE %s SIP/2.0" % (target if in_dialog else TARGET),
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%x;rport" % (MY, random.getrandbits(48)),
             "Max-Forwards: 70"]
    if in_dialog:
        lines += ["Route: %s" % r for r in route]
    lines += ["From: <sip:bob@sip.example.com>;tag=%s" % tag, "To: %s" % to,
              "Call-ID: %s" % call_id, "CSeq: %d SUBSCRIBE" % cseq,
              "Contact: <sip:bob@127.0.0.1:%d>" % MY, "Event: presence",
              "Accept: application/pidf+xml", "Expires: 600", "Content-Length: 0", "", ""]
    sock.sendto("\r\n".join(lines).encode(), ("127.0.0.1", PROXY))


def answer(first, hdrs, src):
    resp = ["SIP/2.0 200 OK"]
    for n in ("via", "from", "to", "call-id", "cseq"):
        for v in get(hdrs, n):
            resp.append("%s: %s" % (n.title(), v))
    resp += ["Content-Length: 0", "", ""]
    sock.sendto("\r\n".join(resp).encode(), src)


def wait(cond, secs):
    """Reads messages for up to secs; returns the first event cond accepts."""
    global remote_tag, route, target
    end = time.time() + secs
    while time.time() < end:
        try:
            data, src = sock.recvfrom(65535)
        except socket.timeout:
            continue
        first, hdrs, body = parse(data)
        if first.startswith("SIP/2.0"):
            code = int(first.split()[1])
            if "SUBSCRIBE" in (get(hdrs, "cseq") or [""])[0] and code >= 200:
                if code < 300 and remote_tag is None:
                    m = re.search(r";tag=([^;>\s]+)", get(hdrs, "to")[0])
                    remote_tag = m.group(1) if m else None
                    route = list(reversed(get(hdrs, "record-route")))
                    c = re.search(r"<([^>]+)>", (get(hdrs, "contact") or ["<%s>" % TARGET])[0])
                    target = c.group(1)
                ev = ("response", code, first)
                say("response", first)
                if cond(ev):
                    return ev
            continue
        if first.startswith("NOTIFY"):
            answer(first, hdrs, src)
            state = (get(hdrs, "subscription-state") or [""])[0]
            ctype = (get(hdrs, "content-type") or [""])[0]
            say("notify", state, ctype, body.replace("\r", "").replace("\n", " ")[:600])
            ev = ("notify", state, body)
            if cond(ev):
                return ev
    return None


subscribe(False)
ok = wait(lambda e: e[0] == "notify" and e[1].startswith("active") and NOTE in e[2], 30)
if not ok:
    say("FAIL no active NOTIFY with", NOTE)
    sys.exit(1)
# PIDF grammar checks (RFC 3863): namespace, entity, tuple with status/basic.
body = ok[2]
for want in ("urn:ietf:params:xml:ns:pidf", "entity=", "<tuple id=", "<basic>open</basic>"):
    if want not in body:
        say("FAIL PIDF lacks", want)
        sys.exit(1)
say("ok active PIDF with", NOTE)
open(os.path.join(SYNC, "watcher_ready"), "w").close()
while not os.path.exists(os.path.join(SYNC, "restarted")):
    wait(lambda e: False, 0.5)
time.sleep(1)
subscribe(True)
r = wait(lambda e: e[0] == "response", 15)
if not r or not (200 <= r[1] < 300):
    say("FAIL refresh after restart:", r)
    sys.exit(1)
say("ok refresh after restart", r[1])
n = wait(lambda e: e[0] == "notify" and e[1].startswith("active"), 15)
if not n:
    say("FAIL no NOTIFY after the refresh")
    sys.exit(1)
say("ok NOTIFY after the refresh")
