//! What travels beside the text in page mode, and what each SIP peer takes of it.
//!
//! - Delivery and display reports: IMDN (RFC 5438, `message/imdn+xml`, CPIM-wrapped by the
//!   clients that use CPIM) ⇄ XEP-0184 receipts and XEP-0333 chat markers. An IMDN names the
//!   message by its `imdn.Message-ID`, or — clients without CPIM, e.g. Linphone with CPIM
//!   off — by the MESSAGE's Call-ID; both are remembered for what we send.
//! - Typing: RFC 3994 isComposing MESSAGEs ⇄ XEP-0085 chat states.
//! - Peers (bounded, expiring): a peer that sent CPIM gets CPIM; one that sent isComposing
//!   (or lists it in `Accept`) gets typing notices; a 415 stops a type for good (`Accept`
//!   learned too). Nothing a peer did not show it takes is sent to it (baresip takes
//!   text/plain only, and would refuse the rest).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Message, MessageType, Thread};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::receipts::{Received, Request as ReceiptRequest};

use super::bounded::Recent;
use crate::body::cpim::{self, Cpim};
use crate::body::imdn::{self, Imdn, Kind, Status};
use crate::body::iscomposing::{self, IsComposing};

/// XEP-0333.
pub const NS_MARKERS: &str = xmpp_parsers::ns::DISPLAYED_MARKERS;
/// How long what a peer showed is remembered.
const PEER_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// Peers remembered at most.
const PEERS: usize = 10_000;
/// Messages remembered per direction for their reports.
const REPORTS: usize = 10_000;
/// Messages from SIP remembered per conversation for the XMPP user's markers.
const PER_CONVERSATION: usize = 64;

/// A peer that has shown nothing (looked up per message: no allocation).
static UNKNOWN: PeerCaps = PeerCaps {
    cpim: false,
    iscomposing: false,
    imdn: false,
    refused: Vec::new(),
    until: None,
};

/// What a SIP peer has shown it takes.
#[derive(Debug, Clone, Default)]
pub struct PeerCaps {
    /// It sent `message/cpim`.
    pub cpim: bool,
    /// It sent (or accepts) isComposing.
    pub iscomposing: bool,
    /// It sends IMDNs (then its 2xx says nothing about delivery to the person).
    pub imdn: bool,
    /// Types it refused with 415 (lower-case MIME types).
    pub refused: Vec<String>,
    until: Option<Instant>,
}

impl PeerCaps {
    /// Whether this MIME type may be sent to the peer.
    pub fn takes(&self, mime: &str) -> bool {
        !self.refused.iter().any(|r| r.eq_ignore_ascii_case(mime))
    }
}

/// A MESSAGE we sent for a stanza, for the reports about it.
#[derive(Debug, Clone)]
pub struct SentPage {
    /// The stanza's id.
    pub stanza_id: Option<Id>,
    /// The XMPP sender (reports go there).
    pub sender: Jid,
    /// The SIP recipient as a JID (reports come from there).
    pub recipient: Jid,
    /// It asked for a XEP-0184 receipt.
    pub receipt: bool,
    /// It was XEP-0333 markable.
    pub markable: bool,
}

/// A message from SIP whose sender asked for IMDNs (RFC 5438 §6.4).
#[derive(Debug, Clone)]
pub struct AskedReport {
    /// The stanza id it became.
    pub stanza_id: String,
    /// The id the IMDN must name (`imdn.Message-ID`, else the Call-ID).
    pub message_id: String,
    /// `positive-delivery`, `negative-delivery`, `display`.
    pub dispositions: Vec<String>,
    /// It came in CPIM (the IMDN goes back in CPIM).
    pub cpim: bool,
    /// Its CPIM `DateTime`: an IMDN carries the original message's (RFC 5438 §7.2.1.1;
    /// Linphone's schema makes `<datetime/>` mandatory).
    pub datetime: Option<String>,
    /// Reports already sent for it.
    pub delivered: bool,
}

/// Page-mode reports and peer knowledge.
pub struct Notices {
    peers: HashMap<String, PeerCaps>,
    /// message id (imdn.Message-ID or Call-ID) → what we sent.
    sent: Recent<SentPage>,
    /// (XMPP user, SIP peer) bare → messages from the peer that asked for reports, oldest
    /// first.
    asked: HashMap<(String, String), VecDeque<AskedReport>>,
}

impl Default for Notices {
    fn default() -> Self {
        Notices {
            peers: HashMap::new(),
            sent: Recent::new(REPORTS),
            asked: HashMap::new(),
        }
    }
}

fn key(j: &Jid) -> String {
    j.to_bare().to_string()
}

impl Notices {
    /// What a peer has shown (a default when nothing, or when it expired).
    pub fn peer(&self, now: Instant, peer: &Jid) -> &PeerCaps {
        self.peers
            .get(&key(peer))
            .filter(|c| c.until.is_some_and(|u| u > now))
            .unwrap_or(&UNKNOWN)
    }

    /// Updates what a peer has shown.
    pub fn learn(&mut self, now: Instant, peer: &Jid, f: impl FnOnce(&mut PeerCaps)) {
        if self.peers.len() >= PEERS && !self.peers.contains_key(&key(peer)) {
            self.peers.retain(|_, c| c.until.is_some_and(|u| u > now));
            if self.peers.len() >= PEERS {
                self.peers.clear();
            }
        }
        let c = self.peers.entry(key(peer)).or_default();
        if c.until.is_none_or(|u| u <= now) {
            *c = PeerCaps::default();
        }
        f(c);
        c.until = Some(now + PEER_MEMORY);
    }

    /// Remembers a MESSAGE we sent under the id its IMDNs will name.
    pub fn sent(&mut self, message_id: String, page: SentPage) {
        self.sent.insert(message_id, page);
    }

    /// The MESSAGE an IMDN is about.
    pub fn sent_page(&self, message_id: &str) -> Option<&SentPage> {
        self.sent.get(message_id)
    }

    /// Remembers a message from SIP that asked for reports.
    pub fn asked(&mut self, user: &Jid, peer: &Jid, a: AskedReport) {
        if self.asked.len() >= REPORTS {
            self.asked.clear();
        }
        let q = self.asked.entry((key(user), key(peer))).or_default();
        q.push_back(a);
        if q.len() > PER_CONVERSATION {
            q.pop_front();
        }
    }

    /// The reports owed for the XMPP user's receipt (`display` false: this message only) or
    /// displayed marker (every message up to this one, XEP-0333 §4).
    pub fn take_owed(
        &mut self,
        user: &Jid,
        peer: &Jid,
        stanza_id: &str,
        display: bool,
    ) -> Vec<AskedReport> {
        let Some(q) = self.asked.get_mut(&(key(user), key(peer))) else {
            return vec![];
        };
        let Some(pos) = q.iter().position(|a| a.stanza_id == stanza_id) else {
            return vec![];
        };
        if !display {
            let Some(a) = q.get_mut(pos) else {
                return vec![];
            };
            if a.delivered {
                return vec![];
            }
            a.delivered = true;
            return vec![a.clone()];
        }
        q.drain(..=pos).collect()
    }

    /// A message the XMPP server bounced: its failed IMDN if one was asked for.
    pub fn take_bounced(&mut self, user: &Jid, peer: &Jid, stanza_id: &str) -> Option<AskedReport> {
        let q = self.asked.get_mut(&(key(user), key(peer)))?;
        let pos = q.iter().position(|a| a.stanza_id == stanza_id)?;
        q.remove(pos)
    }
}

/// An IMDN about a message we sent → what the XMPP sender asked for: XEP-0184 `<received/>`
/// and/or XEP-0333 `<received/>`/`<displayed/>`, or a message error for a failure. `None`
/// when the sender asked for nothing this IMDN answers.
pub fn imdn_to_stanza(imdn: &Imdn, sent: &SentPage, thread: Option<Thread>) -> Option<Message> {
    let id = sent.stanza_id.as_ref()?;
    let mut m = Message::new(Some(sent.sender.clone()));
    m.from = Some(sent.recipient.clone());
    m.type_ = MessageType::Chat;
    m.thread = thread.clone();
    match (imdn.kind, imdn.status) {
        (Kind::Delivery, Status::Delivered) => {
            if sent.receipt {
                m.payloads.push(Received { id: id.0.clone() }.into());
            }
            if sent.markable {
                m.payloads.push(marker("received", &id.0));
            }
        }
        (Kind::Display, Status::Displayed) if sent.markable || sent.receipt => {
            m.payloads.push(marker("displayed", &id.0));
        }
        (Kind::Delivery, Status::Failed | Status::Forbidden | Status::Error) => {
            let err = crate::xmpp::stanza::error(
                xmpp_parsers::stanza_error::DefinedCondition::RecipientUnavailable,
                format!(
                    "the SIP recipient reported the message {} (IMDN)",
                    match imdn.status {
                        Status::Failed => "not delivered",
                        Status::Forbidden => "refused",
                        _ => "failed",
                    }
                ),
            );
            return Some(crate::xmpp::stanza::error_message(
                sent.recipient.clone(),
                sent.sender.clone(),
                Some(id.clone()),
                thread,
                err,
            ));
        }
        _ => {}
    }
    (!m.payloads.is_empty()).then_some(m)
}

/// A XEP-0333 marker.
pub fn marker(name: &str, id: &str) -> Element {
    let id = crate::body::xml_escape(id);
    format!("<{name} xmlns='{NS_MARKERS}' id='{id}'/>")
        .parse()
        .unwrap_or_else(|_| Element::builder(name, NS_MARKERS).build())
}

/// What the XMPP user's stanza to a SIP peer asks of the page-mode side besides text.
#[derive(Debug, Clone, PartialEq)]
pub enum Extra {
    /// A receipt (XEP-0184, or a XEP-0333 `received` marker) for this stanza id.
    Delivered(String),
    /// A XEP-0333 `displayed` marker up to this stanza id.
    Displayed(String),
    /// A chat state: `true` composing, `false` not.
    Composing(bool),
}

/// The extras of a body-less stanza (receipts win over markers over chat states).
pub fn extra_of(m: &Message) -> Option<Extra> {
    for p in &m.payloads {
        if let Ok(r) = Received::try_from(p.clone()) {
            return Some(Extra::Delivered(r.id));
        }
        if p.is("received", NS_MARKERS)
            && let Some(id) = p.attr("id")
        {
            return Some(Extra::Delivered(id.to_string()));
        }
        if p.is("displayed", NS_MARKERS)
            && let Some(id) = p.attr("id")
        {
            return Some(Extra::Displayed(id.to_string()));
        }
    }
    m.payloads
        .iter()
        .find_map(|p| ChatState::try_from(p.clone()).ok())
        .and_then(|s| iscomposing::from_chat_state(&s))
        .map(Extra::Composing)
}

/// Whether a stanza asks for a receipt / is markable.
pub fn wants(m: &Message) -> (bool, bool) {
    let receipt = m
        .payloads
        .iter()
        .any(|p| ReceiptRequest::try_from(p.clone()).is_ok());
    let markable = m.payloads.iter().any(|p| p.is("markable", NS_MARKERS));
    (receipt, markable)
}

/// The body and Content-Type of an IMDN we send: CPIM-wrapped (RFC 5438 §7.1.1) when the
/// message came in CPIM, else the bare document (what clients without CPIM send too).
pub fn imdn_body(
    a: &AskedReport,
    kind: Kind,
    status: Status,
    from_uri: &str,
    to_uri: &str,
    imdn_id: String,
) -> (String, Vec<u8>) {
    let doc = Imdn {
        message_id: a.message_id.clone(),
        datetime: a.datetime.clone(),
        recipient_uri: Some(from_uri.to_string()),
        kind,
        status,
    }
    .to_body();
    if !a.cpim {
        return (imdn::CONTENT_TYPE.into(), doc.into_bytes());
    }
    let c = Cpim {
        headers: vec![
            ("From".into(), format!("<{from_uri}>")),
            ("To".into(), format!("<{to_uri}>")),
            ("NS".into(), format!("imdn <{}>", cpim::NS_IMDN)),
            ("imdn.Message-ID".into(), imdn_id),
        ],
        content_headers: vec![
            ("Content-Type".into(), imdn::CONTENT_TYPE.into()),
            ("Content-Disposition".into(), "notification".into()),
        ],
        body: doc.into_bytes(),
    };
    ("message/cpim".into(), c.to_bytes())
}

/// A text body in CPIM for a peer that uses it, asking for the reports the XMPP sender
/// wants (RFC 5438 §6.4): positive delivery for a receipt, display for a markable message.
pub fn cpim_text(
    from_uri: &str,
    to_uri: &str,
    content_type: &str,
    body: Vec<u8>,
    message_id: &str,
    (receipt, markable): (bool, bool),
    datetime: Option<&str>,
) -> Vec<u8> {
    let mut dispositions = vec!["negative-delivery"];
    if receipt || markable {
        dispositions.insert(0, "positive-delivery");
    }
    if markable {
        dispositions.push("display");
    }
    let mut headers = vec![
        ("From".into(), format!("<{from_uri}>")),
        ("To".into(), format!("<{to_uri}>")),
    ];
    if let Some(d) = datetime {
        headers.push(("DateTime".into(), d.to_string()));
    }
    headers.extend([
        ("NS".into(), format!("imdn <{}>", cpim::NS_IMDN)),
        ("imdn.Message-ID".into(), message_id.to_string()),
        (
            "imdn.Disposition-Notification".into(),
            dispositions.join(", "),
        ),
    ]);
    Cpim {
        headers,
        content_headers: vec![("Content-Type".into(), content_type.to_string())],
        body,
    }
    .to_bytes()
}

/// Our isComposing document for a chat state (no refresh interval: the receiver's default
/// of 120 s applies, RFC 3994 §4).
pub fn composing(active: bool) -> IsComposing {
    IsComposing {
        active,
        content_type: Some("text/plain".into()),
        refresh: None,
        last_active: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn jid(s: &str) -> Jid {
        Jid::from_str(s).unwrap()
    }

    #[test]
    fn displayed_covers_everything_before_and_receipts_are_once() {
        let mut n = Notices::default();
        let (user, peer) = (jid("juliet@example.com/b"), jid("romeo@sip.example.com"));
        for i in 1..=3 {
            n.asked(
                &user,
                &peer,
                AskedReport {
                    stanza_id: format!("s{i}"),
                    message_id: format!("m{i}"),
                    dispositions: vec!["positive-delivery".into(), "display".into()],
                    cpim: true,
                    datetime: None,
                    delivered: false,
                },
            );
        }
        assert_eq!(n.take_owed(&user, &peer, "s2", false).len(), 1);
        assert!(n.take_owed(&user, &peer, "s2", false).is_empty(), "once");
        let shown: Vec<_> = n
            .take_owed(&user, &peer, "s2", true)
            .into_iter()
            .map(|a| a.message_id)
            .collect();
        assert_eq!(shown, vec!["m1", "m2"]);
        assert_eq!(n.take_owed(&user, &peer, "s3", true).len(), 1);
    }

    #[test]
    fn imdns_become_what_the_sender_asked_for() {
        let sent = SentPage {
            stanza_id: Some(Id("x1".into())),
            sender: jid("juliet@example.com/b"),
            recipient: jid("romeo@sip.example.com"),
            receipt: true,
            markable: false,
        };
        let delivered = Imdn {
            message_id: "c1".into(),
            datetime: None,
            recipient_uri: None,
            kind: Kind::Delivery,
            status: Status::Delivered,
        };
        let m = imdn_to_stanza(&delivered, &sent, None).unwrap();
        let xml = String::from(&Element::from(m));
        assert!(
            xml.contains("<received xmlns='urn:xmpp:receipts' id='x1'/>"),
            "{xml}"
        );
        let failed = Imdn {
            status: Status::Failed,
            ..delivered.clone()
        };
        let m = imdn_to_stanza(&failed, &sent, None).unwrap();
        assert_eq!(m.type_, MessageType::Error);
        let silent = SentPage {
            receipt: false,
            ..sent
        };
        assert!(imdn_to_stanza(&delivered, &silent, None).is_none());
    }

    #[test]
    fn cpim_text_asks_for_what_the_stanza_wants() {
        let b = cpim_text(
            "sip:juliet@example.com",
            "sip:romeo@example.net",
            "text/plain;charset=UTF-8",
            b"hi".to_vec(),
            "x1",
            (true, true),
            Some("2026-11-30T10:00:00Z"),
        );
        let c = Cpim::parse(&b).unwrap();
        assert_eq!(
            c.dispositions(),
            vec!["positive-delivery", "negative-delivery", "display"]
        );
        assert_eq!(c.ns_header(cpim::NS_IMDN, "Message-ID"), Some("x1"));
        assert_eq!(c.header("DateTime"), Some("2026-11-30T10:00:00Z"));
        assert_eq!(c.body, b"hi");
    }
}

/// A wall-clock time as RFC 3339 UTC (`2026-11-30T10:00:00Z`), for CPIM `DateTime`.
pub fn rfc3339(t: std::time::SystemTime) -> Option<String> {
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // civil-from-days (H. Hinnant's algorithm), for days since 1970-01-01
    let z = i64::try_from(days).ok()? + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

#[cfg(test)]
mod time_tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_dates() {
        let at = |s: u64| super::rfc3339(UNIX_EPOCH + Duration::from_secs(s)).unwrap();
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_036_400), "2026-11-30T11:00:00Z");
    }
}
