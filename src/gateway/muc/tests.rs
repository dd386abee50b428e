//! RFC 7702 through the sans-IO core, with the spec notes' corrected examples: §5 (an XMPP
//! user in a SIP room) and §6 (a SIP user in an XMPP room), plus the pure mappings.

use std::time::Duration;

use super::*;
use crate::body::conference_info::ConferenceInfo;
use crate::gateway::harness::{NS, Out, T, header, sdp_path, tag_of, xml_attr};
use crate::gateway::{Input, Owner};
use crate::msrp::io::MsrpEvent;

fn reply(req: &str, code: u16, headers: &[(&str, &str)], ctype: &str, body: &str) -> String {
    let body = (!body.is_empty()).then_some((ctype, body));
    crate::gateway::harness::respond(req, code, "peertag", headers, body)
}

/// A request with a CRLF body and its Content-Length.
fn request(head: &str, body: &str) -> String {
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    format!(
        "{}\r\nContent-Length: {}\r\n\r\n{body}",
        head.trim_end().replace('\n', "\r\n"),
        body.len()
    )
}

/// A request from the SIP room's focus in the dialog our INVITE made (its To tag is ours).
fn from_focus(invite: &str, method: &str, seq: u32, headers: &str, body: &str) -> String {
    request(
        &format!(
            "{method} sip:juliet@127.0.0.1:5070 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKf{method}{seq}\nFrom: <sip:montague@chat.example.org>;tag=peertag\nTo: <sip:juliet@example.com>;tag={}\nCall-ID: {}\nCSeq: {seq} {method}\n{headers}",
            tag_of(header(invite, "From").unwrap()),
            header(invite, "Call-ID").unwrap()
        ),
        body,
    )
}

/// A one-chunk SEND of a CPIM body, as a peer writes it.
fn cpim_send(to: &str, from: &str, tid: &str, mid: &str, cpim: &str) -> String {
    format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: {mid}\r\nByte-Range: 1-{0}/{0}\r\nContent-Type: message/cpim\r\n\r\n{cpim}\r\n-------{tid}$\r\n",
        cpim.len()
    )
}

fn tid(frame: &str) -> String {
    frame.split(' ').nth(1).unwrap().to_string()
}

const FOCUS_SDP: &str = "v=0\r\no=focus 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 12763 TCP/MSRP *\r\na=accept-types:message/cpim\r\na=accept-wrapped-types:text/plain text/html\r\na=path:msrp://127.0.0.1:12763/kjhd37s2s20w2a;tcp\r\na=setup:passive\r\na=chatroom:nickname private-messages\r\n";
const SWITCH: &str = "msrp://127.0.0.1:12763/kjhd37s2s20w2a;tcp";
const JULIET: &str = "juliet@example.com/yn0cl4bnw0yr3vym";
const ROOM_JID: &str = "montague\\40chat.example.org@sip.example.com";

const ROSTER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:montague@chat.example.org" state="full" version="1">
  <conference-description><subject>Today in Verona</subject></conference-description>
  <users>
    <user entity="sip:montague@chat.example.org;gr=Romeo" state="full">
      <display-text>Romeo</display-text>
      <roles><entry>participant</entry></roles>
      <endpoint entity="sip:montague@chat.example.org;gr=Romeo"><status>connected</status></endpoint>
    </user>
    <user entity="sip:montague@chat.example.org;gr=JuliC" state="full">
      <display-text>JuliC</display-text>
      <roles><entry>participant</entry></roles>
    </user>
  </users>
</conference-info>"#;

struct Joined {
    invite: String,
    ours: String,
    sub: String,
}

/// §5.1–§5.3 (F1–F15): join → INVITE → 200/ACK → bodiless SEND, NICKNAME, SUBSCRIBE →
/// roster NOTIFY → occupant presence, self-presence (110) last, then the subject.
fn join_sip_room(t: &mut T) -> Joined {
    let j = subscribe_to_sip_room(t);
    // F12/F13: the roster NOTIFY
    let o = t.sip(&roster_notify(&j.invite, 1, ROSTER));
    assert!(o.sip[0].starts_with("SIP/2.0 200 OK"), "{o:?}");
    assert_joined(&o, "Today in Verona");
    j
}

/// A conference NOTIFY from the focus.
fn roster_notify(invite: &str, seq: u32, doc: &str) -> String {
    from_focus(
        invite,
        "NOTIFY",
        seq,
        "Contact: <sip:montague@127.0.0.1:5999>;isfocus\nEvent: conference\nSubscription-State: active;expires=600\nContent-Type: application/conference-info+xml",
        doc,
    )
}

/// The XEP-0045 join order: Romeo, the self-presence (110), the subject.
fn assert_joined(o: &Out, subject: &str) {
    assert_eq!(o.xmpp.len(), 3, "{o:?}");
    assert_eq!(
        o.xmpp[0],
        format!(
            "<presence xmlns='jabber:component:accept' from='{ROOM_JID}/Romeo' to='{JULIET}'><priority>0</priority><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>"
        )
    );
    assert_eq!(
        o.xmpp[1],
        format!(
            "<presence xmlns='jabber:component:accept' from='{ROOM_JID}/JuliC' to='{JULIET}'><priority>0</priority><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>"
        )
    );
    assert!(
        o.xmpp[2].contains("type='groupchat'")
            && o.xmpp[2].contains(&format!("<subject>{subject}</subject>"))
            && !o.xmpp[2].contains("<body"),
        "{}",
        o.xmpp[2]
    );
}

/// F1–F11: everything up to the focus's 200 to our SUBSCRIBE; the nickname is settled, the
/// roster is not.
fn subscribe_to_sip_room(t: &mut T) -> Joined {
    let o = t.xmpp(&format!(
        "<presence {NS} from='{JULIET}' to='{ROOM_JID}/JuliC'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ));
    assert_eq!(o.sip.len(), 1, "{o:?}");
    let invite = o.sip[0].clone();
    // Table 1 and vector (1)
    assert!(
        invite.starts_with("INVITE sip:montague@chat.example.org SIP/2.0\r\n"),
        "{invite}"
    );
    assert_eq!(
        header(&invite, "To"),
        Some("<sip:montague@chat.example.org>")
    );
    assert!(
        header(&invite, "From")
            .unwrap()
            .starts_with("<sip:juliet@example.com>;tag="),
        "{invite}"
    );
    assert!(
        header(&invite, "Contact")
            .unwrap()
            .contains(";gr=yn0cl4bnw0yr3vym>"),
        "{invite}"
    );
    assert_eq!(
        header(&invite, "Call-Info"),
        Some("<xmpp:juliet@example.com>;purpose=impp")
    );
    assert!(
        invite.contains("a=accept-types:message/cpim\r\n"),
        "{invite}"
    );
    assert!(
        invite.contains("a=accept-wrapped-types:text/plain text/html"),
        "{invite}"
    );
    assert!(
        invite.contains("a=chatroom:nickname private-messages\r\n"),
        "{invite}"
    );
    let ours = sdp_path(&invite);
    assert!(
        ours.starts_with("msrp://127.0.0.1:2855/"),
        "explicit port (MUST): {ours}"
    );
    let ok = reply(
        &invite,
        200,
        &[("Contact", "<sip:montague@127.0.0.1:5999>;isfocus")],
        "application/sdp",
        FOCUS_SDP,
    );
    let o = t.sip(&ok);
    assert!(
        o.sip[0].starts_with("ACK sip:montague@127.0.0.1:5999 SIP/2.0"),
        "{o:?}"
    );
    let (id, addr) = o.muc_connect[0];
    assert_eq!(addr, "127.0.0.1:12763".parse().unwrap());
    let o = t.input(Input::MsrpConnected {
        owner: Owner::Muc(id),
        result: Ok(9),
    });
    // F6: bodiless SEND; F8: NICKNAME (vector 2)
    assert_eq!(o.msrp.len(), 2, "{o:?}");
    assert!(
        o.msrp[0].1.contains(" SEND\r\n") && !o.msrp[0].1.contains("Content-Type"),
        "{o:?}"
    );
    let nick = o.msrp[1].1.clone();
    let ntid = tid(&nick);
    assert_eq!(
        nick,
        format!(
            "MSRP {ntid} NICKNAME\r\nTo-Path: {SWITCH}\r\nFrom-Path: {ours}\r\nUse-Nickname: \"JuliC\"\r\n-------{ntid}$\r\n"
        )
    );
    // F10: SUBSCRIBE conference in the dialog
    let sub = o
        .sip
        .iter()
        .find(|s| s.starts_with("SUBSCRIBE "))
        .unwrap()
        .clone();
    assert!(
        sub.starts_with("SUBSCRIBE sip:montague@127.0.0.1:5999 SIP/2.0"),
        "{sub}"
    );
    assert_eq!(header(&sub, "Call-ID"), header(&invite, "Call-ID"));
    assert_eq!(header(&sub, "Event"), Some("conference"));
    assert_eq!(header(&sub, "Expires"), Some("600"));
    assert_eq!(
        header(&sub, "Accept"),
        Some("application/conference-info+xml")
    );
    // no roster yet: nothing for the XMPP user
    assert!(o.xmpp.is_empty(), "{o:?}");
    let o = t.msrp(
        9,
        &format!(
            "MSRP {ntid} 200 OK\r\nTo-Path: {ours}\r\nFrom-Path: {SWITCH}\r\n-------{ntid}$\r\n"
        ),
    );
    assert!(o.xmpp.is_empty(), "{o:?}");
    let o = t.sip(&reply(&sub, 200, &[("Expires", "600")], "", ""));
    assert!(o.xmpp.is_empty(), "{o:?}");
    Joined { invite, ours, sub }
}

/// RFC 4575 §4.4: a partial NOTIFY that beats the full one (the focus announced our NICKNAME
/// to a subscription it had just taken) neither completes the join nor makes the full
/// document that follows look stale. Seen with the e2e focus under load.
#[test]
fn partial_roster_before_the_full_one_waits_for_it() {
    let mut t = T::new("");
    let j = subscribe_to_sip_room(&mut t);
    let partial = ROSTER
        .replace(
            "state=\"full\" version=\"1\"",
            "state=\"partial\" version=\"1\"",
        )
        .replace(
            "<conference-description><subject>Today in Verona</subject></conference-description>",
            "",
        );
    assert!(partial.contains("state=\"partial\""));
    let o = t.sip(&roster_notify(&j.invite, 1, &partial));
    assert!(o.sip[0].starts_with("SIP/2.0 200 OK"), "{o:?}");
    assert!(o.xmpp.is_empty(), "no join on a partial document: {o:?}");
    let full = ROSTER.replace("version=\"1\"", "version=\"2\"");
    let o = t.sip(&roster_notify(&j.invite, 2, &full));
    assert_joined(&o, "Today in Verona");
    // the baseline is the full document: version 3 is the next change, 2 is stale
    let romeo_gone = r#"<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:montague@chat.example.org" state="partial" version="3"><users><user entity="sip:montague@chat.example.org;gr=Romeo" state="deleted"/></users></conference-info>"#;
    let o = t.sip(&roster_notify(
        &j.invite,
        3,
        &romeo_gone.replace("version=\"3\"", "version=\"2\""),
    ));
    assert!(o.xmpp.is_empty(), "{o:?}");
    let o = t.sip(&roster_notify(&j.invite, 4, romeo_gone));
    assert_eq!(o.xmpp.len(), 1, "{o:?}");
    assert!(
        o.xmpp[0].contains(&format!("from='{ROOM_JID}/Romeo'"))
            && o.xmpp[0].contains("type='unavailable'"),
        "{o:?}"
    );
}

/// A focus that takes the subscription but never sends a full document: after
/// `groupchat.roster_wait_ms` the user enters with what is known (here: nobody else, and an
/// empty subject), and later NOTIFYs add occupants.
#[test]
fn join_completes_when_the_full_roster_never_comes() {
    let mut t = T::new("[groupchat]\nroster_wait_ms = 2000\n");
    let j = subscribe_to_sip_room(&mut t);
    let o = t.advance(Duration::from_millis(1900));
    assert!(o.xmpp.is_empty(), "{o:?}");
    let o = t.advance(Duration::from_millis(200));
    assert_eq!(o.xmpp.len(), 2, "{o:?}");
    assert!(
        o.xmpp[0].contains(&format!("from='{ROOM_JID}/JuliC'"))
            && o.xmpp[0].contains("<status code='110'/>"),
        "{o:?}"
    );
    assert!(
        o.xmpp[1].contains("<subject/>") || o.xmpp[1].contains("<subject></subject>"),
        "{o:?}"
    );
    let o = t.sip(&roster_notify(&j.invite, 1, ROSTER));
    assert_eq!(o.xmpp.len(), 2, "Romeo, then the subject: {o:?}");
    assert!(
        o.xmpp
            .iter()
            .any(|x| x.contains(&format!("from='{ROOM_JID}/Romeo'"))),
        "{o:?}"
    );
}

fn join_id(t: &T) -> u64 {
    assert_eq!(t.core.muc_sessions(), 1);
    1
}

#[test]
fn xmpp_user_joins_a_sip_room_rfc7702_section5() {
    let mut t = T::new("");
    let j = join_sip_room(&mut t);
    let _ = join_id(&t);
    // F16–F18, vector (4): groupchat → CPIM SEND; reflected once the switch says 200
    let o = t.xmpp(&format!(
        "<message {NS} from='{JULIET}' to='{ROOM_JID}' type='groupchat' id='lzfed24s'><body>Who knows where Romeo is?</body></message>"
    ));
    assert!(o.xmpp.is_empty(), "no reflection before the 200: {o:?}");
    let send = o.msrp[0].1.clone();
    assert!(send.starts_with("MSRP lzfed24s SEND\r\n"), "{send}");
    assert!(send.contains("Content-Type: message/cpim\r\n\r\nFrom: <sip:juliet@example.com>\r\nTo: <sip:montague@chat.example.org>\r\n"), "{send}");
    assert!(send.contains("\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\nWho knows where Romeo is?\r\n-------lzfed24s$"), "{send}");
    let o = t.msrp(
        9,
        &format!(
            "MSRP lzfed24s 200 OK\r\nTo-Path: {}\r\nFrom-Path: {SWITCH}\r\n-------lzfed24s$\r\n",
            j.ours
        ),
    );
    assert_eq!(
        o.xmpp,
        vec![format!(
            "<message xmlns='jabber:component:accept' from='{ROOM_JID}/JuliC' id='lzfed24s' to='{JULIET}' type='groupchat'><body>Who knows where Romeo is?</body></message>"
        )]
    );
    // F19–F22, Table 5: a room message from Romeo, and a private one
    let cpim = "From: <sip:montague@chat.example.org;gr=Romeo>\r\nTo: <sip:montague@chat.example.org>\r\nDateTime: 2015-06-01T15:02:31Z\r\n\r\nContent-Type: text/plain\r\n\r\nO, I am fortune's fool!";
    let o = t.msrp(9, &cpim_send(&j.ours, SWITCH, "r1x2y3z4", "m1", cpim));
    assert!(o.msrp[0].1.starts_with("MSRP r1x2y3z4 200 OK"), "{o:?}");
    assert_eq!(
        o.xmpp,
        vec![format!(
            "<message xmlns='jabber:component:accept' from='{ROOM_JID}/Romeo' id='r1x2y3z4' to='{JULIET}' type='groupchat'><body>O, I am fortune's fool!</body></message>"
        )]
    );
    let cpim = "From: <sip:montague@chat.example.org;gr=Romeo>\r\nTo: <sip:montague@chat.example.org;gr=JuliC>\r\n\r\nContent-Type: text/plain\r\n\r\nI am here!!!";
    let o = t.msrp(9, &cpim_send(&j.ours, SWITCH, "r2x2y3z4", "m2", cpim));
    assert!(
        o.xmpp[0].contains("type='chat'")
            && o.xmpp[0].contains("<x xmlns='http://jabber.org/protocol/muc#user'/>")
            && o.xmpp[0].contains(&format!("from='{ROOM_JID}/Romeo'")),
        "{o:?}"
    );
    // vector (5): a private message out
    let o = t.xmpp(&format!(
        "<message {NS} from='{JULIET}' to='{ROOM_JID}/Romeo' type='chat' id='pm000001'><body>hush</body></message>"
    ));
    assert!(o.msrp[0].1.contains("From: <sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>\r\nTo: <sip:montague@chat.example.org;gr=Romeo>\r\n"), "{o:?}");
    // a partial NOTIFY: Romeo leaves, Benvolio comes (versions +1)
    let partial = r#"<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:montague@chat.example.org" state="partial" version="2"><users><user entity="sip:montague@chat.example.org;gr=Romeo" state="deleted"/><user entity="sip:montague@chat.example.org;gr=Benvolio"><display-text>Benvolio</display-text></user></users></conference-info>"#;
    let n2 = from_focus(
        &j.invite,
        "NOTIFY",
        2,
        "Event: conference\nSubscription-State: active;expires=500\nContent-Type: application/conference-info+xml",
        partial,
    );
    let o = t.sip(&n2);
    assert_eq!(o.xmpp.len(), 2, "{o:?}");
    assert!(
        o.xmpp[0].contains("/Romeo'")
            && o.xmpp[0].contains("type='unavailable'")
            && o.xmpp[0].contains("role='none'"),
        "{o:?}"
    );
    assert!(
        o.xmpp[1].contains("/Benvolio'") && !o.xmpp[1].contains("type="),
        "{o:?}"
    );
    // F23–F26: nick change → NICKNAME; 425 → conflict
    let o = t.xmpp(&format!(
        "<presence {NS} from='{JULIET}' to='{ROOM_JID}/Benvolio'/>"
    ));
    let n = o.msrp[0].1.clone();
    assert!(n.contains("Use-Nickname: \"Benvolio\""), "{n}");
    let o = t.msrp(9,
        &format!(
            "MSRP {} 425 Nickname usage failed\r\nTo-Path: {}\r\nFrom-Path: {SWITCH}\r\n-------{}$\r\n",
            tid(&n),
            j.ours,
            tid(&n)
        ),
    );
    assert_eq!(
        o.xmpp,
        vec![format!(
            "<presence xmlns='jabber:component:accept' from='{ROOM_JID}/Benvolio' to='{JULIET}' type='error'><priority>0</priority><x xmlns='http://jabber.org/protocol/muc'/><error by='{ROOM_JID}' type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>that nickname is in use in the room (MSRP 425)</text></error></presence>"
        )]
    );
    // … and a nick the room takes: 303 + 110, then the new presence with 110
    let o = t.xmpp(&format!(
        "<presence {NS} from='{JULIET}' to='{ROOM_JID}/Juliet'/>"
    ));
    let n = o.msrp[0].1.clone();
    let o = t.msrp(
        9,
        &format!(
            "MSRP {} 200 OK\r\nTo-Path: {}\r\nFrom-Path: {SWITCH}\r\n-------{}$\r\n",
            tid(&n),
            j.ours,
            tid(&n)
        ),
    );
    assert!(
        o.xmpp[0].contains(&format!("from='{ROOM_JID}/JuliC'"))
            && o.xmpp[0].contains("nick='Juliet'")
            && o.xmpp[0].contains("<status code='303'/><status code='110'/>"),
        "{o:?}"
    );
    assert!(
        o.xmpp[1].contains(&format!("from='{ROOM_JID}/Juliet'"))
            && o.xmpp[1].contains("<status code='110'/>"),
        "{o:?}"
    );
    // F27–F30, vector (7): a mediated invite → REFER in the dialog; a failing NOTIFY → decline
    let o = t.xmpp(&format!(
        "<message {NS} from='{JULIET}' to='{ROOM_JID}'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='benvolio@example.com'/></x></message>"
    ));
    let refer = o.sip[0].clone();
    assert!(
        refer.starts_with("REFER sip:montague@127.0.0.1:5999 SIP/2.0"),
        "{refer}"
    );
    assert_eq!(
        header(&refer, "Refer-To"),
        Some("<sip:benvolio@example.com>")
    );
    assert_eq!(header(&refer, "Accept"), Some("message/sipfrag"));
    assert_eq!(header(&refer, "Call-ID"), header(&j.invite, "Call-ID"));
    t.sip(&reply(&refer, 202, &[], "", ""));
    let cseq = header(&refer, "CSeq")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let rn = from_focus(
        &j.invite,
        "NOTIFY",
        3,
        &format!(
            "Event: refer;id={cseq}\nSubscription-State: terminated;reason=noresource\nContent-Type: message/sipfrag;version=2.0"
        ),
        "SIP/2.0 486 Busy Here\n",
    );
    let o = t.sip(&rn);
    assert!(o.sip[0].starts_with("SIP/2.0 200 OK"), "{o:?}");
    assert!(
        o.xmpp[0].contains(
            "<decline from='benvolio@example.com'><reason>SIP 486 Busy Here</reason></decline>"
        ),
        "{o:?}"
    );
    // F31–F33, vector (8): leave → SUBSCRIBE Expires 0 and BYE; self-unavailable with 110
    let o = t.xmpp(&format!("<presence {NS} from='{JULIET}' to='{ROOM_JID}/Juliet' type='unavailable'><status>bye</status></presence>"));
    assert!(
        o.sip
            .iter()
            .any(|s| s.starts_with("SUBSCRIBE ") && s.contains("Expires: 0\r\n")),
        "{o:?}"
    );
    assert!(
        o.sip
            .iter()
            .any(|s| s.starts_with("BYE sip:montague@127.0.0.1:5999")),
        "{o:?}"
    );
    assert!(
        o.xmpp[0].contains("type='unavailable'")
            && o.xmpp[0].contains("<status code='110'/>")
            && o.xmpp[0].contains("<status>bye</status>"),
        "{o:?}"
    );
    assert_eq!(t.core.muc_sessions(), 0);
    let _ = j.sub;
}

#[test]
fn sip_room_refusals_and_the_focus_bye() {
    let mut t = T::new("");
    // 404 from the room → item-not-found with the muc element
    let o = t.xmpp(&format!(
        "<presence {NS} from='{JULIET}' to='{ROOM_JID}/JuliC'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ));
    let o = t.sip(&reply(&o.sip[0], 404, &[], "", ""));
    assert!(
        o.xmpp[0].contains("type='error'")
            && o.xmpp[0].contains("<item-not-found")
            && o.xmpp[0].contains("<x xmlns='http://jabber.org/protocol/muc'/>"),
        "{o:?}"
    );
    assert_eq!(t.core.muc_sessions(), 0);
    // joined, then the focus BYEs: self-unavailable 110 + 332
    let j = join_sip_room(&mut t);
    let bye = from_focus(&j.invite, "BYE", 9, "", "");
    let o = t.sip(&bye);
    assert!(o.sip[0].starts_with("SIP/2.0 200 OK"), "{o:?}");
    assert!(
        o.xmpp[0].contains("type='unavailable'")
            && o.xmpp[0].contains("<status code='110'/><status code='332'/>"),
        "{o:?}"
    );
    // a malformed conference-info → 400 with the reason; groupchat from a non-occupant
    let o = t.xmpp(&format!(
        "<message {NS} from='{JULIET}' to='{ROOM_JID}' type='groupchat'><body>x</body></message>"
    ));
    assert!(o.xmpp[0].contains("<not-acceptable"), "{o:?}");
    // limits: rooms per user
    let mut t = T::new("[groupchat]\nmax_rooms_per_user = 1\n");
    join_sip_room(&mut t);
    let o = t.xmpp(&format!(
        "<presence {NS} from='{JULIET}' to='other\\40chat.example.org@sip.example.com/J'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ));
    assert!(
        o.sip.is_empty() && o.xmpp[0].contains("<resource-constraint"),
        "{o:?}"
    );
}

#[test]
fn bad_conference_info_gets_400_and_big_gets_413() {
    let mut t = T::new("[groupchat]\nnotify_max_bytes = 600\n");
    let o = t.xmpp(&format!(
        "<presence {NS} from='{JULIET}' to='{ROOM_JID}/JuliC'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ));
    let invite = o.sip[0].clone();
    t.sip(&reply(
        &invite,
        200,
        &[("Contact", "<sip:montague@127.0.0.1:5999>;isfocus")],
        "application/sdp",
        FOCUS_SDP,
    ));
    let n = |body: &str, seq: u32| {
        from_focus(
            &invite,
            "NOTIFY",
            seq,
            "Event: conference\nSubscription-State: active\nContent-Type: application/conference-info+xml",
            body,
        )
    };
    let o = t.sip(&n(
        "<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' version='x'/>",
        1,
    ));
    assert!(
        o.sip[0].starts_with("SIP/2.0 400 Bad conference-info: "),
        "{o:?}"
    );
    let o = t.sip(&n(ROSTER, 2));
    assert!(o.sip[0].starts_with("SIP/2.0 413 "), "{o:?}");
}

const PARTICIPANT_SDP: &str = "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7777 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\na=accept-wrapped-types:text/plain\r\na=path:msrp://127.0.0.1:7777/romeoSess;tcp\r\na=chatroom:nickname private-messages\r\n";
const ROMEO: &str = "msrp://127.0.0.1:7777/romeoSess;tcp";

fn invite_room() -> String {
    invite_room_with(PARTICIPANT_SDP)
}

fn invite_room_with(sdp: &str) -> String {
    request(
        "INVITE sip:capulet@muc.example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKi1\nFrom: \"Romeo\" <sip:romeo@example.org>;tag=rt1\nTo: <sip:capulet@muc.example.com>\nCall-ID: room-call-1\nCSeq: 1 INVITE\nContact: <sip:romeo@127.0.0.1:7000>\nContent-Type: application/sdp",
        sdp,
    )
}

/// A SIP participant's INVITE answered and its MSRP connection (4) up: our path.
fn enter_room(t: &mut T) -> String {
    let o = t.sip(&invite_room());
    let ok = o.sip.iter().find(|s| s.starts_with("SIP/2.0 200")).unwrap();
    let ours = sdp_path(ok);
    t.input(Input::Msrp(MsrpEvent::Up {
        conn: 4,
        peer: "127.0.0.1:7777".parse().unwrap(),
    }));
    ours
}

fn in_dialog_req(method: &str, seq: u32, our_tag: &str, extra: &str, body: &str) -> String {
    request(
        &format!(
            "{method} sip:capulet@127.0.0.1:5070 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKd{seq}\nFrom: \"Romeo\" <sip:romeo@example.org>;tag=rt1\nTo: <sip:capulet@muc.example.com>;tag={our_tag}\nCall-ID: room-call-1\nCSeq: {seq} {method}\nContact: <sip:romeo@127.0.0.1:7000>\n{extra}"
        ),
        body,
    )
}

/// §6 (F35–F62): a SIP user enters an XMPP room; stox is the focus.
#[test]
fn sip_user_enters_an_xmpp_room_rfc7702_section6() {
    let mut t = T::new("[groupchat]\nnotify_interval_ms = 0\n");
    let o = t.sip(&invite_room());
    let ok = o
        .sip
        .iter()
        .find(|s| s.starts_with("SIP/2.0 200"))
        .unwrap()
        .clone();
    assert!(
        header(&ok, "Contact").unwrap().ends_with(";isfocus"),
        "{ok}"
    );
    assert!(
        ok.contains("a=accept-types:message/cpim text/plain text/html\r\n"),
        "{ok}"
    );
    assert!(
        ok.contains("a=chatroom:nickname private-messages\r\n"),
        "{ok}"
    );
    let our_tag = tag_of(header(&ok, "To").unwrap());
    let ours = sdp_path(&ok);
    t.sip(&in_dialog_req("ACK", 1, &our_tag, "", ""));
    // the participant connects and binds with a bodiless SEND, then NICKNAME
    t.input(Input::Msrp(MsrpEvent::Up {
        conn: 4,
        peer: "127.0.0.1:7777".parse().unwrap(),
    }));
    let o = t.msrp(4, &format!("MSRP b0000001 SEND\r\nTo-Path: {ours}\r\nFrom-Path: {ROMEO}\r\nMessage-ID: b0\r\nByte-Range: 1-0/0\r\n-------b0000001$\r\n"));
    assert!(o.msrp[0].1.starts_with("MSRP b0000001 200 OK"), "{o:?}");
    let o = t.msrp(4, &format!("MSRP n0000001 NICKNAME\r\nTo-Path: {ours}\r\nFrom-Path: {ROMEO}\r\nUse-Nickname: \"Romeo\"\r\n-------n0000001$\r\n"));
    // the join presence with the chosen nickname
    assert_eq!(o.xmpp.len(), 1, "{o:?}");
    assert!(o.xmpp[0].starts_with("<presence xmlns='jabber:component:accept' from='romeo\\40example.org@sip.example.com/msrp-") && o.xmpp[0].contains("to='capulet@muc.example.com/Romeo'") && o.xmpp[0].contains("<x xmlns='http://jabber.org/protocol/muc'/>"), "{o:?}");
    let me = xml_attr(&o.xmpp[0], "from");
    assert!(
        o.msrp.is_empty(),
        "NICKNAME answered when the MUC says: {o:?}"
    );
    // the SIP user subscribes before the MUC answered: an empty full document at once
    let o = t.sip(&in_dialog_req(
        "SUBSCRIBE",
        2,
        &our_tag,
        "Event: conference\nExpires: 600\nAccept: application/conference-info+xml",
        "",
    ));
    assert!(o.sip[0].starts_with("SIP/2.0 200 OK"), "{o:?}");
    let n1 = o.sip[1].clone();
    assert!(
        n1.starts_with("NOTIFY sip:romeo@127.0.0.1:7000 SIP/2.0"),
        "{n1}"
    );
    assert!(
        header(&n1, "Subscription-State")
            .unwrap()
            .starts_with("active;expires="),
        "{n1}"
    );
    let body = n1.split("\r\n\r\n").nth(1).unwrap();
    let d = ConferenceInfo::parse(body.as_bytes()).unwrap();
    assert_eq!((d.version, d.users.len()), (Some(1), 0));
    assert_eq!(
        d.service_uris[0],
        (
            "xmpp:capulet@muc.example.com?join".to_string(),
            Some("grouptextchat".to_string())
        )
    );
    t.sip(&reply(&n1, 200, &[], "", ""));
    // MUC presence: Juliet, then our self-presence → NICKNAME 200, full NOTIFY v2
    let o = t.xmpp(&format!("<presence {NS} from='capulet@muc.example.com/Juliet' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant' jid='juliet@example.com/balcony'/></x></presence>"));
    assert!(o.sip.is_empty(), "cached until the self-presence: {o:?}");
    let o = t.xmpp(&format!("<presence {NS} from='capulet@muc.example.com/Romeo' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>"));
    assert!(o.msrp[0].1.starts_with("MSRP n0000001 200 OK"), "{o:?}");
    let n2 = o.sip[0].clone();
    let d = ConferenceInfo::parse(n2.split("\r\n\r\n").nth(1).unwrap().as_bytes()).unwrap();
    assert_eq!(d.version, Some(2));
    assert_eq!(d.state, crate::body::conference_info::State::Full);
    let users: Vec<_> = d
        .users
        .iter()
        .map(|u| (u.entity.as_str(), u.display_text.as_deref()))
        .collect();
    assert_eq!(
        users,
        vec![
            ("sip:capulet@muc.example.com;gr=Juliet", Some("Juliet")),
            ("sip:capulet@muc.example.com;gr=Romeo", Some("Romeo"))
        ]
    );
    assert_eq!(d.users[0].associated_aors, vec!["xmpp:juliet@example.com"]);
    t.sip(&reply(&n2, 200, &[], "", ""));
    // the subject as the MUC sends it: CPIM Subject, and a partial NOTIFY
    let o = t.xmpp(&format!("<message {NS} from='capulet@muc.example.com' to='{me}' type='groupchat'><subject>Today in Verona</subject></message>"));
    assert!(
        o.msrp[0].1.contains(
            "From: <sip:capulet@muc.example.com>\r\nTo: <sip:capulet@muc.example.com>\r\n"
        ) && o.msrp[0].1.contains("Subject: Today in Verona\r\n"),
        "{o:?}"
    );
    let n3 = o.sip[0].clone();
    assert!(
        n3.contains("state=\"partial\" version=\"3\"")
            && n3.contains("<subject>Today in Verona</subject>"),
        "{n3}"
    );
    t.sip(&reply(&n3, 200, &[], "", ""));
    // F44–F47, vector (6): a public SEND → groupchat; the reflection is not echoed
    let cpim = "From: \"Romeo\" <sip:romeo@example.org>\r\nTo: <sip:capulet@muc.example.com>\r\nDateTime: 2015-06-01T15:02:31Z\r\n\r\nContent-Type: text/plain\r\n\r\nRomeo is here!";
    let o = t.msrp(4, &cpim_send(&ours, ROMEO, "s0000001", "s1", cpim));
    assert_eq!(
        o.xmpp,
        vec![format!(
            "<message xmlns='jabber:component:accept' from='{me}' id='s0000001' to='capulet@muc.example.com' type='groupchat'><body>Romeo is here!</body></message>"
        )]
    );
    let o = t.xmpp(&format!("<message {NS} from='capulet@muc.example.com/Romeo' to='{me}' type='groupchat' id='s0000001'><body>Romeo is here!</body></message>"));
    assert!(o.msrp.is_empty(), "the reflection is not echoed: {o:?}");
    // Juliet speaks: CPIM From the occupant URI, To the room
    let o = t.xmpp(&format!("<message {NS} from='capulet@muc.example.com/Juliet' to='{me}' type='groupchat' id='j1'><body>Who is there?</body></message>"));
    assert!(
        o.msrp[0].1.contains(
            "From: <sip:capulet@muc.example.com;gr=Juliet>\r\nTo: <sip:capulet@muc.example.com>\r\n"
        ) && o.msrp[0].1.contains("Who is there?\r\n-------"),
        "{o:?}"
    );
    // vector (5): a private SEND → type chat to the occupant; a private message back
    let cpim = "From: <sip:romeo@example.org>\r\nTo: <sip:capulet@muc.example.com;gr=Juliet>\r\n\r\nContent-Type: text/plain\r\n\r\nI am here!!!";
    let o = t.msrp(4, &cpim_send(&ours, ROMEO, "s0000002", "s2", cpim));
    assert!(
        o.xmpp[0].contains("to='capulet@muc.example.com/Juliet'")
            && o.xmpp[0].contains("type='chat'"),
        "{o:?}"
    );
    let o = t.xmpp(&format!("<message {NS} from='capulet@muc.example.com/Juliet' to='{me}' type='chat'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>"));
    assert!(
        o.msrp[0].1.contains(
            "From: <sip:capulet@muc.example.com;gr=Juliet>\r\nTo: <sip:romeo@example.org>\r\n"
        ),
        "{o:?}"
    );
    // F51–F54: NICKNAME after the join → nick change; conflict → 425
    let o = t.msrp(4, &format!("MSRP n0000002 NICKNAME\r\nTo-Path: {ours}\r\nFrom-Path: {ROMEO}\r\nUse-Nickname: \"Juliet\"\r\n-------n0000002$\r\n"));
    assert!(
        o.xmpp[0].contains("to='capulet@muc.example.com/Juliet'"),
        "{o:?}"
    );
    let o = t.xmpp(&format!("<presence {NS} type='error' from='capulet@muc.example.com/Juliet' to='{me}'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"));
    assert!(
        o.msrp[0]
            .1
            .starts_with("MSRP n0000002 425 Nickname usage failed"),
        "{o:?}"
    );
    let o = t.msrp(4, &format!("MSRP n0000003 NICKNAME\r\nTo-Path: {ours}\r\nFrom-Path: {ROMEO}\r\nUse-Nickname: \"montecchi\"\r\n-------n0000003$\r\n"));
    assert!(
        o.xmpp[0].contains("to='capulet@muc.example.com/montecchi'"),
        "{o:?}"
    );
    t.xmpp(&format!("<presence {NS} type='unavailable' from='capulet@muc.example.com/Romeo' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' nick='montecchi'/><status code='303'/><status code='110'/></x></presence>"));
    let o = t.xmpp(&format!("<presence {NS} from='capulet@muc.example.com/montecchi' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>"));
    assert!(o.msrp[0].1.starts_with("MSRP n0000003 200 OK"), "{o:?}");
    let n4 = o.sip[0].clone();
    assert!(
        n4.contains("state=\"partial\"")
            && n4.contains("gr=Romeo\" state=\"deleted\"")
            && n4.contains("gr=montecchi\" state=\"full\""),
        "{n4}"
    );
    t.sip(&reply(&n4, 200, &[], "", ""));
    // F55–F58, vector (7): REFER → 202, NOTIFY terminated;reason=noresource 100 Trying, invite
    let o = t.sip(&in_dialog_req(
        "REFER",
        3,
        &our_tag,
        "Refer-To: <sip:benvolio@example.com>\nAccept: message/sipfrag",
        "",
    ));
    assert!(o.sip[0].starts_with("SIP/2.0 202 Accepted"), "{o:?}");
    let rn = o.sip[1].clone();
    assert_eq!(header(&rn, "Event"), Some("refer;id=3"));
    assert_eq!(
        header(&rn, "Subscription-State"),
        Some("terminated;reason=noresource")
    );
    assert_eq!(
        header(&rn, "Content-Type"),
        Some("message/sipfrag;version=2.0")
    );
    assert!(rn.ends_with("\r\n\r\nSIP/2.0 100 Trying\r\n"), "{rn}");
    assert_eq!(
        o.xmpp,
        vec![format!(
            "<message xmlns='jabber:component:accept' from='{me}' to='capulet@muc.example.com'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='benvolio@example.com'/></x></message>"
        )]
    );
    // F59–F62, vector (8): BYE → unavailable, the subscription terminated
    let o = t.sip(&in_dialog_req("BYE", 4, &our_tag, "", ""));
    assert!(
        o.sip.iter().any(|s| s.starts_with("SIP/2.0 200 OK")),
        "{o:?}"
    );
    assert_eq!(
        o.xmpp,
        vec![format!(
            "<presence xmlns='jabber:component:accept' from='{me}' to='capulet@muc.example.com/montecchi' type='unavailable'><priority>0</priority></presence>"
        )]
    );
    assert_eq!(t.core.muc_sessions(), 0);
}

#[test]
fn room_invites_are_refused_with_reasons_and_limits() {
    // no CPIM in the offer → 488
    let mut t = T::new("");
    let o = t.sip(&invite_room_with(
        &PARTICIPANT_SDP.replace("message/cpim text/plain", "text/plain"),
    ));
    assert!(o.sip.iter().any(|s| s.starts_with("SIP/2.0 488 ")), "{o:?}");
    // room full
    let mut t = T::new("[groupchat]\nmax_occupants = 1\n");
    let o = t.sip(&invite_room());
    assert!(o.sip.iter().any(|s| s.starts_with("SIP/2.0 200")), "{o:?}");
    let o = t.sip(
        &invite_room()
            .replace("room-call-1", "room-call-2")
            .replace("romeo@example.org", "tybalt@example.org")
            .replace("z9hG4bKi1", "z9hG4bKi2"),
    );
    assert!(o.sip.iter().any(|s| s.starts_with("SIP/2.0 486 ")), "{o:?}");
    // a SIP From in our XMPP domains is refused (no identity of the other side)
    let o = t.sip(
        &invite_room()
            .replace("sip:romeo@example.org", "sip:juliet@example.com")
            .replace("room-call-1", "room-call-3")
            .replace("z9hG4bKi1", "z9hG4bKi3"),
    );
    assert!(o.sip.iter().any(|s| s.starts_with("SIP/2.0 403 ")), "{o:?}");
    // a conference SUBSCRIBE from outside the room → 403
    let o = t.sip(&request("SUBSCRIBE sip:capulet@muc.example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKs9\nFrom: <sip:mercutio@example.org>;tag=m1\nTo: <sip:capulet@muc.example.com>\nCall-ID: sub-9\nCSeq: 1 SUBSCRIBE\nContact: <sip:m@127.0.0.1:7001>\nEvent: conference\nExpires: 600", ""));
    assert!(o.sip[0].starts_with("SIP/2.0 403 "), "{o:?}");
}

/// No NICKNAME in time: the temporary nickname (From display name); a conflict adjusts it.
#[test]
fn temporary_nickname_and_conflict_retry() {
    let mut t = T::new("");
    let o = t.sip(&invite_room());
    assert!(o.sip.iter().any(|s| s.starts_with("SIP/2.0 200")), "{o:?}");
    let o = t.advance(Duration::from_millis(1100));
    assert!(
        o.xmpp[0].contains("to='capulet@muc.example.com/Romeo'"),
        "{o:?}"
    );
    let me = xml_attr(&o.xmpp[0], "from");
    let o = t.xmpp(&format!("<presence {NS} type='error' from='capulet@muc.example.com/Romeo' to='{me}'><x xmlns='http://jabber.org/protocol/muc'/><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"));
    assert!(
        o.xmpp[0].contains("to='capulet@muc.example.com/Romeo_'"),
        "{o:?}"
    );
    // a room that refuses: BYE with a Reason
    let o = t.xmpp(&format!("<presence {NS} type='error' from='capulet@muc.example.com/Romeo_' to='{me}'><error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"));
    let bye = o.sip.iter().find(|s| s.starts_with("BYE ")).unwrap();
    assert!(
        header(bye, "Reason").unwrap().starts_with("SIP ;cause="),
        "{bye}"
    );
    assert_eq!(t.core.muc_sessions(), 0);
}

#[test]
fn cpim_vector_is_156_octets() {
    let b = cpim_out(
        "<sip:juliet@example.com>",
        "<sip:montague@chat.example.org>",
        Some("2015-06-01T15:02:31Z"),
        None,
        "text/plain",
        b"Who knows where Romeo is?",
    );
    assert_eq!(b.len(), 156, "{}", String::from_utf8_lossy(&b));
    let r = room_message("message/cpim", &b).unwrap();
    assert_eq!(r.from.as_deref(), Some("sip:juliet@example.com"));
    assert_eq!(r.to.as_deref(), Some("sip:montague@chat.example.org"));
    assert_eq!(
        (r.mime.as_str(), r.body.as_slice()),
        ("text/plain", &b"Who knows where Romeo is?"[..])
    );
    assert!(room_message("message/cpim", b"From: x\r\nno end").is_err());
}

#[test]
fn occupant_uris_and_conference_round_trip() {
    assert_eq!(
        occupant_uri("sip:montague@chat.example.org", "Romeo"),
        "sip:montague@chat.example.org;gr=Romeo"
    );
    assert_eq!(
        occupant_uri("sip:capulet@muc.example.com", "Jo Mo"),
        "sip:capulet@muc.example.com;gr=Jo%20Mo"
    );
    assert_eq!(
        gr_of("sip:capulet@muc.example.com;gr=Jo%20Mo").as_deref(),
        Some("Jo Mo")
    );
    let room: xmpp_parsers::jid::BareJid = "capulet@muc.example.com".parse().unwrap();
    let doc = conference_doc(
        "sip:capulet@muc.example.com",
        &room,
        1,
        true,
        Some("Verona"),
        vec![conference_user(
            "sip:capulet@muc.example.com",
            "Romeo",
            Some("romeo@example.org/x"),
            false,
        )],
    );
    let parsed = ConferenceInfo::parse(doc.to_body().as_bytes()).unwrap();
    assert_eq!(parsed, doc);
    assert_eq!(user_nick(&parsed.users[0]).as_deref(), Some("Romeo"));
    assert!(!user_gone(&parsed.users[0]));
    let gone = conference_user("sip:capulet@muc.example.com", "Romeo", None, true);
    assert!(user_gone(&gone));
}

#[test]
fn cusax_room_disco_shows_the_audio_video_uri() {
    let mut t = T::new(
        "[groupchat.audio_video]\n\"sip:montague@chat.example.org\" = \"sip:montague-av@chat.example.org\"\n",
    );
    let o = t.xmpp(&format!(
        "<iq {NS} type='get' id='info1' from='{JULIET}' to='{ROOM_JID}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    ));
    let x = &o.xmpp[0];
    assert!(
        x.contains("type='result'")
            && x.contains("category='conference'")
            && x.contains("var='http://jabber.org/protocol/muc'"),
        "{x}"
    );
    assert!(
        x.contains(
            "<field var='audio-video-uri'><value>sip:montague-av@chat.example.org</value></field>"
        ),
        "{x}"
    );
}

/// Bad input from a SIP participant: a CPIM envelope that does not parse is a 400 on its
/// SEND, a wrapped type a MUC cannot carry a 415; nothing reaches the room.
#[test]
fn malformed_cpim_is_refused_on_the_send() {
    let mut t = T::new("");
    let ours = enter_room(&mut t);
    let bad = "From: <sip:romeo@example.org>\r\nTo: <sip:capulet@muc.example.com>\r\nno blank line";
    let o = t.msrp(4, &cpim_send(&ours, ROMEO, "x0000001", "x1", bad));
    assert!(
        o.msrp[0].1.starts_with("MSRP x0000001 400 Bad CPIM: "),
        "{o:?}"
    );
    let png = "From: <sip:romeo@example.org>\r\nTo: <sip:capulet@muc.example.com>\r\n\r\nContent-Type: image/png\r\n\r\nPNG";
    let o = t.msrp(4, &cpim_send(&ours, ROMEO, "x0000002", "x2", png));
    assert!(
        o.msrp[0]
            .1
            .starts_with("MSRP x0000002 415 Unsupported wrapped type image/png"),
        "{o:?}"
    );
    assert!(o.xmpp.is_empty());
}

/// The component link came back: joined SIP users join their rooms again (the MUC may have
/// dropped them while stox was away).
#[test]
fn sip_users_rejoin_after_the_link_returns() {
    let mut t = T::new("");
    t.sip(&invite_room());
    let o = t.advance(Duration::from_millis(1100));
    let me = xml_attr(&o.xmpp[0], "from");
    t.xmpp(&format!("<presence {NS} from='capulet@muc.example.com/Romeo' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>"));
    t.input(Input::LinkDown);
    let o = t.input(Input::LinkUp);
    assert!(
        o.xmpp
            .iter()
            .any(|x| x.contains("to='capulet@muc.example.com/Romeo'")
                && x.contains("<x xmlns='http://jabber.org/protocol/muc'/>")),
        "{o:?}"
    );
}

/// An INVITE to a room while the component link is down waits for it (as for 1:1 chat),
/// then gets its 200; without the link in time: 480.
#[test]
fn room_invite_waits_for_the_link() {
    let mut t = T::new("");
    t.input(Input::LinkDown);
    let o = t.sip(&invite_room());
    assert!(o.sip.iter().all(|s| !s.starts_with("SIP/2.0 200")), "{o:?}");
    let o = t.input(Input::LinkUp);
    assert!(o.sip.iter().any(|s| s.starts_with("SIP/2.0 200")), "{o:?}");
    let mut t = T::new("");
    t.input(Input::LinkDown);
    t.sip(&invite_room());
    let o = t.advance(Duration::from_secs(11));
    assert!(o.sip.iter().any(|s| s.starts_with("SIP/2.0 480")), "{o:?}");
    assert_eq!(t.core.muc_sessions(), 0);
}

/// RFC 7702 §7 → RFC 8266: nicknames are prepared, enforced and compared with the PRECIS
/// Nickname profile.
#[test]
fn nicknames_follow_the_precis_nickname_profile() {
    assert_eq!(nickname("Romeo").as_deref(), Some("Romeo"));
    assert_eq!(
        nickname("  Juliet   Capulet ").as_deref(),
        Some("Juliet Capulet"),
        "spaces"
    );
    assert_eq!(
        nickname("Ｒｏｍｅｏ").as_deref(),
        Some("Romeo"),
        "width mapping (NFKC)"
    );
    assert_eq!(nickname("\u{7}bell"), None, "control characters");
    assert_eq!(nickname("   "), None);
    assert!(same_nick("Romeo", "romeo") && !same_nick("Romeo", "Juliet"));
    // a SIP participant's NICKNAME with extra spaces joins as the enforced nick
    let mut t = T::new("");
    let ours = enter_room(&mut t);
    let o = t.msrp(4, &format!("MSRP n0000009 NICKNAME\r\nTo-Path: {ours}\r\nFrom-Path: {ROMEO}\r\nUse-Nickname: \"  Romeo   Montague \"\r\n-------n0000009$\r\n"));
    assert!(
        o.xmpp[0].contains("to='capulet@muc.example.com/Romeo Montague'"),
        "{o:?}"
    );
    // an XMPP user's join with a nick the profile refuses
    let o = t.xmpp(&format!("<presence {NS} from='{JULIET}' to='{ROOM_JID}/ Juli'><x xmlns='http://jabber.org/protocol/muc'/></presence>"));
    assert!(
        o.sip.is_empty() && o.xmpp[0].contains("<jid-malformed"),
        "{o:?}"
    );
}
