#!/usr/bin/python3
"""An MSRP endpoint for the chat e2e test, written from RFC 4975 (not from stox's code).

Every frame stox sends is checked against the RFC 4975 §9 grammar (start line, To-Path and
From-Path first, header syntax, transaction ids and Message-IDs as `ident`, Byte-Range,
Status, Content-Type iff a body, end-line with the same transaction id and a flag).

Usage:
  msrp_peer.py s2x PATHFILE OURPATH   connect to the path stox answered with (read from
                                      PATHFILE, written by SIPp), send, expect replies
  msrp_peer.py x2s PORT OURPATH       listen on PORT for stox (a=setup:passive), expect
                                      messages, reply
Prints one line per check; exit status 0 when all passed.
"""
import os
import re
import socket
import sys
import time

IDENT = rb"[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}"
REQ_LINE = re.compile(rb"MSRP (" + IDENT + rb") ([A-Z]+)\r\n")
RESP_LINE = re.compile(rb"MSRP (" + IDENT + rb") ([0-9]{3})(?: ([^\r\n]*))?\r\n")
HEADER = re.compile(rb"([A-Za-z0-9!#$%&'*+\-.^_`|~]+): ([\x20-\x7e\x80-\xff]*)")
MSRP_URI = re.compile(rb"msrps?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)(:[0-9]{1,5})?/[A-Za-z0-9\-._~+=/]+;[A-Za-z0-9]+")
BYTE_RANGE = re.compile(rb"([0-9]+)-([0-9]+|\*)/([0-9]+|\*)")
STATUS = re.compile(rb"[0-9]{3} [0-9]{3}( [\x20-\x7e]*)?")

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class Frame:
    def __init__(self, tid, method, status, headers, body, flag):
        self.tid, self.method, self.status = tid, method, status
        self.headers, self.body, self.flag = headers, body, flag

    def h(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<{self.method or self.status} {self.tid} {self.headers} {self.body[:60]!r}{self.flag}>"


def parse_one(buf):
    """(frame, rest) when buf holds a whole frame, else None. Grammar errors are failures."""
    m = REQ_LINE.match(buf) or RESP_LINE.match(buf)
    if not m:
        if len(buf) > 64 or b"\r\n" in buf:
            raise ValueError(f"bad start line: {buf[:80]!r}")
        return None
    tid = m.group(1)
    is_req = m.re is REQ_LINE
    end_re = re.compile(rb"\r\n-------" + re.escape(tid) + rb"([$+#])\r\n")
    e = end_re.search(buf, m.end() - 2)
    if not e:
        return None
    inner = buf[m.end():e.start() + 2]  # headers (+ blank line + body) up to the CRLF of the end-line
    if b"\r\n\r\n" in inner:
        head, body = inner.split(b"\r\n\r\n", 1)
        body = body[:-2]  # the CRLF before the end-line belongs to the end-line
    else:
        head, body = inner.rstrip(b"\r\n"), b""
    headers = []
    for line in head.split(b"\r\n"):
        hm = HEADER.fullmatch(line)
        if not hm:
            raise ValueError(f"bad header line {line!r}")
        headers.append((hm.group(1).decode(), hm.group(2).decode("utf-8")))
    names = [k for k, _ in headers]
    if names[:2] != ["To-Path", "From-Path"]:
        raise ValueError(f"To-Path and From-Path must come first: {names}")
    for k, v in headers[:2]:
        for uri in v.split(" "):
            if not MSRP_URI.fullmatch(uri.encode()):
                raise ValueError(f"bad MSRP URI in {k}: {uri!r}")
    f = Frame(tid.decode(), m.group(2).decode() if is_req else None,
              None if is_req else int(m.group(2)), headers, body, e.group(1).decode())
    if f.h("Message-ID") is not None and not re.fullmatch(IDENT, f.h("Message-ID").encode()):
        raise ValueError(f"bad Message-ID {f.h('Message-ID')!r}")
    if f.h("Byte-Range") is not None and not BYTE_RANGE.fullmatch(f.h("Byte-Range").encode()):
        raise ValueError(f"bad Byte-Range {f.h('Byte-Range')!r}")
    if f.h("Status") is not None and not STATUS.fullmatch(f.h("Status").encode()):
        raise ValueError(f"bad Status {f.h('Status')!r}")
    if body and f.h("Content-Type") is None:
        raise ValueError("a body without Content-Type")
    if not is_req and body:
        raise ValueError("a response with a body")
    if is_req and f.method == "SEND" and f.h("Message-ID") is None:
        raise ValueError("SEND without Message-ID")
    if is_req and f.method == "REPORT" and (f.h("Status") is None or f.h("Message-ID") is None):
        raise ValueError("REPORT without Status or Message-ID")
    return f, buf[e.end():]


class Conn:
    def __init__(self, sock, ours, theirs):
        self.s, self.buf, self.ours, self.theirs, self.n = sock, b"", ours, theirs, 0
        self.frames = 0
        self.stash = []  # frames read while waiting for a particular response

    def read(self, timeout=15):
        if self.stash:
            return self.stash.pop(0)
        return self.read_wire(timeout)

    def read_wire(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = parse_one(self.buf)
            except ValueError as e:
                check(False, f"RFC 4975 grammar: {e}")
                raise
            if got:
                f, self.buf = got
                self.frames += 1
                if f.h("To-Path") != self.ours:
                    check(False, f"To-Path {f.h('To-Path')!r} is our path {self.ours!r}")
                return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no MSRP frame")
            self.s.settimeout(left)
            data = self.s.recv(65536)
            if not data:
                return None
            self.buf += data

    def tid(self):
        self.n += 1
        return f"peer{os.getpid() % 10000:04d}t{self.n:04d}"

    def send(self, body, ctype="text/plain", mid=None, extra=(), chunk=None):
        mid = mid or f"pm{os.getpid() % 10000}x{self.n + 1}"
        data = body.encode() if isinstance(body, str) else body
        chunk = chunk or max(len(data), 1)
        tids, start = [], 0
        while True:
            end = min(start + chunk, len(data))
            tid = self.tid()
            flag = "$" if end >= len(data) else "+"
            hs = [f"To-Path: {self.theirs}", f"From-Path: {self.ours}", f"Message-ID: {mid}",
                  f"Byte-Range: {start + 1}-{end}/{len(data)}", *extra, f"Content-Type: {ctype}"]
            frame = (f"MSRP {tid} SEND\r\n" + "\r\n".join(hs) + "\r\n\r\n").encode() + data[start:end] \
                + f"\r\n-------{tid}{flag}\r\n".encode()
            self.s.sendall(frame)
            tids.append(tid)
            if end >= len(data):
                return mid, tids
            start = end

    def respond(self, f, code=200, comment="OK"):
        self.s.sendall(f"MSRP {f.tid} {code} {comment}\r\nTo-Path: {self.theirs}\r\nFrom-Path: {self.ours}\r\n"
                       f"-------{f.tid}$\r\n".encode())

    def report(self, f, total):
        tid = self.tid()
        self.s.sendall((f"MSRP {tid} REPORT\r\nTo-Path: {self.theirs}\r\nFrom-Path: {self.ours}\r\n"
                        f"Message-ID: {f.h('Message-ID')}\r\nByte-Range: 1-{total}/{total}\r\nStatus: 000 200 OK\r\n"
                        f"-------{tid}$\r\n").encode())

    def expect_ok(self, tid, what):
        """The response to our request `tid`; requests arriving meanwhile wait in the stash."""
        while True:
            f = self.read_wire()
            if f is None or f.status is not None:
                break
            self.stash.append(f)
        check(f is not None and f.status == 200 and f.tid == tid, f"{what}: 200 for {tid} ({f!r})")

    def wait_closed(self, timeout=25):
        try:
            f = self.read(timeout)
            check(f is None, f"connection closed by stox (got {f!r})")
        except (TimeoutError, socket.timeout):
            check(False, "connection closed by stox")


BIG = "".join(f"{i:05d} " for i in range(834))[:5000]  # 5000 bytes, > 2 chunks of 2048
COMPOSING = ("<?xml version='1.0' encoding='UTF-8'?>\n<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'>"
             "<state>active</state><contenttype>text/plain</contenttype><refresh>60</refresh></isComposing>")


def wait_file(path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return open(path).read().strip()
        time.sleep(0.05)
    raise TimeoutError(f"{path} never written")


def hostport(uri):
    m = re.match(r"msrps?://([^/]+)/", uri)
    host, port = m.group(1).rsplit(":", 1)
    return host.strip("[]"), int(port)


def s2x(pathfile, ours):
    theirs = wait_file(pathfile).split()[0]
    check(MSRP_URI.fullmatch(theirs.encode()) is not None, f"stox's a=path is an MSRP URI: {theirs}")
    c = Conn(socket.create_connection(hostport(theirs), timeout=10), ours, theirs)
    mid1, t = c.send("Hello from SIP \u2764", "text/plain;charset=UTF-8", extra=["Success-Report: yes"])
    c.expect_ok(t[0], "SEND hello")
    _, t = c.send(COMPOSING, "application/im-iscomposing+xml")
    c.expect_ok(t[0], "SEND isComposing")
    _, tids = c.send(BIG, chunk=2048)
    check(len(tids) == 3, "5000-byte message sent in 3 chunks")
    for tid in tids:
        c.expect_ok(tid, "SEND chunk")
    want = {"report": False, "reply": False, "composing": False}
    while not all(want.values()):
        f = c.read(20)
        if f is None:
            check(False, f"connection closed early; still waiting for {want}")
            return
        if f.method == "REPORT":
            check(f.h("Message-ID") == mid1 and f.h("Status").startswith("000 200"), f"REPORT 200 for the receipted message: {f!r}")
            want["report"] = True
        elif f.method == "SEND" and (f.h("Content-Type") or "").startswith("application/im-iscomposing+xml"):
            check(b"<state>active</state>" in f.body, f"isComposing active from XMPP composing: {f.body!r}")
            want["composing"] = True
        elif f.method == "SEND":
            check(f.body.decode() == "Reply from XMPP \u00e9", f"reply from XMPP: {f.body!r}")
            check(f.h("Failure-Report") == "no", "Failure-Report: no (RFC 7573 §7)")
            want["reply"] = True
        if f.method == "SEND" and f.h("Failure-Report") != "no":
            c.respond(f)
    check(True, "REPORT, reply and isComposing received")
    c.wait_closed()
    check(c.frames >= 6, f"{c.frames} frames from stox, all grammatical")


def x2s(port, ours):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(port)))
    ls.listen(1)
    ls.settimeout(40)
    s, _ = ls.accept()
    c = Conn(s, ours, None)
    f = c.read()
    c.theirs = f.h("From-Path")
    check(f.method == "SEND" and f.body.decode() == "Hello from XMPP \u2764", f"first SEND: {f!r}")
    check(f.h("Success-Report") == "yes", "receipt request -> Success-Report: yes")
    if f.h("Failure-Report") != "no":
        c.respond(f)
    c.report(f, len(f.body))
    parts, composing = b"", False
    while True:
        f = c.read()
        if f is None:
            check(False, "connection closed before the big message")
            return
        if f.h("Failure-Report") != "no":
            c.respond(f)
        if (f.h("Content-Type") or "").startswith("application/im-iscomposing+xml"):
            composing = b"<state>active</state>" in f.body
            continue
        parts += f.body
        if f.flag == "$":
            break
    check(composing, "XMPP composing -> isComposing active")
    check(parts.decode() == BIG, f"5000-byte message reassembled ({len(parts)} bytes)")
    _, t = c.send(COMPOSING, "application/im-iscomposing+xml")
    c.expect_ok(t[0], "isComposing to XMPP")
    _, t = c.send("Reply from SIP \u00e9", "text/plain;charset=UTF-8")
    c.expect_ok(t[0], "reply to XMPP")
    c.wait_closed()


def main():
    mode = sys.argv[1]
    try:
        if mode == "s2x":
            s2x(sys.argv[2], sys.argv[3])
        else:
            x2s(sys.argv[2], sys.argv[3])
    except Exception as e:  # any surprise is a failure, with its reason
        check(False, f"exception {e!r}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
