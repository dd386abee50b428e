//! Page-mode IM over loopback sockets: a scripted XMPP server on one side, a raw SIP peer
//! (playing the proxy) on the other, the real gateway in between.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::sip::*;
use support::*;

const MESSAGE: &str = "MESSAGE sip:juliet@example.com SIP/2.0
Via: SIP/2.0/UDP {PEER};branch=z9hG4bK{BRANCH};rport
Max-Forwards: 70
To: <sip:juliet@example.com>
From: <sip:romeo@example.net;gr=dr4hcr0st3lup4c>;tag=vwxyz
Call-ID: 9E97FB43-85F4-4A00-8751-1124FD4C7B2E
CSeq: 1 MESSAGE
Subject: Verona
Content-Language: cs
Content-Type: text/plain;charset=UTF-8
Content-Length: {CL}

";

fn sip_message(peer: SocketAddr, branch: &str, body: &str) -> String {
    let body_crlf = body.replace('\n', "\r\n");
    MESSAGE
        .replace("{PEER}", &peer.to_string())
        .replace("{BRANCH}", branch)
        .replace("{CL}", &body_crlf.len().to_string())
        + body
}

/// RFC 7572 Tables 1 and 2 to the letter (`im.page_form = "rfc7572"`).
const RFC_FORM: &str = "[im]\npage_form = \"rfc7572\"\n";

#[tokio::test]
async fn sip_message_becomes_a_stanza_and_gets_200() {
    let mut s = setup("", RFC_FORM).await;
    let mut c = s.server.accept().await;
    s.peer
        .send(
            s.stox_sip,
            &sip_message(s.peer.addr(), "a1", "Neither, fair saint — ❤"),
        )
        .await;
    let m = c
        .expect("message[@from='romeo@sip.example.com/dr4hcr0st3lup4c'][@to='juliet@example.com'][@id='z9hG4bKa1']/body")
        .await;
    let xml = String::from(&m);
    assert!(
        xml.contains("<thread>9E97FB43-85F4-4A00-8751-1124FD4C7B2E</thread>"),
        "{xml}"
    );
    assert!(
        xml.contains("xml:lang='cs'>Neither, fair saint — ❤</body>"),
        "{xml}"
    );
    assert!(
        xml.contains("<subject xml:lang='cs'>Verona</subject>"),
        "{xml}"
    );
    let (resp, _) = s.peer.recv().await;
    assert!(resp.starts_with("SIP/2.0 200 OK\r\n"), "{resp}");
    assert!(
        header(&resp, "Via")
            .unwrap()
            .contains(&format!("rport={}", s.peer.addr().port())),
        "{resp}"
    );
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

#[tokio::test]
async fn stanza_becomes_a_message_and_errors_come_back() {
    let mut s = setup("", RFC_FORM).await;
    let mut c = s.server.accept().await;
    c.send("<message id='x1' from='juliet@example.com/yn0cl4bnw0yr3vym' to='romeo@sip.example.com' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body><subject>Verona</subject><thread>thr-42</thread></message>").await;
    let (req, from) = s.peer.recv().await;
    assert!(
        req.starts_with("MESSAGE sip:romeo@example.net SIP/2.0\r\n"),
        "{req}"
    );
    assert!(
        header(&req, "From")
            .unwrap()
            .starts_with("<sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>;tag="),
        "{req}"
    );
    assert_eq!(header(&req, "To"), Some("<sip:romeo@example.net>"));
    assert_eq!(header(&req, "Call-ID"), Some("thr-42"));
    assert_eq!(header(&req, "Subject"), Some("Verona"));
    assert_eq!(header(&req, "Content-Language"), Some("en"));
    assert_eq!(
        header(&req, "Content-Type"),
        Some("text/plain;charset=UTF-8")
    );
    assert_eq!(
        header(&req, "Call-Info"),
        Some("<xmpp:juliet@example.com>;purpose=impp")
    );
    assert_eq!(
        header(&req, "Route"),
        Some(format!("<sip:{};lr>", s.peer.addr()).as_str())
    );
    assert!(
        req.ends_with("\r\n\r\nArt thou not Romeo, and a Montague?"),
        "{req}"
    );
    s.peer
        .send_raw(from, answer(&req, 404, "Not Found").as_bytes())
        .await;
    c.expect("message[@type='error'][@id='x1'][@to='juliet@example.com/yn0cl4bnw0yr3vym'][@from='romeo@sip.example.com']/error[@type='cancel']/item-not-found").await;

    // 200: no stanza back
    c.send("<message id='x2' from='juliet@example.com/r' to='romeo@sip.example.com'><body>ok?</body><thread>thr-42</thread></message>").await;
    let (req, from) = s.peer.recv().await;
    assert_eq!(
        header(&req, "CSeq"),
        Some("2 MESSAGE"),
        "same Call-ID, next CSeq"
    );
    s.peer
        .send_raw(from, answer(&req, 200, "OK").as_bytes())
        .await;
    // 480 → recipient-unavailable (wait)
    c.send("<message id='x3' from='juliet@example.com/r' to='romeo@sip.example.com'><body>there?</body></message>").await;
    let (req, from) = s.peer.recv().await;
    s.peer
        .send_raw(
            from,
            answer(&req, 480, "Temporarily Unavailable").as_bytes(),
        )
        .await;
    let e = c
        .expect("message[@type='error'][@id='x3']/error[@type='wait']/recipient-unavailable")
        .await;
    assert!(String::from(&e).contains("SIP 480 Temporarily Unavailable"));
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

#[tokio::test]
async fn unanswered_message_times_out_as_remote_server_timeout() {
    let mut s = setup("", "").await;
    let mut c = s.server.accept().await;
    c.send("<message id='t1' from='juliet@example.com/r' to='romeo@sip.example.com'><body>hello?</body></message>").await;
    // the peer sees the retransmissions (T1 = 10 ms) and never answers
    let mut seen = 0;
    while s
        .peer
        .recv_within(Duration::from_millis(300))
        .await
        .is_some()
    {
        seen += 1;
    }
    assert!(seen >= 3, "retransmissions seen: {seen}");
    c.expect_skipping_pings("message[@type='error'][@id='t1']/error/remote-server-timeout")
        .await;
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

#[tokio::test]
async fn oversize_message_is_refused_before_sip() {
    let mut s = setup("", "").await;
    let mut c = s.server.accept().await;
    let body = "x".repeat(1400);
    c.send(&format!("<message id='big' from='juliet@example.com/r' to='romeo@sip.example.com'><body>{body}</body></message>")).await;
    c.expect("message[@type='error'][@id='big']/error[@type='modify']/policy-violation")
        .await;
    assert!(
        s.peer
            .recv_within(Duration::from_millis(200))
            .await
            .is_none(),
        "nothing was sent to SIP"
    );
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

#[tokio::test]
async fn refusals_on_the_sip_side() {
    let mut s = setup("", "").await;
    let mut c = s.server.accept().await;
    let peer = s.peer.addr();
    // spoofed From in an XMPP domain
    let spoof = sip_message(peer, "s1", "hi").replace(
        "From: <sip:romeo@example.net;gr=dr4hcr0st3lup4c>",
        "From: <sip:admin@example.com>",
    );
    s.peer.send(s.stox_sip, &spoof).await;
    assert!(
        s.peer
            .recv()
            .await
            .0
            .starts_with("SIP/2.0 403 From claims an identity of the XMPP side\r\n")
    );
    // unsupported content type
    let pdf =
        sip_message(peer, "s2", "%PDF").replace("text/plain;charset=UTF-8", "application/pdf");
    s.peer.send(s.stox_sip, &pdf).await;
    let (r, _) = s.peer.recv().await;
    assert!(
        r.starts_with("SIP/2.0 415 ")
            && header(&r, "Accept")
                == Some(
                    "text/plain, text/html, message/cpim, message/imdn+xml, application/im-iscomposing+xml"
                ),
        "{r}"
    );
    // malformed
    s.peer
        .send(
            s.stox_sip,
            &sip_message(peer, "s3", "hi").replace("CSeq: 1 MESSAGE", "CSeq: one MESSAGE"),
        )
        .await;
    assert!(
        s.peer
            .recv()
            .await
            .0
            .starts_with("SIP/2.0 400 Bad CSeq header\r\n")
    );
    // sips:
    s.peer
        .send(
            s.stox_sip,
            &sip_message(peer, "s4", "hi").replace("MESSAGE sip:juliet", "MESSAGE sips:juliet"),
        )
        .await;
    assert!(s.peer.recv().await.0.starts_with("SIP/2.0 403 "));
    // unknown method
    s.peer
        .send(
            s.stox_sip,
            &sip_message(peer, "s5", "hi")
                .replace("MESSAGE sip:", "FROBNICATE sip:")
                .replace("1 MESSAGE", "1 FROBNICATE"),
        )
        .await;
    let (r, _) = s.peer.recv().await;
    assert!(
        r.starts_with("SIP/2.0 405 ") && header(&r, "Allow").is_some(),
        "{r}"
    );
    // none of them reached XMPP
    c.send("<iq type='get' id='p' from='juliet@example.com/b' to='sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    c.expect("iq[@id='p']").await;
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

#[tokio::test]
async fn untrusted_source_is_refused() {
    // The default trusted_peers covers 127.0.0.0/8; narrow it so 127.0.0.2 is outside.
    let evil = SipPeer::bind("127.0.0.2").await;
    let mut s2 = setup("trusted_peers = [\"127.0.0.1/32\"]", "").await;
    let _c2 = s2.server.accept().await;
    evil.send(s2.stox_sip, &sip_message(evil.addr(), "u1", "hi"))
        .await;
    let (r, _) = evil.recv().await;
    assert!(
        r.starts_with("SIP/2.0 403 Forbidden (untrusted source)\r\n"),
        "{r}"
    );
    s2.stop.send(()).unwrap();
    s2.task.await.unwrap();
}

#[tokio::test]
async fn full_queue_answers_503_with_retry_after() {
    let mut s = setup("", "[limits]\nxmpp_queue = 1\n").await;
    // The link comes up once, then the server goes away: stanzas can only queue.
    let c = s.server.accept().await;
    c.hang_up().await;
    drop(s.server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let peer = s.peer.addr();
    s.peer
        .send(s.stox_sip, &sip_message(peer, "q1", "first"))
        .await;
    let (r1, _) = s.peer.recv().await;
    s.peer
        .send(s.stox_sip, &sip_message(peer, "q2", "second"))
        .await;
    let (r2, _) = s.peer.recv().await;
    assert!(
        r1.starts_with("SIP/2.0 200 OK\r\n"),
        "the first waits in the queue: {r1}"
    );
    assert!(
        r2.starts_with("SIP/2.0 503 ") && header(&r2, "Retry-After") == Some("5"),
        "{r2}"
    );
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

#[tokio::test]
async fn unreachable_proxy_fails_fast_with_503_mapping() {
    let mut server = FakeServer::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(
        server.addr(),
        &format!(
            "listen = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\noutbound_proxy = \"sip:{closed};transport=tcp\""
        ),
    );
    let (stop, task) = run_gateway(cfg);
    let mut c = server.accept().await;
    let t = std::time::Instant::now();
    c.send("<message id='u1' from='juliet@example.com/r' to='romeo@sip.example.com'><body>anyone?</body></message>").await;
    let e = c
        .expect("message[@type='error'][@id='u1']/error/internal-server-error")
        .await;
    assert!(
        String::from(&e).contains("SIP 503 Service Unavailable (transport failure"),
        "{}",
        String::from(&e)
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "failed in {:?}, not after Timer F",
        t.elapsed()
    );
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn xhtml_im_goes_as_text_html_when_configured() {
    let mut s = setup("", "[im]\nxhtml_to_sip = \"html\"\n").await;
    let mut c = s.server.accept().await;
    c.send("<message id='h1' from='juliet@example.com/r' to='romeo@sip.example.com'><body>Hi there</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>Hi <strong>there</strong></p></body></html></message>").await;
    let (req, _) = s.peer.recv().await;
    assert_eq!(
        header(&req, "Content-Type"),
        Some("text/html;charset=UTF-8"),
        "{req}"
    );
    assert!(
        req.ends_with("\r\n\r\n<p>Hi <strong>there</strong></p>"),
        "{req}"
    );
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}

/// `im.page_form = "clients"` (the default): three messages of one XMPP thread are three
/// MESSAGEs a SIP client cannot take for repeats (fresh Call-IDs), From is the same whatever
/// resource writes (the resource is a GRUU in Contact), and the SIP side's answer comes back
/// as `type='chat'` in the thread the XMPP user wrote in.
#[tokio::test]
async fn clients_form_one_conversation_both_ways() {
    let mut s = setup("", "[im]\nchat_mode = \"page\"\n").await;
    let mut c = s.server.accept().await;
    let mut call_ids = Vec::new();
    for (i, res) in ["balcony", "garden", "balcony"].iter().enumerate() {
        c.send(&format!("<message id='t{i}' type='chat' from='juliet@example.com/{res}' to='romeo@sip.example.com'><body>line {i}</body><thread>thr-7</thread></message>")).await;
        let (req, from) = s.peer.recv().await;
        assert!(
            header(&req, "From")
                .unwrap()
                .starts_with("<sip:juliet@example.com>;tag="),
            "{req}"
        );
        let contact = header(&req, "Contact").unwrap();
        assert!(contact.contains(&format!(";gr={res}>")), "{req}");
        assert_eq!(header(&req, "CSeq"), Some("1 MESSAGE"));
        call_ids.push(header(&req, "Call-ID").unwrap().to_string());
        s.peer
            .send_raw(from, answer(&req, 200, "OK").as_bytes())
            .await;
    }
    call_ids.sort();
    call_ids.dedup();
    assert_eq!(
        call_ids.len(),
        3,
        "a fresh Call-ID per MESSAGE: {call_ids:?}"
    );
    assert!(!call_ids.contains(&"thr-7".to_string()));

    s.peer
        .send(s.stox_sip, &sip_message(s.peer.addr(), "c1", "Romeo here"))
        .await;
    let m = c
        .expect("message[@type='chat'][@from='romeo@sip.example.com/dr4hcr0st3lup4c'][@to='juliet@example.com']/body")
        .await;
    let xml = String::from(&m);
    assert!(xml.contains("<thread>thr-7</thread>"), "{xml}");
    s.stop.send(()).unwrap();
    s.task.await.unwrap();
}
