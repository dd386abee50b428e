//! `application/pidf+xml` (RFC 3863), the parts RFC 8048 maps: per-tuple `<basic/>`,
//! `<show xmlns='jabber:client'/>` inside `<status/>` (RFC 8048 §6 note 7), `<contact
//! priority/>`, `<note/>` with `xml:lang`, and RPID activities (RFC 4480) as clients send
//! them. Parsed with minidom; written as text. Unknown extensions are ignored (RFC 3863 §4.1.6).
//!
//! A building block for presence (issue 13): nothing in the gateway uses it yet.

use xmpp_parsers::minidom::Element;

use super::xml_escape as esc;

/// The MIME type.
pub const CONTENT_TYPE: &str = "application/pidf+xml";
/// The PIDF namespace.
pub const NS: &str = "urn:ietf:params:xml:ns:pidf";
/// RPID (RFC 4480), where `<activities/>` live.
pub const NS_RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";
/// Where `<person/>` lives (RFC 4479 data model).
pub const NS_DM: &str = "urn:ietf:params:xml:ns:pidf:data-model";
/// XMPP's `<show/>` inside `<status/>` (RFC 8048 §6).
pub const NS_CLIENT: &str = "jabber:client";

/// `<basic/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basic {
    /// Available.
    Open,
    /// Not available.
    Closed,
}

/// One `<tuple/>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuple {
    /// `id` (an `xs:ID`; RFC 8048 uses `ID-` + the XMPP resource).
    pub id: String,
    /// `<status><basic/>`; `None` when absent (unknown).
    pub basic: Option<Basic>,
    /// `<status><show xmlns='jabber:client'/>`.
    pub show: Option<String>,
    /// `<contact/>`.
    pub contact: Option<String>,
    /// `<contact priority/>` as written (a qvalue, `0` to `1`).
    pub priority: Option<String>,
    /// `<note/>`s: (language, text).
    pub notes: Vec<(String, String)>,
}

/// A presence document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pidf {
    /// `entity` (`pres:` URI).
    pub entity: String,
    /// The tuples, in order.
    pub tuples: Vec<Tuple>,
    /// Presence-level `<note/>`s.
    pub notes: Vec<(String, String)>,
    /// RPID activities of the `<person/>` elements (e.g. `away`, `busy`, `vacation`).
    pub activities: Vec<String>,
}

fn notes_of(e: &Element) -> Vec<(String, String)> {
    e.children()
        .filter(|c| c.is("note", NS))
        .map(|n| {
            let lang = n
                .attrs()
                .iter()
                .find(|((_, name), _)| name.as_str() == "lang")
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            (lang, n.text().trim().to_string())
        })
        .collect()
}

impl Pidf {
    /// Parses a document; the error says what is wrong.
    pub fn parse(body: &[u8]) -> Result<Pidf, String> {
        let root = super::xml_root(body, "PIDF")?;
        if !root.is("presence", NS) {
            return Err("not a PIDF <presence/> document".into());
        }
        let tuples = root
            .children()
            .filter(|c| c.is("tuple", NS))
            .map(|t| {
                let status = t.get_child("status", NS);
                let basic = status
                    .and_then(|s| s.get_child("basic", NS))
                    .map(|b| b.text().trim().to_ascii_lowercase());
                let contact = t.get_child("contact", NS);
                Tuple {
                    id: t.attr("id").unwrap_or_default().to_string(),
                    basic: match basic.as_deref() {
                        Some("open") => Some(Basic::Open),
                        Some("closed") => Some(Basic::Closed),
                        _ => None,
                    },
                    show: status
                        .and_then(|s| s.get_child("show", NS_CLIENT))
                        .map(|s| s.text().trim().to_string())
                        .filter(|s| !s.is_empty()),
                    contact: contact.map(|c| c.text().trim().to_string()),
                    priority: contact.and_then(|c| c.attr("priority")).map(String::from),
                    notes: notes_of(t),
                }
            })
            .collect();
        let activities = root
            .children()
            .filter(|c| c.is("person", NS_DM))
            .flat_map(|p| p.children().filter(|c| c.is("activities", NS_RPID)))
            .flat_map(|a| a.children().map(|c| c.name().to_string()))
            .collect();
        Ok(Pidf {
            entity: root.attr("entity").unwrap_or_default().to_string(),
            tuples,
            notes: notes_of(&root),
            activities,
        })
    }

    /// The document as sent.
    pub fn to_body(&self) -> String {
        let mut s = String::from("<?xml version='1.0' encoding='UTF-8'?>\n");
        s.push_str(&format!(
            "<presence xmlns='{NS}' entity='{}'>\n",
            esc(&self.entity)
        ));
        for t in &self.tuples {
            s.push_str(&format!("  <tuple id='{}'>\n    <status>\n", esc(&t.id)));
            if let Some(b) = t.basic {
                let b = if b == Basic::Open { "open" } else { "closed" };
                s.push_str(&format!("      <basic>{b}</basic>\n"));
            }
            if let Some(show) = &t.show {
                s.push_str(&format!(
                    "      <show xmlns='{NS_CLIENT}'>{}</show>\n",
                    esc(show)
                ));
            }
            s.push_str("    </status>\n");
            if let Some(c) = &t.contact {
                match &t.priority {
                    Some(p) => s.push_str(&format!(
                        "    <contact priority='{}'>{}</contact>\n",
                        esc(p),
                        esc(c)
                    )),
                    None => s.push_str(&format!("    <contact>{}</contact>\n", esc(c))),
                }
            }
            for (lang, text) in &t.notes {
                note(&mut s, "    ", lang, text);
            }
            s.push_str("  </tuple>\n");
        }
        for (lang, text) in &self.notes {
            note(&mut s, "  ", lang, text);
        }
        // RFC 3863 §4.1: tuples, then notes, then elements of other namespaces.
        if !self.activities.is_empty() {
            s.push_str(&format!(
                "  <dm:person xmlns:dm='{NS_DM}' xmlns:rpid='{NS_RPID}' id='p'><rpid:activities>"
            ));
            for a in &self.activities {
                s.push_str(&format!("<rpid:{a}/>"));
            }
            s.push_str("</rpid:activities></dm:person>\n");
        }
        s.push_str("</presence>\n");
        s
    }
}

fn note(s: &mut String, indent: &str, lang: &str, text: &str) {
    if lang.is_empty() {
        s.push_str(&format!("{indent}<note>{}</note>\n", esc(text)));
    } else {
        s.push_str(&format!(
            "{indent}<note xml:lang='{}'>{}</note>\n",
            esc(lang),
            esc(text)
        ));
    }
}

/// XMPP `<priority/>` (-128..127) → PIDF `priority` (RFC 8048 §6 note 6): negative values
/// are not mapped (MUST NOT); 0..127 → 0..1 with three decimals, `round(p/127, 3)`.
pub fn priority_to_qvalue(p: i8) -> Option<String> {
    if p < 0 {
        return None;
    }
    let milli = (i32::from(p) * 1000 + 63) / 127;
    Some(match milli {
        1000 => "1".to_string(),
        m => format!("0.{m:03}"),
    })
}

/// PIDF `priority` → XMPP `<priority/>` (the reverse of [`priority_to_qvalue`]).
pub fn qvalue_to_priority(q: &str) -> Option<i8> {
    let v: f64 = q.trim().parse().ok()?;
    if !(0.0..=1.0).contains(&v) {
        return None;
    }
    i8::try_from((v * 127.0).round() as i64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8048 §5.2 (the X2S NOTIFY of the spec notes' test vectors).
    const ROMEO: &str = "<?xml version='1.0' encoding='UTF-8'?>
<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:romeo@example.net'>
  <tuple id='ID-dr4hcr0st3lup4c'>
    <status>
      <basic>open</basic>
      <show xmlns='jabber:client'>away</show>
    </status>
  </tuple>
</presence>";

    #[test]
    fn rfc8048_notify_body() {
        let p = Pidf::parse(ROMEO.as_bytes()).unwrap();
        assert_eq!(p.entity, "pres:romeo@example.net");
        let t = &p.tuples[0];
        assert_eq!(t.id, "ID-dr4hcr0st3lup4c");
        assert_eq!(t.basic, Some(Basic::Open));
        assert_eq!(t.show.as_deref(), Some("away"));
        assert_eq!(Pidf::parse(p.to_body().as_bytes()).unwrap(), p);
    }

    /// RFC 3863 §4.5's example shape, with a note, a contact priority and RPID activities.
    #[test]
    fn rfc3863_and_rpid() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<impp:presence xmlns:impp="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="pres:someone@example.com">
  <impp:tuple id="sg89ae">
    <impp:status><impp:basic>closed</impp:basic></impp:status>
    <impp:contact priority="0.8">tel:+09012345678</impp:contact>
    <impp:note xml:lang="en">Gone fishing</impp:note>
  </impp:tuple>
  <dm:person id="p1"><rpid:activities><rpid:vacation/></rpid:activities></dm:person>
</impp:presence>"#;
        let p = Pidf::parse(body.as_bytes()).unwrap();
        let t = &p.tuples[0];
        assert_eq!(t.basic, Some(Basic::Closed));
        assert_eq!(t.priority.as_deref(), Some("0.8"));
        assert_eq!(
            t.notes,
            vec![("en".to_string(), "Gone fishing".to_string())]
        );
        assert_eq!(p.activities, vec!["vacation"]);
        assert_eq!(Pidf::parse(p.to_body().as_bytes()).unwrap(), p);
    }

    #[test]
    fn priorities_map_both_ways() {
        assert_eq!(priority_to_qvalue(5).as_deref(), Some("0.039"));
        assert_eq!(priority_to_qvalue(0).as_deref(), Some("0.000"));
        assert_eq!(priority_to_qvalue(127).as_deref(), Some("1"));
        assert_eq!(
            priority_to_qvalue(-1),
            None,
            "MUST NOT map negative priorities"
        );
        for p in 0..=127i8 {
            let q = priority_to_qvalue(p).unwrap();
            assert_eq!(qvalue_to_priority(&q), Some(p), "{q}");
        }
        assert_eq!(qvalue_to_priority("2"), None);
    }

    #[test]
    fn malformed_pidf_is_an_error() {
        for bad in [
            "",
            "<x/>",
            "<presence xmlns='urn:ietf:params:xml:ns:pidf'",
            "\u{0}",
        ] {
            assert!(Pidf::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
