#!/usr/bin/python3
"""A real XMPP client (slixmpp) checking what stox answers through Prosody.

Usage: xmpp_client.py PORT JID PASSWORD COMPONENT MODE
  MODE=check   disco#info, XEP-0100 get/set, version, ping, message bounce
  MODE=wait    retry disco#info on the component until it answers; print seconds waited
  MODE=send:N:TO   send N messages to TO, fail on any error stanza within 8 s
  MODE=recv:N      wait (20 s) for N messages; print each as one XML line
  MODE=full:TO     one message with thread, subject, xml:lang='fr' and non-ASCII body; no error
  MODE=error:TO:CONDITION[:BODYLEN]  one message that must come back with CONDITION
  MODE=count:N:SECS  count messages with a body for up to SECS (stops at N); print
                      'received K first_s last_s' (seconds since start)
  MODE=chat_s2x:PEER  a chat session PEER opens (RFC 7573 §5): message with receipt request
                      (answered by XEP-0184), composing, a 5000-byte message; reply with
                      composing + a message on the same thread; then <gone/> when PEER hangs up
  MODE=chat_x2s:PEER  open a chat session (RFC 7573 §4): message with receipt request, wait for
                      the receipt, composing, a 5000-byte message, wait for PEER's composing
                      and reply, then <gone/>
Exit status 0 on success; one line per check on stdout.
"""
import asyncio
import sys
import time
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

PORT, JID, PASSWORD, COMPONENT, MODE = sys.argv[1:6]
GW = "jabber:iq:gateway"


class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(JID, PASSWORD)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0092")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0085")
        self.register_plugin("xep_0184")  # answers receipt requests (auto_ack)
        self.failures = []
        self.bounces = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.received = asyncio.Queue()
        self.add_event_handler("message_error", lambda m: self.bounces.put_nowait(m))
        # Every non-error message, bodiless ones too (chat states, receipts): slixmpp's own
        # 'message' event only fires for messages with a <body/>.
        self.register_handler(Callback("stox e2e messages", MatchXPath("{jabber:client}message"),
                                       lambda m: m["type"] != "error" and self.received.put_nowait(m)))

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            self.failures.append(what)

    async def gateway_iq(self, itype, payload):
        iq = self.Iq()
        iq["type"] = itype
        iq["to"] = COMPONENT
        iq.append(ET.fromstring(payload))
        return await iq.send(timeout=5)

    async def run_checks(self):
        info = await self["xep_0030"].get_info(jid=COMPONENT, timeout=5)
        ids = info["disco_info"]["identities"]
        self.check(any(c == "gateway" for (c, _t, _l, _n) in ids), f"disco#info identity gateway: {ids}")
        feats = info["disco_info"]["features"]
        for f in ("jabber:iq:gateway", "jid\\20escaping", "urn:xmpp:ping"):
            self.check(f in feats, f"disco#info feature {f}")

        r = await self.gateway_iq("get", f"<query xmlns='{GW}'/>")
        prompt = r.xml.find(f"{{{GW}}}query/{{{GW}}}prompt")
        self.check(prompt is not None and prompt.text == "SIP address", "XEP-0100 prompt")
        r = await self.gateway_iq("set", f"<query xmlns='{GW}'><prompt>romeo@example.net</prompt></query>")
        jid = r.xml.find(f"{{{GW}}}query/{{{GW}}}jid")
        self.check(jid is not None and jid.text == f"romeo@{COMPONENT}", f"XEP-0100 translation -> {jid.text if jid is not None else None}")
        r = await self.gateway_iq("set", f"<query xmlns='{GW}'><prompt>juliet@example.org</prompt></query>")
        jid = r.xml.find(f"{{{GW}}}query/{{{GW}}}jid")
        self.check(jid is not None and jid.text == f"juliet\\40example.org@{COMPONENT}", "XEP-0100 remote domain escaping")

        v = await self["xep_0092"].get_version(COMPONENT, timeout=5)
        self.check(v["software_version"]["name"] == "stox", "XEP-0092 version")
        rtt = await self["xep_0199"].ping(COMPONENT, timeout=5)
        self.check(rtt is not None, f"XEP-0199 ping rtt={rtt:.4f}s")

        try:
            await self.gateway_iq("get", "<query xmlns='urn:example:nothing'/>")
            self.check(False, "unknown iq answered with an error")
        except IqError as e:
            self.check(e.condition == "service-unavailable", f"unknown iq -> {e.condition}")

        self.send_message(mto=f"romeo@{COMPONENT}", mbody="hello", mtype="chat")
        m = await asyncio.wait_for(self.bounces.get(), 5)
        self.check(m["error"]["condition"] in ("service-unavailable", "item-not-found", "recipient-unavailable", "remote-server-timeout", "remote-server-not-found", "internal-server-error"),
                   f"message to SIP user not silently dropped: {m['error']['condition']}")

    async def wait_component(self):
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            try:
                await self["xep_0030"].get_info(jid=COMPONENT, timeout=2, cached=False)
                print(f"{time.monotonic() - t0:.3f}", flush=True)
                return
            except (IqError, IqTimeout):
                await asyncio.sleep(0.05)
        self.failures.append("component never came back")

    async def send_many(self, n, to):
        for i in range(n):
            self.send_message(mto=to, mbody=f"message {i} \u2764 from XMPP", msubject="stox e2e", mtype="normal")
        try:
            m = await asyncio.wait_for(self.bounces.get(), 8)
            self.check(False, f"no error stanza, got {m['error']['condition']}: {m['error']['text']}")
        except asyncio.TimeoutError:
            self.check(True, f"{n} messages to {to} without error")

    async def recv_many(self, n):
        got = 0
        while got < n:
            m = await asyncio.wait_for(self.received.get(), 20)
            print(str(m), flush=True)
            got += 1

    async def full(self, to):
        m = self.make_message(mto=to, mbody="Bonjour \u2764 \u00e9t\u00e9", msubject="Sujet \u00e9", mtype="normal")
        m["thread"] = "e2e-thread-1"
        m["lang"] = "fr"
        m.send()
        try:
            e = await asyncio.wait_for(self.bounces.get(), 6)
            self.check(False, f"no error stanza, got {e['error']['condition']}: {e['error']['text']}")
        except asyncio.TimeoutError:
            self.check(True, f"full message to {to} without error")

    async def expect_error(self, to, condition, body_len):
        body = "x" * body_len if body_len else "are you there?"
        self.send_message(mto=to, mbody=body, mtype="normal")
        e = await asyncio.wait_for(self.bounces.get(), 20)
        # read the condition from the XML: slixmpp does not know every RFC 6120 condition
        err = e.xml.find("{jabber:client}error")
        got = [c.tag.split("}")[1] for c in err if c.tag.endswith("}" + condition)] if err is not None else []
        self.check(bool(got), f"message to {to} -> {e['error']['text']!r}, want {condition}: {ET.tostring(e.xml, encoding='unicode')}")

    async def next_from(self, peer, what, pred, timeout=20):
        """The next stanza from PEER satisfying pred (others are printed and skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            m = await asyncio.wait_for(self.received.get(), max(0.1, deadline - time.monotonic()))
            if m["from"].bare == peer and pred(m):
                self.check(True, what)
                return m
            print(f"     (skipped {ET.tostring(m.xml, encoding='unicode')[:160]})", flush=True)

    @staticmethod
    def state(m, name):
        return m.xml.find("{http://jabber.org/protocol/chatstates}" + name) is not None

    async def chat_s2x(self, peer):
        m = await self.next_from(peer, "message from SIP with a receipt request",
                                 lambda m: m["body"] == "Hello from SIP \u2764" and m["type"] == "chat"
                                 and m.xml.find("{urn:xmpp:receipts}request") is not None)
        thread = m["thread"]
        self.check(bool(thread), f"thread = Call-ID: {thread}")
        await self.next_from(peer, "isComposing active -> composing", lambda m: self.state(m, "composing"))
        await self.next_from(peer, "5000-byte chunked message as one stanza", lambda m: len(m["body"]) == 5000)
        c = self.make_message(mto=m["from"], mtype="chat")
        c["thread"] = thread
        c["chat_state"] = "composing"
        c.send()
        r = self.make_message(mto=m["from"], mbody="Reply from XMPP \u00e9", mtype="chat")
        r["thread"] = thread
        r.send()
        await self.next_from(peer, "BYE -> <gone/>", lambda m: self.state(m, "gone"), timeout=30)

    async def chat_x2s(self, peer):
        m = self.make_message(mto=peer, mbody="Hello from XMPP \u2764", mtype="chat")
        m["id"] = "x2s-first-1"
        m["request_receipt"] = True
        m.send()
        r = await self.next_from(peer, "REPORT -> receipt for the first message",
                                 lambda m: m.xml.find("{urn:xmpp:receipts}received") is not None)
        rid = r.xml.find("{urn:xmpp:receipts}received").get("id")
        self.check(rid == "x2s-first-1", f"receipt id {rid} = stanza id")
        c = self.make_message(mto=peer, mtype="chat")
        c["chat_state"] = "composing"
        c.send()
        big = "".join(f"{i:05d} " for i in range(834))[:5000]
        self.send_message(mto=peer, mbody=big, mtype="chat")
        await self.next_from(peer, "isComposing from SIP -> composing", lambda m: self.state(m, "composing"))
        await self.next_from(peer, "reply from SIP", lambda m: m["body"] == "Reply from SIP \u00e9")
        g = self.make_message(mto=peer, mtype="chat")
        g["chat_state"] = "gone"
        g.send()
        await asyncio.sleep(1)
        try:
            e = self.bounces.get_nowait()
            self.check(False, f"no error stanza, got {e['error']['condition']}: {e['error']['text']}")
        except asyncio.QueueEmpty:
            self.check(True, "no error stanza during the session")

    async def start(self, _event):
        try:
            self.send_presence()
            if MODE == "check":
                await self.run_checks()
            elif MODE.startswith("send:"):
                _, n, to = MODE.split(":", 2)
                await self.send_many(int(n), to)
            elif MODE.startswith("full:"):
                await self.full(MODE.split(":", 1)[1])
            elif MODE.startswith("error:"):
                parts = MODE.split(":")
                await self.expect_error(parts[1], parts[2], int(parts[3]) if len(parts) > 3 else 0)
            elif MODE.startswith("count:"):
                _, n, secs = MODE.split(":")
                t0, got, first, last = time.monotonic(), 0, None, None
                print("ready", flush=True)
                while got < int(n):
                    left = float(secs) - (time.monotonic() - t0)
                    if left <= 0:
                        break
                    try:
                        m = await asyncio.wait_for(self.received.get(), left)
                    except asyncio.TimeoutError:
                        break
                    if m["body"]:
                        got += 1
                        last = time.monotonic() - t0
                        first = first if first is not None else last
                print(f"received {got} {first or 0:.3f} {last or 0:.3f}", flush=True)
            elif MODE.startswith("chat_s2x:"):
                await self.chat_s2x(MODE.split(":", 1)[1])
            elif MODE.startswith("chat_x2s:"):
                await self.chat_x2s(MODE.split(":", 1)[1])
            elif MODE.startswith("recv:"):
                await self.recv_many(int(MODE.split(":")[1]))
            else:
                await self.wait_component()
        except Exception as e:  # any surprise is a failure, with its reason
            self.failures.append(repr(e))
            print(f"FAIL exception {e!r}", flush=True)
        self.disconnect()


def main():
    c = Client()
    c.connect(("127.0.0.1", int(PORT)), disable_starttls=True, use_ssl=False, force_starttls=False)
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.wait_for(c.disconnected, 90))
    except asyncio.TimeoutError:
        c.failures.append("timeout")
    if c.failures:
        print("failures: " + "; ".join(c.failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
