#!/usr/bin/python3
"""Real XMPP clients (slixmpp) in chat rooms for the groupchat e2e test (RFC 7702).

Usage: muc_client.py PORT JID PASSWORD MODE
  MODE=owner     join capulet@muc.example.com as Juliet (Prosody's MUC, an XMPP room); when
                 Romeo (a SIP user through stox) joins, greet him; expect his groupchat and
                 private messages, answer privately; expect his nick change and his exit
  MODE=invitee   expect a mediated invitation to capulet@muc.example.com
  MODE=sip_room  join the SIP room sip:montague@chat.example.net through stox
                 (montague\\40chat.example.net@sip.example.com): a nick conflict first, then
                 the XEP-0045 join order, disco (CUSAX), messages both ways with the
                 reflection, a private message, invitations (one declined), a nick change,
                 and the exit
One line per check on stdout; exit 0 when all passed.
"""
import asyncio
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

PORT, JID, PASSWORD, MODE = sys.argv[1:5]
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
C = "jabber:client"
XMPP_ROOM = "capulet@muc.example.com"
SIP_ROOM = "montague\\40chat.example.net@sip.example.com"


def statuses(x):
    return [s.get("code") for s in x.iterfind(f"{{{MUC_USER}}}x/{{{MUC_USER}}}status")]


class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(JID, PASSWORD)
        self.register_plugin("xep_0030")
        self.failures = []
        self.q = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        for kind in ("presence", "message"):
            self.register_handler(Callback(f"room {kind}", MatchXPath(f"{{{C}}}{kind}"),
                                           lambda s: self.q.put_nowait(s.xml)))

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            self.failures.append(what)

    async def expect(self, pred, what, timeout=20):
        """The next stanza matching pred; others are kept in order in self.seen."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                self.check(False, f"{what} (timed out)")
                return None
            try:
                x = await asyncio.wait_for(self.q.get(), left)
            except asyncio.TimeoutError:
                continue
            self.seen.append(x)
            if pred(x):
                return x

    def raw(self, xml):
        self.send_raw(xml)

    async def start(self, _):
        self.seen = []
        self.send_presence()
        try:
            await getattr(self, MODE)()
        except Exception as e:  # noqa: BLE001 - a crash is a failed check
            self.check(False, f"crashed: {e!r}")
        self.disconnect()

    async def owner(self):
        r = XMPP_ROOM
        self.raw(f"<presence to='{r}/Juliet'><x xmlns='{MUC}'/></presence>")
        x = await self.expect(lambda x: x.tag == f"{{{C}}}presence" and x.get("from") == f"{r}/Juliet" and "110" in statuses(x), "joined the XMPP room")
        self.check(x is not None, "Juliet is in capulet@muc.example.com")
        open(sys.argv[5], "w").write("ready") if len(sys.argv) > 5 else None
        x = await self.expect(lambda x: x.tag == f"{{{C}}}presence" and x.get("from") == f"{r}/Romeo" and x.get("type") is None, "Romeo (SIP) joins", 60)
        self.raw(f"<message to='{r}' type='groupchat'><body>hello from juliet</body></message>")
        body = lambda x: x.findtext(f"{{{C}}}body")
        x = await self.expect(lambda x: x.get("type") == "groupchat" and x.get("from") == f"{r}/Romeo" and body(x), "Romeo's groupchat message")
        self.check(x is not None and body(x) == "Romeo is here! \u2764", f"groupchat from the SIP user arrives as written: {body(x) if x is not None else None!r}")
        x = await self.expect(lambda x: x.get("type") == "chat" and x.get("from") == f"{r}/Romeo" and body(x), "Romeo's private message")
        self.check(x is not None and body(x) == "psst", "private message from the SIP user")
        self.raw(f"<message to='{r}/Romeo' type='chat'><body>psst back</body><x xmlns='{MUC_USER}'/></message>")
        x = await self.expect(lambda x: x.tag == f"{{{C}}}presence" and x.get("from") == f"{r}/Romeo" and x.get("type") == "unavailable", "Romeo changes nick")
        self.check(x is not None and "303" in statuses(x), "nick change (303) from the SIP side's NICKNAME")
        x = await self.expect(lambda x: x.tag == f"{{{C}}}presence" and x.get("from") == f"{r}/montecchi" and x.get("type") == "unavailable", "montecchi leaves (BYE)", 30)
        self.check(x is not None, "the SIP user's BYE is an unavailable presence")

    async def invitee(self):
        x = await self.expect(lambda x: x.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}invite") is not None, "mediated invitation", 60)
        self.check(x is not None and x.get("from") == XMPP_ROOM, f"invitation from the room (REFER → mediated invite): {ET.tostring(x) if x is not None else None}")

    async def sip_room(self):
        r = SIP_ROOM
        is_p = lambda x: x.tag == f"{{{C}}}presence"
        # 1. a nickname the room refuses (425 → conflict)
        self.raw(f"<presence to='{r}/Romeo'><x xmlns='{MUC}'/></presence>")
        x = await self.expect(lambda x: is_p(x) and x.get("from") == f"{r}/Romeo", "join as Romeo answered")
        cond = x.find(f"{{{C}}}error/{{urn:ietf:params:xml:ns:xmpp-stanzas}}conflict") if x is not None else None
        self.check(x is not None and x.get("type") == "error" and cond is not None, "nick in use: presence error <conflict/> (RFC 7702 §5.2)")
        # 2. join: occupants, self-presence (110) last, then the subject
        self.seen = []
        self.raw(f"<presence to='{r}/JuliC'><x xmlns='{MUC}'/></presence>")
        subj = await self.expect(lambda x: x.tag == f"{{{C}}}message" and x.find(f"{{{C}}}subject") is not None, "the subject", 30)
        order = [(x.get("from"), statuses(x)) for x in self.seen if is_p(x)]
        self.check(order[:1] == [(f"{r}/Romeo", [])] and order[-1:] == [(f"{r}/JuliC", ["110"])], f"occupants first, self-presence with 110 last: {order}")
        self.check(subj is not None and subj.findtext(f"{{{C}}}subject") == "Today in Verona" and subj.find(f"{{{C}}}body") is None, "subject message after the roster")
        # 3. CUSAX: the room's audio/video link
        info = await self["xep_0030"].get_info(jid=r, timeout=10)
        self.check("http://jabber.org/protocol/muc" in info["disco_info"]["features"], "disco#info of the SIP room: MUC feature")
        self.check(b"sip:montague-av@chat.example.net" in ET.tostring(info.xml), "disco#info: audio-video-uri (RFC 7081 §4)")
        # 4. messages: reflection, then Romeo's answer
        body = lambda x: x.findtext(f"{{{C}}}body")
        self.raw(f"<message to='{r}' type='groupchat' id='g1'><body>Who knows where Romeo is?</body></message>")
        x = await self.expect(lambda x: x.get("type") == "groupchat" and x.get("from") == f"{r}/JuliC" and body(x), "reflection")
        self.check(x is not None and body(x) == "Who knows where Romeo is?" and x.get("id") == "g1", "own message reflected once the switch took it")
        x = await self.expect(lambda x: x.get("type") == "groupchat" and x.get("from") == f"{r}/Romeo" and body(x), "Romeo's answer")
        self.check(x is not None and body(x) == "Hi Juliet \u2764", "room message from the SIP side, as written")
        self.raw(f"<message to='{r}/Romeo' type='chat'><body>psst</body></message>")
        # 5. mediated invitations: one accepted, one declined by the focus
        self.raw(f"<message to='{r}'><x xmlns='{MUC_USER}'><invite to='benvolio@example.com'/></x></message>")
        self.raw(f"<message to='{r}'><x xmlns='{MUC_USER}'><invite to='tybalt@example.com'/></x></message>")
        x = await self.expect(lambda x: x.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}decline") is not None, "decline")
        d = x.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}decline") if x is not None else None
        self.check(d is not None and d.get("from") == "tybalt@example.com", "a failed REFER becomes a decline")
        # 6. nick change: 303 + 110, then the new presence with 110
        self.raw(f"<presence to='{r}/Juliet'/>")
        x = await self.expect(lambda x: is_p(x) and x.get("from") == f"{r}/JuliC" and x.get("type") == "unavailable", "old nick unavailable")
        item = x.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item") if x is not None else None
        self.check(x is not None and {"303", "110"} <= set(statuses(x)) and item is not None and item.get("nick") == "Juliet", "nick change: 303 with the new nick")
        x = await self.expect(lambda x: is_p(x) and x.get("from") == f"{r}/Juliet", "new nick")
        self.check(x is not None and "110" in statuses(x), "new nick's self-presence (110)")
        # 7. leave
        self.raw(f"<presence to='{r}/Juliet' type='unavailable'/>")
        x = await self.expect(lambda x: is_p(x) and x.get("from") == f"{r}/Juliet" and x.get("type") == "unavailable", "exit")
        self.check(x is not None and "110" in statuses(x), "exit: self unavailable with 110")


c = Client()
c.connect(("127.0.0.1", int(PORT)), disable_starttls=True, use_ssl=False, force_starttls=False)
try:
    asyncio.get_event_loop().run_until_complete(asyncio.wait_for(c.disconnected, 150))
except asyncio.TimeoutError:
    c.failures.append("timeout")
print(f"{len(c.failures)} failures", flush=True)
sys.exit(1 if c.failures else 0)
