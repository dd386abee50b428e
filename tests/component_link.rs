//! The XEP-0114 link over loopback against a scripted server: handshake, reconnect, keepalive,
//! the outgoing queue, and every iq the component domain answers.

mod support;

use std::time::{Duration, Instant};

use stox::xmpp::link::{self, LinkConfig, LinkEvent};
use support::*;
use tokio::sync::{mpsc, watch};
use xmpp_parsers::message::Message;
use xmpp_parsers::stanza::Stanza;

#[test]
fn handshake_vectors_from_the_spec_notes() {
    assert_eq!(
        handshake_for("3BF96D32", "secret"),
        "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136"
    );
    assert_eq!(
        handshake_for("3BF96D32", "s3cr3t"),
        "ba33290100f616a33656a931798d6c9011cfa840"
    );
    assert_eq!(
        handshake_for("4b2d8a1c-0f6e-4c59-9a4e-7d1f2e3a5b6c", "gatewaysecret"),
        "80e1f3ff530606c3bfb93c01c26186c28c82a933"
    );
    assert_eq!(
        handshake_for("abc", "pässword"),
        "d96e135112183078fa671a45f0ae00b918101cd1"
    );
}

fn msg(n: usize) -> Stanza {
    let mut m = Message::new(Some("juliet@example.com".parse().unwrap()));
    m.from = Some("romeo@sip.example.com".parse().unwrap());
    m.id = Some(xmpp_parsers::message::Id(format!("q{n}")));
    m.bodies.insert(Default::default(), format!("n{n}"));
    Stanza::Message(m)
}

fn link_cfg(server: std::net::SocketAddr, queue: usize) -> LinkConfig {
    let mut c = LinkConfig::from_config(&config(server, ""));
    c.queue = queue;
    c
}

async fn wait_event(rx: &mut mpsc::Receiver<LinkEvent>, want: fn(&LinkEvent) -> bool) -> LinkEvent {
    loop {
        let ev = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("no link event")
            .expect("link gone");
        if want(&ev) {
            return ev;
        }
    }
}

#[tokio::test]
async fn right_secret_authenticates_and_iq_is_answered() {
    let mut server = FakeServer::start().await;
    let (stop, task) = run_gateway(config(server.addr(), ""));
    let mut c = server.accept().await;
    c.send("<iq type='get' id='d1' from='juliet@example.com/balcony' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>").await;
    let r = c.expect("iq[@type='result'][@id='d1'][@to='juliet@example.com/balcony'][@from='sip.example.com']/query/identity[@category='gateway'][@type='simple']").await;
    let features: Vec<_> = r
        .children()
        .flat_map(|q| q.children())
        .filter_map(|f| f.attr("var"))
        .collect();
    for f in [
        "jabber:iq:gateway",
        "jid\\20escaping",
        "urn:xmpp:ping",
        "jabber:iq:version",
        "http://jabber.org/protocol/disco#info",
    ] {
        assert!(features.contains(&f), "missing {f} in {features:?}");
    }
    stop.send(()).unwrap();
    c.expect_closed().await;
    task.await.unwrap();
}

#[tokio::test]
async fn wrong_secret_is_refused_and_retried() {
    let mut server = FakeServer::start().await;
    let mut cfg = config(server.addr(), "");
    cfg.xmpp.secret = stox::config::Secret("wrong".into());
    let (stop, task) = run_gateway(cfg);
    for _ in 0..2 {
        let mut c = server.accept_raw().await;
        c.send("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='abc' from='sip.example.com'>").await;
        let hs = c.expect("handshake").await;
        assert_ne!(hs.text(), handshake_for("abc", SECRET));
        assert_eq!(hs.text(), handshake_for("abc", "wrong"));
        c.send("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Given token does not match calculated token</text></stream:error></stream:stream>").await;
        c.hang_up().await;
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn host_unknown_is_retried_with_backoff() {
    let mut server = FakeServer::start().await;
    let (stop, task) = run_gateway(config(server.addr(), ""));
    let mut times = vec![];
    for _ in 0..3 {
        let mut c = server.accept_raw().await;
        times.push(Instant::now());
        c.send("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='x' from='sip.example.com'><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>").await;
        c.hang_up().await;
    }
    // reconnect_min_ms = 50 → delays ≥ 25 ms, then ≥ 50 ms
    assert!(times[1] - times[0] >= Duration::from_millis(25));
    assert!(times[2] - times[1] >= Duration::from_millis(50));
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_link() {
    let mut server = FakeServer::start().await;
    let (stop, task) = run_gateway(config(server.addr(), ""));
    let c = server.accept().await;
    c.hang_up().await;
    let t = Instant::now();
    let mut c = server.accept().await;
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "reconnect took {:?}",
        t.elapsed()
    );
    c.send("<iq type='get' id='p1' from='juliet@example.com/b' to='sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    c.expect("iq[@type='result'][@id='p1']").await;
    // a stream footer from the server also triggers a reconnect
    c.send("</stream:stream>").await;
    let mut c = server.accept().await;
    c.send("<iq type='get' id='p2' from='juliet@example.com/b' to='sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    c.expect("iq[@type='result'][@id='p2']").await;
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn dead_link_is_detected_by_keepalive_ping() {
    let mut server = FakeServer::start().await;
    let mut cfg = link_cfg(server.addr(), 10);
    cfg.keepalive = Duration::from_millis(300);
    cfg.keepalive_timeout = Duration::from_millis(400);
    let (ev_tx, mut ev_rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (_h, task) = link::spawn(cfg, ev_tx, stop_rx);
    let mut c = server.accept().await;
    wait_event(&mut ev_rx, |e| matches!(e, LinkEvent::Up)).await;
    // The server goes silent: stox pings it, then gives up and redials.
    let ping = c
        .expect("iq[@type='get'][@to='example.com'][@from='sip.example.com']/ping")
        .await;
    assert!(ping.attr("id").unwrap().starts_with("stox-ping-"));
    let down = wait_event(&mut ev_rx, |e| matches!(e, LinkEvent::Down(_))).await;
    assert!(format!("{down:?}").contains("keepalive"), "{down:?}");
    let mut c2 = server.accept().await;
    wait_event(&mut ev_rx, |e| matches!(e, LinkEvent::Up)).await;
    // A server that answers pings keeps the link up (the answer is not passed on).
    let ping = c2.expect("iq/ping").await;
    c2.send(&format!(
        "<iq type='result' id='{}' from='example.com' to='sip.example.com'/>",
        ping.attr("id").unwrap()
    ))
    .await;
    let ping2 = c2.expect("iq/ping").await;
    assert_ne!(ping.attr("id"), ping2.attr("id"));
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    drop(c);
}

#[tokio::test]
async fn queued_stanzas_are_flushed_in_order_after_reconnect() {
    let mut server = FakeServer::start().await;
    let (ev_tx, mut ev_rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (h, task) = link::spawn(link_cfg(server.addr(), 100), ev_tx, stop_rx);
    let c = server.accept().await;
    wait_event(&mut ev_rx, |e| matches!(e, LinkEvent::Up)).await;
    c.hang_up().await;
    wait_event(&mut ev_rx, |e| matches!(e, LinkEvent::Down(_))).await;
    for n in 0..20 {
        h.try_send(msg(n)).unwrap();
    }
    let mut c = server.accept().await;
    for n in 0..20 {
        let m = c
            .expect(&format!(
                "message[@id='q{n}'][@from='romeo@sip.example.com'][@to='juliet@example.com']/body"
            ))
            .await;
        assert_eq!(
            m.get_child("body", "jabber:component:accept")
                .unwrap()
                .text(),
            format!("n{n}")
        );
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn full_queue_hands_the_stanza_back() {
    // Nothing listens: the link stays down and the queue fills.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (ev_tx, _ev_rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (h, task) = link::spawn(link_cfg(port, 3), ev_tx, stop_rx);
    for n in 0..3 {
        h.try_send(msg(n)).unwrap();
    }
    assert_eq!(h.capacity(), 0);
    let back = h.try_send(msg(3)).unwrap_err();
    assert!(matches!(back, Stanza::Message(m) if m.id.as_ref().unwrap().0 == "q3"));
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

/// Every iq the component answers, through the socket.
#[tokio::test]
async fn every_iq_is_answered() {
    let mut server = FakeServer::start().await;
    let (stop, task) = run_gateway(config(server.addr(), ""));
    let mut c = server.accept().await;
    let cases: &[(&str, &str)] = &[
        (
            "<iq type='get' id='i1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
            "iq[@type='result'][@id='i1']/query",
        ),
        (
            "<iq type='get' id='i2' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:version'/></iq>",
            "iq[@type='result'][@id='i2']/query/name",
        ),
        (
            "<iq type='get' id='i3' from='juliet@example.com/b' to='sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
            "iq[@type='result'][@id='i3']",
        ),
        (
            "<iq type='get' id='i4' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'/></iq>",
            "iq[@type='result'][@id='i4']/query/prompt",
        ),
        (
            "<iq type='set' id='i5' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'><prompt>romeo@example.net</prompt></query></iq>",
            "iq[@type='result'][@id='i5']/query/jid",
        ),
        (
            "<iq type='get' id='i6' from='juliet@example.com/b' to='sip.example.com'><query xmlns='urn:example:unknown'/></iq>",
            "iq[@type='error'][@id='i6']/error[@type='cancel']/service-unavailable",
        ),
        (
            "<iq type='set' id='i7' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:version'/></iq>",
            "iq[@type='error'][@id='i7']/error/feature-not-implemented",
        ),
        (
            "<iq type='get' id='i8' from='juliet@example.com/b' to='romeo@sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
            "iq[@type='result'][@id='i8'][@from='romeo@sip.example.com']/query/identity[@category='client']",
        ),
        (
            "<iq type='get' id='i9' from='juliet@example.com/b' to='romeo@sip.example.com'><vCard xmlns='vcard-temp'/></iq>",
            "iq[@type='error'][@id='i9']/error/service-unavailable",
        ),
        (
            "<iq type='set' id='i10' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'><prompt>tel:+123</prompt></query></iq>",
            "iq[@type='error'][@id='i10']/error/not-acceptable",
        ),
        (
            "<iq type='get' id='i11' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>",
            "iq[@type='error'][@id='i11']/error/item-not-found",
        ),
        // malformed stanzas get bad-request, and the stream goes on
        (
            "<message type='bogus' id='i12' from='juliet@example.com/b' to='romeo@sip.example.com'><body>x</body></message>",
            "message[@type='error'][@id='i12']/error[@type='modify']/bad-request",
        ),
        (
            "<iq type='get' id='i13' from='juliet@example.com/b' to='sip.example.com'/>",
            "iq[@type='error'][@id='i13']/error[@type='modify']/bad-request",
        ),
        (
            "<message id='m1' from='juliet@example.com/b' to='romeo@sip.example.com'><body>hi</body></message>",
            "message[@type='error'][@id='m1']/error/internal-server-error",
        ),
        (
            "<message id='m2' from='mallory@evil.example/x' to='romeo@sip.example.com'><body>hi</body></message>",
            "message[@type='error'][@id='m2']/error[@type='auth']/forbidden",
        ),
        (
            "<presence type='subscribe' id='s1' from='juliet@example.com' to='romeo@sip.example.com'/>",
            // The SUBSCRIBE goes out; the proxy refuses the connection (503 → RFC 7247 Table 3).
            "presence[@type='error'][@id='s1']/error/internal-server-error",
        ),
    ];
    for (send, want) in cases {
        c.send(send).await;
        c.expect(want).await;
    }
    // results and errors are never answered; broadcast presence is not bounced
    c.send("<iq type='result' id='r1' from='juliet@example.com/b' to='sip.example.com'/>")
        .await;
    c.send("<message type='error' id='e1' from='juliet@example.com/b' to='romeo@sip.example.com'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>").await;
    c.send("<presence from='juliet@example.com/b' to='romeo@sip.example.com'/>")
        .await;
    c.send("<iq type='get' id='last' from='juliet@example.com/b' to='sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    c.expect("iq[@type='result'][@id='last']").await;
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn xep0100_translation_uses_the_address_map() {
    let mut server = FakeServer::start().await;
    let (stop, task) = run_gateway(config(server.addr(), ""));
    let mut c = server.accept().await;
    for (prompt, jid) in [
        ("romeo@example.net", "romeo@sip.example.com"),
        (
            "sip:romeo@example.org",
            "romeo\\40example.org@sip.example.com",
        ),
        (
            "sip:o'malley@example.net;gr=abc",
            "o\\27malley@sip.example.com",
        ),
    ] {
        c.send(&format!("<iq type='set' id='g' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'><prompt>{prompt}</prompt></query></iq>")).await;
        let r = c.expect("iq[@type='result']/query/jid").await;
        let got = r
            .children()
            .next()
            .unwrap()
            .children()
            .next()
            .unwrap()
            .text();
        assert_eq!(got, jid, "prompt {prompt}");
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}
