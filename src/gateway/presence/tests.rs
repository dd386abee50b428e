//! RFC 8048 through the core's contract, with the spec notes' vectors (../shared/spec/presence.md
//! §10): stanzas and SIP text in, SIP text, stanzas and store records out.

use std::time::{Duration, Instant, SystemTime};

use crate::gateway::Input;
use crate::store::StoreOp;

use crate::gateway::harness::{NS, Out, T, header, tag_of, xml_attr};

/// The harness's core with the proxy resolved (as the runtime does) and a wall clock.
fn gateway(extra: &str) -> T {
    T::with(extra, |c| {
        c.outbound_proxy(crate::sip::ua::proxy_dest("sip:127.0.0.1:5060"))
            .wall_clock(
                Instant::now(),
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            )
    })
}

/// The peer's answer to one of our requests.
fn reply(req: &str, code: u16, headers: &[(&str, &str)]) -> String {
    crate::gateway::harness::respond(req, code, "romeotag", headers, None)
}

const PIDF_AWAY: &str = "<?xml version='1.0' encoding='UTF-8'?>
<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:romeo@example.net'>
  <tuple id='ID-dr4hcr0st3lup4c'>
    <status>
      <basic>open</basic>
      <show xmlns='jabber:client'>away</show>
    </status>
  </tuple>
</presence>";

/// A NOTIFY in the dialog our SUBSCRIBE started.
fn notify(sub: &str, cseq: u32, state: &str, body: &str) -> String {
    let call_id = header(sub, "Call-ID").unwrap();
    let our_tag = tag_of(header(sub, "From").unwrap());
    let body = body.replace('\n', "\r\n");
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/pidf+xml\n".into()
    };
    format!(
        "NOTIFY sip:juliet@127.0.0.1:5070 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn{cseq}{state_len}\nFrom: <sip:romeo@example.net>;tag=romeotag\nTo: <sip:juliet@example.com>;tag={our_tag}\nCall-ID: {call_id}\nCSeq: {cseq} NOTIFY\nContact: <sip:romeo@127.0.0.1:5060>\nEvent: presence\nSubscription-State: {state}\n{ct}Content-Length: {}\n\n{body}",
        body.len(),
        state_len = state.len()
    )
}

fn subscribe_out(t: &mut T) -> String {
    let o = t.xmpp(&format!(
        "<presence {NS} type='subscribe' id='s1' from='juliet@example.com' to='romeo@sip.example.com'/>"
    ));
    assert!(
        o.xmpp.is_empty(),
        "no stanza before a NOTIFY says active: {:?}",
        o.xmpp
    );
    assert_eq!(o.sip.len(), 1, "{:?}", o.sip);
    o.sip[0].clone()
}

/// §5.2.1 (F1–F15) with the spec notes' vectors: SUBSCRIBE, 200 and pending NOTIFY give no
/// stanza; the active NOTIFY gives `subscribed` then the tuple's presence.
#[test]
fn x2s_subscribe_then_active_notify() {
    let mut t = gateway("");
    let sub = subscribe_out(&mut t);
    assert!(
        sub.starts_with("SUBSCRIBE sip:romeo@example.net SIP/2.0"),
        "{sub}"
    );
    assert_eq!(header(&sub, "Event"), Some("presence"));
    assert_eq!(header(&sub, "Accept"), Some("application/pidf+xml"));
    assert_eq!(header(&sub, "Expires"), Some("3600"));
    assert!(
        header(&sub, "From")
            .unwrap()
            .starts_with("<sip:juliet@example.com>;tag=")
    );
    assert!(header(&sub, "Contact").unwrap().contains("sip:juliet@"));
    let o = t.sip(&reply(
        &sub,
        200,
        &[
            ("Expires", "3600"),
            ("Contact", "<sip:romeo@127.0.0.1:5060>"),
        ],
    ));
    assert!(o.xmpp.is_empty(), "a 2xx is not approval: {:?}", o.xmpp);
    let o = t.sip(&notify(&sub, 1, "pending;expires=3600", ""));
    assert!(o.sip[0].starts_with("SIP/2.0 200"), "{:?}", o.sip);
    assert!(
        o.xmpp.is_empty(),
        "pending MUST NOT produce a stanza: {:?}",
        o.xmpp
    );
    let o = t.sip(&notify(&sub, 2, "active;expires=499", PIDF_AWAY));
    assert!(o.sip[0].starts_with("SIP/2.0 200"), "{:?}", o.sip);
    assert_eq!(o.xmpp.len(), 2, "{:?}", o.xmpp);
    assert!(
        o.xmpp[0].contains("type='subscribed'")
            && o.xmpp[0].contains("from='romeo@sip.example.com'"),
        "{}",
        o.xmpp[0]
    );
    let p = &o.xmpp[1];
    assert!(
        p.contains("from='romeo@sip.example.com/dr4hcr0st3lup4c'")
            && p.contains("<show>away</show>"),
        "{p}"
    );
    assert!(
        p.contains("http://jabber.org/protocol/caps"),
        "caps on available presence: {p}"
    );
    assert!(o.store.iter().any(|s| matches!(s, StoreOp::Put { key, value } if key == "watch:juliet@example.com|romeo@sip.example.com" && value.contains("\"authorized\":true"))), "{:?}", o.store);

    // A probe at the next login is answered from the last NOTIFY, with no SUBSCRIBE.
    let o = t.xmpp(&format!(
        "<presence {NS} type='probe' from='juliet@example.com/chamber' to='romeo@sip.example.com'/>"
    ));
    assert!(o.sip.is_empty(), "{:?}", o.sip);
    assert!(
        o.xmpp.len() == 1
            && o.xmpp[0].contains("<show>away</show>")
            && o.xmpp[0].contains("to='juliet@example.com/chamber'"),
        "{:?}",
        o.xmpp
    );

    // The closed vector: the resource goes unavailable.
    let closed = PIDF_AWAY.replace("<basic>open</basic>", "<basic>closed</basic>");
    let o = t.sip(&notify(&sub, 3, "active;expires=400", &closed));
    assert!(
        o.xmpp.len() == 1
            && o.xmpp[0].contains("type='unavailable'")
            && o.xmpp[0].contains("romeo@sip.example.com/dr4hcr0st3lup4c"),
        "{:?}",
        o.xmpp
    );

    // §5.2.3: unsubscribe → Expires 0 in the dialog; its 200 → unsubscribed; the record goes.
    let o = t.xmpp(&format!(
        "<presence {NS} type='unsubscribe' from='juliet@example.com' to='romeo@sip.example.com'/>"
    ));
    let unsub = &o.sip[0];
    assert!(
        unsub.starts_with("SUBSCRIBE sip:romeo@127.0.0.1:5060"),
        "in the dialog: {unsub}"
    );
    assert_eq!(header(unsub, "Expires"), Some("0"));
    assert_eq!(header(unsub, "CSeq"), Some("2 SUBSCRIBE"));
    assert!(header(unsub, "To").unwrap().contains("tag=romeotag"));
    let o = t.sip(&reply(unsub, 200, &[("Expires", "0")]));
    assert!(
        o.xmpp.len() == 1 && o.xmpp[0].contains("type='unsubscribed'"),
        "{:?}",
        o.xmpp
    );
    assert!(
        o.store
            .iter()
            .any(|s| matches!(s, StoreOp::Delete { key } if key.starts_with("watch:"))),
        "{:?}",
        o.store
    );
}

/// RFC 6665 §4.1.2.4: the NOTIFY may arrive before the 2xx; it creates the dialog.
#[test]
fn x2s_notify_before_the_2xx() {
    let mut t = gateway("");
    let sub = subscribe_out(&mut t);
    let o = t.sip(&notify(&sub, 1, "active;expires=3600", PIDF_AWAY));
    assert!(o.sip[0].starts_with("SIP/2.0 200"), "{:?}", o.sip);
    assert_eq!(o.xmpp.len(), 2, "{:?}", o.xmpp);
    let o = t.sip(&reply(&sub, 200, &[("Expires", "3600")]));
    assert!(o.xmpp.is_empty() && o.sip.is_empty(), "{o:?}");
}

/// §5.2.2: refresh a minute before expiry, with a probe of the user first (§8); 481 → a new
/// dialog and no stanza; 403 → `unsubscribed`.
#[test]
fn x2s_refresh_481_and_403() {
    let mut t = gateway("");
    let sub = subscribe_out(&mut t);
    t.sip(&reply(&sub, 200, &[("Expires", "600")]));
    t.sip(&notify(&sub, 1, "active;expires=600", PIDF_AWAY));
    let o = t.advance(Duration::from_secs(541));
    assert!(
        o.xmpp.iter().any(|x| x.contains("type='probe'")
            && x.contains("from='sip.example.com'")
            && x.contains("to='juliet@example.com'")),
        "{:?}",
        o.xmpp
    );
    let refresh = o
        .sip
        .iter()
        .find(|s| s.starts_with("SUBSCRIBE"))
        .expect("a refresh")
        .clone();
    assert_eq!(header(&refresh, "Expires"), Some("3600"));
    let o = t.sip(&reply(&refresh, 481, &[]));
    assert!(o.xmpp.is_empty(), "481 is transient: {:?}", o.xmpp);
    let fresh = o
        .sip
        .iter()
        .find(|s| s.starts_with("SUBSCRIBE"))
        .expect("a new dialog")
        .clone();
    assert!(header(&fresh, "To").map(|v| !v.contains("tag=")).unwrap());
    assert_ne!(header(&fresh, "Call-ID"), header(&sub, "Call-ID"));
    t.sip(&reply(
        &fresh,
        200,
        &[
            ("Expires", "600"),
            ("Contact", "<sip:romeo@127.0.0.1:5060>"),
        ],
    ));
    let o = t.advance(Duration::from_secs(541));
    let refresh = o
        .sip
        .iter()
        .find(|s| s.starts_with("SUBSCRIBE"))
        .unwrap_or_else(|| panic!("{o:?}"))
        .clone();
    let o = t.sip(&reply(&refresh, 403, &[]));
    assert!(
        o.xmpp.len() == 1 && o.xmpp[0].contains("type='unsubscribed'"),
        "{:?}",
        o.xmpp
    );
}

/// RFC 7247 Table 3 for a refused subscription; `terminated;reason=rejected` → unsubscribed.
#[test]
fn x2s_errors_and_rejection() {
    let mut t = gateway("[presence]\npidf_max_bytes = 1000\n");
    let sub = subscribe_out(&mut t);
    let o = t.sip(&reply(&sub, 404, &[]));
    assert!(
        o.xmpp.len() == 1
            && o.xmpp[0].contains("type='error'")
            && o.xmpp[0].contains("id='s1'")
            && o.xmpp[0].contains("item-not-found"),
        "{:?}",
        o.xmpp
    );
    let sub = subscribe_out(&mut t);
    t.sip(&reply(&sub, 202, &[("Expires", "3600")]));
    let o = t.sip(&notify(&sub, 1, "terminated;reason=rejected", ""));
    assert!(
        o.xmpp.len() == 1 && o.xmpp[0].contains("type='unsubscribed'"),
        "{:?}",
        o.xmpp
    );
    // Bad input gets 400/489 with the reason, never a panic.
    let sub = subscribe_out(&mut t);
    t.sip(&reply(&sub, 200, &[("Expires", "3600")]));
    let o = t.sip(&notify(
        &sub,
        1,
        "active",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple",
    ));
    assert!(o.sip[0].starts_with("SIP/2.0 400 Bad PIDF"), "{:?}", o.sip);
    let o = t.sip(&notify(&sub, 2, "active", "").replace("Event: presence", "Event: dialog"));
    assert!(o.sip[0].starts_with("SIP/2.0 489"), "{:?}", o.sip);
    let big = format!(
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@b'><note>{}</note></presence>",
        "x".repeat(2000)
    );
    let o = t.sip(&notify(&sub, 3, "active", &big));
    assert!(o.sip[0].starts_with("SIP/2.0 413"), "{:?}", &o.sip[0][..40]);
}

fn sip_subscribe(call_id: &str, cseq: u32, expires: Option<u32>, to_tag: Option<&str>) -> String {
    let e = expires
        .map(|e| format!("Expires: {e}\n"))
        .unwrap_or_default();
    let tt = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "SUBSCRIBE sip:juliet@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKs{call_id}{cseq}\nFrom: <sip:romeo@example.net>;tag=r1\nTo: <sip:juliet@example.com>{tt}\nCall-ID: {call_id}\nCSeq: {cseq} SUBSCRIBE\nContact: <sip:romeo@127.0.0.1:5060>\nEvent: presence\nAccept: application/pidf+xml\n{e}Content-Length: 0\n\n"
    )
}

/// §5.3: SUBSCRIBE → 200 + pending NOTIFY + `subscribe`; `subscribed` → NOTIFY active (no
/// body); presence → NOTIFY with the Table 1 vector; `unsubscribed` → terminated;rejected.
#[test]
fn s2x_subscribe_approve_notify_reject() {
    let mut t = gateway(
        "notify_interval_ms = 0\n"
            .replace("notify", "[presence]\nnotify")
            .as_str(),
    );
    let o = t.sip(&sip_subscribe("w1", 1, None, None));
    let ok = o
        .sip
        .iter()
        .find(|s| s.starts_with("SIP/2.0 200"))
        .expect("200");
    assert_eq!(header(ok, "Expires"), Some("3600"), "no Expires means 3600");
    let our_tag = tag_of(header(ok, "To").unwrap());
    let n = o
        .sip
        .iter()
        .find(|s| s.starts_with("NOTIFY"))
        .expect("NOTIFY");
    assert!(
        n.starts_with("NOTIFY sip:romeo@127.0.0.1:5060 SIP/2.0"),
        "{n}"
    );
    assert!(
        header(n, "Subscription-State")
            .unwrap()
            .starts_with("pending;expires="),
        "{n}"
    );
    assert_eq!(header(n, "Content-Length"), Some("0"));
    assert!(
        o.xmpp.len() == 1
            && o.xmpp[0].contains("type='subscribe'")
            && o.xmpp[0].contains("from='romeo@sip.example.com'")
            && o.xmpp[0].contains("to='juliet@example.com'"),
        "{:?}",
        o.xmpp
    );
    t.sip(&reply(n, 200, &[]));

    let o = t.xmpp(&format!(
        "<presence {NS} type='subscribed' from='juliet@example.com' to='romeo@sip.example.com'/>"
    ));
    let n = &o.sip[0];
    assert!(
        header(n, "Subscription-State")
            .unwrap()
            .starts_with("active;expires="),
        "{n}"
    );
    assert_eq!(
        header(n, "Content-Length"),
        Some("0"),
        "nothing known yet: empty (§5.3.2)"
    );
    t.sip(&reply(n, 200, &[]));

    let o = t.xmpp(&format!("<presence {NS} from='juliet@example.com/yn0cl4bnw0yr3vym' to='romeo@sip.example.com'><show>dnd</show><status xml:lang='en'>In a meeting</status><priority>5</priority></presence>"));
    let n = &o.sip[0];
    assert_eq!(header(n, "Content-Type"), Some("application/pidf+xml"));
    for want in [
        "entity='pres:juliet@example.com'",
        "<tuple id='ID-yn0cl4bnw0yr3vym'>",
        "<basic>open</basic>",
        "<show xmlns='jabber:client'>dnd</show>",
        "<contact priority='0.039'>sip:juliet@example.com;gr=yn0cl4bnw0yr3vym</contact>",
        "<note xml:lang='en'>In a meeting</note>",
        "<rpid:activities><rpid:busy/></rpid:activities>",
    ] {
        assert!(n.contains(want), "{want} in {n}");
    }
    t.sip(&reply(n, 200, &[]));
    let o = t.xmpp(&format!("<presence {NS} type='unavailable' from='juliet@example.com/yn0cl4bnw0yr3vym' to='romeo@sip.example.com'/>"));
    assert!(o.sip[0].contains("<basic>closed</basic>"), "{}", o.sip[0]);
    t.sip(&reply(&o.sip[0], 200, &[]));

    let o = t.xmpp(&format!(
        "<presence {NS} type='unsubscribed' from='juliet@example.com' to='romeo@sip.example.com'/>"
    ));
    let n = &o.sip[0];
    assert_eq!(
        header(n, "Subscription-State"),
        Some("terminated;reason=rejected")
    );
    assert!(
        o.store.iter().any(
            |s| matches!(s, StoreOp::Delete { key } if key == &format!("watcher:w1|{our_tag}"))
        ),
        "{:?}",
        o.store
    );
    // The dialog is gone: a refresh gets 481.
    let o = t.sip(&sip_subscribe("w1", 2, Some(600), Some(&our_tag)));
    assert!(o.sip[0].starts_with("SIP/2.0 481"), "{:?}", o.sip);
}

/// §5.3.3: `Expires: 0` → NOTIFY closed + terminated;reason=timeout, and `unavailable`.
/// §5.3.2: a refresh is answered with a NOTIFY and is not a new `subscribe`.
#[test]
fn s2x_refresh_and_unsubscribe() {
    let mut t = gateway("[presence]\nnotify_interval_ms = 0\n");
    let o = t.sip(&sip_subscribe("w2", 1, Some(600), None));
    let tag = tag_of(
        header(
            o.sip.iter().find(|s| s.starts_with("SIP/2.0 200")).unwrap(),
            "To",
        )
        .unwrap(),
    );
    t.xmpp(&format!(
        "<presence {NS} type='subscribed' from='juliet@example.com' to='romeo@sip.example.com'/>"
    ));
    t.xmpp(&format!(
        "<presence {NS} from='juliet@example.com/balcony' to='romeo@sip.example.com'/>"
    ));
    let o = t.sip(&sip_subscribe("w2", 2, Some(600), Some(&tag)));
    assert!(
        o.sip[0].starts_with("SIP/2.0 200") && header(&o.sip[0], "Expires") == Some("600"),
        "{:?}",
        o.sip
    );
    let n = o.sip.iter().find(|s| s.starts_with("NOTIFY")).unwrap();
    assert!(
        n.contains("<basic>open</basic>")
            && header(n, "Subscription-State")
                .unwrap()
                .starts_with("active"),
        "{n}"
    );
    assert!(
        o.xmpp.is_empty(),
        "a refresh is not a new subscribe: {:?}",
        o.xmpp
    );
    let o = t.sip(&sip_subscribe("w2", 3, Some(0), Some(&tag)));
    let n = o.sip.iter().find(|s| s.starts_with("NOTIFY")).unwrap();
    assert_eq!(
        header(n, "Subscription-State"),
        Some("terminated;reason=timeout")
    );
    assert!(n.contains("<basic>closed</basic>"), "{n}");
    assert!(
        o.xmpp.len() == 1
            && o.xmpp[0].contains("type='unavailable'")
            && o.xmpp[0].contains("from='romeo@sip.example.com'"),
        "{:?}",
        o.xmpp
    );
}

/// Refusals: another event package (489), a From in our XMPP domain (403), too short an
/// Expires (423), the limits (503 + Retry-After).
#[test]
fn s2x_refusals_and_limits() {
    let mut t = gateway("[presence]\nmax_per_user = 1\n");
    let o = t.sip(&sip_subscribe("a", 1, None, None).replace("Event: presence", "Event: dialog"));
    assert!(
        o.sip[0].starts_with("SIP/2.0 489")
            && header(&o.sip[0], "Allow-Events") == Some("presence"),
        "{:?}",
        o.sip
    );
    let o = t.sip(&sip_subscribe("b", 1, None, None).replace(
        "From: <sip:romeo@example.net>",
        "From: <sip:eve@example.com>",
    ));
    assert!(o.sip[0].starts_with("SIP/2.0 403"), "{:?}", o.sip);
    let o = t.sip(&sip_subscribe("c", 1, Some(5), None));
    assert!(
        o.sip[0].starts_with("SIP/2.0 423") && header(&o.sip[0], "Min-Expires") == Some("60"),
        "{:?}",
        o.sip
    );
    t.sip(&sip_subscribe("d", 1, None, None));
    let o = t.sip(&sip_subscribe("e", 1, None, None));
    assert!(
        o.sip[0].starts_with("SIP/2.0 503") && header(&o.sip[0], "Retry-After").is_some(),
        "{:?}",
        o.sip
    );
    let o = t.xmpp(&format!("<presence {NS} type='subscribe' id='x' from='juliet@example.com' to='tybalt@sip.example.com'/>"));
    assert!(
        o.xmpp.len() == 1 && o.xmpp[0].contains("resource-constraint") && o.sip.is_empty(),
        "{o:?}"
    );
}

/// RFC 6665 §4.2.2 rate control: changes within the interval are merged into one NOTIFY.
#[test]
fn s2x_notifies_are_paced() {
    let mut t = gateway("[presence]\nnotify_interval_ms = 1000\n");
    let o = t.sip(&sip_subscribe("p", 1, None, None));
    t.sip(&reply(
        o.sip.iter().find(|s| s.starts_with("NOTIFY")).unwrap(),
        200,
        &[],
    ));
    let o = t.xmpp(&format!(
        "<presence {NS} type='subscribed' from='juliet@example.com' to='romeo@sip.example.com'/>"
    ));
    t.sip(&reply(&o.sip[0], 200, &[]));
    let mut sent = 0;
    for show in ["away", "dnd", "xa"] {
        let o = t.xmpp(&format!("<presence {NS} from='juliet@example.com/b' to='romeo@sip.example.com'><show>{show}</show></presence>"));
        sent += o.sip.len();
    }
    assert_eq!(sent, 0, "within the interval of the active NOTIFY");
    let o = t.advance(Duration::from_millis(1000));
    assert_eq!(o.sip.len(), 1, "{:?}", o.sip);
    assert!(
        o.sip[0].contains(">xa</show>"),
        "the latest state: {}",
        o.sip[0]
    );
}

/// After a restart: the watcher's refresh succeeds (no 481), the watch refreshes its dialog
/// at once, and nobody is asked to approve again.
#[test]
fn subscriptions_survive_a_restart() {
    let mut t = gateway("");
    let sub = subscribe_out(&mut t);
    t.sip(&reply(
        &sub,
        200,
        &[
            ("Expires", "3600"),
            ("Contact", "<sip:romeo@127.0.0.1:5060>"),
        ],
    ));
    let mut saved = std::collections::BTreeMap::new();
    let mut keep = |o: Out| {
        for op in o.store {
            match op {
                StoreOp::Put { key, value } => {
                    saved.insert(key, value);
                }
                StoreOp::Delete { key } => {
                    saved.remove(&key);
                }
            }
        }
    };
    keep(t.sip(&notify(&sub, 1, "active;expires=3600", PIDF_AWAY)));
    let o = t.sip(&sip_subscribe("w9", 1, Some(3600), None));
    let tag = tag_of(
        header(
            o.sip.iter().find(|s| s.starts_with("SIP/2.0 200")).unwrap(),
            "To",
        )
        .unwrap(),
    );
    keep(o);
    keep(t.xmpp(&format!(
        "<presence {NS} type='subscribed' from='juliet@example.com' to='romeo@sip.example.com'/>"
    )));
    assert_eq!(saved.len(), 2, "{saved:?}");

    // kill -9; a new core is fed what the store kept.
    let mut t = gateway("");
    let o = t.input(Input::Restored(saved.into_iter().collect()));
    assert!(
        o.xmpp.iter().all(|x| !x.contains("type='subscribe'")),
        "no new approval: {:?}",
        o.xmpp
    );
    assert!(
        o.xmpp
            .iter()
            .any(|x| x.contains("type='probe'") && x.contains("from='romeo@sip.example.com'")),
        "the user is probed for the watcher: {:?}",
        o.xmpp
    );
    let o = t.advance(Duration::from_millis(5));
    let refresh = o
        .sip
        .iter()
        .find(|s| s.starts_with("SUBSCRIBE"))
        .expect("the watch refreshes at once");
    assert!(
        header(refresh, "To").unwrap().contains("tag=romeotag"),
        "in the old dialog: {refresh}"
    );
    assert_eq!(header(refresh, "CSeq"), Some("2 SUBSCRIBE"));
    let o = t.sip(&sip_subscribe("w9", 2, Some(3600), Some(&tag)));
    assert!(
        o.sip[0].starts_with("SIP/2.0 200"),
        "the watcher's refresh after the restart: {:?}",
        o.sip
    );
    let n = o.sip.iter().find(|s| s.starts_with("NOTIFY")).unwrap();
    assert!(
        header(n, "Subscription-State")
            .unwrap()
            .starts_with("active"),
        "{n}"
    );
}

/// The component's own presence carries XEP-0115 caps whose `ver` its disco#info confirms.
#[test]
fn component_presence_and_caps() {
    let mut t = gateway("");
    let o = t.xmpp(&format!(
        "<presence {NS} type='probe' from='juliet@example.com/b' to='sip.example.com'/>"
    ));
    let p = &o.xmpp[0];
    let ver = xml_attr(p, "ver");
    let node = format!("{}#{ver}", crate::gateway::service::CAPS_NODE);
    let o = t.xmpp(&format!("<iq {NS} type='get' id='c' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='{node}'/></iq>"));
    assert!(
        o.xmpp[0].contains("type='result'") && o.xmpp[0].contains(&node),
        "{:?}",
        o.xmpp
    );
}
