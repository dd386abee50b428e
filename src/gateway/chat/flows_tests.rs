//! RFC 7573 flows through the sans-IO core: SIP text in, SIP/MSRP/XMPP out, time as input.
//! The flows follow the RFC's figures (F1–F16 XMPP-initiated, F17–F32 SIP-initiated).

use std::time::Duration;

use crate::gateway::{Input, Owner};
use crate::msrp::io::MsrpEvent;

use crate::gateway::harness::NS;

use crate::gateway::harness::{Out, T, header, sdp_path};

/// A response to one of our requests, as the peer would send it.
fn reply(req: &str, code: u16, headers: &[(&str, &str)], body: &str) -> String {
    let body = (!body.is_empty()).then_some(("application/sdp", body));
    crate::gateway::harness::respond(req, code, "peertag", headers, body)
}

fn tid(frame: &str) -> String {
    frame
        .split("\r\n")
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_string()
}

const ANSWER: &str = "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7777 TCP/MSRP *\r\na=accept-types:text/plain application/im-iscomposing+xml\r\na=path:msrp://127.0.0.1:7777/peerSess1;tcp\r\na=setup:passive\r\n";

const PEER_PATH: &str = "msrp://127.0.0.1:7777/peerSess1;tcp";

/// RFC 7573 §4 F1–F9: the first chat message opens the session; the second waits in the
/// queue; both go out as SENDs (stanza id = transaction id) once MSRP is connected.
fn open_x2s(t: &mut T, extra_payload: &str) -> (String, String) {
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='msg1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>Art thou not Romeo, and a Montague?</body>{extra_payload}</message>"
    ));
    assert_eq!(o.sip.len(), 1, "{o:?}");
    let invite = o.sip[0].clone();
    assert!(
        invite.starts_with("INVITE sip:romeo@example.net SIP/2.0\r\n"),
        "{invite}"
    );
    let contact = header(&invite, "Contact").unwrap();
    assert!(
        contact.starts_with("<sip:juliet@127.0.0.1:5070;transport=udp;gr=balcony>"),
        "{contact}"
    );
    assert!(
        header(&invite, "From")
            .unwrap()
            .starts_with("<sip:juliet@example.com;gr=balcony>;tag=")
    );
    assert!(
        header(&invite, "Call-Info")
            .unwrap()
            .contains("purpose=impp")
    );
    assert!(invite.contains("m=message 2855 TCP/MSRP *\r\n"), "{invite}");
    assert!(invite.contains("a=setup:actpass\r\n") && invite.contains("a=max-size:65536\r\n"));
    let ours = sdp_path(&invite);
    assert!(ours.starts_with("msrp://127.0.0.1:2855/") && ours.ends_with(";tcp"));
    // a second message while the INVITE is pending is queued, not sent
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='msg2' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>second</body></message>"
    ));
    assert!(o.sip.is_empty() && o.msrp.is_empty(), "{o:?}");
    // 200 with an answer that makes us the active party
    let ok = reply(
        &invite,
        200,
        &[("Contact", "<sip:romeo@127.0.0.1:5999>")],
        ANSWER,
    );
    let o = t.sip(&ok);
    assert!(
        o.sip[0].starts_with("ACK sip:romeo@127.0.0.1:5999 SIP/2.0\r\n"),
        "{o:?}"
    );
    assert!(o.sip[0].contains("CSeq: 1 ACK\r\n"));
    assert_eq!(o.connect.len(), 1);
    assert_eq!(o.connect[0].1, "127.0.0.1:7777".parse().unwrap());
    let chat = o.connect[0].0;
    (ours, format!("{chat}"))
}

fn connected(t: &mut T, chat: &str, conn: u64) -> Out {
    t.input(Input::MsrpConnected {
        owner: Owner::Chat(chat.parse().unwrap()),
        result: Ok(conn),
    })
}

#[test]
fn xmpp_initiated_chat_rfc7573_section4() {
    let mut t = T::new("");
    let (ours, chat) = open_x2s(&mut t, "");
    let o = connected(&mut t, &chat, 7);
    assert_eq!(o.msrp.len(), 2, "{o:?}");
    let (c1, s1) = &o.msrp[0];
    assert_eq!(*c1, 7);
    assert!(
        s1.starts_with("MSRP msg1 SEND\r\n"),
        "F9: tid = stanza id: {s1}"
    );
    assert!(
        s1.contains(&format!("To-Path: {PEER_PATH}\r\nFrom-Path: {ours}\r\n")),
        "{s1}"
    );
    assert!(s1.contains("Failure-Report: no\r\n"), "RFC 7573 §7 SHOULD");
    assert!(s1.contains("\r\n\r\nArt thou not Romeo, and a Montague?\r\n-------msg1$\r\n"));
    assert!(o.msrp[1].1.starts_with("MSRP msg2 SEND\r\n"));
    // F10–F12: a SEND from the SIP side becomes a chat stanza on the same thread
    let send = format!(
        "MSRP 5a7e1c0a SEND\r\nTo-Path: {ours}\r\nFrom-Path: {PEER_PATH}\r\nMessage-ID: 7Hn2\r\nByte-Range: 1-24/24\r\nContent-Type: text/plain\r\n\r\nNeither, fair saint, if \r\n-------5a7e1c0a$\r\n"
    );
    let o = t.msrp(7, &send);
    assert!(o.msrp[0].1.starts_with("MSRP 5a7e1c0a 200 OK\r\n"), "{o:?}");
    let x = &o.xmpp[0];
    assert!(
        x.contains("type=\"chat\"") || x.contains("type='chat'"),
        "{x}"
    );
    assert!(
        x.contains("id='5a7e1c0a'") || x.contains("id=\"5a7e1c0a\""),
        "{x}"
    );
    assert!(
        x.contains("romeo@sip.example.com") && x.contains("juliet@example.com/balcony"),
        "{x}"
    );
    // later messages reuse the session
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='msg3' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>third</body></message>"
    ));
    assert!(o.sip.is_empty());
    assert!(o.msrp[0].1.starts_with("MSRP msg3 SEND\r\n"));
    assert_eq!(t.core.chat_sessions(), 1);
    // F13: gone → BYE, connection closed
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' from='juliet@example.com/balcony' to='romeo@sip.example.com'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>"
    ));
    assert!(
        o.sip[0].starts_with("BYE sip:romeo@127.0.0.1:5999 SIP/2.0\r\n"),
        "{o:?}"
    );
    assert!(o.sip[0].contains("CSeq: 2 BYE\r\n"));
    assert_eq!(o.close, vec![7]);
    assert_eq!(t.core.chat_sessions(), 0);
}

#[test]
fn a_retransmitted_2xx_is_acked_again() {
    let mut t = T::new("");
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='m1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>hi</body></message>"
    ));
    let ok = reply(
        &o.sip[0],
        200,
        &[("Contact", "<sip:romeo@127.0.0.1:5999>")],
        ANSWER,
    );
    let first = t.sip(&ok);
    let again = t.sip(&ok);
    assert!(first.sip[0].starts_with("ACK "));
    assert!(again.sip[0].starts_with("ACK "), "{again:?}");
    assert!(again.connect.is_empty(), "one MSRP connection per session");
}

#[test]
fn refused_sessions_fall_back_to_page_mode_and_are_remembered() {
    let mut t = T::new("");
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='m1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>hello</body></message>"
    ));
    let o = t.sip(&reply(&o.sip[0], 488, &[], ""));
    let msgs: Vec<_> = o.sip.iter().filter(|s| s.starts_with("MESSAGE ")).collect();
    assert_eq!(msgs.len(), 1, "queued message sent as MESSAGE: {o:?}");
    assert!(msgs[0].ends_with("\r\n\r\nhello"));
    assert!(o.xmpp.is_empty(), "no error: the message went out");
    // the next chat message goes straight to page mode
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='m2' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>again</body></message>"
    ));
    assert!(o.sip[0].starts_with("MESSAGE "), "{o:?}");
}

#[test]
fn msrp_mode_returns_errors_for_every_queued_message() {
    let mut t = T::new("[im]\nchat_mode = \"msrp\"\n");
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='m1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>one</body></message>"
    ));
    let invite = o.sip[0].clone();
    t.xmpp(&format!(
        "<message {NS} type='chat' id='m2' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>two</body></message>"
    ));
    let o = t.sip(&reply(&invite, 488, &[], ""));
    assert!(o.sip.iter().all(|s| !s.starts_with("MESSAGE ")));
    assert_eq!(o.xmpp.len(), 2, "{o:?}");
    for (x, id) in o.xmpp.iter().zip(["m1", "m2"]) {
        assert!(
            x.contains(&format!("id='{id}'")) || x.contains(&format!("id=\"{id}\"")),
            "{x}"
        );
        assert!(x.contains("not-acceptable") && x.contains("SIP 488"), "{x}");
    }
}

#[test]
fn receipts_both_ways() {
    let mut t = T::new("");
    let (ours, chat) = open_x2s(&mut t, "<request xmlns='urn:xmpp:receipts'/>");
    let o = connected(&mut t, &chat, 3);
    let s1 = &o.msrp[0].1;
    assert!(s1.contains("Success-Report: yes\r\n"), "{s1}");
    let mid = header(s1, "Message-ID").unwrap().to_string();
    // REPORT 200 → <received id='msg1'/> (XEP-0184: the original stanza id)
    let report = format!(
        "MSRP dkei38sd REPORT\r\nTo-Path: {ours}\r\nFrom-Path: {PEER_PATH}\r\nMessage-ID: {mid}\r\nByte-Range: 1-35/35\r\nStatus: 000 200 OK\r\n-------dkei38sd$\r\n"
    );
    let o = t.msrp(3, &report);
    assert!(o.msrp.is_empty(), "REPORTs are not answered");
    assert!(
        o.xmpp[0].contains("<received xmlns='urn:xmpp:receipts' id='msg1'/>")
            || o.xmpp[0].contains("id=\"msg1\""),
        "{o:?}"
    );
    // SIP asks for a report → the stanza requests a receipt; the receipt → REPORT
    let send = format!(
        "MSRP a1b2c3d4 SEND\r\nTo-Path: {ours}\r\nFrom-Path: {PEER_PATH}\r\nMessage-ID: peerMsg9\r\nByte-Range: 1-5/5\r\nSuccess-Report: yes\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------a1b2c3d4$\r\n"
    );
    let o = t.msrp(3, &send);
    assert!(o.xmpp[0].contains("urn:xmpp:receipts"), "{o:?}");
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' from='juliet@example.com/balcony' to='romeo@sip.example.com'><received xmlns='urn:xmpp:receipts' id='a1b2c3d4'/></message>"
    ));
    let rep = &o.msrp[0].1;
    assert!(
        rep.contains(" REPORT\r\n") && rep.contains("Message-ID: peerMsg9\r\n"),
        "{rep}"
    );
    assert!(rep.contains("Byte-Range: 1-5/5\r\n") && rep.contains("Status: 000 200 OK\r\n"));
}

#[test]
fn chat_states_both_ways() {
    let mut t = T::new("");
    let (ours, chat) = open_x2s(&mut t, "");
    connected(&mut t, &chat, 3);
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' from='juliet@example.com/balcony' to='romeo@sip.example.com'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    ));
    let s = &o.msrp[0].1;
    assert!(
        s.contains("Content-Type: application/im-iscomposing+xml\r\n"),
        "{s}"
    );
    assert!(
        s.contains("<state>active</state>") && s.contains("<refresh>90</refresh>"),
        "{s}"
    );
    // the same state again is not repeated (XEP-0085 §5.1)
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' from='juliet@example.com/balcony' to='romeo@sip.example.com'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    ));
    assert!(o.msrp.is_empty());
    // still composing 80 s later: our active is refreshed before its 90 s run out
    let o = t.advance(Duration::from_secs(81));
    assert!(
        o.msrp
            .iter()
            .any(|(_, f)| f.contains("<state>active</state>")),
        "{o:?}"
    );
    let doc = "<?xml version='1.0' encoding='UTF-8'?><isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state><contenttype>text/plain</contenttype></isComposing>";
    let send = format!(
        "MSRP c0mp0s1n SEND\r\nTo-Path: {ours}\r\nFrom-Path: {PEER_PATH}\r\nMessage-ID: comp1\r\nByte-Range: 1-{n}/{n}\r\nContent-Type: application/im-iscomposing+xml\r\n\r\n{doc}\r\n-------c0mp0s1n$\r\n",
        n = doc.len()
    );
    let o = t.msrp(3, &send);
    assert!(
        o.xmpp[0].contains("<composing xmlns='http://jabber.org/protocol/chatstates'/>"),
        "{o:?}"
    );
    assert!(!o.xmpp[0].contains("<body"));
}

const OFFER: &str = "v=0\r\no=romeo 2890844526 2890844527 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7313 TCP/MSRP *\r\na=accept-types:text/plain application/im-iscomposing+xml\r\na=path:msrp://127.0.0.1:7313/ansp71weztas;tcp\r\n";

fn invite(call_id: &str, branch: &str) -> String {
    format!(
        "INVITE sip:juliet@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{branch}\nMax-Forwards: 70\nRecord-Route: <sip:127.0.0.1:5060;lr>\nFrom: <sip:romeo@example.net>;tag=r1\nTo: <sip:juliet@example.com>\nCall-ID: {call_id}\nCSeq: 1 INVITE\nContact: <sip:romeo@127.0.0.1:5999>\nContent-Type: application/sdp\nContent-Length: {}\n\n{OFFER}",
        OFFER.len()
    )
}

fn in_dialog(method: &str, call_id: &str, our_tag: &str, cseq: u32) -> String {
    format!(
        "{method} sip:juliet@127.0.0.1:5070 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{method}{cseq}\nMax-Forwards: 70\nFrom: <sip:romeo@example.net>;tag=r1\nTo: <sip:juliet@example.com>;tag={our_tag}\nCall-ID: {call_id}\nCSeq: {cseq} {method}\nContent-Length: 0\n\n"
    )
}

fn tag_of(resp: &str) -> String {
    header(resp, "To")
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn sip_initiated_chat_rfc7573_section5() {
    let mut t = T::new("");
    let o = t.sip(&invite("s2x-1", "inv1"));
    assert!(o.sip[0].starts_with("SIP/2.0 100 Trying\r\n"));
    let ok = &o.sip[1];
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{o:?}");
    assert_eq!(
        header(ok, "Record-Route"),
        Some("<sip:127.0.0.1:5060;lr>"),
        "§12.1.1"
    );
    assert!(
        header(ok, "Contact")
            .unwrap()
            .starts_with("<sip:juliet@127.0.0.1:5070;transport=udp>")
    );
    assert!(
        ok.contains("a=setup:passive\r\n") && ok.contains("m=message 2855 TCP/MSRP *\r\n"),
        "{ok}"
    );
    let ours = sdp_path(ok);
    assert!(o.connect.is_empty(), "the offerer connects (RFC 4975 §5.4)");
    let tag = tag_of(ok);
    t.sip(&in_dialog("ACK", "s2x-1", &tag, 1));
    // F23: the peer connects and sends
    t.input(Input::Msrp(MsrpEvent::Up {
        conn: 9,
        peer: "127.0.0.1:40000".parse().unwrap(),
    }));
    let send = format!(
        "MSRP d93kswow SEND\r\nTo-Path: {ours}\r\nFrom-Path: msrp://127.0.0.1:7313/ansp71weztas;tcp\r\nMessage-ID: 12339sdqwer\r\nByte-Range: 1-16/16\r\nContent-Type: text/plain\r\n\r\nHi, I'm Romeo!!!\r\n-------d93kswow$\r\n"
    );
    let o = t.msrp(9, &send);
    assert!(o.msrp[0].1.starts_with("MSRP d93kswow 200 OK\r\n"), "{o:?}");
    let x = &o.xmpp[0];
    for want in [
        "from='romeo@sip.example.com'",
        "to='juliet@example.com'",
        "type='chat'",
        "id='d93kswow'",
        "<thread>s2x-1</thread>",
        "<body>Hi, I'm Romeo!!!</body>",
    ] {
        assert!(
            x.contains(want) || x.contains(&want.replace('\'', "\"")),
            "{want} in {x}"
        );
    }
    // F26–F28: the user's reply (from a full JID, with the thread) goes into the session
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='rep1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><thread>s2x-1</thread><body>Wherefore?</body></message>"
    ));
    assert!(o.sip.is_empty());
    let s = &o.msrp[0];
    assert_eq!(s.0, 9);
    assert!(
        s.1.starts_with("MSRP rep1 SEND\r\nTo-Path: msrp://127.0.0.1:7313/ansp71weztas;tcp\r\n"),
        "{s:?}"
    );
    // a re-INVITE is answered with the session as negotiated
    let reinv = in_dialog("INVITE", "s2x-1", &tag, 2);
    let o = t.sip(&reinv);
    assert!(
        o.sip
            .iter()
            .any(|s| s.starts_with("SIP/2.0 200 OK\r\n") && s.contains(&ours)),
        "{o:?}"
    );
    t.sip(&in_dialog("ACK", "s2x-1", &tag, 2));
    // F29–F31: BYE → 200 and <gone/>
    let o = t.sip(&in_dialog("BYE", "s2x-1", &tag, 3));
    assert!(o.sip[0].starts_with("SIP/2.0 200 OK\r\n"), "{o:?}");
    assert!(
        o.xmpp[0].contains("<gone xmlns='http://jabber.org/protocol/chatstates'/>"),
        "{o:?}"
    );
    assert_eq!(o.close, vec![9]);
    assert_eq!(t.core.chat_sessions(), 0);
    // a BYE for the finished dialog: 481
    let o = t.sip(&in_dialog("BYE", "s2x-1", &tag, 4));
    assert!(o.sip[0].starts_with("SIP/2.0 481 "), "{o:?}");
}

#[test]
fn invites_that_cannot_be_bridged() {
    let mut t = T::new("");
    let audio =
        invite("bad-1", "b1").replace("m=message 7313 TCP/MSRP *", "m=audio 4000 RTP/AVP 0");
    let fix = |s: String| {
        let body_len = s.split("\n\n").nth(1).unwrap().len();
        let re = s.split("Content-Length: ").next().unwrap().to_string();
        format!(
            "{re}Content-Length: {body_len}\n\n{}",
            s.split("\n\n").nth(1).unwrap()
        )
    };
    let o = t.sip(&fix(audio));
    assert!(
        o.sip[1].starts_with("SIP/2.0 488 ") && o.sip[1].contains("Warning: 304 "),
        "{o:?}"
    );
    let types = invite("bad-2", "b2").replace(
        "a=accept-types:text/plain application/im-iscomposing+xml",
        "a=accept-types:image/png",
    );
    let o = t.sip(&fix(types));
    assert!(o.sip[1].contains("Warning: 305 "), "{o:?}");
    let tls = invite("bad-3", "b3").replace("TCP/MSRP", "TCP/TLS/MSRP");
    let o = t.sip(&tls);
    assert!(
        o.sip[1].contains("Warning: 302 "),
        "no msrp.tls_listen: {o:?}"
    );
    // with an msrps listener the same offer is answered over TLS
    let mut t = T::with("", |c| c.bound_msrp(2855, Some(2856)));
    let o = t.sip(&invite("tls-ok", "b5").replace("TCP/MSRP", "TCP/TLS/MSRP"));
    let ok = &o.sip[1];
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{o:?}");
    assert!(ok.contains("m=message 2856 TCP/TLS/MSRP *\r\n"), "{ok}");
    assert!(sdp_path(ok).starts_with("msrps://127.0.0.1:2856/"), "{ok}");
    let spoof = invite("bad-4", "b4").replace(
        "From: <sip:romeo@example.net>",
        "From: <sip:mallory@example.com>",
    );
    let o = t.sip(&spoof);
    assert!(o.sip[1].starts_with("SIP/2.0 403 "), "{o:?}");
}

#[test]
fn held_while_the_link_is_down_cancel_gets_487_and_timeout_480() {
    let mut t = T::new("");
    t.input(Input::LinkDown);
    let inv = invite("held-1", "h1");
    let o = t.sip(&inv);
    assert_eq!(o.sip.len(), 1, "only 100 Trying: {o:?}");
    let cancel = "CANCEL sip:juliet@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKh1\nMax-Forwards: 70\nFrom: <sip:romeo@example.net>;tag=r1\nTo: <sip:juliet@example.com>\nCall-ID: held-1\nCSeq: 1 CANCEL\nContent-Length: 0\n\n";
    let o = t.sip(cancel);
    assert!(
        o.sip[0].starts_with("SIP/2.0 200 OK\r\n") && o.sip[0].contains("CSeq: 1 CANCEL"),
        "{o:?}"
    );
    assert!(
        o.sip[1].starts_with("SIP/2.0 487 ") && o.sip[1].contains("CSeq: 1 INVITE"),
        "{o:?}"
    );
    assert_eq!(t.core.chat_sessions(), 0);
    // another one waits 10 s (msrp.invite_hold_secs), then 480
    let o = t.sip(&invite("held-2", "h2"));
    assert_eq!(o.sip.len(), 1);
    let o = t.advance(Duration::from_secs(11));
    assert!(
        o.sip
            .iter()
            .any(|s| s.starts_with("SIP/2.0 480 ") && s.contains("Retry-After: 30")),
        "{o:?}"
    );
    // and when the link comes back in time, the INVITE is answered
    t.sip(&invite("held-3", "h3"));
    let o = t.input(Input::LinkUp);
    assert!(
        o.sip.iter().any(|s| s.starts_with("SIP/2.0 200 OK\r\n")),
        "{o:?}"
    );
}

#[test]
fn idle_sessions_end_with_bye_and_unbound_sessions_time_out() {
    let mut t = T::new("idle_secs = 60\nconnect_timeout_secs = 5\n");
    let (_, chat) = open_x2s(&mut t, "");
    connected(&mut t, &chat, 4);
    let o = t.advance(Duration::from_secs(59));
    assert!(o.sip.iter().all(|s| !s.starts_with("BYE")), "{o:?}");
    let o = t.advance(Duration::from_secs(2));
    assert!(o.sip.iter().any(|s| s.starts_with("BYE ")), "{o:?}");
    assert_eq!(o.close, vec![4]);
    // a SIP-initiated session whose peer never connects ends after connect_timeout_secs
    let o = t.sip(&invite("never", "n1"));
    let tag = tag_of(&o.sip[1]);
    t.sip(&in_dialog("ACK", "never", &tag, 1));
    let o = t.advance(Duration::from_secs(6));
    assert!(
        o.sip
            .iter()
            .any(|s| s.starts_with("BYE sip:romeo@127.0.0.1:5999")),
        "{o:?}"
    );
    assert_eq!(t.core.chat_sessions(), 0);
}

#[test]
fn unavailable_presence_ends_the_resources_sessions() {
    let mut t = T::new("");
    let (_, chat) = open_x2s(&mut t, "");
    connected(&mut t, &chat, 4);
    let o = t.xmpp(&format!(
        "<presence {NS} type='unavailable' from='juliet@example.com/other' to='romeo@sip.example.com'/>"
    ));
    assert!(o.sip.is_empty(), "another resource: {o:?}");
    let o = t.xmpp(&format!(
        "<presence {NS} type='unavailable' from='juliet@example.com/balcony' to='romeo@sip.example.com'/>"
    ));
    assert!(o.sip[0].starts_with("BYE "), "{o:?}");
}

#[test]
fn unknown_msrp_session_gets_481_and_the_connection_closes() {
    let mut t = T::new("");
    t.input(Input::Msrp(MsrpEvent::Up {
        conn: 5,
        peer: "127.0.0.1:40001".parse().unwrap(),
    }));
    let o = t.msrp(
        5,
        "MSRP x1y2z3w4 SEND\r\nTo-Path: msrp://127.0.0.1:2855/guessed;tcp\r\nFrom-Path: msrp://127.0.0.1:1/a;tcp\r\nMessage-ID: m\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------x1y2z3w4$\r\n",
    );
    assert!(o.msrp[0].1.starts_with("MSRP x1y2z3w4 481 "), "{o:?}");
    assert_eq!(o.close, vec![5]);
}

#[test]
fn xmpp_bounce_of_a_delivered_message_becomes_a_failure_report() {
    let mut t = T::new("");
    let (ours, chat) = open_x2s(&mut t, "");
    connected(&mut t, &chat, 3);
    let send = format!(
        "MSRP f00dfeed SEND\r\nTo-Path: {ours}\r\nFrom-Path: {PEER_PATH}\r\nMessage-ID: lost1\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------f00dfeed$\r\n"
    );
    t.msrp(3, &send);
    let o = t.xmpp(&format!(
        "<message {NS} type='error' id='f00dfeed' from='juliet@example.com/balcony' to='romeo@sip.example.com'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    ));
    let rep = &o.msrp[0].1;
    assert!(
        rep.contains(" REPORT\r\n") && rep.contains("Message-ID: lost1\r\n"),
        "{rep}"
    );
    assert!(
        rep.contains("Status: 000 4") || rep.contains("Status: 000 5"),
        "{rep}"
    );
}

#[test]
fn gone_while_the_invite_is_pending_cancels_it() {
    let mut t = T::new("");
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' id='m1' from='juliet@example.com/balcony' to='romeo@sip.example.com'><body>hi</body></message>"
    ));
    let inv = o.sip[0].clone();
    t.sip(&reply(&inv, 180, &[], ""));
    let o = t.xmpp(&format!(
        "<message {NS} type='chat' from='juliet@example.com/balcony' to='romeo@sip.example.com'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>"
    ));
    let cancel = o
        .sip
        .iter()
        .find(|s| s.starts_with("CANCEL "))
        .expect("CANCEL");
    assert_eq!(
        header(cancel, "Via"),
        header(&inv, "Via"),
        "§9.1: same branch"
    );
    assert!(cancel.contains("CSeq: 1 CANCEL\r\n"));
    // the queued message is not lost: in `auto` mode it still goes out, as a MESSAGE
    assert!(
        o.sip
            .iter()
            .any(|s| s.starts_with("MESSAGE ") && s.ends_with("\r\n\r\nhi")),
        "{o:?}"
    );
    let o = t.sip(&reply(&inv, 487, &[], ""));
    assert!(o.xmpp.is_empty(), "{o:?}");
    assert_eq!(t.core.chat_sessions(), 0);
    let _ = tid("MSRP a b");
}

#[test]
fn sessions_share_one_connection_and_it_closes_with_the_last() {
    let mut t = T::new("");
    let mut ours = Vec::new();
    let mut tags = Vec::new();
    for (cid, br) in [("share-1", "s1"), ("share-2", "s2")] {
        let o = t.sip(&invite(cid, br));
        ours.push(sdp_path(&o.sip[1]));
        tags.push(tag_of(&o.sip[1]));
    }
    t.input(Input::Msrp(MsrpEvent::Up {
        conn: 11,
        peer: "127.0.0.1:40002".parse().unwrap(),
    }));
    for (i, path) in ours.iter().enumerate() {
        let send = format!(
            "MSRP shar{i}xyz SEND\r\nTo-Path: {path}\r\nFrom-Path: msrp://127.0.0.1:7313/ansp71weztas;tcp\r\nMessage-ID: sh{i}\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------shar{i}xyz$\r\n"
        );
        let o = t.msrp(11, &send);
        assert!(
            o.msrp[0].1.starts_with(&format!("MSRP shar{i}xyz 200 OK")),
            "{o:?}"
        );
        assert!(o.xmpp[0].contains(&format!("share-{}", i + 1)), "{o:?}");
    }
    let o = t.sip(&in_dialog("BYE", "share-1", &tags[0], 2));
    assert!(o.close.is_empty(), "still carrying share-2: {o:?}");
    let o = t.sip(&in_dialog("BYE", "share-2", &tags[1], 3));
    assert_eq!(o.close, vec![11]);
}

#[test]
fn our_session_whose_msrp_connection_never_comes_up_ends_and_its_queue_goes_as_messages() {
    let mut t = T::new("connect_timeout_secs = 5\n");
    open_x2s(&mut t, "");
    let o = t.advance(Duration::from_secs(4));
    assert!(o.sip.iter().all(|s| !s.starts_with("BYE")), "{o:?}");
    let o = t.advance(Duration::from_secs(2));
    assert!(o.sip.iter().any(|s| s.starts_with("BYE ")), "{o:?}");
    let pages = o.sip.iter().filter(|s| s.starts_with("MESSAGE ")).count();
    assert_eq!(
        pages, 2,
        "both queued messages fall back to page mode: {o:?}"
    );
    assert_eq!(t.core.chat_sessions(), 0);
}
