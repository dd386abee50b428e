//! One-to-one chat, RFC 7573. This file: the translations between MSRP messages and
//! `type='chat'` stanzas (bodies, XEP-0085 chat states ⇄ RFC 3994 isComposing, XEP-0184
//! receipts ⇄ Success-Report/REPORT, `gone` ⇄ BYE) — pure functions. [`table`]: the sessions
//! and their indexes. [`flows`]: the RFC 7573 §4/§5 flows on top of the shared call
//! (`gateway/call.rs`).

pub mod flows;
pub mod table;

use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType, Thread};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::receipts::{Received, Request as ReceiptRequest};

use crate::body::iscomposing::{self, IsComposing};
use crate::body::xhtml;

/// What we accept in MSRP (and offer in `a=accept-types`): what [`msrp_to_stanza`] can turn
/// into a stanza — the page-mode types (`im::ACCEPT`) and isComposing.
pub const ACCEPT: &[&str] = &["text/plain", "text/html", iscomposing::CONTENT_TYPE];

/// What a complete MSRP message becomes in XMPP.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// A chat message (RFC 7573 §5): id = the SEND's transaction id, thread = Call-ID.
    Stanza(Box<Message>),
    /// Content we do not bridge: answer the SEND with this MSRP status (415).
    Refuse(u16),
}

/// A complete MSRP message as the session delivered it.
#[derive(Debug, Clone, Copy)]
pub struct MsrpIn<'a> {
    /// Transaction id of its (first) SEND: becomes the stanza id.
    pub tid: &'a str,
    /// Its MIME type (parameters included).
    pub content_type: &'a str,
    /// The reassembled body.
    pub body: &'a [u8],
    /// The SIP side asked for a REPORT, so the stanza asks for a receipt (XEP-0184).
    pub success_report: bool,
}

/// A complete MSRP message → stanza. `previous` is the last chat state sent to this XMPP user
/// for the session (isComposing `idle` after `composing` becomes `paused`).
pub fn msrp_to_stanza(
    from: Jid,
    to: Jid,
    thread: &str,
    msg: MsrpIn<'_>,
    previous: Option<&ChatState>,
) -> Inbound {
    let MsrpIn {
        tid: id,
        content_type,
        body,
        success_report,
    } = msg;
    let mut m = Message::new(Some(to));
    m.from = Some(from);
    m.type_ = MessageType::Chat;
    m.id = Some(Id(id.to_string()));
    m.thread = Some(Thread {
        parent: None,
        id: thread.to_string(),
    });
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/plain" | "text/html" => {
            let Ok(text) = std::str::from_utf8(body) else {
                return Inbound::Refuse(415);
            };
            if mime == "text/html" {
                let (plain, html) = xhtml::html_to_xhtml_im(text);
                m.bodies.insert(Lang::default(), plain);
                m.payloads.push(html);
            } else {
                m.bodies.insert(Lang::default(), text.to_string());
            }
            m.payloads.push(ChatState::Active.into());
            if success_report {
                m.payloads.push(ReceiptRequest.into());
            }
            Inbound::Stanza(Box::new(m))
        }
        iscomposing::CONTENT_TYPE => match IsComposing::parse(body) {
            Ok(doc) => {
                m.id = None;
                m.payloads
                    .push(iscomposing::to_chat_state(&doc, previous).into());
                Inbound::Stanza(Box::new(m))
            }
            Err(_) => Inbound::Refuse(400),
        },
        _ => Inbound::Refuse(415),
    }
}

/// What a `type='chat'` stanza asks of the MSRP side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// SEND this body; `success_report` when the stanza requested a receipt.
    Send {
        /// MIME type of the body.
        content_type: &'static str,
        /// The body.
        body: Vec<u8>,
        /// Ask for a REPORT.
        success_report: bool,
    },
    /// SEND an isComposing document (Table 4), with no reports.
    Composing(IsComposing),
    /// `gone`: end the session with BYE (RFC 7573 §6.1).
    Bye,
    /// A receipt for the message with this id: REPORT 200 for it (XEP-0184 → RFC 4975 §7.1.2).
    Report {
        /// The id of the acknowledged stanza.
        id: String,
    },
    /// Nothing to send (e.g. a repeated chat state, or an empty stanza).
    Nothing,
}

fn chat_state(m: &Message) -> Option<ChatState> {
    m.payloads
        .iter()
        .find_map(|p| ChatState::try_from(p.clone()).ok())
}

/// A stanza from the XMPP user → MSRP. A body wins over a chat state in the same stanza
/// (sending a message ends composition implicitly, RFC 3994 §3). `last_sent` suppresses a
/// repeated state.
pub fn stanza_to_msrp(m: &Message, last_sent: Option<bool>) -> Outbound {
    if let Some(received) = m
        .payloads
        .iter()
        .find_map(|p| Received::try_from(p.clone()).ok())
    {
        return Outbound::Report { id: received.id };
    }
    let body = m.bodies.get("").or_else(|| m.bodies.values().next());
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        let success_report = m
            .payloads
            .iter()
            .any(|p| p.is("request", xmpp_parsers::ns::RECEIPTS));
        return Outbound::Send {
            content_type: "text/plain;charset=UTF-8",
            body: body.clone().into_bytes(),
            success_report,
        };
    }
    match chat_state(m) {
        Some(ChatState::Gone) => Outbound::Bye,
        Some(state) => match iscomposing::from_chat_state(&state) {
            Some(active) if Some(active) != last_sent => Outbound::Composing(composing(active)),
            _ => Outbound::Nothing,
        },
        None => Outbound::Nothing,
    }
}

/// Our isComposing document: `active` announces a 90 s refresh (RFC 3994 §4), which the
/// session keeps up while the XMPP user composes.
pub fn composing(active: bool) -> IsComposing {
    IsComposing {
        active,
        content_type: Some("text/plain".into()),
        refresh: active.then_some(90),
        last_active: None,
    }
}

/// A REPORT with status 200 for a message we sent → the receipt its sender asked for
/// (`id` = the original stanza id). Other statuses are failures: see the RFC 7247 table.
pub fn report_to_receipt(from: Jid, to: Jid, thread: &str, original_id: &str) -> Message {
    let mut m = Message::new(Some(to));
    m.from = Some(from);
    m.type_ = MessageType::Chat;
    m.thread = Some(Thread {
        parent: None,
        id: thread.to_string(),
    });
    m.payloads.push(
        Received {
            id: original_id.to_string(),
        }
        .into(),
    );
    m
}

/// `<gone/>` for the XMPP user when the SIP side ends the session with BYE (§6.1).
pub fn gone(from: Jid, to: Jid, thread: &str) -> Message {
    let mut m = Message::new(Some(to));
    m.from = Some(from);
    m.type_ = MessageType::Chat;
    m.thread = Some(Thread {
        parent: None,
        id: thread.to_string(),
    });
    m.payloads.push(Element::from(ChatState::Gone));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn j(s: &str) -> Jid {
        Jid::from_str(s).unwrap()
    }

    fn xml(m: impl Into<Box<Message>>) -> String {
        String::from(&Element::from(*m.into()))
    }

    fn stanza(s: &str) -> Message {
        Message::try_from(s.parse::<Element>().unwrap()).unwrap()
    }

    const THREAD: &str = "29377446-0CBB-4296-8958-590D79094C50";

    /// F10 → F11 of the spec notes.
    #[test]
    fn inbound_send_becomes_a_chat_stanza() {
        let Inbound::Stanza(m) = msrp_to_stanza(
            j("romeo@sip.example.com/dr4hcr0st3lup4c"),
            j("juliet@example.com/yn0cl4bnw0yr3vym"),
            THREAD,
            MsrpIn {
                tid: "di2fs53v",
                content_type: "text/plain",
                body: b"Neither, fair saint, if either thee dislike.",
                success_report: false,
            },
            None,
        ) else {
            panic!()
        };
        let x = xml(m);
        assert!(
            x.contains("type='chat'") && x.contains("id='di2fs53v'"),
            "{x}"
        );
        assert!(x.contains(&format!("<thread>{THREAD}</thread>")), "{x}");
        assert!(
            x.contains("<body>Neither, fair saint, if either thee dislike.</body>"),
            "{x}"
        );
    }

    #[test]
    fn success_report_asks_for_a_receipt_and_other_types_are_refused() {
        let Inbound::Stanza(m) = msrp_to_stanza(
            j("r@sip.example.com"),
            j("juliet@example.com/r"),
            THREAD,
            MsrpIn {
                tid: "tid1",
                content_type: "text/plain",
                body: b"hi",
                success_report: true,
            },
            None,
        ) else {
            panic!()
        };
        assert!(xml(m).contains("<request xmlns='urn:xmpp:receipts'/>"));
        assert_eq!(
            msrp_to_stanza(
                j("r@sip.example.com"),
                j("juliet@example.com/r"),
                THREAD,
                MsrpIn {
                    tid: "t",
                    content_type: "image/png",
                    body: b"x",
                    success_report: false
                },
                None
            ),
            Inbound::Refuse(415)
        );
    }

    #[test]
    fn iscomposing_becomes_chat_states() {
        let active = IsComposing {
            active: true,
            content_type: None,
            refresh: Some(90),
            last_active: None,
        };
        let Inbound::Stanza(m) = msrp_to_stanza(
            j("r@sip.example.com"),
            j("juliet@example.com/r"),
            THREAD,
            MsrpIn {
                tid: "t",
                content_type: iscomposing::CONTENT_TYPE,
                body: active.to_body().as_bytes(),
                success_report: false,
            },
            None,
        ) else {
            panic!()
        };
        let x = xml(m);
        assert!(
            x.contains("<composing xmlns='http://jabber.org/protocol/chatstates'/>")
                && !x.contains("<body"),
            "{x}"
        );
        let idle = IsComposing {
            active: false,
            ..active
        };
        let Inbound::Stanza(m) = msrp_to_stanza(
            j("r@sip.example.com"),
            j("juliet@example.com/r"),
            THREAD,
            MsrpIn {
                tid: "t",
                content_type: iscomposing::CONTENT_TYPE,
                body: idle.to_body().as_bytes(),
                success_report: false,
            },
            Some(&ChatState::Composing),
        ) else {
            panic!()
        };
        assert!(xml(m).contains("<paused"));
    }

    #[test]
    fn outbound_body_states_gone_and_receipts() {
        let m = stanza(&format!(
            "<message xmlns='jabber:component:accept' from='juliet@example.com/r' to='romeo@sip.example.com' id='bf9m36d5' type='chat'><thread>{THREAD}</thread><body>What man art thou ...?</body><request xmlns='urn:xmpp:receipts'/></message>"
        ));
        assert_eq!(
            stanza_to_msrp(&m, None),
            Outbound::Send {
                content_type: "text/plain;charset=UTF-8",
                body: b"What man art thou ...?".to_vec(),
                success_report: true
            }
        );
        let c = stanza(
            "<message xmlns='jabber:component:accept' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
        );
        assert!(matches!(
            stanza_to_msrp(&c, None),
            Outbound::Composing(IsComposing { active: true, .. })
        ));
        assert_eq!(
            stanza_to_msrp(&c, Some(true)),
            Outbound::Nothing,
            "repeated state suppressed"
        );
        let g = stanza(
            "<message xmlns='jabber:component:accept' type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>",
        );
        assert_eq!(stanza_to_msrp(&g, None), Outbound::Bye);
        let r = stanza(
            "<message xmlns='jabber:component:accept' type='chat'><received xmlns='urn:xmpp:receipts' id='di2fs53v'/></message>",
        );
        assert_eq!(
            stanza_to_msrp(&r, None),
            Outbound::Report {
                id: "di2fs53v".into()
            }
        );
    }

    #[test]
    fn receipt_and_gone_stanzas() {
        let x = xml(report_to_receipt(
            j("romeo@sip.example.com/dr4hcr0st3lup4c"),
            j("juliet@example.com/yn0cl4bnw0yr3vym"),
            THREAD,
            "bf9m36d5",
        ));
        assert!(
            x.contains("<received xmlns='urn:xmpp:receipts' id='bf9m36d5'/>"),
            "{x}"
        );
        let x = xml(gone(
            j("romeo@sip.example.com"),
            j("juliet@example.com/r"),
            THREAD,
        ));
        assert!(
            x.contains("<gone xmlns='http://jabber.org/protocol/chatstates'/>")
                && x.contains(THREAD),
            "{x}"
        );
    }
}
