//! RFC 7573 chat sessions over loopback sockets: the scripted XMPP server, a raw SIP peer on
//! UDP (playing proxy and UA) and a raw MSRP peer on TCP, with the real gateway between.
//! MSRP frames here are written and read as bytes, not with stox's codec.

mod support;

use std::time::Duration;

use support::msrp::{MsrpPeer, sdp_path};
use support::sip::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

fn offer(path: &str, setup: Option<&str>) -> String {
    let setup = setup
        .map(|s| format!("a=setup:{s}\r\n"))
        .unwrap_or_default();
    format!(
        "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7313 TCP/MSRP *\r\na=accept-types:text/plain application/im-iscomposing+xml\r\na=path:{path}\r\n{setup}"
    )
}

fn invite(peer: std::net::SocketAddr, body: &str) -> String {
    format!(
        "INVITE sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {peer};branch=z9hG4bKchat1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:romeo@example.net>;tag=r1\r\nTo: <sip:juliet@example.com>\r\nCall-ID: chat-int-1\r\nCSeq: 1 INVITE\r\nContact: <sip:romeo@{peer}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn in_dialog(peer: std::net::SocketAddr, method: &str, tag: &str, cseq: u32) -> String {
    format!(
        "{method} sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {peer};branch=z9hG4bK{method}{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:romeo@example.net>;tag=r1\r\nTo: <sip:juliet@example.com>;tag={tag}\r\nCall-ID: chat-int-1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A final response to the request `req` with a body.
fn answer_with(req: &str, code: u16, contact: &str, sdp: &str) -> String {
    let head = answer(req, code, if code == 200 { "OK" } else { "Error" });
    let head = head.trim_end_matches("Content-Length: 0\r\n\r\n");
    format!(
        "{head}Contact: <{contact}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

#[tokio::test]
async fn sip_initiated_session_with_a_chunked_message_and_bye() {
    let mut s = setup("", "").await;
    let mut c = s.server.accept().await;
    let theirs = "msrp://127.0.0.1:7313/ansp71weztas;tcp";
    s.peer
        .send_raw(
            s.stox_sip,
            invite(s.peer.addr(), &offer(theirs, None)).as_bytes(),
        )
        .await;
    let (trying, _) = s.peer.recv().await;
    assert!(trying.starts_with("SIP/2.0 100 "), "{trying}");
    let (ok, _) = s.peer.recv().await;
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    assert!(ok.contains("a=setup:passive\r\n"), "{ok}");
    let tag = header(&ok, "To")
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string();
    s.peer
        .send_raw(
            s.stox_sip,
            in_dialog(s.peer.addr(), "ACK", &tag, 1).as_bytes(),
        )
        .await;
    let ours = sdp_path(&ok);
    let mut m = MsrpPeer::connect(&ours).await;
    // a 5000-byte message in three chunks, each written in small pieces
    let body: String = "0123456789".repeat(500);
    for (i, (a, b)) in [(0, 2048), (2048, 4096), (4096, 5000)]
        .into_iter()
        .enumerate()
    {
        let flag = if b == 5000 { '$' } else { '+' };
        let tid = format!("chunk00{i}");
        let f = format!(
            "MSRP {tid} SEND\r\nTo-Path: {ours}\r\nFrom-Path: {theirs}\r\nMessage-ID: big1\r\nByte-Range: {}-{b}/5000\r\nContent-Type: text/plain\r\n\r\n{}\r\n-------{tid}{flag}\r\n",
            a + 1,
            &body[a..b]
        );
        for piece in f.as_bytes().chunks(333) {
            m.s.write_all(piece).await.unwrap();
            m.s.flush().await.unwrap();
        }
        let r = m.frame().await;
        assert!(
            r.starts_with(&format!(
                "MSRP {tid} 200 OK\r\nTo-Path: {theirs}\r\nFrom-Path: {ours}\r\n"
            )),
            "{r}"
        );
    }
    let st = c
        .expect("message[@type='chat'][@from='romeo@sip.example.com'][@to='juliet@example.com'][@id='chunk002']/body")
        .await;
    let xml = String::from(&st);
    assert!(
        xml.contains(&body) && xml.contains("<thread>chat-int-1</thread>"),
        "one stanza for the whole message"
    );
    // the reply goes back over the same connection
    c.send("<message type='chat' id='reply1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><thread>chat-int-1</thread><body>Wherefore art thou?</body></message>").await;
    let f = m.frame().await;
    assert!(
        f.starts_with(&format!(
            "MSRP reply1 SEND\r\nTo-Path: {theirs}\r\nFrom-Path: {ours}\r\n"
        )),
        "{f}"
    );
    assert!(
        f.ends_with("\r\n\r\nWherefore art thou?\r\n-------reply1$\r\n"),
        "{f}"
    );
    // BYE → 200, <gone/>, connection closed
    s.peer
        .send_raw(
            s.stox_sip,
            in_dialog(s.peer.addr(), "BYE", &tag, 2).as_bytes(),
        )
        .await;
    let (r, _) = s.peer.recv().await;
    assert!(
        r.starts_with("SIP/2.0 200 OK\r\n") && r.contains("CSeq: 2 BYE"),
        "{r}"
    );
    c.expect("message[@type='chat'][@from='romeo@sip.example.com']/gone")
        .await;
    assert!(m.closed().await, "MSRP connection closed after BYE");
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

#[tokio::test]
async fn xmpp_initiated_session_connects_sends_and_ends_with_bye_on_gone() {
    let mut s = setup("", "").await;
    let mut c = s.server.accept().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let theirs = format!("msrp://{}/peerSess9;tcp", listener.local_addr().unwrap());
    c.send("<message type='chat' id='first1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>Art thou not Romeo?</body><request xmlns='urn:xmpp:receipts'/></message>").await;
    let (inv, from) = s.peer.recv().await;
    assert!(
        inv.starts_with("INVITE sip:romeo@example.net SIP/2.0\r\n"),
        "{inv}"
    );
    assert!(inv.contains("a=setup:actpass\r\n"), "{inv}");
    c.send("<message type='chat' id='second' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>queued</body></message>").await;
    let ok = answer_with(
        &inv,
        200,
        &format!("sip:romeo@{}", s.peer.addr()),
        &offer(&theirs, Some("passive")),
    );
    s.peer.send_raw(from, ok.as_bytes()).await;
    let (ack, _) = s.peer.recv().await;
    assert!(
        ack.starts_with(&format!("ACK sip:romeo@{} SIP/2.0\r\n", s.peer.addr())),
        "{ack}"
    );
    let mut m = MsrpPeer::accept(&listener).await;
    let f1 = m.frame().await;
    assert!(
        f1.starts_with(&format!("MSRP first1 SEND\r\nTo-Path: {theirs}\r\n")),
        "{f1}"
    );
    assert!(f1.contains("Success-Report: yes\r\n"), "{f1}");
    let mid = f1
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .to_string();
    let ours = f1
        .split("\r\n")
        .find_map(|l| l.strip_prefix("From-Path: "))
        .unwrap()
        .to_string();
    let f2 = m.frame().await;
    assert!(
        f2.starts_with("MSRP second SEND\r\n") && f2.contains("\r\n\r\nqueued\r\n"),
        "{f2}"
    );
    // REPORT → receipt with the original stanza id
    let rep = format!(
        "MSRP rep00001 REPORT\r\nTo-Path: {ours}\r\nFrom-Path: {theirs}\r\nMessage-ID: {mid}\r\nByte-Range: 1-18/18\r\nStatus: 000 200 OK\r\n-------rep00001$\r\n"
    );
    m.s.write_all(rep.as_bytes()).await.unwrap();
    c.expect("message[@to='juliet@example.com/balcony']/received[@id='first1']")
        .await;
    // gone → BYE to the peer's Contact, connection closed
    c.send("<message type='chat' from='juliet@example.com/balcony' to='romeo@sip.example.com'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>").await;
    let (bye, from) = s.peer.recv().await;
    assert!(
        bye.starts_with(&format!("BYE sip:romeo@{} SIP/2.0\r\n", s.peer.addr())),
        "{bye}"
    );
    s.peer
        .send_raw(from, answer(&bye, 200, "OK").as_bytes())
        .await;
    assert!(m.closed().await);
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

#[tokio::test]
async fn session_refused_by_the_peer_falls_back_to_message() {
    let mut s = setup("", "").await;
    let mut c = s.server.accept().await;
    c.send("<message type='chat' id='fb1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>plain old page mode</body></message>").await;
    let (inv, from) = s.peer.recv().await;
    assert!(inv.starts_with("INVITE "));
    s.peer
        .send_raw(from, answer(&inv, 488, "Not Acceptable Here").as_bytes())
        .await;
    // the ACK for the 488 (in the INVITE transaction), then the MESSAGE
    let mut got_message = false;
    for _ in 0..3 {
        let (r, from) = s.peer.recv().await;
        if r.starts_with("MESSAGE ") {
            assert!(r.ends_with("\r\n\r\nplain old page mode"), "{r}");
            s.peer
                .send_raw(from, answer(&r, 200, "OK").as_bytes())
                .await;
            got_message = true;
            break;
        }
        assert!(r.starts_with("ACK "), "{r}");
    }
    assert!(got_message);
    assert!(
        c.recv_within(Duration::from_millis(300)).await.is_none(),
        "no error: delivered"
    );
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}
