"""SIP messages as text for the test peers (RFC 3261 §7): first line, headers, body."""


def parse(data):
    """(first line, [(lower-case name, value)], body) of one datagram."""
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = []
    for l in lines[1:]:
        if ":" in l:
            n, v = l.split(":", 1)
            hdrs.append((n.strip().lower(), v.strip()))
    return lines[0], hdrs, body


COMPACT = {"call-id": "i", "from": "f", "to": "t", "via": "v", "contact": "m", "content-type": "c"}


def get(hdrs, name):
    """Every value of a header (long or compact form)."""
    return [v for n, v in hdrs if n == name or n == COMPACT.get(name)]
