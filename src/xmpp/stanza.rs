//! Stanza helpers shared by every feature: error replies (RFC 6120 §8.3) and namespaces.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

/// Which of the three stanzas an [`InvalidStanza`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StanzaKind {
    /// `<message/>`
    Message,
    /// `<presence/>`
    Presence,
    /// `<iq/>`
    Iq,
}

impl StanzaKind {
    /// The element name.
    pub fn as_str(self) -> &'static str {
        match self {
            StanzaKind::Message => "message",
            StanzaKind::Presence => "presence",
            StanzaKind::Iq => "iq",
        }
    }
}

/// The stream layer only reports `message`, `presence` and `iq`; anything else is treated
/// like a message (answered with a message error).
impl From<&str> for StanzaKind {
    fn from(name: &str) -> Self {
        match name {
            "iq" => StanzaKind::Iq,
            "presence" => StanzaKind::Presence,
            _ => StanzaKind::Message,
        }
    }
}

impl std::fmt::Display for StanzaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stanza that arrived but could not be parsed; enough is kept to bounce it.
#[derive(Debug, Clone)]
pub struct InvalidStanza {
    /// Which stanza it was.
    pub kind: StanzaKind,
    /// Its `from`, `to`, `id` and `type` attributes as received.
    pub from: Option<String>,
    /// See `from`.
    pub to: Option<String>,
    /// See `from`.
    pub id: Option<String>,
    /// See `from`.
    pub type_: Option<String>,
    /// Why it did not parse.
    pub reason: String,
}

/// XEP-0100.
pub const NS_GATEWAY: &str = "jabber:iq:gateway";
/// XEP-0030 info.
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0030 items.
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0199.
pub const NS_PING: &str = "urn:xmpp:ping";
/// XEP-0092.
pub const NS_VERSION: &str = "jabber:iq:version";
/// XEP-0106's disco feature.
pub const NS_JID_ESCAPING: &str = "jid\\20escaping";

/// The default error type of each condition (RFC 6120 §8.3.3).
pub fn default_error_type(c: &DefinedCondition) -> ErrorType {
    use DefinedCondition::*;
    match c {
        Forbidden | NotAuthorized | RegistrationRequired | SubscriptionRequired => ErrorType::Auth,
        BadRequest | JidMalformed | NotAcceptable | PolicyViolation | Redirect { .. } => {
            ErrorType::Modify
        }
        RecipientUnavailable | RemoteServerTimeout | ResourceConstraint | UnexpectedRequest => {
            ErrorType::Wait
        }
        _ => ErrorType::Cancel,
    }
}

/// An `<error/>` with the condition's default type and an English text.
pub fn error(condition: DefinedCondition, text: impl Into<String>) -> StanzaError {
    let type_ = default_error_type(&condition);
    StanzaError::new(type_, condition, "en", text)
}

/// Error reply to an iq get/set: `from`/`to` swapped, same id (RFC 6120 §8.2).
pub fn iq_error(from: Option<Jid>, to: Option<Jid>, id: String, err: StanzaError) -> Iq {
    Iq::Error {
        from: to,
        to: from,
        id,
        error: err,
        payload: None,
    }
}

/// Error reply to a message; `None` for an error message (never answer an error).
pub fn message_error(msg: &Message, err: StanzaError) -> Option<Message> {
    if msg.type_ == MessageType::Error {
        return None;
    }
    let mut reply = Message::new(msg.from.clone());
    reply.from = msg.to.clone();
    reply.id = msg.id.clone();
    reply.type_ = MessageType::Error;
    reply.thread = msg.thread.clone();
    reply.payloads.push(err.into());
    Some(reply)
}

/// An error `<message/>` about a message that is no longer at hand (it went to SIP and
/// failed there): `from` is the recipient the sender wrote to, `id` and `thread` the
/// original's.
pub fn error_message(
    from: Jid,
    to: Jid,
    id: Option<xmpp_parsers::message::Id>,
    thread: Option<xmpp_parsers::message::Thread>,
    err: StanzaError,
) -> Message {
    let mut m = Message::new(Some(to));
    m.from = Some(from);
    m.id = id;
    m.type_ = MessageType::Error;
    m.thread = thread;
    m.payloads.push(err.into());
    m
}

/// Error reply to a presence; `None` for an error presence.
pub fn presence_error(p: &Presence, err: StanzaError) -> Option<Presence> {
    if p.type_ == PresenceType::Error {
        return None;
    }
    let mut reply = Presence::new(PresenceType::Error);
    reply.from = p.to.clone();
    reply.to = p.from.clone();
    reply.id = p.id.clone();
    reply.payloads.push(err.into());
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use xmpp_parsers::minidom::Element;

    #[test]
    fn default_types_follow_rfc6120() {
        assert_eq!(
            default_error_type(&DefinedCondition::Forbidden),
            ErrorType::Auth
        );
        assert_eq!(
            default_error_type(&DefinedCondition::BadRequest),
            ErrorType::Modify
        );
        assert_eq!(
            default_error_type(&DefinedCondition::RemoteServerTimeout),
            ErrorType::Wait
        );
        assert_eq!(
            default_error_type(&DefinedCondition::ServiceUnavailable),
            ErrorType::Cancel
        );
    }

    #[test]
    fn message_error_swaps_and_keeps_id() {
        let m: Element = "<message xmlns='jabber:component:accept' from='juliet@example.com/a' to='romeo@sip.example.com' id='m1'><body>hi</body></message>".parse().unwrap();
        let m = Message::try_from(m).unwrap();
        let e = message_error(&m, error(DefinedCondition::ItemNotFound, "Not Found")).unwrap();
        assert_eq!(e.to, Some(Jid::from_str("juliet@example.com/a").unwrap()));
        assert_eq!(
            e.from,
            Some(Jid::from_str("romeo@sip.example.com").unwrap())
        );
        assert_eq!(e.id, m.id);
        let xml = String::from(&Element::from(e));
        assert!(xml.contains("type='error'"), "{xml}");
        assert!(xml.contains("item-not-found"), "{xml}");
        assert!(xml.contains("Not Found"), "{xml}");
    }

    #[test]
    fn errors_are_never_answered() {
        let m: Element = "<message xmlns='jabber:component:accept' from='a@b' to='c@d' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>".parse().unwrap();
        let m = Message::try_from(m).unwrap();
        assert!(message_error(&m, error(DefinedCondition::BadRequest, "x")).is_none());
    }
}
