//! RFC 7702 over loopback sockets: the scripted XMPP server (playing the user's server and
//! its MUC service), a raw SIP peer on UDP (playing the proxy, the SIP participant or the
//! room's focus) and raw MSRP over TCP, with the real gateway between. MSRP is written and
//! read as bytes, not with stox's codec.

mod support;

use support::msrp::{MsrpPeer, sdp_path};
use support::sip::*;

use tokio::net::TcpListener;

fn muc(cfg: &mut stox::config::Config) {
    cfg.xmpp.muc_domains = vec!["muc.example.com".into()];
    cfg.groupchat.notify_interval_ms = 0;
}

fn with_body(head: &str, ctype: &str, body: &str) -> String {
    format!(
        "{head}Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn tid(f: &str) -> String {
    f.split(' ').nth(1).unwrap().to_string()
}

/// §6: a SIP participant in an XMPP room; stox is the focus.
#[tokio::test]
async fn sip_participant_in_an_xmpp_room() {
    let mut s = setup_with("", "", muc).await;
    let mut c = s.server.accept().await;
    let peer = s.peer.addr();
    let theirs = "msrp://127.0.0.1:7313/romeo77;tcp";
    let sdp = format!(
        "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7313 TCP/MSRP *\r\na=accept-types:message/cpim\r\na=accept-wrapped-types:text/plain\r\na=path:{theirs}\r\na=chatroom:nickname private-messages\r\n"
    );
    let inv = with_body(
        &format!(
            "INVITE sip:capulet@muc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP {peer};branch=z9hG4bKg1;rport\r\nMax-Forwards: 70\r\nFrom: \"Romeo\" <sip:romeo@example.net>;tag=r1\r\nTo: <sip:capulet@muc.example.com>\r\nCall-ID: room-int-1\r\nCSeq: 1 INVITE\r\nContact: <sip:romeo@{peer}>\r\n"
        ),
        "application/sdp",
        &sdp,
    );
    s.peer.send_raw(s.stox_sip, inv.as_bytes()).await;
    let ok = loop {
        let (r, _) = s.peer.recv().await;
        if r.starts_with("SIP/2.0 200") {
            break r;
        }
    };
    assert!(
        header(&ok, "Contact").unwrap().ends_with(";isfocus"),
        "{ok}"
    );
    assert!(
        ok.contains("a=chatroom:nickname private-messages\r\n"),
        "{ok}"
    );
    let tag = header(&ok, "To")
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string();
    let dlg = |method: &str, seq: u32, extra: &str| {
        format!(
            "{method} sip:capulet@muc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP {peer};branch=z9hG4bK{method}{seq};rport\r\nMax-Forwards: 70\r\nFrom: \"Romeo\" <sip:romeo@example.net>;tag=r1\r\nTo: <sip:capulet@muc.example.com>;tag={tag}\r\nCall-ID: room-int-1\r\nCSeq: {seq} {method}\r\nContact: <sip:romeo@{peer}>\r\n{extra}Content-Length: 0\r\n\r\n"
        )
    };
    s.peer
        .send_raw(s.stox_sip, dlg("ACK", 1, "").as_bytes())
        .await;
    let ours = sdp_path(&ok);
    let mut m = MsrpPeer::connect(&ours).await;
    m.send(&format!("MSRP bind0001 SEND\r\nTo-Path: {ours}\r\nFrom-Path: {theirs}\r\nMessage-ID: b1\r\nByte-Range: 1-0/0\r\n-------bind0001$\r\n")).await;
    assert!(m.frame().await.starts_with("MSRP bind0001 200 OK"));
    m.send(&format!("MSRP nick0001 NICKNAME\r\nTo-Path: {ours}\r\nFrom-Path: {theirs}\r\nUse-Nickname: \"Romeo\"\r\n-------nick0001$\r\n")).await;
    let join = c
        .expect("presence[@to='capulet@muc.example.com/Romeo']/x")
        .await;
    let me = join.attr("from").unwrap().to_string();
    assert!(me.starts_with("romeo@sip.example.com/"), "{me}");
    // the SIP user subscribes in the INVITE dialog; the first NOTIFY comes at once
    s.peer
        .send_raw(
            s.stox_sip,
            dlg(
                "SUBSCRIBE",
                2,
                "Event: conference\r\nExpires: 600\r\nAccept: application/conference-info+xml\r\n",
            )
            .as_bytes(),
        )
        .await;
    let (r, _) = s.peer.recv().await;
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    let (n1, from) = s.peer.recv().await;
    assert!(
        n1.starts_with("NOTIFY ") && n1.contains("version=\"1\""),
        "{n1}"
    );
    s.peer
        .send_raw(from, answer(&n1, 200, "OK").as_bytes())
        .await;
    // the MUC: another occupant, then our self-presence
    c.send(&format!("<presence from='capulet@muc.example.com/Juliet' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/></x></presence>")).await;
    c.send(&format!("<presence from='capulet@muc.example.com/Romeo' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>")).await;
    let r = m.frame().await;
    assert!(r.starts_with("MSRP nick0001 200 OK\r\n"), "{r}");
    let (n2, from) = s.peer.recv().await;
    assert!(
        n2.contains("version=\"2\"")
            && n2.contains("state=\"full\"")
            && n2.contains("gr=Juliet")
            && n2.contains("gr=Romeo"),
        "{n2}"
    );
    s.peer
        .send_raw(from, answer(&n2, 200, "OK").as_bytes())
        .await;
    // SEND → groupchat
    let cpim = "From: <sip:romeo@example.net>\r\nTo: <sip:capulet@muc.example.com>\r\n\r\nContent-Type: text/plain\r\n\r\nRomeo is here!";
    m.send(&format!("MSRP send0001 SEND\r\nTo-Path: {ours}\r\nFrom-Path: {theirs}\r\nMessage-ID: s1\r\nByte-Range: 1-{0}/{0}\r\nContent-Type: message/cpim\r\n\r\n{cpim}\r\n-------send0001$\r\n", cpim.len())).await;
    assert!(m.frame().await.starts_with("MSRP send0001 200 OK"));
    c.expect("message[@type='groupchat'][@to='capulet@muc.example.com']/body")
        .await;
    // the room → CPIM SEND (not our own reflection)
    c.send(&format!("<message type='groupchat' id='s0001' from='capulet@muc.example.com/Romeo' to='{me}'><body>Romeo is here!</body></message>")).await;
    c.send(&format!("<message type='groupchat' id='j0001' from='capulet@muc.example.com/Juliet' to='{me}'><body>Who is there?</body></message>")).await;
    let f = m.frame().await;
    assert!(
        f.contains(
            "From: <sip:capulet@muc.example.com;gr=Juliet>\r\nTo: <sip:capulet@muc.example.com>\r\n"
        ) && f.contains("\r\n\r\nWho is there?\r\n-------"),
        "{f}"
    );
    m.send(&format!(
        "MSRP {0} 200 OK\r\nTo-Path: {ours}\r\nFrom-Path: {theirs}\r\n-------{0}$\r\n",
        tid(&f)
    ))
    .await;
    // BYE → unavailable
    s.peer
        .send_raw(s.stox_sip, dlg("BYE", 3, "").as_bytes())
        .await;
    c.expect("presence[@type='unavailable'][@to='capulet@muc.example.com/Romeo']")
        .await;
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

/// §5: an XMPP user in a SIP room; stox is the participant, the SIP peer the focus.
#[tokio::test]
async fn xmpp_user_in_a_sip_room() {
    let mut s = setup_with("", "", muc).await;
    let mut c = s.server.accept().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let switch = format!("msrp://{}/switch1;tcp", listener.local_addr().unwrap());
    let room = "montague\\40chat.example.org@sip.example.com";
    c.send(&format!("<presence from='juliet@example.com/balcony' to='{room}/JuliC'><x xmlns='http://jabber.org/protocol/muc'/></presence>")).await;
    let (inv, from) = s.peer.recv().await;
    assert!(
        inv.starts_with("INVITE sip:montague@chat.example.org SIP/2.0\r\n"),
        "{inv}"
    );
    let sdp = format!(
        "v=0\r\no=focus 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 1 TCP/MSRP *\r\na=accept-types:message/cpim\r\na=path:{switch}\r\na=setup:passive\r\na=chatroom:nickname private-messages\r\n"
    );
    let head = answer(&inv, 200, "OK");
    let head = head.trim_end_matches("Content-Length: 0\r\n\r\n");
    let ok = with_body(
        &format!(
            "{head}Contact: <sip:montague@{}>;isfocus\r\n",
            s.peer.addr()
        ),
        "application/sdp",
        &sdp,
    );
    s.peer.send_raw(from, ok.as_bytes()).await;
    let (ack, _) = s.peer.recv().await;
    assert!(ack.starts_with("ACK "), "{ack}");
    let mut m = MsrpPeer::accept(&listener).await;
    let bind = m.frame().await;
    assert!(bind.contains(" SEND\r\n"), "{bind}");
    let ours = bind
        .split("From-Path: ")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap()
        .to_string();
    m.send(&format!(
        "MSRP {0} 200 OK\r\nTo-Path: {ours}\r\nFrom-Path: {switch}\r\n-------{0}$\r\n",
        tid(&bind)
    ))
    .await;
    let nick = m.frame().await;
    assert!(nick.contains("Use-Nickname: \"JuliC\"\r\n"), "{nick}");
    m.send(&format!(
        "MSRP {0} 200 OK\r\nTo-Path: {ours}\r\nFrom-Path: {switch}\r\n-------{0}$\r\n",
        tid(&nick)
    ))
    .await;
    let (sub, from) = s.peer.recv().await;
    assert!(
        sub.starts_with("SUBSCRIBE ") && sub.contains("Event: conference\r\n"),
        "{sub}"
    );
    s.peer
        .send_raw(from, answer(&sub, 200, "OK").as_bytes())
        .await;
    let our_tag = header(&inv, "From")
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string();
    let doc = "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"sip:montague@chat.example.org\" state=\"full\" version=\"1\"><users><user entity=\"sip:montague@chat.example.org;gr=Romeo\"><display-text>Romeo</display-text></user></users></conference-info>";
    let notify = with_body(
        &format!(
            "NOTIFY sip:juliet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKcn1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:montague@chat.example.org>;tag=peer\r\nTo: <sip:juliet@example.com>;tag={our_tag}\r\nCall-ID: {}\r\nCSeq: 1 NOTIFY\r\nEvent: conference\r\nSubscription-State: active;expires=600\r\n",
            s.peer.addr(),
            header(&inv, "Call-ID").unwrap()
        ),
        "application/conference-info+xml",
        doc,
    );
    // the 200 to the INVITE was answered with To tag "peer"? answer() picks its own: reuse it
    let peer_tag = header(&ok, "To")
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string();
    let notify = notify.replace("tag=peer\r\n", &format!("tag={peer_tag}\r\n"));
    s.peer.send_raw(s.stox_sip, notify.as_bytes()).await;
    let (r, _) = s.peer.recv().await;
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    c.expect(&format!("presence[@from='{room}/Romeo']/x")).await;
    let me = c
        .expect(&format!(
            "presence[@from='{room}/JuliC']/x/status[@code='110']"
        ))
        .await;
    let _ = me;
    c.expect("message[@type='groupchat']/subject").await;
    c.send(&format!("<message type='groupchat' id='g0000001' from='juliet@example.com/balcony' to='{room}'><body>Who knows where Romeo is?</body></message>")).await;
    let f = m.frame().await;
    assert!(
        f.starts_with("MSRP g0000001 SEND\r\n") && f.contains("Content-Type: message/cpim\r\n"),
        "{f}"
    );
    m.send(&format!(
        "MSRP g0000001 200 OK\r\nTo-Path: {ours}\r\nFrom-Path: {switch}\r\n-------g0000001$\r\n"
    ))
    .await;
    c.expect(&format!(
        "message[@type='groupchat'][@from='{room}/JuliC'][@id='g0000001']/body"
    ))
    .await;
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}
