//! Presence (RFC 8048) over loopback sockets: a scripted XMPP server, a raw SIP peer playing
//! the proxy and the far end, the real gateway with its real store in between.

mod support;

use std::time::Duration;

use support::sip::*;
use support::*;

fn reply_to(req: &str, code: u16, extra: &str) -> String {
    let mut r = answer(req, code, "OK");
    if !extra.is_empty() {
        r = r.replacen(
            "Content-Length: 0\r\n",
            &format!("{extra}Content-Length: 0\r\n"),
            1,
        );
    }
    r
}

async fn next_request(peer: &SipPeer, method: &str) -> String {
    loop {
        let (m, _) = peer.recv().await;
        if m.starts_with(method) {
            return m;
        }
    }
}

/// A SIP watcher: 200 and a pending NOTIFY, `subscribe` on the link, `subscribed` → active.
#[tokio::test]
async fn sip_watcher_gets_pending_then_active() {
    let mut s = setup("", "").await;
    let mut c = s.server.accept().await;
    let sub = format!(
        "SUBSCRIBE sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {peer};branch=z9hG4bKw1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:romeo@example.net>;tag=r1\r\nTo: <sip:juliet@example.com>\r\nCall-ID: watch-1\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:romeo@{peer}>\r\nEvent: presence\r\nAccept: application/pidf+xml\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n",
        peer = s.peer.addr()
    );
    s.peer.send_raw(s.stox_sip, (sub).as_bytes()).await;
    let (ok, _) = s.peer.recv().await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert_eq!(header(&ok, "Expires"), Some("600"));
    let n = next_request(&s.peer, "NOTIFY").await;
    assert!(
        header(&n, "Subscription-State")
            .unwrap()
            .starts_with("pending"),
        "{n}"
    );
    s.peer
        .send_raw(s.stox_sip, (reply_to(&n, 200, "")).as_bytes())
        .await;
    c.expect(
        "presence[@type='subscribe'][@from='romeo@sip.example.com'][@to='juliet@example.com']",
    )
    .await;
    c.send("<presence type='subscribed' from='juliet@example.com' to='romeo@sip.example.com'/>")
        .await;
    let n = next_request(&s.peer, "NOTIFY").await;
    assert!(
        header(&n, "Subscription-State")
            .unwrap()
            .starts_with("active"),
        "{n}"
    );
    s.peer
        .send_raw(s.stox_sip, (reply_to(&n, 200, "")).as_bytes())
        .await;
    c.send("<presence from='juliet@example.com/balcony' to='romeo@sip.example.com'><show>away</show></presence>")
        .await;
    let n = next_request(&s.peer, "NOTIFY").await;
    assert!(
        n.contains("<basic>open</basic>") && n.contains("<rpid:away/>"),
        "{n}"
    );
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

/// An XMPP watch survives a restart on a real SQLite file: the new process refreshes the
/// old dialog at once (same Call-ID, the peer's tag, the next CSeq).
#[tokio::test]
async fn xmpp_watch_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "[store]\npath = \"{}\"\n",
        dir.path().join("s.sqlite").display()
    );
    let mut s = setup("", &store).await;
    let mut c = s.server.accept().await;
    c.send(
        "<presence type='subscribe' id='s1' from='juliet@example.com' to='romeo@sip.example.com'/>",
    )
    .await;
    let sub = next_request(&s.peer, "SUBSCRIBE").await;
    let contact = format!(
        "Contact: <sip:romeo@{}>\r\nExpires: 3600\r\n",
        s.peer.addr()
    );
    s.peer
        .send_raw(s.stox_sip, (reply_to(&sub, 200, &contact)).as_bytes())
        .await;
    let call_id = header(&sub, "Call-ID").unwrap().to_string();
    let our_tag = header(&sub, "From")
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string();
    let body = "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:romeo@example.net'><tuple id='ID-desk'><status><basic>open</basic></status></tuple></presence>";
    let notify = format!(
        "NOTIFY sip:juliet@{stox} SIP/2.0\r\nVia: SIP/2.0/UDP {peer};branch=z9hG4bKn1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:romeo@example.net>;tag=peer\r\nTo: <sip:juliet@example.com>;tag={our_tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 NOTIFY\r\nContact: <sip:romeo@{peer}>\r\nEvent: presence\r\nSubscription-State: active;expires=3600\r\nContent-Type: application/pidf+xml\r\nContent-Length: {len}\r\n\r\n{body}",
        stox = s.stox_sip,
        peer = s.peer.addr(),
        len = body.len()
    );
    s.peer.send_raw(s.stox_sip, (notify).as_bytes()).await;
    c.expect("presence[@type='subscribed'][@from='romeo@sip.example.com']")
        .await;
    c.expect("presence[@from='romeo@sip.example.com/desk']")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
    drop(c);

    // Same store, same SIP port and proxy: a new process.
    let cfg = config(
        s.server.addr(),
        &format!(
            "listen = [\"udp:{}\"]\noutbound_proxy = \"sip:{}\"\n{store}",
            s.stox_sip,
            s.peer.addr()
        ),
    );
    let (stop, task) = run_gateway(cfg);
    let mut c = s.server.accept().await;
    let refresh = next_request(&s.peer, "SUBSCRIBE").await;
    assert_eq!(
        header(&refresh, "Call-ID"),
        Some(call_id.as_str()),
        "{refresh}"
    );
    assert!(
        header(&refresh, "To").unwrap().contains("tag=peer"),
        "{refresh}"
    );
    assert_eq!(header(&refresh, "CSeq"), Some("2 SUBSCRIBE"));
    assert!(
        c.recv_within(Duration::from_millis(300))
            .await
            .is_none_or(|e| !String::from(&e).contains("subscribe")),
        "nobody is asked again"
    );
    stop.send(()).unwrap();
    task.await.unwrap();
}
