#!/usr/bin/python3
"""SIP/MSRP chat-room peers for the groupchat e2e test (RFC 7702), written from RFC 3261,
RFC 4975, RFC 7701, RFC 4575, RFC 3862 and RFC 3515 — not from stox's code. Every MSRP frame
stox writes goes through msrp_peer.py's RFC 4975 grammar check; every CPIM body through the
RFC 3862 grammar below; every conference-info document through the RFC 4575 rules below.

Usage:
  room_peers.py participant PROXY_PORT MY_PORT MSRP_PORT   (§6: a SIP user in the XMPP room
      capulet@muc.example.com through stox, which must act as the focus)
  room_peers.py focus MY_PORT MSRP_PORT [READY_FILE]        (§5: the focus and MSRP switch of
      sip:montague@chat.example.net, with one simulated participant "Romeo")
One line per check on stdout; exit 0 when all passed.
"""
import random
import re
import select
import socket
import sys
import time
import xml.etree.ElementTree as ET

from msrp_peer import MSRP_URI, check, failures, parse_one
from sip_text import get, parse

CI = "urn:ietf:params:xml:ns:conference-info"
CPIM_HEADER = re.compile(r"([A-Za-z0-9!#$%&'*+\-.^_`|~]+): ([^\r\n]*)")
CPIM_ADDR = re.compile(r'(?:"[^"]*" )?<((?:sip|im|pres|xmpp):[^<> ]+)>')
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


def say(*a):
    print(*a, flush=True)


def cpim(body, what):
    """RFC 3862 §3: headers, CRLF CRLF, MIME headers (Content-Type), CRLF CRLF, content."""
    text = body.decode("utf-8")
    parts = text.split("\r\n\r\n", 2)
    check(len(parts) == 3, f"{what}: CPIM has message headers, MIME headers and content")
    if len(parts) != 3:
        return {}, ""
    head, mime, content = parts
    hs = {}
    for line in head.split("\r\n"):
        m = CPIM_HEADER.fullmatch(line)
        check(m is not None, f"{what}: CPIM header line {line!r}")
        if m:
            hs[m.group(1)] = m.group(2)
    for n in ("From", "To"):
        check(n in hs and CPIM_ADDR.fullmatch(hs[n]) is not None, f"{what}: CPIM {n} is [name] <URI>: {hs.get(n)!r}")
    if "DateTime" in hs:
        check(RFC3339.fullmatch(hs["DateTime"]) is not None, f"{what}: DateTime is RFC 3339: {hs['DateTime']}")
    mh = [CPIM_HEADER.fullmatch(l) for l in mime.split("\r\n")]
    check(all(mh) and any(m.group(1).lower() == "content-type" for m in mh), f"{what}: MIME headers with Content-Type: {mime!r}")
    addr = {n: CPIM_ADDR.fullmatch(hs.get(n, "")).group(1) if CPIM_ADDR.fullmatch(hs.get(n, "")) else None for n in ("From", "To")}
    hs["_from"], hs["_to"] = addr["From"], addr["To"]
    return hs, content


class Peer:
    """One UDP SIP socket and MSRP connections, pumped together."""

    def __init__(self, my_port, proxy_port, msrp_port):
        self.my, self.proxy = my_port, proxy_port
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", my_port))
        self.lst = socket.socket()
        self.lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lst.bind(("127.0.0.1", msrp_port))
        self.lst.listen(8)
        self.conns = {}  # socket -> buffer
        self.responses = []  # (first, hdrs, body)
        self.msrp_in = []  # (sock, frame)
        self.n = 0

    def send_sip(self, lines, body="", ctype=None, to=None):
        b = body.encode() if isinstance(body, str) else body
        if ctype:
            lines = lines + [f"Content-Type: {ctype}"]
        msg = "\r\n".join(lines + [f"Content-Length: {len(b)}", "", ""]).encode() + b
        self.sip.sendto(msg, to or ("127.0.0.1", self.proxy))

    def respond(self, hdrs, src, code, reason, extra=(), body="", ctype=None, to_tag=None):
        lines = [f"SIP/2.0 {code} {reason}"]
        for v in get(hdrs, "via"):
            lines.append(f"Via: {v}")
        for v in get(hdrs, "record-route"):
            lines.append(f"Record-Route: {v}")
        lines.append(f"From: {get(hdrs, 'from')[0]}")
        to = get(hdrs, "to")[0]
        if to_tag and "tag=" not in to:
            to += f";tag={to_tag}"
        lines += [f"To: {to}", f"Call-ID: {get(hdrs, 'call-id')[0]}", f"CSeq: {get(hdrs, 'cseq')[0]}", *extra]
        self.send_sip(lines, body, ctype, to=src)

    def pump(self, timeout=0.2):
        socks = [self.sip, self.lst, *self.conns]
        r, _, _ = select.select(socks, [], [], timeout)
        for s in r:
            if s is self.sip:
                data, src = self.sip.recvfrom(65535)
                first, hdrs, body = parse(data)
                if first.startswith("SIP/2.0"):
                    self.responses.append((first, hdrs, body))
                else:
                    self.on_request(first, hdrs, body, src)
            elif s is self.lst:
                c, _ = self.lst.accept()
                self.conns[c] = b""
            else:
                data = s.recv(65536)
                if not data:
                    del self.conns[s]
                    continue
                self.conns[s] += data
                while True:
                    try:
                        got = parse_one(self.conns[s])
                    except ValueError as e:
                        check(False, f"RFC 4975 grammar: {e}")
                        self.conns[s] = b""
                        break
                    if not got:
                        break
                    f, self.conns[s] = got
                    if f.method:
                        self.on_msrp(s, f)
                    else:
                        self.msrp_in.append((s, f))

    def until(self, pred, what, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            self.pump()
        check(False, f"{what} (timed out)")
        return None

    def response(self, cseq_method, call_id):
        def find():
            for i, (first, hdrs, body) in enumerate(self.responses):
                code = int(first.split()[1])
                if code >= 200 and get(hdrs, "cseq")[0].endswith(cseq_method) and get(hdrs, "call-id")[0] == call_id:
                    return self.responses.pop(i)
            return None
        return self.until(find, f"final response to {cseq_method}")

    def msrp_response(self, tid):
        def find():
            for i, (s, f) in enumerate(self.msrp_in):
                if f.tid == tid:
                    return self.msrp_in.pop(i)[1]
            return None
        return self.until(find, f"MSRP response to {tid}")

    def tid(self):
        self.n += 1
        return f"rp{random.getrandbits(24):06x}{self.n:03d}"

    def msrp_send(self, s, to, frm, body, ctype="message/cpim"):
        tid, b = self.tid(), body.encode()
        hs = [f"To-Path: {to}", f"From-Path: {frm}", f"Message-ID: m{tid}", f"Byte-Range: 1-{len(b)}/{len(b)}"]
        if b:
            hs.append(f"Content-Type: {ctype}")
            frame = f"MSRP {tid} SEND\r\n" + "\r\n".join(hs) + "\r\n\r\n" + body + f"\r\n-------{tid}$\r\n"
        else:
            frame = f"MSRP {tid} SEND\r\n" + "\r\n".join(hs) + f"\r\n-------{tid}$\r\n"
        s.sendall(frame.encode())
        return tid

    def msrp_respond(self, s, f, code=200, comment="OK"):
        s.sendall(f"MSRP {f.tid} {code} {comment}\r\nTo-Path: {f.h('From-Path')}\r\nFrom-Path: {f.h('To-Path').split()[0]}\r\n-------{f.tid}$\r\n".encode())


def conference(body, what, entity):
    """RFC 4575 §5: the root, its entity/state/version; users with entity, display-text,
    roles and endpoints. Returns (state, version, {nick: user element}, subject, purposes)."""
    root = ET.fromstring(body)
    check(root.tag == f"{{{CI}}}conference-info", f"{what}: root is conference-info in {CI}")
    check(root.get("entity") == entity, f"{what}: entity {root.get('entity')}")
    state, version = root.get("state", "full"), int(root.get("version", "-1"))
    check(state in ("full", "partial", "deleted"), f"{what}: state {state}")
    users = {}
    for u in root.iter(f"{{{CI}}}user"):
        ent = u.get("entity", "")
        m = re.fullmatch(re.escape(entity) + r";gr=([^;]+)", ent)
        check(m is not None, f"{what}: user entity is room;gr=nick: {ent}")
        if m:
            users[m.group(1)] = u
        if u.get("state") != "deleted":
            dt = u.find(f"{{{CI}}}display-text")
            check(dt is not None and m is not None and dt.text == m.group(1).replace("%20", " "), f"{what}: display-text of {ent}")
            roles = [e.text for e in u.iterfind(f"{{{CI}}}roles/{{{CI}}}entry")]
            check(roles == ["participant"], f"{what}: roles of {ent}: {roles}")
            st = u.find(f"{{{CI}}}endpoint/{{{CI}}}status")
            check(st is not None and st.text == "connected", f"{what}: endpoint status of {ent}")
    subj = root.find(f"{{{CI}}}conference-description/{{{CI}}}subject")
    purposes = [(e.findtext(f"{{{CI}}}uri"), e.findtext(f"{{{CI}}}purpose"))
                for e in root.iterfind(f"{{{CI}}}conference-description/{{{CI}}}service-uris/{{{CI}}}entry")]
    return state, version, users, (subj.text if subj is not None else None), purposes


# ---------------------------------------------------------------------------------------
# §6: a SIP user in an XMPP room (stox is the focus)

class Participant(Peer):
    ROOM = "sip:capulet@muc.example.com"

    def __init__(self, proxy, my, msrp_port):
        super().__init__(my, proxy, msrp_port)
        self.call_id = f"room{random.getrandbits(40):x}@127.0.0.1"
        self.tag = f"{random.getrandbits(32):x}"
        self.cseq = 1
        self.ours = f"msrp://127.0.0.1:{msrp_port}/romeo{random.getrandbits(32):x};tcp"
        self.notifies = []  # (subscription-state, event, body)
        self.sends = []  # (cpim headers, content)

    def dialog_lines(self, method):
        self.cseq += 1
        lines = [f"{method} {self.target} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.my};branch=z9hG4bK{random.getrandbits(48):x};rport",
                 "Max-Forwards: 70", *[f"Route: {r}" for r in self.route],
                 f'From: "Romeo" <sip:romeo@sip.example.com>;tag={self.tag}',
                 f"To: <{self.ROOM}>;tag={self.rtag}", f"Call-ID: {self.call_id}",
                 f"CSeq: {self.cseq} {method}", f"Contact: <sip:romeo@127.0.0.1:{self.my}>"]
        return lines

    def on_request(self, first, hdrs, body, src):
        method = first.split()[0]
        if method == "NOTIFY":
            self.respond(hdrs, src, 200, "OK")
            self.notifies.append((get(hdrs, "subscription-state")[0], get(hdrs, "event")[0], body))
        else:
            self.respond(hdrs, src, 405, "Method Not Allowed")

    def on_msrp(self, s, f):
        if f.method == "SEND":
            self.msrp_respond(s, f)
            if f.body:
                check(f.h("Content-Type").startswith("message/cpim"), f"room SEND is message/cpim: {f.h('Content-Type')}")
                self.sends.append(cpim(f.body, "room SEND"))
        else:
            self.msrp_respond(s, f, 501, "Unknown method")

    def run(self):
        sdp = ("v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=message {self.lst.getsockname()[1]} TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
               "a=accept-wrapped-types:text/plain\r\n"
               f"a=path:{self.ours}\r\na=chatroom:nickname private-messages\r\n")
        self.send_sip([f"INVITE {self.ROOM} SIP/2.0",
                       f"Via: SIP/2.0/UDP 127.0.0.1:{self.my};branch=z9hG4bK{random.getrandbits(48):x};rport",
                       "Max-Forwards: 70", f'From: "Romeo" <sip:romeo@sip.example.com>;tag={self.tag}',
                       f"To: <{self.ROOM}>", f"Call-ID: {self.call_id}", "CSeq: 1 INVITE",
                       f"Contact: <sip:romeo@127.0.0.1:{self.my}>"], sdp, "application/sdp")
        first, hdrs, body = self.response("INVITE", self.call_id)
        check(first.startswith("SIP/2.0 200"), f"INVITE to the XMPP room: {first}")
        contact = get(hdrs, "contact")[0]
        check(contact.endswith(";isfocus"), f"the 200's Contact has isfocus (RFC 4579): {contact}")
        check("a=accept-types:message/cpim" in body, "answer accept-types has message/cpim")
        m = re.search(r"a=chatroom:([^\r\n]*)", body)
        check(m is not None and {"nickname", "private-messages"} <= set(m.group(1).split()), "answer a=chatroom: nickname private-messages")
        theirs = re.search(r"a=path:([^\r\n]*)", body).group(1)
        check(MSRP_URI.fullmatch(theirs.encode()) is not None, f"stox's a=path is an MSRP URI with a port: {theirs}")
        self.target = re.search(r"<([^>]+)>", contact).group(1)
        self.route = list(reversed(get(hdrs, "record-route")))
        self.rtag = re.search(r"tag=([^;>\s]+)", get(hdrs, "to")[0]).group(1)
        ack = self.dialog_lines("ACK")
        ack[-2] = "CSeq: 1 ACK"
        self.cseq -= 1
        self.send_sip(ack)
        host, port = re.match(r"msrp://([^:/]+):(\d+)/", theirs).groups()
        s = socket.create_connection((host, int(port)))
        self.conns[s] = b""
        t = self.msrp_send(s, theirs, self.ours, "")
        f = self.msrp_response(t)
        check(f is not None and f.status == 200, "bodiless SEND binds the connection (RFC 4975 §5.4)")
        # conference subscription in the INVITE dialog
        self.send_sip(self.dialog_lines("SUBSCRIBE") + ["Event: conference", "Expires: 600",
                                                       "Accept: application/conference-info+xml"])
        first, hdrs, _ = self.response("SUBSCRIBE", self.call_id)
        check(first.startswith("SIP/2.0 200"), f"SUBSCRIBE conference: {first}")
        self.until(lambda: self.notifies, "first conference NOTIFY at once (RFC 6665 §4.2.1.2)")
        # NICKNAME (RFC 7701)
        tid = self.tid()
        s.sendall(f"MSRP {tid} NICKNAME\r\nTo-Path: {theirs}\r\nFrom-Path: {self.ours}\r\nUse-Nickname: \"Romeo\"\r\n-------{tid}$\r\n".encode())
        f = self.msrp_response(tid)
        check(f is not None and f.status == 200, f"NICKNAME Romeo accepted once the MUC said so: {f}")
        versions = []

        def roster_with(nicks):
            for st, ev, b in self.notifies:
                state, v, users, subj, purposes = conference(b, "NOTIFY", self.ROOM)
                if v not in versions:
                    versions.append(v)
                if state == "full" and set(nicks) <= set(users):
                    return users, purposes
            return None
        got = self.until(lambda: roster_with(["Romeo", "Juliet"]), "full NOTIFY with Romeo and Juliet")
        if got:
            check(("xmpp:capulet@muc.example.com?join", "grouptextchat") in got[1], f"service-uris grouptextchat (RFC 7081): {got[1]}")
        # live: Juliet greets once she saw Romeo join
        hello = self.until(lambda: next((x for x in self.sends if x[1] == "hello from juliet"), None), "Juliet's groupchat as CPIM SEND")
        if hello:
            check(hello[0]["_from"] == f"{self.ROOM};gr=Juliet" and hello[0]["_to"] == self.ROOM, f"CPIM From/To of a room message: {hello[0]}")
        t = self.msrp_send(s, theirs, self.ours, f"From: \"Romeo\" <sip:romeo@sip.example.com>\r\nTo: <{self.ROOM}>\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\nRomeo is here! \u2764")
        f = self.msrp_response(t)
        check(f is not None and f.status == 200, "public SEND accepted")
        t = self.msrp_send(s, theirs, self.ours, f"From: <sip:romeo@sip.example.com>\r\nTo: <{self.ROOM};gr=Juliet>\r\n\r\nContent-Type: text/plain\r\n\r\npsst")
        f = self.msrp_response(t)
        check(f is not None and f.status == 200, "private SEND accepted")
        back = self.until(lambda: next((x for x in self.sends if x[1] == "psst back"), None), "Juliet's private reply as CPIM SEND")
        if back:
            check(back[0]["_from"] == f"{self.ROOM};gr=Juliet" and back[0]["_to"] == "sip:romeo@sip.example.com", f"private CPIM To is us: {back[0]}")
        # REFER → 202 + NOTIFY 100 Trying, terminated
        n_before = len(self.notifies)
        self.send_sip(self.dialog_lines("REFER") + ["Refer-To: <sip:benvolio@example.com>", "Accept: message/sipfrag"])
        first, _, _ = self.response("REFER", self.call_id)
        check(first.startswith("SIP/2.0 202"), f"REFER: {first}")
        rn = self.until(lambda: next((n for n in self.notifies[n_before:] if n[1].startswith("refer")), None), "refer NOTIFY")
        if rn:
            check(rn[0].startswith("terminated;reason=noresource") and rn[2].startswith("SIP/2.0 100 Trying"), f"refer NOTIFY (RFC 7702 §6.4): {rn[0]} {rn[2]!r}")
        # nick change
        tid = self.tid()
        s.sendall(f"MSRP {tid} NICKNAME\r\nTo-Path: {theirs}\r\nFrom-Path: {self.ours}\r\nUse-Nickname: \"montecchi\"\r\n-------{tid}$\r\n".encode())
        f = self.msrp_response(tid)
        check(f is not None and f.status == 200, f"NICKNAME montecchi (a nick change): {f}")

        def renamed():
            for st, ev, b in self.notifies:
                if ev.startswith("conference"):
                    state, v, users, _, _ = conference(b, "NOTIFY", self.ROOM)
                    if state == "partial" and "montecchi" in users and users["montecchi"].get("state") != "deleted":
                        return True
            return False
        self.until(renamed, "partial NOTIFY with montecchi")
        conf_versions = [conference(b, "v", self.ROOM)[1] for st, ev, b in self.notifies if ev.startswith("conference")]
        check(conf_versions == list(range(1, len(conf_versions) + 1)), f"versions +1 per NOTIFY (RFC 4575 §4.4): {conf_versions}")
        check(not any(x[1].startswith("Romeo is here") for x in self.sends), "our own message is not echoed back (RFC 7702 §6.2)")
        self.send_sip(self.dialog_lines("BYE"))
        first, _, _ = self.response("BYE", self.call_id)
        check(first.startswith("SIP/2.0 200"), f"BYE: {first}")


# ---------------------------------------------------------------------------------------
# §5: an XMPP user in a SIP room (stox is the participant)

class Focus(Peer):
    ROOM = "sip:montague@chat.example.net"

    def __init__(self, my, msrp_port):
        super().__init__(my, 0, msrp_port)
        self.calls = {}  # call-id -> dict
        self.by_session = {}  # our MSRP session id -> call-id
        self.done = 0
        self.events = []

    def switch_path(self, cid):
        return self.calls[cid]["path"]

    def in_dialog(self, cid, method, extra, body="", ctype=None):
        c = self.calls[cid]
        c["cseq"] += 1
        lines = [f"{method} {c['target']} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.my};branch=z9hG4bK{random.getrandbits(48):x};rport",
                 "Max-Forwards: 70", *[f"Route: {r}" for r in c["route"]],
                 f"From: <{self.ROOM}>;tag={c['tag']}", f"To: {c['remote']}", f"Call-ID: {cid}",
                 f"CSeq: {c['cseq']} {method}", f"Contact: <sip:montague@127.0.0.1:{self.my}>;isfocus", *extra]
        self.send_sip(lines, body, ctype, to=c["via"])

    def roster(self, cid, state, users, version_bump=True):
        c = self.calls[cid]
        c["version"] += 1
        us = "".join(f'<user entity="{self.ROOM};gr={n}" state="{st}"><display-text>{n}</display-text>'
                     f'<roles><entry>participant</entry></roles><endpoint entity="{self.ROOM};gr={n}">'
                     f'<status>connected</status></endpoint></user>' if st != "deleted" else
                     f'<user entity="{self.ROOM};gr={n}" state="deleted"/>' for n, st in users)
        desc = "<conference-description><subject>Today in Verona</subject></conference-description>" if state == "full" else ""
        doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<conference-info xmlns="{CI}" entity="{self.ROOM}" '
               f'state="{state}" version="{c["version"]}">{desc}<users>{us}</users></conference-info>')
        self.in_dialog(cid, "NOTIFY", ["Event: conference", "Subscription-State: active;expires=600"], doc,
                       "application/conference-info+xml")

    def on_request(self, first, hdrs, body, src):
        method, uri = first.split()[:2]
        cid = get(hdrs, "call-id")[0]
        if method == "INVITE" and cid not in self.calls:
            check(uri == self.ROOM, f"INVITE Request-URI is the room: {uri}")
            to, frm = get(hdrs, "to")[0], get(hdrs, "from")[0]
            check(re.fullmatch(r"<sip:montague@chat\.example\.net>", to) is not None, f"To is the room without the nick (Table 1 MUST): {to}")
            check(re.match(r"<sip:juliet@example\.com>;tag=", frm) is not None, f"From is the bare JID (Table 1 MUST): {frm}")
            contact = get(hdrs, "contact")[0]
            check(";gr=" in contact, f"Contact carries the resource as gr: {contact}")
            check("a=accept-types:message/cpim" in body, "offer accept-types message/cpim (RFC 7701)")
            ch = re.search(r"a=chatroom:([^\r\n]*)", body)
            check(ch is not None and "private-messages" in ch.group(1).split(), "offer a=chatroom advertises private-messages (RFC 7702 MUST)")
            path = re.search(r"a=path:([^\r\n]*)", body).group(1)
            check(MSRP_URI.fullmatch(path.encode()) is not None and re.match(r"msrp://[^/]+:\d+/", path), f"offer a=path has host and explicit port (MUST): {path}")
            sess = f"sw{random.getrandbits(32):x}"
            ours = f"msrp://127.0.0.1:{self.lst.getsockname()[1]}/{sess};tcp"
            tag = f"f{random.getrandbits(32):x}"
            self.calls[cid] = {"path": ours, "theirs": path, "tag": tag, "cseq": 0, "version": 0,
                               "remote": frm, "target": re.search(r"<([^>]+)>", contact).group(1),
                               "route": get(hdrs, "record-route"), "via": src, "nick": None, "sock": None,
                               "subscribed": False}
            self.by_session[sess] = cid
            sdp = ("v=0\r\no=focus 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                   f"m=message {self.lst.getsockname()[1]} TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
                   "a=accept-wrapped-types:text/plain text/html\r\n"
                   f"a=path:{ours}\r\na=setup:passive\r\na=chatroom:nickname private-messages\r\n")
            self.respond(hdrs, src, 200, "OK", [f"Contact: <sip:montague@127.0.0.1:{self.my}>;isfocus"], sdp,
                         "application/sdp", to_tag=tag)
            return
        c = self.calls.get(cid)
        if c is None:
            return self.respond(hdrs, src, 481, "Call/Transaction Does Not Exist")
        if method == "ACK":
            return
        if method == "SUBSCRIBE":
            ev = get(hdrs, "event")[0]
            exp = int(get(hdrs, "expires")[0])
            check(ev == "conference", f"SUBSCRIBE Event: conference ({ev})")
            check(get(hdrs, "accept")[0] == "application/conference-info+xml", "SUBSCRIBE Accept conference-info")
            self.respond(hdrs, src, 200, "OK", [f"Expires: {exp}", f"Contact: <sip:montague@127.0.0.1:{self.my}>;isfocus"])
            c["subscribed"] = exp != 0
            if exp == 0:
                self.events.append("unsubscribed")
                self.in_dialog(cid, "NOTIFY", ["Event: conference", "Subscription-State: terminated;reason=timeout"])
            else:
                users = [("Romeo", "full")] + ([(c["nick"], "full")] if c["nick"] else [])
                self.roster(cid, "full", users)
            return
        if method == "REFER":
            refer_to = get(hdrs, "refer-to")[0]
            check(get(hdrs, "accept")[0] == "message/sipfrag", "REFER Accept: message/sipfrag")
            self.respond(hdrs, src, 202, "Accepted")
            seq = get(hdrs, "cseq")[0].split()[0]
            frag = "SIP/2.0 486 Busy Here\r\n" if "tybalt" in refer_to else "SIP/2.0 200 OK\r\n"
            self.events.append(f"refer {refer_to}")
            self.in_dialog(cid, "NOTIFY", [f"Event: refer;id={seq}", "Subscription-State: terminated;reason=noresource"],
                           frag, "message/sipfrag;version=2.0")
            return
        if method == "BYE":
            self.respond(hdrs, src, 200, "OK")
            self.events.append(f"bye {c['nick']}")
            self.done += 1
            return
        self.respond(hdrs, src, 405, "Method Not Allowed")

    def on_msrp(self, s, f):
        sess = re.search(r"/([^/;]+);", f.h("To-Path")).group(1)
        cid = self.by_session.get(sess)
        if cid is None:
            return self.msrp_respond(s, f, 481, "Session Does Not Exist")
        c = self.calls[cid]
        c["sock"] = s
        if f.method == "NICKNAME":
            nick_h = f.h("Use-Nickname")
            check(nick_h is not None and re.fullmatch(r'"[^"\\]*"', nick_h) is not None, f"NICKNAME Use-Nickname is a quoted string: {nick_h}")
            check(not f.body and f.h("Success-Report") is None and f.h("Failure-Report") is None, "NICKNAME has no body and no report headers")
            nick = nick_h.strip('"')
            if nick == "Romeo":
                self.events.append("nick 425")
                return self.msrp_respond(s, f, 425, "Nickname usage failed")
            old = c["nick"]
            c["nick"] = nick
            self.msrp_respond(s, f)
            self.events.append(f"nick {nick}")
            # RFC 6665 §4.2.2: NOTIFYs only within a subscription; a participant that has not
            # subscribed yet learns its nick from the full document its SUBSCRIBE gets.
            if not c["subscribed"]:
                return
            if old:
                self.roster(cid, "partial", [(old, "deleted"), (nick, "full")])
            else:
                self.roster(cid, "partial", [(nick, "full")])
            return
        if f.method != "SEND":
            return self.msrp_respond(s, f, 501, "Unknown method")
        self.msrp_respond(s, f)
        if not f.body:
            return
        check(f.h("Content-Type") == "message/cpim", f"room SEND is message/cpim ({f.h('Content-Type')})")
        hs, text = cpim(f.body, "stox's room SEND")
        if hs.get("_to") == self.ROOM:
            check(hs.get("_from") == "sip:juliet@example.com", f"public CPIM From is the bare JID (Table 4): {hs.get('_from')}")
            check("DateTime" in hs, "CPIM DateTime present")
            self.events.append(f"public {text}")
            # Romeo answers in the room
            body = (f"From: <{self.ROOM};gr=Romeo>\r\nTo: <{self.ROOM}>\r\nDateTime: 2015-06-01T15:02:31Z\r\n\r\n"
                    "Content-Type: text/plain;charset=UTF-8\r\n\r\nHi Juliet \u2764")
            self.msrp_send(s, c["theirs"], c["path"], body)
        else:
            check(hs.get("_to") == f"{self.ROOM};gr=Romeo", f"private CPIM To is room;gr=nick: {hs.get('_to')}")
            check(re.fullmatch(r"sip:juliet@example\.com;gr=.+", hs.get("_from") or "") is not None, f"private CPIM From has gr: {hs.get('_from')}")
            self.events.append(f"private {text}")

    def run(self):
        deadline = time.monotonic() + 90
        while self.done < 2 and time.monotonic() < deadline:
            self.pump()
        check(self.done == 2, f"two calls ended with BYE (conflict, then the whole session): {self.done}")
        # stox sends the unsubscribe (SUBSCRIBE Expires: 0) and the BYE back to back; through the
        # proxy over UDP either may arrive first (RFC 5057: the subscription usage outlives the
        # BYE), so keep listening a moment after the BYE.
        grace = time.monotonic() + 3
        while "unsubscribed" not in self.events and time.monotonic() < grace:
            self.pump()
        want = ["nick 425", "nick JuliC", "public Who knows where Romeo is?", "private psst",
                "refer <sip:benvolio@example.com>", "refer <sip:tybalt@example.com>", "nick Juliet", "unsubscribed"]
        for w in want:
            check(w in self.events, f"focus saw: {w}")
        say("events:", self.events)


def main():
    mode = sys.argv[1]
    if mode == "participant":
        Participant(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])).run()
    else:
        focus = Focus(int(sys.argv[2]), int(sys.argv[3]))
        if len(sys.argv) > 4:  # the sockets are bound: tell the suite it may start the join
            with open(sys.argv[4], "w") as f:
                f.write("ready\n")
        focus.run()
    say(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
