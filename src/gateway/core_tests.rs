//! The core through its public contract: stanzas and SIP text in, outputs out.

use super::*;
use crate::config::Config;
use xmpp_parsers::minidom::Element;

fn core() -> Core {
    let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\n";
    let cfg = Config::parse(toml).unwrap();
    Core::new(CoreConfig::from_config(&cfg).seed([7; 32]))
}

/// Feeds one stanza (XML in the component namespace) and returns every output as XML.
fn run(core: &mut Core, xml: &str) -> Vec<String> {
    let el: Element = xml.parse().unwrap();
    let st = Stanza::try_from(el).unwrap();
    core.handle_input(Instant::now(), Input::Stanza(st));
    std::iter::from_fn(|| core.poll_output())
        .filter_map(|o| match o {
            Output::Stanza(s) | Output::TrackedStanza(_, s) => {
                Some(String::from(&Element::from(s)))
            }
            _ => None,
        })
        .collect()
}

fn one(xml: &str) -> String {
    let out = run(&mut core(), xml);
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap()
}

const NS: &str = "xmlns='jabber:component:accept'";

#[test]
fn disco_info_of_the_domain() {
    let r = one(&format!(
        "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    ));
    assert!(
        r.contains("type='result'")
            && r.contains("category='gateway'")
            && r.contains("type='simple'"),
        "{r}"
    );
    assert!(
        r.contains("jid\\20escaping") && r.contains("jabber:iq:gateway"),
        "{r}"
    );
    assert!(
        r.contains("from='sip.example.com'") && r.contains("to='juliet@example.com/b'"),
        "{r}"
    );
}

#[test]
fn disco_info_of_a_contact() {
    let r = one(&format!(
        "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='romeo@sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    ));
    assert!(
        r.contains("category='client'") && r.contains("type='phone'"),
        "{r}"
    );
}

#[test]
fn disco_items_version_ping() {
    let r = one(&format!(
        "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
    ));
    assert!(
        r.contains("type='result'") && r.contains("disco#items"),
        "{r}"
    );
    let r = one(&format!(
        "<iq {NS} type='get' id='2' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:version'/></iq>"
    ));
    assert!(
        r.contains("<name>stox</name>") && !r.contains("<os>"),
        "{r}"
    );
    let r = one(&format!(
        "<iq {NS} type='get' id='3' from='juliet@example.com/b' to='sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>"
    ));
    assert!(r.contains("type='result'") && r.contains("id='3'"), "{r}");
}

#[test]
fn gateway_prompt_and_translation() {
    let r = one(&format!(
        "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'/></iq>"
    ));
    assert!(
        r.contains("<prompt>SIP address</prompt>") && r.contains("<desc>"),
        "{r}"
    );
    let r = one(&format!(
        "<iq {NS} type='set' id='2' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'><prompt>romeo@example.net</prompt></query></iq>"
    ));
    assert!(r.contains("<jid>romeo@sip.example.com</jid>"), "{r}");
    let r = one(&format!(
        "<iq {NS} type='set' id='3' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'/></iq>"
    ));
    assert!(r.contains("bad-request"), "{r}");
    let r = one(&format!(
        "<iq {NS} type='set' id='4' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'><prompt>sips:romeo@example.net</prompt></query></iq>"
    ));
    assert!(r.contains("not-acceptable"), "{r}");
}

#[test]
fn unknown_and_unsupported_iqs_get_errors() {
    let r = one(&format!(
        "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='urn:unknown'/></iq>"
    ));
    assert!(
        r.contains("service-unavailable") && r.contains("type='cancel'"),
        "{r}"
    );
    let r = one(&format!(
        "<iq {NS} type='set' id='2' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    ));
    assert!(r.contains("feature-not-implemented"), "{r}");
    let r = one(&format!(
        "<iq {NS} type='get' id='3' from='juliet@example.com/b' to='romeo@sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>"
    ));
    assert!(r.contains("service-unavailable"), "{r}");
}

#[test]
fn results_errors_and_broadcast_presence_are_not_answered() {
    let mut c = core();
    assert!(
        run(
            &mut c,
            &format!(
                "<iq {NS} type='result' id='1' from='juliet@example.com/b' to='sip.example.com'/>"
            )
        )
        .is_empty()
    );
    assert!(run(&mut c, &format!("<iq {NS} type='error' id='2' from='juliet@example.com/b' to='sip.example.com'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")).is_empty());
    assert!(
        run(
            &mut c,
            &format!("<presence {NS} from='juliet@example.com/b' to='romeo@sip.example.com'/>")
        )
        .is_empty()
    );
    assert!(run(&mut c, &format!("<message {NS} type='error' id='3' from='juliet@example.com/b' to='romeo@sip.example.com'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")).is_empty());
    assert_eq!(c.metrics().bounces, 1);
}

#[test]
fn messages_from_foreign_domains_are_forbidden() {
    let r = one(&format!(
        "<message {NS} id='m' from='mallory@evil.example/x' to='romeo@sip.example.com'><body>hi</body></message>"
    ));
    assert!(
        r.contains("forbidden") && r.contains("type='auth'") && r.contains("id='m'"),
        "{r}"
    );
}

#[test]
fn invalid_stanzas_get_bad_request() {
    let mut c = core();
    c.handle_input(
        Instant::now(),
        Input::InvalidStanza(InvalidStanza {
            kind: "iq".into(),
            from: Some("juliet@example.com/b".into()),
            to: Some("sip.example.com".into()),
            id: Some("x".into()),
            type_: Some("get".into()),
            reason: "no payload".into(),
        }),
    );
    let out: Vec<_> = std::iter::from_fn(|| c.poll_output()).collect();
    assert_eq!(out.len(), 1);
    let Output::Stanza(s) = &out[0] else { panic!() };
    let xml = String::from(&Element::from(match s {
        Stanza::Iq(i) => Stanza::Iq(i.clone()),
        _ => panic!(),
    }));
    assert!(
        xml.contains("bad-request") && xml.contains("no payload"),
        "{xml}"
    );
    // an invalid error stanza is not answered
    c.handle_input(
        Instant::now(),
        Input::InvalidStanza(InvalidStanza {
            kind: "message".into(),
            from: Some("juliet@example.com/b".into()),
            to: None,
            id: None,
            type_: Some("error".into()),
            reason: "x".into(),
        }),
    );
    assert!(c.poll_output().is_none());
}

fn sip_in(c: &mut Core, msg: &str) -> Vec<String> {
    let from = Dest {
        transport: crate::sip::Transport::Udp,
        addr: "127.0.0.1:5060".parse().unwrap(),
    };
    c.handle_input(
        Instant::now(),
        Input::Sip(SipIn {
            bytes: msg.replace('\n', "\r\n").into_bytes(),
            from,
        }),
    );
    std::iter::from_fn(|| c.poll_output())
        .filter_map(|o| match o {
            Output::Sip { bytes, .. } => Some(String::from_utf8_lossy(&bytes).to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn invites_without_msrp_get_488_with_a_warning() {
    let mut c = core();
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let inv = format!(
        "INVITE sip:juliet@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKi1\nFrom: <sip:romeo@example.net>;tag=a\nTo: <sip:juliet@example.com>\nCall-ID: i1\nCSeq: 1 INVITE\nContact: <sip:romeo@127.0.0.1>\nContent-Type: application/sdp\nContent-Length: {}\n\n{body}",
        body.len()
    );
    let out = sip_in(&mut c, &inv);
    assert!(out[0].starts_with("SIP/2.0 100 Trying\r\n"), "{out:?}");
    assert!(
        out[1].starts_with("SIP/2.0 488 Not Acceptable Here\r\n")
            && out[1].contains("Warning: 304 "),
        "{out:?}"
    );
    let bye = "BYE sip:juliet@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb1\nFrom: <sip:romeo@example.net>;tag=a\nTo: <sip:juliet@example.com>\nCall-ID: i3\nCSeq: 2 BYE\nContent-Length: 0\n\n";
    assert!(sip_in(&mut c, bye)[0].starts_with("SIP/2.0 481 "));
}

/// RFC 3261 §12.2.2: an in-dialog request for a dialog nobody owns gets 481 (this check
/// moved from the UA core to the core's routing table).
#[test]
fn in_dialog_requests_for_unknown_dialogs_get_481() {
    let mut c = core();
    for (method, n) in [("BYE", 1), ("MESSAGE", 2), ("INVITE", 3)] {
        let req = format!(
            "{method} sip:juliet@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKd{n}\nFrom: <sip:romeo@example.net>;tag=a\nTo: <sip:juliet@example.com>;tag=nope\nCall-ID: d{n}\nCSeq: 2 {method}\nContent-Length: 0\n\n"
        );
        let out = sip_in(&mut c, &req);
        let last = out.last().cloned().unwrap_or_default();
        assert!(last.starts_with("SIP/2.0 481 "), "{method}: {out:?}");
    }
}

/// The core is deterministic under a fixed seed: the same input gives the same bytes (tags,
/// Call-IDs, branches, MSRP session ids all come from the seed).
#[test]
fn the_same_seed_gives_the_same_bytes() {
    let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\noutbound_proxy = \"sip:127.0.0.1:5060\"\n";
    let cfg = Config::parse(toml).unwrap();
    let run_with = |seed: [u8; 32]| {
        let mut c = Core::new(CoreConfig::from_config(&cfg).seed(seed));
        let now = Instant::now();
        c.handle_input(now, Input::LinkUp);
        let mut out = Vec::new();
        for (ty, id) in [("normal", "p1"), ("chat", "c1")] {
            let xml = format!(
                "<message {NS} type='{ty}' id='{id}' from='juliet@example.com/b' to='romeo@sip.example.com'><body>hi</body></message>"
            );
            let el: Element = xml.parse().unwrap();
            c.handle_input(now, Input::Stanza(Stanza::try_from(el).unwrap()));
            while let Some(o) = c.poll_output() {
                if let Output::Sip { bytes, .. } = o {
                    out.push(String::from_utf8_lossy(&bytes).to_string());
                }
            }
        }
        out
    };
    let (a, b) = (run_with([1; 32]), run_with([1; 32]));
    assert_eq!(a.len(), 2, "a MESSAGE and an INVITE: {a:?}");
    assert_eq!(a, b);
    assert_ne!(a, run_with([2; 32]));
}

/// Page mode with what real clients send (issue 10): everything out of one input.
#[derive(Default, Debug)]
struct Seen {
    sip: Vec<String>,
    xmpp: Vec<String>,
    tickets: Vec<u64>,
}

fn feed(c: &mut Core, input: Input) -> Seen {
    c.handle_input(Instant::now(), input);
    let mut s = Seen::default();
    while let Some(o) = c.poll_output() {
        match o {
            Output::Sip { bytes, .. } => s.sip.push(String::from_utf8_lossy(&bytes).into()),
            Output::Stanza(st) => s.xmpp.push(String::from(&Element::from(st))),
            Output::TrackedStanza(t, st) => {
                s.tickets.push(t);
                s.xmpp.push(String::from(&Element::from(st)));
            }
            _ => {}
        }
    }
    s
}

/// A core whose requests go to an outbound proxy (no DNS in these tests).
fn page_core(im: &str) -> Core {
    let toml = format!(
        "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\noutbound_proxy = \"sip:127.0.0.1:5060\"\n[im]\n{im}"
    );
    let mut c = Core::new(CoreConfig::from_config(&Config::parse(&toml).unwrap()).seed([3; 32]));
    feed(&mut c, Input::LinkUp);
    c
}

fn sip_bytes(head: &str, content_type: &str, extra: &str, body: &[u8]) -> Input {
    let mut b = format!(
        "{head}Content-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    b.extend_from_slice(body);
    Input::Sip(SipIn {
        bytes: b,
        from: Dest {
            transport: crate::sip::Transport::Udp,
            addr: "127.0.0.1:5060".parse().unwrap(),
        },
    })
}

fn romeo_to_juliet(branch: &str) -> String {
    format!(
        "MESSAGE sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{branch}\r\nFrom: <sip:romeo@example.net>;tag=r{branch}\r\nTo: <sip:juliet@example.com>\r\nCall-ID: {branch}@linphone\r\nCSeq: 20 MESSAGE\r\n"
    )
}

fn stanza(c: &mut Core, xml: &str) -> Seen {
    let el: Element = xml.parse().unwrap();
    feed(c, Input::Stanza(Stanza::try_from(el).unwrap()))
}

fn body_of(sip: &str) -> &str {
    sip.split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

#[test]
fn linphone_cpim_is_unwrapped_and_its_reports_go_back_in_cpim() {
    let mut c = page_core("");
    let cpim = "From: <sip:romeo@example.net>\r\nTo: <sip:juliet@example.com>\r\nDateTime: 2026-11-30T10:00:00Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: Lp3kd8\r\nimdn.Disposition-Notification: positive-delivery, negative-delivery, display\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\nBut soft ❤";
    let s = feed(
        &mut c,
        sip_bytes(&romeo_to_juliet("c1"), "message/cpim", "", cpim.as_bytes()),
    );
    let xml = &s.xmpp[0];
    assert!(
        xml.contains("type='chat'") && xml.contains("<body>But soft ❤</body>"),
        "{xml}"
    );
    assert!(
        xml.contains("<request xmlns='urn:xmpp:receipts'/>"),
        "{xml}"
    );
    assert!(
        xml.contains("<markable xmlns='urn:xmpp:chat-markers:0'/>"),
        "{xml}"
    );
    assert!(
        !xml.contains("imdn."),
        "the envelope never reaches XMPP: {xml}"
    );
    let s = feed(&mut c, Input::Queued(s.tickets[0], Ok(())));
    assert!(s.sip[0].starts_with("SIP/2.0 200 OK\r\n"), "{s:?}");
    // Juliet's client acknowledges it: a delivered IMDN in CPIM naming Linphone's id
    let s = stanza(
        &mut c,
        &format!(
            "<message {NS} from='juliet@example.com/b' to='romeo@sip.example.com'><received xmlns='urn:xmpp:receipts' id='z9hG4bKc1'/></message>"
        ),
    );
    assert_eq!(s.sip.len(), 1, "{s:?}");
    assert!(
        s.sip[0].contains("Content-Type: message/cpim\r\n"),
        "{}",
        s.sip[0]
    );
    let body = body_of(&s.sip[0]);
    assert!(
        body.contains("<message-id>Lp3kd8</message-id>") && body.contains("<delivered/>"),
        "{body}"
    );
    assert!(body.contains("Content-Type: message/imdn+xml"), "{body}");
    // and reads it: a display IMDN
    let s = stanza(
        &mut c,
        &format!(
            "<message {NS} from='juliet@example.com/b' to='romeo@sip.example.com'><displayed xmlns='urn:xmpp:chat-markers:0' id='z9hG4bKc1'/></message>"
        ),
    );
    assert!(body_of(&s.sip[0]).contains("<displayed/>"), "{s:?}");
}

#[test]
fn deflated_imdn_about_our_message_is_a_receipt_and_200_is_one_for_peers_without_imdn() {
    use std::io::Write;
    let mut c = page_core("");
    let s = stanza(
        &mut c,
        &format!(
            "<message {NS} id='x1' from='juliet@example.com/b' to='romeo@sip.example.com'><body>hi</body><request xmlns='urn:xmpp:receipts'/></message>"
        ),
    );
    let call_id = s.sip[0]
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap()
        .to_string();
    let imdn = format!(
        "<?xml version='1.0' encoding='UTF-8'?><imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>{call_id}</message-id><delivery-notification><status><delivered/></status></delivery-notification></imdn>"
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(imdn.as_bytes()).unwrap();
    let s = feed(
        &mut c,
        sip_bytes(
            &romeo_to_juliet("i1"),
            "message/imdn+xml",
            "Content-Encoding: deflate\r\nPriority: non-urgent\r\n",
            &z.finish().unwrap(),
        ),
    );
    assert!(s.sip[0].starts_with("SIP/2.0 200 OK\r\n"), "{s:?}");
    assert!(
        s.xmpp[0].contains("<received xmlns='urn:xmpp:receipts' id='x1'/>"),
        "{s:?}"
    );

    // a peer that sent no IMDN: its 200 is the receipt, its 202 is not
    let s = stanza(
        &mut c,
        &format!(
            "<message {NS} id='x2' from='juliet@example.com/b' to='bob@sip.example.com'><body>hi</body><request xmlns='urn:xmpp:receipts'/></message>"
        ),
    );
    let ok = answer(&s.sip[0], 200, "OK");
    let s = feed(&mut c, sip_input(&ok));
    assert!(
        s.xmpp[0].contains("<received xmlns='urn:xmpp:receipts' id='x2'/>"),
        "{s:?}"
    );
    let s = stanza(
        &mut c,
        &format!(
            "<message {NS} id='x3' from='juliet@example.com/b' to='bob@sip.example.com'><body>hi</body><request xmlns='urn:xmpp:receipts'/></message>"
        ),
    );
    let accepted = answer(&s.sip[0], 202, "Accepted");
    assert!(feed(&mut c, sip_input(&accepted)).xmpp.is_empty());
}

#[test]
fn typing_goes_only_to_peers_that_type_and_unknown_encodings_get_415() {
    let mut c = page_core("");
    let composing = format!(
        "<message {NS} from='juliet@example.com/b' to='romeo@sip.example.com'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    );
    assert!(
        stanza(&mut c, &composing).sip.is_empty(),
        "romeo never showed he types"
    );
    let doc = "<?xml version='1.0' encoding='UTF-8'?><isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state><contenttype>text/plain</contenttype></isComposing>";
    let s = feed(
        &mut c,
        sip_bytes(
            &romeo_to_juliet("t1"),
            "application/im-iscomposing+xml",
            "",
            doc.as_bytes(),
        ),
    );
    assert!(s.sip[0].starts_with("SIP/2.0 200 OK\r\n"), "{s:?}");
    assert!(
        s.xmpp[0].contains("<composing xmlns='http://jabber.org/protocol/chatstates'/>"),
        "{s:?}"
    );
    let s = stanza(&mut c, &composing);
    assert!(
        s.sip[0].contains("Content-Type: application/im-iscomposing+xml\r\n"),
        "{s:?}"
    );
    assert!(body_of(&s.sip[0]).contains("<state>active</state>"));
    let s = feed(
        &mut c,
        sip_bytes(
            &romeo_to_juliet("g1"),
            "text/plain",
            "Content-Encoding: gzip\r\n",
            b"x",
        ),
    );
    assert!(
        s.sip[0].starts_with("SIP/2.0 415 ") && s.sip[0].contains("Accept-Encoding: deflate"),
        "{s:?}"
    );
}

fn sip_input(text: &str) -> Input {
    Input::Sip(SipIn {
        bytes: text.as_bytes().to_vec(),
        from: Dest {
            transport: crate::sip::Transport::Udp,
            addr: "127.0.0.1:5060".parse().unwrap(),
        },
    })
}

/// A response to one of our requests, as the peer would send it.
fn answer(req: &str, code: u16, reason: &str) -> String {
    let keep = ["Via", "From", "To", "Call-ID", "CSeq"];
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for l in req.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        if keep.iter().any(|k| l.starts_with(&format!("{k}:"))) {
            out.push_str(l);
            if l.starts_with("To:") {
                out.push_str(";tag=peer");
            }
            out.push_str("\r\n");
        }
    }
    out + "Content-Length: 0\r\n\r\n"
}

#[test]
fn html_refused_with_415_goes_again_as_plain_text() {
    let mut c = page_core("xhtml_to_sip = \"html\"\n");
    let html = format!(
        "<message {NS} id='h1' from='juliet@example.com/b' to='romeo@sip.example.com'><body>bold</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><b>bold</b></body></html></message>"
    );
    let s = stanza(&mut c, &html);
    assert!(s.sip[0].contains("Content-Type: text/html"), "{s:?}");
    let refused = answer(&s.sip[0], 415, "Unsupported Media Type").replace(
        "Content-Length: 0",
        "Accept: text/plain\r\nContent-Length: 0",
    );
    let s = feed(&mut c, sip_input(&refused));
    assert!(s.xmpp.is_empty(), "no error: {s:?}");
    assert!(
        s.sip[0].contains("Content-Type: text/plain") && s.sip[0].ends_with("\r\n\r\nbold"),
        "{s:?}"
    );
    // and the next one goes plain at once
    let s = stanza(&mut c, &html);
    assert!(s.sip[0].contains("Content-Type: text/plain"), "{s:?}");
}

#[test]
fn a_peers_unrefreshed_active_becomes_paused_and_old_cpim_is_delayed() {
    let mut c = page_core("");
    let t0 = Instant::now();
    let doc = "<?xml version='1.0' encoding='UTF-8'?><isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state><refresh>60</refresh></isComposing>";
    let s = feed(
        &mut c,
        sip_bytes(
            &romeo_to_juliet("p1"),
            "application/im-iscomposing+xml",
            "",
            doc.as_bytes(),
        ),
    );
    assert!(s.xmpp[0].contains("<composing "), "{s:?}");
    let at = |c: &mut Core, secs: u64| {
        c.handle_timeout(t0 + std::time::Duration::from_secs(secs));
        std::iter::from_fn(|| c.poll_output())
            .filter_map(|o| match o {
                Output::Stanza(s) => Some(String::from(&Element::from(s))),
                _ => None,
            })
            .collect::<Vec<String>>()
    };
    assert!(at(&mut c, 50).is_empty(), "still within its 60 s refresh");
    let out = at(&mut c, 61);
    assert!(out.iter().any(|x| x.contains("<paused ")), "{out:?}");

    // with the wall clock known, a CPIM DateTime from 2001 is a delayed message
    let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\n";
    let cfg = CoreConfig::from_config(&Config::parse(toml).unwrap())
        .wall_clock(Instant::now(), std::time::SystemTime::now());
    let mut c = Core::new(cfg);
    feed(&mut c, Input::LinkUp);
    let cpim = "From: <sip:romeo@example.net>\r\nDateTime: 2001-09-09T01:46:40Z\r\n\r\nContent-Type: text/plain\r\n\r\nlate";
    let s = feed(
        &mut c,
        sip_bytes(&romeo_to_juliet("d1"), "message/cpim", "", cpim.as_bytes()),
    );
    assert!(
        s.xmpp[0].contains("<delay xmlns='urn:xmpp:delay' stamp='2001-09-09T01:46:40"),
        "{s:?}"
    );
    let fresh = cpim.replace("2001-09-09T01:46:40Z", "2999-01-01T00:00:00Z");
    let s = feed(
        &mut c,
        sip_bytes(&romeo_to_juliet("d2"), "message/cpim", "", fresh.as_bytes()),
    );
    assert!(!s.xmpp[0].contains("urn:xmpp:delay"), "{s:?}");
}

#[test]
fn a_bounce_after_200_is_a_failed_imdn_when_negative_delivery_was_asked() {
    let mut c = page_core("");
    let cpim = "From: <sip:romeo@example.net>\r\nTo: <sip:juliet@example.com>\r\nDateTime: 2026-11-30T10:00:00Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: Neg1\r\nimdn.Disposition-Notification: negative-delivery\r\n\r\nContent-Type: text/plain\r\n\r\nhello?";
    let s = feed(
        &mut c,
        sip_bytes(&romeo_to_juliet("b1"), "message/cpim", "", cpim.as_bytes()),
    );
    assert!(
        !s.xmpp[0].contains("urn:xmpp:receipts"),
        "no receipt asked: {s:?}"
    );
    feed(&mut c, Input::Queued(s.tickets[0], Ok(())));
    let s = stanza(
        &mut c,
        &format!(
            "<message {NS} type='error' id='z9hG4bKb1' from='juliet@example.com' to='romeo@sip.example.com'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ),
    );
    assert_eq!(s.sip.len(), 1, "{s:?}");
    let body = body_of(&s.sip[0]);
    assert!(
        body.contains("<message-id>Neg1</message-id>") && body.contains("<failed/>"),
        "{body}"
    );
}

#[test]
fn cpim_refused_with_415_goes_again_plain_and_nothing_is_lost() {
    let mut c = page_core("");
    let cpim = "From: <sip:romeo@example.net>\r\n\r\nContent-Type: text/plain\r\n\r\nhi";
    let s = feed(
        &mut c,
        sip_bytes(&romeo_to_juliet("k1"), "message/cpim", "", cpim.as_bytes()),
    );
    feed(&mut c, Input::Queued(s.tickets[0], Ok(())));
    let s = stanza(
        &mut c,
        &format!(
            "<message {NS} id='k2' from='juliet@example.com/b' to='romeo@sip.example.com'><body>and you</body></message>"
        ),
    );
    assert!(
        s.sip[0].contains("Content-Type: message/cpim\r\n"),
        "romeo used CPIM: {s:?}"
    );
    let refused = answer(&s.sip[0], 415, "Unsupported Media Type").replace(
        "Content-Length: 0",
        "Accept: text/plain\r\nContent-Length: 0",
    );
    let s = feed(&mut c, sip_input(&refused));
    assert!(s.xmpp.is_empty(), "no error for a refused envelope: {s:?}");
    assert!(
        s.sip[0].contains("Content-Type: text/plain") && s.sip[0].ends_with("\r\n\r\nand you"),
        "{s:?}"
    );
}

/// Shutdown: a MESSAGE still waiting for its answer goes back to its sender as an error.
#[test]
fn shutdown_answers_what_is_in_flight() {
    let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\n[im]\nchat_mode = \"page\"\n";
    let cfg = Config::parse(toml).unwrap();
    let mut c = Core::new(
        CoreConfig::from_config(&cfg)
            .outbound_proxy(crate::sip::ua::proxy_dest("sip:127.0.0.1:5060"))
            .seed([7; 32]),
    );
    c.handle_input(Instant::now(), Input::LinkUp);
    let out = run(
        &mut c,
        &format!(
            "<message {NS} id='m1' type='chat' from='juliet@example.com/b' to='romeo@sip.example.com'><body>hi</body></message>"
        ),
    );
    assert!(out.is_empty(), "{out:?}");
    c.handle_input(Instant::now(), Input::Shutdown);
    let out: Vec<String> = std::iter::from_fn(|| c.poll_output())
        .filter_map(|o| match o {
            Output::Stanza(s) => Some(String::from(&Element::from(s))),
            _ => None,
        })
        .collect();
    assert!(
        out.len() == 1
            && out[0].contains("type='error'")
            && out[0].contains("id='m1'")
            && out[0].contains("remote-server-timeout"),
        "{out:?}"
    );
}
