//! RFC 3994 isComposing documents and their mapping to XEP-0085 chat states (RFC 7573 §6,
//! Tables 3 and 4), including the receiver's fallback to idle when no refresh comes.

use std::fmt::Write as _;

use xmpp_parsers::chatstates::ChatState;

/// The MIME type of isComposing documents (RFC 3994 §4).
pub const CONTENT_TYPE: &str = "application/im-iscomposing+xml";
/// Their XML namespace.
pub const NS: &str = "urn:ietf:params:xml:ns:im-iscomposing";
/// Receivers fall back to idle after this long without a refresh when none is given.
pub const DEFAULT_ACTIVE_SECS: u32 = 120;

#[derive(Debug, Clone, PartialEq, Eq)]
/// An isComposing status document (RFC 3994 §3).
pub struct IsComposing {
    /// `true` for `active` (composing); unknown states count as idle (RFC 3994 §4).
    pub active: bool,
    /// The kind of message being composed, when given.
    pub content_type: Option<String>,
    /// Seconds until the sender refreshes an active state.
    pub refresh: Option<u32>,
    /// When the composer was last active (RFC 3339), when given.
    pub last_active: Option<String>,
}

impl IsComposing {
    /// Parses a document; the error says what is wrong.
    pub fn parse(body: &[u8]) -> Result<IsComposing, String> {
        let root = super::xml_root(body, "isComposing")?;
        if !root.is("isComposing", NS) {
            return Err("not an isComposing document".into());
        }
        let child = |n: &str| root.get_child(n, NS).map(|c| c.text().trim().to_string());
        let state = child("state").ok_or("isComposing without <state/>")?;
        Ok(IsComposing {
            active: state.eq_ignore_ascii_case("active"),
            content_type: child("contenttype").filter(|s| !s.is_empty()),
            refresh: child("refresh")
                .and_then(|r| r.parse().ok())
                .filter(|r| *r > 0),
            last_active: child("lastactive").filter(|s| !s.is_empty()),
        })
    }

    /// The document as sent.
    pub fn to_body(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(s, "<isComposing xmlns=\"{NS}\">");
        let _ = write!(
            s,
            "<state>{}</state>",
            if self.active { "active" } else { "idle" }
        );
        if let Some(l) = &self.last_active {
            let _ = write!(s, "<lastactive>{}</lastactive>", super::xml_escape(l));
        }
        if let Some(c) = &self.content_type {
            let _ = write!(s, "<contenttype>{}</contenttype>", super::xml_escape(c));
        }
        if let Some(r) = self.refresh {
            let _ = write!(s, "<refresh>{r}</refresh>");
        }
        s.push_str("</isComposing>");
        s
    }

    /// How long an active state lasts without a refresh.
    pub fn active_for_secs(&self) -> u32 {
        self.refresh.unwrap_or(DEFAULT_ACTIVE_SECS)
    }
}

/// Table 3: isComposing → chat state. `idle` after `composing` becomes `paused` (what a
/// person sees when typing stops), otherwise `active`.
pub fn to_chat_state(doc: &IsComposing, previous: Option<&ChatState>) -> ChatState {
    if doc.active {
        ChatState::Composing
    } else if matches!(previous, Some(ChatState::Composing)) {
        ChatState::Paused
    } else {
        ChatState::Active
    }
}

/// Table 4: chat state → isComposing state (`Some(true)` active, `Some(false)` idle);
/// `gone` has no document: it ends the session with BYE (RFC 7573 §6.1).
pub fn from_chat_state(state: &ChatState) -> Option<bool> {
    match state {
        ChatState::Composing => Some(true),
        ChatState::Active | ChatState::Inactive | ChatState::Paused => Some(false),
        ChatState::Gone => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\n  <state>active</state>\n  <contenttype>text/plain</contenttype>\n  <refresh>90</refresh>\n</isComposing>";

    #[test]
    fn spec_vector_and_round_trip() {
        let d = IsComposing::parse(DOC.as_bytes()).unwrap();
        assert_eq!(
            d,
            IsComposing {
                active: true,
                content_type: Some("text/plain".into()),
                refresh: Some(90),
                last_active: None
            }
        );
        assert_eq!(IsComposing::parse(d.to_body().as_bytes()).unwrap(), d);
        assert_eq!(d.active_for_secs(), 90);
    }

    #[test]
    fn unknown_state_is_idle_and_garbage_is_an_error() {
        let d =
            IsComposing::parse(DOC.replace(">active<", ">typing-furiously<").as_bytes()).unwrap();
        assert!(!d.active);
        assert!(IsComposing::parse(b"<foo/>").is_err());
        assert!(IsComposing::parse(b"\xff").is_err());
        assert!(
            IsComposing::parse(b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'/>")
                .is_err()
        );
    }

    #[test]
    fn tables_3_and_4() {
        let active = IsComposing {
            active: true,
            content_type: None,
            refresh: None,
            last_active: None,
        };
        let idle = IsComposing {
            active: false,
            ..active.clone()
        };
        assert_eq!(to_chat_state(&active, None), ChatState::Composing);
        assert_eq!(
            to_chat_state(&idle, Some(&ChatState::Composing)),
            ChatState::Paused
        );
        assert_eq!(to_chat_state(&idle, None), ChatState::Active);
        assert_eq!(from_chat_state(&ChatState::Composing), Some(true));
        for s in [ChatState::Active, ChatState::Inactive, ChatState::Paused] {
            assert_eq!(from_chat_state(&s), Some(false));
        }
        assert_eq!(from_chat_state(&ChatState::Gone), None);
    }
}
