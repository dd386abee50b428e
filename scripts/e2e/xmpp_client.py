#!/usr/bin/python3
"""A real XMPP client (slixmpp) checking what stox answers through Prosody.

Usage: xmpp_client.py PORT JID PASSWORD COMPONENT MODE
  MODE=check   disco#info, XEP-0100 get/set, version, ping, message bounce
  MODE=wait    retry disco#info on the component until it answers; print seconds waited
  MODE=send:N:TO   send N messages to TO, fail on any error stanza within 8 s
  MODE=recv:N      wait (20 s) for N messages; print each as one XML line
  MODE=full:TO     one message with thread, subject, xml:lang='fr' and non-ASCII body; no error
  MODE=error:TO:CONDITION[:BODYLEN]  one message that must come back with CONDITION
Exit status 0 on success; one line per check on stdout.
"""
import asyncio
import sys
import time
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

PORT, JID, PASSWORD, COMPONENT, MODE = sys.argv[1:6]
GW = "jabber:iq:gateway"


class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(JID, PASSWORD)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0092")
        self.register_plugin("xep_0199")
        self.failures = []
        self.bounces = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.received = asyncio.Queue()
        self.add_event_handler("message_error", lambda m: self.bounces.put_nowait(m))
        self.add_event_handler("message", lambda m: m["type"] != "error" and self.received.put_nowait(m))

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
