#!/usr/bin/python3
"""Juliet, a real XMPP client (slixmpp), for the presence e2e (RFC 8048 both ways).

Usage: presence_client.py PORT JID PASSWORD CONTACT SYNC_DIR
  - subscribes to CONTACT (a SIP user behind stox) and waits for `subscribed` and an
    available presence from CONTACT/<resource>;
  - approves every subscription request from the gateway's domain (SIP watchers);
  - goes dnd (busy) with the status "In a meeting", touches SYNC_DIR/xmpp_ready;
  - after SYNC_DIR/restarted appears (stox was killed and started again): waits for
    CONTACT's presence again (prints the seconds) and checks that nobody asked her to
    approve again.
One line per check on stdout; exit 0 on success.
"""
import asyncio
import os
import sys
import time

import slixmpp

PORT, JID, PASSWORD, CONTACT, SYNC = sys.argv[1:6]
GW_DOMAIN = CONTACT.split("@", 1)[1]


class Juliet(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(JID, PASSWORD)
        self.failures = []
        self.asks = []  # (time, from) of subscribe requests
        self.events = asyncio.Queue()
        self.auto_authorize = None  # we answer subscription requests ourselves
        self.auto_subscribe = False
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("presence_subscribe", self.on_subscribe)
        for ev in ("presence_subscribed", "presence_available", "presence_unavailable",
                   "presence_error", "presence_unsubscribed"):
            self.add_event_handler(ev, lambda p, ev=ev: self.events.put_nowait((ev, p)))

    def on_subscribe(self, p):
        frm = p["from"].bare
        self.asks.append((time.time(), frm))
        print("subscribe request from", frm, flush=True)
        if frm.endswith("@" + GW_DOMAIN):
            self.send_presence(pto=frm, ptype="subscribed")

    async def expect(self, what, secs):
        end = time.time() + secs
        while time.time() < end:
            try:
                ev, p = await asyncio.wait_for(self.events.get(), end - time.time())
            except asyncio.TimeoutError:
                break
            print("got", ev, str(p["from"]), p["show"] or "", p["status"] or "", flush=True)
            if what(ev, p):
                return p
        return None

    async def start(self, _):
        try:
            await self.run()
        except Exception as e:  # noqa: BLE001
            self.failures.append("exception: %r" % e)
        self.disconnect()

    async def run(self):
        self.send_presence()
        await self.get_roster()
        self.send_presence(pto=CONTACT, ptype="subscribe")
        frm = lambda p: p["from"].bare == CONTACT
        if await self.expect(lambda ev, p: ev == "presence_subscribed" and frm(p), 30):
            print("ok subscribed from", CONTACT, flush=True)
        else:
            self.failures.append("no subscribed from %s" % CONTACT)
        p = await self.expect(lambda ev, p: ev == "presence_available" and frm(p), 30)
        if p is not None:
            print("ok available from", p["from"], flush=True)
        else:
            self.failures.append("no available presence from %s" % CONTACT)
        self.send_presence(pshow="dnd", pstatus="In a meeting")
        open(os.path.join(SYNC, "xmpp_ready"), "w").close()
        while not os.path.exists(os.path.join(SYNC, "restarted")):
            await asyncio.sleep(0.2)
        with open(os.path.join(SYNC, "restarted")) as f:
            t0 = float(f.read().strip() or time.time())  # when stox was killed
        asked_before = len(self.asks)
        p = await self.expect(lambda ev, p: ev == "presence_available" and frm(p), 30)
        if p is not None:
            print("ok %s's presence again %.2f s after the restart" % (CONTACT, time.time() - t0),
                  flush=True)
            print("METRIC presence_after_restart_seconds %.2f" % (time.time() - t0), flush=True)
        else:
            self.failures.append("no presence from %s after the restart" % CONTACT)
        await asyncio.sleep(4)
        if len(self.asks) > asked_before:
            self.failures.append("asked to approve again after the restart: %r" % self.asks[asked_before:])
        else:
            print("ok not asked to approve again after the restart", flush=True)


async def main():
    c = Juliet()
    c.connect(("127.0.0.1", int(PORT)))
    try:
        await asyncio.wait_for(c.disconnected, 150)
    except asyncio.TimeoutError:
        c.failures.append("timeout")
    for f in c.failures:
        print("FAIL", f, flush=True)
    sys.exit(1 if c.failures else 0)


asyncio.run(main())
