#!/usr/bin/python3
"""Several XMPP users at once (slixmpp), for the two-instance test.

Usage: multi_client.py PORT USERS COUNT GAP_MS TO OUT SECS
  users u1..uUSERS @example.com (password "pass") each send COUNT messages to TO, GAP_MS
  apart, and stay online SECS seconds; OUT gets one JSON line per user:
  {"user", "sent": [...bodies], "errors": {body: condition}, "received": [...bodies]}.
  OUT.ready appears once every user is online.
"""
import asyncio
import json
import sys

import slixmpp

PORT, USERS, COUNT, GAP, TO, OUT, SECS = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                          int(sys.argv[4]), sys.argv[5], sys.argv[6], float(sys.argv[7]))


class User(slixmpp.ClientXMPP):
    def __init__(self, n):
        super().__init__(f"u{n}@example.com", "pass")
        self.n = n
        self.sent, self.errors, self.received = [], {}, []
        self.ids = {}
        self.ready = asyncio.Event()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_error)

    async def start(self, _):
        self.send_presence()
        self.ready.set()

    def on_message(self, m):
        if m["type"] in ("chat", "normal") and m["body"]:
            self.received.append(m["body"])

    def on_error(self, m):
        body = self.ids.get(m["id"], m["id"])
        self.errors[body] = m["error"]["condition"]

    async def run(self):
        for i in range(COUNT):
            body = f"u{self.n} message {i}"
            m = self.make_message(mto=TO, mbody=body, mtype="chat")
            self.ids[m["id"]] = body
            m.send()
            self.sent.append(body)
            await asyncio.sleep(GAP / 1000)


async def main():
    users = [User(n) for n in range(1, USERS + 1)]
    for u in users:
        u.connect(("127.0.0.1", PORT))
    await asyncio.wait_for(asyncio.gather(*(u.ready.wait() for u in users)), 20)
    open(OUT + ".ready", "w").close()  # everyone is online: the SIP side may start
    await asyncio.gather(*(u.run() for u in users))
    await asyncio.sleep(SECS)
    with open(OUT, "w") as f:
        for u in users:
            f.write(json.dumps({"user": f"u{u.n}", "sent": u.sent, "errors": u.errors,
                                "received": u.received}) + "\n")
    for u in users:
        u.disconnect()
    await asyncio.sleep(0.5)


asyncio.run(main())
