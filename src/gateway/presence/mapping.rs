//! Presence, RFC 8048 (which obsoletes RFC 7248): the mapping tables as pure functions.
//! Table 1 (XMPP → SIP, §6): a `<presence/>` without type or with `unavailable` becomes one
//! PIDF `<tuple/>` (`ID-` + the resource, `<basic/>`, `<show xmlns='jabber:client'/>` inside
//! `<status/>`, priority as a qvalue, `<status/>` as `<note/>`). Table 2 (SIP → XMPP): each
//! tuple with a `<basic/>` becomes one `<presence/>` (RPID activities stand in for a missing
//! `<show/>`: away → away, vacation/holiday → xa, busy → dnd, as SylkServer reads them).
//!

use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::Lang;
use xmpp_parsers::presence::{Presence, Priority, Show, Type};

use crate::body::pidf::{self, Basic, Pidf, Tuple};

/// A resource as a PIDF tuple id (`xs:ID`): `ID-` then the resource, bytes outside
/// `[A-Za-z0-9._-]` hex-escaped as `_xx` (`_` itself included, so the mapping reverses).
pub fn tuple_id(resource: &str) -> String {
    let mut s = String::from("ID-");
    for b in resource.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("_{b:02x}"));
        }
    }
    s
}

/// The resource a tuple id names (the reverse of [`tuple_id`]; other ids are taken as they
/// are, minus an `ID-` prefix).
pub fn resource_of(id: &str) -> String {
    let raw = id.strip_prefix("ID-").unwrap_or(id);
    let mut out = Vec::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes.get(i), hex) {
            (Some(b'_'), Some(v)) => {
                out.push(v);
                i += 3;
            }
            (Some(b), _) => {
                out.push(*b);
                i += 1;
            }
            (None, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn show_word(s: &Show) -> &'static str {
    match s {
        Show::Away => "away",
        Show::Chat => "chat",
        Show::Dnd => "dnd",
        Show::Xa => "xa",
    }
}

/// The RPID activity (RFC 4480) for a `<show/>`: away and xa → away, dnd → busy.
pub fn rpid_activity(s: &Show) -> Option<&'static str> {
    match s {
        Show::Away | Show::Xa => Some("away"),
        Show::Dnd => Some("busy"),
        Show::Chat => None,
    }
}

fn show_of(word: &str) -> Option<Show> {
    match word.trim() {
        "away" => Some(Show::Away),
        "chat" => Some(Show::Chat),
        "dnd" | "busy" => Some(Show::Dnd),
        "xa" | "vacation" | "holiday" => Some(Show::Xa),
        _ => None,
    }
}

/// Table 1: an XMPP presence notification → its tuple; `None` for presence types that are
/// not notifications (subscription management, probes, errors). `contact` is the SIP URI
/// of the resource (a GRUU), if it should be given.
pub fn presence_to_tuple(p: &Presence, contact: Option<String>) -> Option<Tuple> {
    let basic = match p.type_ {
        Type::None => Basic::Open,
        Type::Unavailable => Basic::Closed,
        _ => return None,
    };
    let resource = p
        .from
        .as_ref()
        .and_then(|j| j.resource().map(|r| r.to_string()))
        .unwrap_or_default();
    Some(Tuple {
        id: tuple_id(&resource),
        basic: Some(basic),
        show: p.show.as_ref().map(|s| show_word(s).to_string()),
        priority: contact
            .as_ref()
            .and_then(|_| pidf::priority_to_qvalue(p.priority.0)),
        contact,
        notes: p
            .statuses
            .iter()
            .map(|(lang, text)| (lang.0.clone(), text.clone()))
            .collect(),
    })
}

/// Table 2: a PIDF document from the SIP user `from` (bare) → one presence per tuple that
/// says `open` or `closed` (tuples without `<basic/>` are unknown and skipped).
pub fn pidf_to_presences(doc: &Pidf, from: &Jid, to: &Jid) -> Vec<Presence> {
    let activity = doc.activities.iter().find_map(|a| show_of(a));
    doc.tuples
        .iter()
        .filter_map(|t| {
            let basic = t.basic?;
            let mut p = Presence::new(match basic {
                Basic::Open => Type::None,
                Basic::Closed => Type::Unavailable,
            });
            let resource = resource_of(&t.id);
            p.from = Some(match from.to_bare().with_resource_str(&resource) {
                Ok(full) if !resource.is_empty() => Jid::from(full),
                _ => from.clone(),
            });
            p.to = Some(to.clone());
            if basic == Basic::Open {
                p.show = t
                    .show
                    .as_deref()
                    .and_then(show_of)
                    .or_else(|| activity.clone());
                if let Some(prio) = t.priority.as_deref().and_then(pidf::qvalue_to_priority) {
                    p.priority = Priority(prio);
                }
            }
            let notes = if t.notes.is_empty() {
                &doc.notes
            } else {
                &t.notes
            };
            for (lang, text) in notes {
                p.statuses.insert(Lang(lang.clone()), text.clone());
            }
            Some(p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn jid(s: &str) -> Jid {
        Jid::from_str(s).unwrap()
    }

    /// The spec notes' X2S vector: dnd, a status in English, priority 5.
    #[test]
    fn table1_x2s() {
        let mut p = Presence::new(Type::None);
        p.from = Some(jid("juliet@example.com/yn0cl4bnw0yr3vym"));
        p.show = Some(Show::Dnd);
        p.statuses
            .insert(Lang("en".into()), "In a meeting".to_string());
        p.priority = Priority(5);
        let t = presence_to_tuple(
            &p,
            Some("sip:juliet@example.com;gr=yn0cl4bnw0yr3vym".into()),
        )
        .unwrap();
        let doc = Pidf {
            entity: "pres:juliet@example.com".into(),
            tuples: vec![t],
            ..Default::default()
        };
        let body = doc.to_body();
        assert!(body.contains("<tuple id='ID-yn0cl4bnw0yr3vym'>"), "{body}");
        assert!(body.contains("<basic>open</basic>"), "{body}");
        assert!(
            body.contains("<show xmlns='jabber:client'>dnd</show>"),
            "{body}"
        );
        assert!(
            body.contains(
                "<contact priority='0.039'>sip:juliet@example.com;gr=yn0cl4bnw0yr3vym</contact>"
            ),
            "{body}"
        );
        assert!(
            body.contains("<note xml:lang='en'>In a meeting</note>"),
            "{body}"
        );
        p.priority = Priority(-1);
        let t = presence_to_tuple(&p, Some("sip:j@e".into())).unwrap();
        assert_eq!(t.priority, None, "negative priorities are not mapped");
        p.type_ = Type::Unavailable;
        assert_eq!(
            presence_to_tuple(&p, None).unwrap().basic,
            Some(Basic::Closed)
        );
        p.type_ = Type::Subscribe;
        assert!(presence_to_tuple(&p, None).is_none(), "not a notification");
    }

    /// The spec notes' S2X vectors: open + away, and closed.
    #[test]
    fn table2_s2x() {
        let body = "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:romeo@example.net'><tuple id='ID-dr4hcr0st3lup4c'><status><basic>open</basic><show xmlns='jabber:client'>away</show></status></tuple><tuple id='t2'><status/></tuple></presence>";
        let doc = Pidf::parse(body.as_bytes()).unwrap();
        let (romeo, juliet) = (jid("romeo@example.net"), jid("juliet@example.com"));
        let ps = pidf_to_presences(&doc, &romeo, &juliet);
        assert_eq!(ps.len(), 1, "the tuple without <basic/> is unknown");
        assert_eq!(ps[0].from, Some(jid("romeo@example.net/dr4hcr0st3lup4c")));
        assert_eq!(
            (ps[0].type_.clone(), ps[0].show.clone()),
            (Type::None, Some(Show::Away))
        );
        let closed = body.replace("<basic>open</basic>", "<basic>closed</basic>");
        let ps = pidf_to_presences(&Pidf::parse(closed.as_bytes()).unwrap(), &romeo, &juliet);
        assert_eq!(ps[0].type_, Type::Unavailable);
    }

    #[test]
    fn tuple_ids_round_trip_and_rpid_fills_show() {
        for r in ["balcony", "a b/c_d", "Été", ""] {
            assert_eq!(resource_of(&tuple_id(r)), r);
        }
        let body = "<presence xmlns='urn:ietf:params:xml:ns:pidf' xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='pres:romeo@example.net'><tuple id='x'><status><basic>open</basic></status></tuple><dm:person id='p'><rpid:activities><rpid:busy/></rpid:activities></dm:person></presence>";
        let ps = pidf_to_presences(
            &Pidf::parse(body.as_bytes()).unwrap(),
            &jid("romeo@example.net"),
            &jid("juliet@example.com"),
        );
        assert_eq!(ps[0].show, Some(Show::Dnd));
    }
}
