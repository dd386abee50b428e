//! Unit tests of `ua.rs`.

use super::*;

fn ua() -> UserAgent {
    UserAgent::new(UaConfig {
        trusted: vec!["127.0.0.0/8".parse().unwrap()],
        drop_untrusted: false,
        public_host: "127.0.0.1".into(),
        ports: vec![(Transport::Udp, 5070), (Transport::Tcp, 5070)],
        outbound_proxy: proxy_dest("sip:127.0.0.1:5060"),
        credentials: vec![Credential {
            realm: "sip.example.com".into(),
            username: "stox".into(),
            password: "pw".into(),
        }],
        timers: Timers::default(),
        max_message: 1300,
        udp_max: 1300,
        methods: vec!["MESSAGE".into(), "INVITE".into(), "BYE".into()],
        supported: vec![],
        accept: vec!["text/plain".into()],
        user_agent: "stox/test".into(),
    })
}

fn from() -> Dest {
    Dest {
        transport: Transport::Udp,
        addr: "127.0.0.1:5060".parse().unwrap(),
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn msg(method: &str, extra: &str) -> Vec<u8> {
    format!(
            "{method} sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{}\r\nFrom: <sip:romeo@example.net>;tag=a\r\nTo: <sip:juliet@example.com>{extra}\r\nCall-ID: c-{method}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )
        .into_bytes()
}

fn events(u: &mut UserAgent) -> Vec<UaEvent> {
    std::iter::from_fn(|| u.poll_event()).collect()
}

fn sent(ev: &[UaEvent]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            UaEvent::Send { bytes, .. } => Some(String::from_utf8_lossy(bytes).to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn options_is_answered_with_allow_and_accept() {
    let mut u = ua();
    u.on_datagram(Instant::now(), &msg("OPTIONS", ""), from());
    let s = sent(&events(&mut u));
    assert!(s[0].starts_with("SIP/2.0 200 OK\r\n"), "{s:?}");
    assert!(
        s[0].contains("Allow: ACK, BYE, CANCEL, INVITE, MESSAGE, OPTIONS\r\n"),
        "{s:?}"
    );
    assert!(
        s[0].contains("Accept: text/plain\r\n") && s[0].contains(";tag="),
        "{s:?}"
    );
}

#[test]
fn unknown_and_unsupported_methods_get_405_with_allow() {
    let mut u = ua();
    for m in ["FOO", "RE%47IST%45R", "SUBSCRIBE"] {
        u.on_datagram(Instant::now(), &msg(m, ""), from());
        let s = sent(&events(&mut u));
        assert!(
            s[0].starts_with("SIP/2.0 405 Method Not Allowed\r\n"),
            "{m}: {s:?}"
        );
        assert!(s[0].contains("Allow: "), "{s:?}");
    }
}

#[test]
fn malformed_request_gets_400_with_reason() {
    let mut u = ua();
    let bad = String::from_utf8(msg("MESSAGE", ""))
        .unwrap()
        .replace("CSeq: 1 MESSAGE", "CSeq: 1 INVITE");
    u.on_datagram(Instant::now(), bad.as_bytes(), from());
    let s = sent(&events(&mut u));
    assert!(
        s[0].starts_with("SIP/2.0 400 CSeq method does not match the request method\r\n"),
        "{s:?}"
    );
    // unreadable junk: nothing to answer, nothing sent
    u.on_datagram(Instant::now(), b"\x00\x01garbage", from());
    assert!(events(&mut u).is_empty());
}

#[test]
fn max_forwards_zero_and_require() {
    let mut u = ua();
    let zero = String::from_utf8(msg("MESSAGE", ""))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    u.on_datagram(Instant::now(), zero.as_bytes(), from());
    assert!(sent(&events(&mut u))[0].starts_with("SIP/2.0 483 "));
    let req = String::from_utf8(msg("MESSAGE", "")).unwrap().replace(
        "Max-Forwards: 70",
        "Max-Forwards: 70\r\nRequire: 100rel, foo",
    );
    u.on_datagram(Instant::now(), req.as_bytes(), from());
    let s = sent(&events(&mut u));
    assert!(
        s[0].starts_with("SIP/2.0 420 ") && s[0].contains("Unsupported: 100rel, foo\r\n"),
        "{s:?}"
    );
}

#[test]
fn untrusted_sources_get_403_or_nothing() {
    let mut u = ua();
    let evil = Dest {
        transport: Transport::Udp,
        addr: "203.0.113.9:5060".parse().unwrap(),
    };
    u.on_datagram(Instant::now(), &msg("MESSAGE", ""), evil);
    let s = sent(&events(&mut u));
    assert!(
        s[0].starts_with("SIP/2.0 403 Forbidden (untrusted source)\r\n"),
        "{s:?}"
    );
    u.cfg.drop_untrusted = true;
    u.on_datagram(Instant::now(), &msg("MESSAGE", ""), evil);
    assert!(events(&mut u).is_empty());
}

#[test]
fn requests_the_tu_handles_go_up() {
    let mut u = ua();
    u.on_datagram(Instant::now(), &msg("MESSAGE", ""), from());
    let ev = events(&mut u);
    assert!(
        matches!(ev.as_slice(), [UaEvent::Request { req, .. }] if req.method == "MESSAGE"),
        "{ev:?}"
    );
}

fn outgoing() -> Outgoing {
    Outgoing {
        method: "MESSAGE".into(),
        uri: "sip:romeo@example.net".into(),
        from: NameAddr {
            display: Some("Juliet \"J\"".into()),
            uri: "sip:juliet@example.com;gr=balcony".into(),
            params: vec![("tag".into(), Some("t1".into()))],
        },
        to: NameAddr {
            display: None,
            uri: "sip:romeo@example.net".into(),
            params: vec![],
        },
        call_id: "cid".into(),
        cseq: 1,
        headers: vec![("Subject".into(), "hi".into())],
        body: Some(("text/plain;charset=UTF-8".into(), b"hello".to_vec())),
        target: None,
        size_limit: None,
        routes: None,
    }
}

#[test]
fn uac_request_shape() {
    let mut u = ua();
    u.send_request(Instant::now(), outgoing());
    let ev = events(&mut u);
    let UaEvent::Send { to, bytes } = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(to.addr, "127.0.0.1:5060".parse().unwrap());
    let s = String::from_utf8_lossy(bytes);
    assert!(s.starts_with("MESSAGE sip:romeo@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK"), "{s}");
    assert!(
        s.contains(";rport\r\nMax-Forwards: 70\r\nRoute: <sip:127.0.0.1:5060;lr>\r\n"),
        "{s}"
    );
    assert!(
        s.contains("From: \"Juliet \\\"J\\\"\" <sip:juliet@example.com;gr=balcony>;tag=t1\r\n"),
        "{s}"
    );
    assert!(
        s.contains("Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 5\r\n\r\nhello"),
        "{s}"
    );
    // and it parses back
    assert!(message::parse(bytes, true, 65535).is_ok());
}

#[test]
fn digest_challenge_is_answered_once() {
    let mut u = ua();
    let id = u.send_request(Instant::now(), outgoing());
    let ev = events(&mut u);
    let UaEvent::Send { bytes, .. } = &ev[0] else {
        panic!()
    };
    let Ok(Message::Request(req)) = message::parse(bytes, true, 65535) else {
        panic!()
    };
    let challenge = |req: &Request| {
        let mut r = Response::to_request(req, 407, "Proxy Authentication Required", Some("p"));
        r.headers.push(
            "Proxy-Authenticate",
            "Digest realm=\"sip.example.com\", nonce=\"abc\", qop=\"auth\"",
        );
        r.to_bytes()
    };
    u.on_datagram(Instant::now(), &challenge(&req), from());
    let ev = events(&mut u);
    let s = sent(&ev);
    assert_eq!(s.len(), 1, "{ev:?}");
    assert!(
        s[0].contains("CSeq: 2 MESSAGE")
            && s[0].contains("Proxy-Authorization: Digest username=\"stox\""),
        "{}",
        s[0]
    );
    let Ok(Message::Request(req2)) = message::parse(s[0].as_bytes(), true, 65535) else {
        panic!()
    };
    // a second challenge is passed up, not answered again
    u.on_datagram(Instant::now(), &challenge(&req2), from());
    let ev = events(&mut u);
    assert!(
        matches!(ev.as_slice(), [UaEvent::Response { tx, resp }] if *tx == id && resp.code == 407),
        "{ev:?}"
    );
}

#[test]
fn timeout_becomes_408_failure() {
    let mut u = ua();
    let now = Instant::now();
    let id = u.send_request(now, outgoing());
    events(&mut u);
    u.handle_timeout(now + Duration::from_secs(33));
    let ev: Vec<_> = events(&mut u)
        .into_iter()
        .filter(|e| !matches!(e, UaEvent::Send { .. }))
        .collect();
    assert!(
        matches!(ev.as_slice(), [UaEvent::Failed { tx, code: 408, .. }] if *tx == id),
        "{ev:?}"
    );
}

#[test]
fn rfc3263_lookup_then_send_keeps_the_id() {
    let mut u = ua();
    u.cfg.outbound_proxy = None;
    let mut o = outgoing();
    o.uri = "sip:romeo@example.net;transport=tcp".into();
    let id = u.send_request(Instant::now(), o.clone());
    let ev = events(&mut u);
    let [UaEvent::Resolve { id: ticket, lookup }] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(
        lookup,
        &Lookup {
            host: "example.net".into(),
            port: None,
            transport: Some(Transport::Tcp),
            secure: false
        }
    );
    assert_eq!(ticket.0, id.0);
    let dest = Dest {
        transport: Transport::Tcp,
        addr: "127.0.0.7:5060".parse().unwrap(),
    };
    u.resolved(Instant::now(), *ticket, Ok(vec![dest]));
    let ev = events(&mut u);
    assert!(
        matches!(ev.as_slice(), [UaEvent::Send { to, bytes }] if *to == dest && bytes.starts_with(b"MESSAGE sip:romeo@example.net;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP ")),
        "{ev:?}"
    );
    // the response comes back under the id the caller holds
    let UaEvent::Send { bytes, .. } = &ev[0] else {
        unreachable!()
    };
    let Ok(Message::Request(req)) = message::parse(bytes, false, 65535) else {
        panic!()
    };
    let ok = Response::to_request(&req, 200, "OK", Some("x"));
    u.on_datagram(Instant::now(), &ok.to_bytes(), dest);
    assert!(matches!(events(&mut u).as_slice(), [UaEvent::Response { tx, .. }] if *tx == id));
    // a name that does not resolve fails with 502
    let id2 = u.send_request(Instant::now(), o);
    events(&mut u);
    u.resolved(Instant::now(), LookupId(id2.0), Err("NXDOMAIN".into()));
    assert!(
        matches!(events(&mut u).as_slice(), [UaEvent::Failed { tx, code: 502, .. }] if *tx == id2)
    );
    assert_eq!(uri_lookup("sip:a@192.0.2.1:5070"), None);
    assert_eq!(
        uri_lookup("sips:a@example.org:5071").unwrap(),
        Lookup {
            host: "example.org".into(),
            port: Some(5071),
            transport: None,
            secure: true
        }
    );
}

#[test]
fn rfc3263_failover_to_the_next_target() {
    let mut u = ua();
    u.cfg.outbound_proxy = None;
    let now = Instant::now();
    let mut o = outgoing();
    o.uri = "sip:romeo@example.net".into();
    let id = u.send_request(now, o);
    let UaEvent::Resolve { id: ticket, .. } = events(&mut u).remove(0) else {
        panic!()
    };
    let a = Dest {
        transport: Transport::Tcp,
        addr: "127.0.0.7:5060".parse().unwrap(),
    };
    let b = Dest {
        transport: Transport::Udp,
        addr: "127.0.0.8:5060".parse().unwrap(),
    };
    let c = Dest {
        transport: Transport::Udp,
        addr: "127.0.0.9:5060".parse().unwrap(),
    };
    u.resolved(now, ticket, Ok(vec![a, b, c]));
    assert!(matches!(events(&mut u).as_slice(), [UaEvent::Send { to, .. }] if *to == a));
    // the first target's connection fails: the request goes to the second at once
    u.transport_failed(now, a, "connection refused");
    let ev = events(&mut u);
    assert!(
        matches!(ev.as_slice(), [UaEvent::Send { to, .. }] if *to == b),
        "{ev:?}"
    );
    // the second never answers: after Timer F, the third
    u.handle_timeout(now + Duration::from_secs(33));
    let ev: Vec<_> = events(&mut u)
        .into_iter()
        .filter(|e| !matches!(e, UaEvent::Send { to, .. } if *to == b))
        .collect();
    assert!(
        matches!(ev.as_slice(), [UaEvent::Send { to, .. }] if *to == c),
        "{ev:?}"
    );
    // the last one fails too: now the caller hears of it, under its own id
    u.handle_timeout(now + Duration::from_secs(70));
    let ev: Vec<_> = events(&mut u)
        .into_iter()
        .filter(|e| !matches!(e, UaEvent::Send { .. }))
        .collect();
    assert!(
        matches!(ev.as_slice(), [UaEvent::Failed { tx, code: 408, .. }] if *tx == id),
        "{ev:?}"
    );
}

#[test]
fn oversize_udp_request_fails_with_513() {
    // A UA without a TCP listener cannot move the request to TCP.
    let mut u = ua();
    u.cfg.ports = vec![(Transport::Udp, 5070)];
    let mut o = outgoing();
    o.body = Some(("text/plain".into(), vec![b'x'; 2000]));
    u.send_request(Instant::now(), o);
    assert!(matches!(
        events(&mut u).as_slice(),
        [UaEvent::Failed { code: 513, .. }]
    ));
}

/// RFC 3261 §18.1.1: a request over 1300 bytes goes to the same next hop over TCP.
#[test]
fn oversize_request_goes_over_tcp() {
    let mut u = ua();
    let mut o = outgoing();
    o.body = Some(("text/plain".into(), vec![b'x'; 3000]));
    o.size_limit = Some(60_000);
    u.send_request(Instant::now(), o);
    let ev = events(&mut u);
    let Some(UaEvent::Send { to, bytes }) = ev.first() else {
        panic!("{ev:?}")
    };
    assert_eq!(to.transport, Transport::Tcp);
    assert_eq!(to.addr, "127.0.0.1:5060".parse().unwrap());
    assert!(String::from_utf8_lossy(bytes).contains("Via: SIP/2.0/TCP "));
}
