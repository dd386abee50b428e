#!/usr/bin/python3
"""Linphone's own library (liblinphone, Debian's linphone-cli) driven through ctypes, for
what linphone-daemon has no command for: a basic chat room with CPIM on (as the Linphone
apps use with sip.linphone.org accounts), typing, and marking a conversation as read.

Usage: lp_cpim.py LINPHONERC SECONDS ACTION...
  ACTION = send:TEXT       send TEXT to Juliet in a CPIM chat room
           compose         tell Juliet that Romeo is typing (RFC 3994 isComposing)
           read            mark the conversation as read (display IMDNs, RFC 5438)
           wait:STATE      iterate until the last sent message reaches STATE (6 delivered
                           to user, 7 displayed) or SECONDS pass
           idle:SECS       keep running (receive, answer with IMDNs) for SECS
           watch:SECS      up to SECS for Juliet's typing; prints 'remote-composing 0|1'
Prints 'state N' lines; exit 0 when every wait reached its state.
"""
import ctypes
import sys
import time

lib = ctypes.CDLL("liblinphone.so.10")
P = ctypes.c_void_p
for name, res, args in [
    ("linphone_factory_get", P, []),
    ("linphone_factory_create_core_3", P, [P, ctypes.c_char_p, ctypes.c_char_p, P]),
    ("linphone_core_start", ctypes.c_int, [P]),
    ("linphone_core_iterate", None, [P]),
    ("linphone_core_get_default_account", P, [P]),
    ("linphone_account_get_state", ctypes.c_int, [P]),
    ("linphone_core_get_chat_room_from_uri", P, [P, ctypes.c_char_p]),
    ("linphone_chat_room_allow_cpim", None, [P]),
    ("linphone_chat_room_create_message_from_utf8", P, [P, ctypes.c_char_p]),
    ("linphone_chat_message_send", None, [P]),
    ("linphone_chat_message_get_state", ctypes.c_int, [P]),
    ("linphone_chat_room_compose", None, [P]),
    ("linphone_chat_room_mark_as_read", None, [P]),
    ("linphone_chat_room_is_remote_composing", ctypes.c_int, [P]),
]:
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = args

rc, secs, actions = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
core = lib.linphone_factory_create_core_3(lib.linphone_factory_get(), rc.encode(), None, None)
lib.linphone_core_start(core)


def iterate(until, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        lib.linphone_core_iterate(core)
        if until():
            return True
        time.sleep(0.02)
    return False


# registered (LinphoneRegistrationOk = 2)
iterate(lambda: lib.linphone_account_get_state(lib.linphone_core_get_default_account(core)) == 2, 10)
room = lib.linphone_core_get_chat_room_from_uri(core, b"sip:juliet@example.com")
lib.linphone_chat_room_allow_cpim(room)
last = None
ok = True
for a in actions:
    if a.startswith("send:"):
        last = lib.linphone_chat_room_create_message_from_utf8(room, a[5:].encode())
        lib.linphone_chat_message_send(last)
        iterate(lambda: lib.linphone_chat_message_get_state(last) not in (0, 1), 10)
    elif a == "compose":
        lib.linphone_chat_room_compose(room)
        iterate(lambda: False, 1)
    elif a == "read":
        iterate(lambda: False, 1)
        lib.linphone_chat_room_mark_as_read(room)
        iterate(lambda: False, 1)
    elif a.startswith("idle:"):
        iterate(lambda: False, float(a[5:]))
    elif a.startswith("watch:"):
        # Juliet's typing, as Linphone shows it (RFC 3994 isComposing received)
        seen = iterate(lambda: lib.linphone_chat_room_is_remote_composing(room) != 0, float(a[6:]))
        print(f"remote-composing {int(seen)}", flush=True)
    elif a.startswith("wait:") and last:
        want = int(a[5:])
        reached = iterate(lambda: lib.linphone_chat_message_get_state(last) >= want, secs)
        print(f"state {lib.linphone_chat_message_get_state(last)}", flush=True)
        ok = ok and reached
iterate(lambda: False, 0.5)
sys.exit(0 if ok else 1)
