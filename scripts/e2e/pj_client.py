"""A PJSIP user agent (pjsua2, the `pjsua2-python` wheel) for stox's client tests.

Usage: pj_client.py SIP_PORT PROXY_PORT OUTFILE   (run with the virtualenv's python)
Registers mercutio@sip.example.com at the proxy, then reads commands on stdin:
  send TEXT     MESSAGE to Juliet (PJSIP sends an isComposing before it, as its CLI does)
  typing        an isComposing 'active' to Juliet
  quit
and appends what arrives to OUTFILE as JSON lines: {"msg": TEXT, "type": CONTENT_TYPE} or
{"typing": true|false}.
"""
import json
import select
import sys

import pjsua2 as pj

SIP_PORT, PROXY_PORT, OUT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
JULIET = "sip:juliet@example.com"


def record(obj):
    with open(OUT, "a", encoding="utf-8") as f:
        f.write(json.dumps(obj, ensure_ascii=False) + "\n")


class Account(pj.Account):
    def onRegState(self, prm):
        record({"registered": prm.code})

    def onInstantMessage(self, prm):
        record({"msg": prm.msgBody, "type": prm.contentType})

    def onTypingIndication(self, prm):
        record({"typing": bool(prm.isTyping)})


ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
cfg.logConfig.level = 1
cfg.logConfig.consoleLevel = 1
ep.libInit(cfg)
tcfg = pj.TransportConfig()
tcfg.port = SIP_PORT
tcfg.boundAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
ep.audDevManager().setNullDev()
ep.libStart()

acfg = pj.AccountConfig()
acfg.idUri = "sip:mercutio@sip.example.com"
acfg.regConfig.registrarUri = f"sip:127.0.0.1:{PROXY_PORT}"
acfg.sipConfig.proxies.append(f"sip:127.0.0.1:{PROXY_PORT};lr")
acc = Account()
acc.create(acfg)
bcfg = pj.BuddyConfig()
bcfg.uri = JULIET
buddy = pj.Buddy()
buddy.create(acc, bcfg)

running = True
while running:
    ep.libHandleEvents(20)
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    if not ready:
        continue
    line = sys.stdin.readline()
    if not line:
        break
    cmd, _, arg = line.rstrip("\n").partition(" ")
    if cmd == "send":
        t = pj.SendTypingIndicationParam()
        t.isTyping = True
        buddy.sendTypingIndication(t)
        m = pj.SendInstantMessageParam()
        m.content = arg
        buddy.sendInstantMessage(m)
    elif cmd == "typing":
        t = pj.SendTypingIndicationParam()
        t.isTyping = True
        buddy.sendTypingIndication(t)
    elif cmd == "quit":
        running = False
for _ in range(20):
    ep.libHandleEvents(20)
ep.libDestroy()
