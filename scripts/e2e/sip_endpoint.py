#!/usr/bin/python3
"""A SIP endpoint for the two-instance test, written from RFC 3261/3428 (not stox's code).

  sip_endpoint.py recv PROXY_PORT MY_PORT USER OUT DELAY_MS SECS
      REGISTER USER@sip.example.com at the proxy, then answer every MESSAGE with 200 after
      DELAY_MS (slow on purpose: messages stay "in flight" at the gateway), appending each
      body to OUT; runs SECS seconds.
  sip_endpoint.py send PROXY_PORT MY_PORT FROM_USER OUT GAP_MS TARGET...
      one MESSAGE per TARGET (sip URI, body "to <target> #n") through the proxy, GAP_MS
      apart; waits for every final response (retransmitting over UDP as RFC 3261 §17.1.2);
      writes one line "code body" per message to OUT.
"""
import random
import socket
import sys
import threading
import time

from sip_text import get, parse


def request(method, uri, my, from_user, to_uri, call_id, cseq, extra="", body=""):
    b = body.encode()
    return (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{my};branch=z9hG4bK{random.getrandbits(48):x};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{from_user}@sip.example.com>;tag={random.getrandbits(32):x}\r\n"
            f"To: <{to_uri}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{from_user}@127.0.0.1:{my}>\r\n{extra}Content-Length: {len(b)}\r\n\r\n").encode() + b


def recv_mode(proxy, my, user, out, delay_ms, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", my))
    s.settimeout(0.2)
    s.sendto(request("REGISTER", "sip:sip.example.com", my, user, f"sip:{user}@sip.example.com",
                     f"reg{random.getrandbits(32):x}", 1, "Expires: 600\r\n"), ("127.0.0.1", proxy))
    seen = set()
    lock = threading.Lock()
    end = time.time() + secs

    def answer(hdrs, src):
        time.sleep(delay_ms / 1000)
        r = ["SIP/2.0 200 OK"]
        for n in ("via", "from", "to", "call-id", "cseq"):
            for v in get(hdrs, n):
                r.append(f"{n.title()}: {v}" + (";tag=rcv" if n == "to" and "tag=" not in v else ""))
        r += ["Content-Length: 0", "", ""]
        with lock:
            s.sendto("\r\n".join(r).encode(), src)

    with open(out, "a") as f:
        while time.time() < end:
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                continue
            first, hdrs, body = parse(data)
            if first.startswith("MESSAGE"):
                cid = (get(hdrs, "call-id") or [""])[0]
                if cid not in seen:
                    seen.add(cid)
                    f.write(body.replace("\r", "").replace("\n", " ") + "\n")
                    f.flush()
                threading.Thread(target=answer, args=(hdrs, src), daemon=True).start()
            elif first.startswith("OPTIONS"):
                threading.Thread(target=answer, args=(hdrs, src), daemon=True).start()


def send_mode(proxy, my, from_user, out, gap_ms, targets):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", my))
    s.settimeout(0.05)
    pending = {}  # call-id -> [bytes, body, next_retx, interval, deadline]
    results = {}
    start = time.time()
    n = 0
    queue = list(targets)
    next_send = start
    while queue or pending:
        now = time.time()
        if queue and now >= next_send:
            t = queue.pop(0)
            n += 1
            body = f"to {t} #{n}"
            cid = f"snd{n}-{random.getrandbits(32):x}"
            msg = request("MESSAGE", t, my, from_user, t, cid, 1, "Content-Type: text/plain\r\n", body)
            s.sendto(msg, ("127.0.0.1", proxy))
            pending[cid] = [msg, body, now + 0.5, 0.5, now + 40]
            next_send = now + gap_ms / 1000
        for cid, p in list(pending.items()):
            if now >= p[4]:
                results[cid] = (0, p[1])
                del pending[cid]
            elif now >= p[2]:
                s.sendto(p[0], ("127.0.0.1", proxy))
                p[3] = min(p[3] * 2, 4)
                p[2] = now + p[3]
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        first, hdrs, _ = parse(data)
        if not first.startswith("SIP/2.0"):
            continue
        code = int(first.split()[1])
        cid = (get(hdrs, "call-id") or [""])[0]
        if code >= 200 and cid in pending:
            results[cid] = (code, pending[cid][1])
            del pending[cid]
        elif code < 200 and cid in pending:
            pending[cid][2] = time.time() + 4  # provisional: stop retransmitting so often
    with open(out, "w") as f:
        for code, body in results.values():
            f.write(f"{code} {body}\n")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "recv":
        recv_mode(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]), float(sys.argv[7]))
    else:
        send_mode(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7:])
