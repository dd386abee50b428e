//! `application/conference-info+xml` (RFC 4575), the parts RFC 7702 maps onto a MUC roster:
//! the document's entity, state and version; the subject; `service-uris` (RFC 7081/7106:
//! `grouptextchat` points at the room's `xmpp:` URI); and per user: entity, state, display
//! text, associated AORs, roles, and endpoints with their status. Parsed with minidom,
//! written as text; unknown elements are ignored.
//!
//! Read by the participant side of groupchat and written by the focus side (`gateway/muc/`).

use xmpp_parsers::minidom::Element;

use super::xml_escape as esc;

/// The MIME type.
pub const CONTENT_TYPE: &str = "application/conference-info+xml";
/// The namespace.
pub const NS: &str = "urn:ietf:params:xml:ns:conference-info";

/// `state` of the document or of a user (RFC 4575 §5.1): `full` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// A complete description.
    #[default]
    Full,
    /// Only what changed (merged by `entity`).
    Partial,
    /// Gone.
    Deleted,
}

impl State {
    fn parse(s: Option<&str>) -> State {
        match s.map(str::trim) {
            Some("partial") => State::Partial,
            Some("deleted") => State::Deleted,
            _ => State::Full,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            State::Full => "full",
            State::Partial => "partial",
            State::Deleted => "deleted",
        }
    }
}

/// One `<endpoint/>` of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `entity` (a GRUU in RFC 7702's examples).
    pub entity: String,
    /// `state`.
    pub state: State,
    /// `<status/>`, e.g. `connected`, `disconnected`.
    pub status: Option<String>,
    /// `<media><type/>` of its first medium (`message` for an MSRP chat).
    pub media_type: Option<String>,
}

/// One `<user/>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// `entity` (the user's URI, with `;gr=nick` in RFC 7702's rooms).
    pub entity: String,
    /// `state`.
    pub state: State,
    /// `<display-text/>` (the nickname).
    pub display_text: Option<String>,
    /// `<associated-aors>` URIs (the user's real address, when the focus shares it).
    pub associated_aors: Vec<String>,
    /// `<roles>` entries, e.g. `participant`.
    pub roles: Vec<String>,
    /// `<endpoint/>`s.
    pub endpoints: Vec<Endpoint>,
}

/// A conference-info document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConferenceInfo {
    /// `entity` (the conference URI).
    pub entity: String,
    /// `state`.
    pub state: State,
    /// `version` (increments by one per NOTIFY in a subscription).
    pub version: Option<u32>,
    /// `<conference-description><subject/>`.
    pub subject: Option<String>,
    /// `<conference-description><service-uris>`: (URI, purpose).
    pub service_uris: Vec<(String, Option<String>)>,
    /// `<users>`.
    pub users: Vec<User>,
}

fn text(e: &Element, name: &str) -> Option<String> {
    e.get_child(name, NS)
        .map(|c| c.text().trim().to_string())
        .filter(|t| !t.is_empty())
}

fn entries<'a>(e: &'a Element, list: &str) -> impl Iterator<Item = &'a Element> + 'a {
    let list = e.get_child(list, NS);
    list.into_iter()
        .flat_map(|l| l.children().filter(|c| c.is("entry", NS)))
}

impl ConferenceInfo {
    /// Parses a document; the error says what is wrong.
    pub fn parse(body: &[u8]) -> Result<ConferenceInfo, String> {
        let root = super::xml_root(body, "conference-info")?;
        if !root.is("conference-info", NS) {
            return Err("not a <conference-info/> document".into());
        }
        let version = match root.attr("version") {
            Some(v) => Some(
                v.trim()
                    .parse()
                    .map_err(|_| format!("conference-info version '{v}' is not a number"))?,
            ),
            None => None,
        };
        let desc = root.get_child("conference-description", NS);
        let users = root
            .get_child("users", NS)
            .into_iter()
            .flat_map(|u| u.children().filter(|c| c.is("user", NS)))
            .map(|u| User {
                entity: u.attr("entity").unwrap_or_default().to_string(),
                state: State::parse(u.attr("state")),
                display_text: text(u, "display-text"),
                associated_aors: entries(u, "associated-aors")
                    .filter_map(|e| text(e, "uri"))
                    .collect(),
                roles: entries(u, "roles")
                    .map(|e| e.text().trim().to_string())
                    .filter(|r| !r.is_empty())
                    .collect(),
                endpoints: u
                    .children()
                    .filter(|c| c.is("endpoint", NS))
                    .map(|e| Endpoint {
                        entity: e.attr("entity").unwrap_or_default().to_string(),
                        state: State::parse(e.attr("state")),
                        status: text(e, "status"),
                        media_type: e.get_child("media", NS).and_then(|m| text(m, "type")),
                    })
                    .collect(),
            })
            .collect();
        Ok(ConferenceInfo {
            entity: root.attr("entity").unwrap_or_default().to_string(),
            state: State::parse(root.attr("state")),
            version,
            subject: desc.and_then(|d| text(d, "subject")),
            service_uris: desc
                .into_iter()
                .flat_map(|d| entries(d, "service-uris"))
                .filter_map(|e| Some((text(e, "uri")?, text(e, "purpose"))))
                .collect(),
            users,
        })
    }

    /// The document as sent.
    pub fn to_body(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str(&format!(
            "<conference-info xmlns=\"{NS}\" entity=\"{}\" state=\"{}\"",
            esc(&self.entity),
            self.state.as_str()
        ));
        if let Some(v) = self.version {
            s.push_str(&format!(" version=\"{v}\""));
        }
        s.push_str(">\n");
        if self.subject.is_some() || !self.service_uris.is_empty() {
            s.push_str("  <conference-description>\n");
            if let Some(subj) = &self.subject {
                s.push_str(&format!("    <subject>{}</subject>\n", esc(subj)));
            }
            if !self.service_uris.is_empty() {
                s.push_str("    <service-uris>\n");
                for (uri, purpose) in &self.service_uris {
                    s.push_str(&format!("      <entry><uri>{}</uri>", esc(uri)));
                    if let Some(p) = purpose {
                        s.push_str(&format!("<purpose>{}</purpose>", esc(p)));
                    }
                    s.push_str("</entry>\n");
                }
                s.push_str("    </service-uris>\n");
            }
            s.push_str("  </conference-description>\n");
        }
        if !self.users.is_empty() {
            s.push_str("  <users>\n");
            for u in &self.users {
                s.push_str(&format!(
                    "    <user entity=\"{}\" state=\"{}\">\n",
                    esc(&u.entity),
                    u.state.as_str()
                ));
                if let Some(d) = &u.display_text {
                    s.push_str(&format!("      <display-text>{}</display-text>\n", esc(d)));
                }
                if !u.associated_aors.is_empty() {
                    s.push_str("      <associated-aors>\n");
                    for a in &u.associated_aors {
                        s.push_str(&format!("        <entry><uri>{}</uri></entry>\n", esc(a)));
                    }
                    s.push_str("      </associated-aors>\n");
                }
                if !u.roles.is_empty() {
                    s.push_str("      <roles>");
                    for r in &u.roles {
                        s.push_str(&format!("<entry>{}</entry>", esc(r)));
                    }
                    s.push_str("</roles>\n");
                }
                for e in &u.endpoints {
                    s.push_str(&format!(
                        "      <endpoint entity=\"{}\" state=\"{}\">",
                        esc(&e.entity),
                        e.state.as_str()
                    ));
                    if let Some(st) = &e.status {
                        s.push_str(&format!("<status>{}</status>", esc(st)));
                    }
                    if let Some(t) = &e.media_type {
                        s.push_str(&format!("<media id=\"1\"><type>{}</type></media>", esc(t)));
                    }
                    s.push_str("</endpoint>\n");
                }
                s.push_str("    </user>\n");
            }
            s.push_str("  </users>\n");
        }
        s.push_str("</conference-info>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7702's roster NOTIFY (the spec notes' corrected form), with a subject and the
    /// RFC 7081 `grouptextchat` service URI.
    const ROOM: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:montague@chat.example.org" state="full" version="1">
  <conference-description>
    <subject>Verona</subject>
    <service-uris><entry><uri>xmpp:montague@muc.example.com</uri><purpose>grouptextchat</purpose></entry></service-uris>
  </conference-description>
  <users>
    <user entity="sip:montague@chat.example.org;gr=Romeo" state="full">
      <display-text>Romeo</display-text>
      <associated-aors><entry><uri>sip:romeo@example.net</uri></entry></associated-aors>
      <roles><entry>participant</entry></roles>
      <endpoint entity="sip:montague@chat.example.org;gr=Romeo"><status>connected</status></endpoint>
    </user>
    <user entity="sip:montague@chat.example.org;gr=Mercutio" state="deleted"/>
  </users>
</conference-info>"#;

    #[test]
    fn rfc7702_roster() {
        let c = ConferenceInfo::parse(ROOM.as_bytes()).unwrap();
        assert_eq!(c.entity, "sip:montague@chat.example.org");
        assert_eq!((c.state, c.version), (State::Full, Some(1)));
        assert_eq!(c.subject.as_deref(), Some("Verona"));
        assert_eq!(
            c.service_uris,
            vec![(
                "xmpp:montague@muc.example.com".to_string(),
                Some("grouptextchat".to_string())
            )]
        );
        let romeo = &c.users[0];
        assert_eq!(romeo.display_text.as_deref(), Some("Romeo"));
        assert_eq!(romeo.associated_aors, vec!["sip:romeo@example.net"]);
        assert_eq!(romeo.roles, vec!["participant"]);
        assert_eq!(romeo.endpoints[0].status.as_deref(), Some("connected"));
        assert_eq!(c.users[1].state, State::Deleted);
        assert_eq!(ConferenceInfo::parse(c.to_body().as_bytes()).unwrap(), c);
    }

    #[test]
    fn malformed_conference_info_is_an_error() {
        for bad in [
            "<x/>",
            "<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' version='x'/>",
            "not xml",
        ] {
            assert!(ConferenceInfo::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let partial = "<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:r@c' state='partial' version='7'/>";
        let c = ConferenceInfo::parse(partial.as_bytes()).unwrap();
        assert_eq!((c.state, c.version), (State::Partial, Some(7)));
    }
}
