//! Groupchat, RFC 7702: XMPP MUC (XEP-0045) ⇄ SIP/MSRP multi-party chat (RFC 7701).
//!
//! - [`participant`]: §5, an XMPP user in a SIP/MSRP chat room; stox is the participant
//!   towards the focus (INVITE with a `message/cpim` offer, NICKNAME, conference
//!   SUBSCRIBE, CPIM SENDs, REFER for invitations).
//! - [`focus`]: §6, a SIP user in an XMPP MUC room; stox answers as the focus (200 with
//!   `isfocus`, conference NOTIFYs built from MUC presence, NICKNAME ⇄ nick change).
//! - [`table`]: the sessions and their indexes.
//! - This file: the translations both sides share — CPIM envelopes (RFC 3862) of room
//!   messages, occupant URIs (`room;gr=nick`), muc#user presences, the conference-info
//!   documents (RFC 4575) — as pure functions, tested against the RFC examples.
//!
//! Each user in each room is one [`table::Muc`] riding on one shared call
//! (`gateway/call.rs`), owned as `Owner::Muc` in the routing table, so that its INVITE,
//! SUBSCRIBE, NOTIFY and REFER transactions, its dialogs and its MSRP session find it.

pub mod focus;
pub mod participant;
pub mod table;

pub use table::MucId;

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza_error::StanzaError;

use crate::body::conference_info::{ConferenceInfo, Endpoint, State, User};
use crate::body::cpim::Cpim;
use crate::body::{iscomposing, xhtml};
use crate::gateway::address::SipAddress;
use crate::gateway::im::mime_of;
use crate::sip::message::NameAddr;

/// XEP-0045 join element.
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// XEP-0045 occupant information.
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// What a room session's MSRP side accepts: everything arrives wrapped in CPIM (RFC 7701);
/// plain types are taken from switches that do not wrap.
pub const ACCEPT: &[&str] = &[
    "message/cpim",
    "text/plain",
    "text/html",
    iscomposing::CONTENT_TYPE,
];

/// Builder attributes by name (minidom wants checked XML names; ours are constants).
pub trait At {
    /// Sets an attribute.
    fn at(self, name: &str, value: impl Into<String>) -> Self;
}

impl At for xmpp_parsers::minidom::ElementBuilder {
    fn at(self, name: &str, value: impl Into<String>) -> Self {
        match xmpp_parsers::minidom::rxml::NcName::try_from(name) {
            Ok(n) => self.attr(n, value.into()),
            Err(_) => self,
        }
    }
}

/// Does this presence ask to join a room (`<x xmlns='…/muc'/>`)?
pub fn is_join(p: &Presence) -> bool {
    p.payloads.iter().any(|e| e.is("x", NS_MUC))
}

/// The status codes of a presence's muc#user element.
pub fn statuses(p_payloads: &[Element]) -> Vec<u16> {
    p_payloads
        .iter()
        .filter(|e| e.is("x", NS_MUC_USER))
        .flat_map(|x| x.children().filter(|c| c.is("status", NS_MUC_USER)))
        .filter_map(|s| s.attr("code")?.parse().ok())
        .collect()
}

/// The muc#user `<item/>` of a presence: (nick, jid) attributes.
pub fn item(p_payloads: &[Element]) -> (Option<String>, Option<String>) {
    let it = p_payloads
        .iter()
        .filter(|e| e.is("x", NS_MUC_USER))
        .find_map(|x| x.get_child("item", NS_MUC_USER));
    (
        it.and_then(|i| i.attr("nick")).map(String::from),
        it.and_then(|i| i.attr("jid")).map(String::from),
    )
}

/// A muc#user element: the item (role `participant` while present, `none` when leaving;
/// RFC 7702 Table 3 maps every SIP participant to affiliation `none`) and status codes.
pub fn muc_user(
    available: bool,
    new_nick: Option<&str>,
    real: Option<&str>,
    codes: &[u16],
) -> Element {
    let mut item = Element::builder("item", NS_MUC_USER)
        .at("affiliation", "none")
        .at("role", if available { "participant" } else { "none" });
    if let Some(n) = new_nick {
        item = item.at("nick", n);
    }
    if let Some(j) = real {
        item = item.at("jid", j);
    }
    let mut x = Element::builder("x", NS_MUC_USER).append(item.build());
    for c in codes {
        x = x.append(
            Element::builder("status", NS_MUC_USER)
                .at("code", c.to_string())
                .build(),
        );
    }
    x.build()
}

/// RFC 7702 §7 (SHOULD): a nickname prepared and enforced with the PRECIS Nickname profile
/// (RFC 8266, via `precis-profiles`: width mapping, additional space removal, NFKC,
/// case preserved) and usable as a resourcepart; `None` when it cannot be one.
pub fn nickname(s: &str) -> Option<String> {
    use precis_profiles::precis_core::profile::PrecisFastInvocation;
    let n = precis_profiles::Nickname::enforce(s).ok()?.into_owned();
    occupant_jid(&BareJid::new("r@x.example").ok()?, &n).map(|_| n)
}

/// Two nicknames are the same one (RFC 8266 §2.4: case-insensitive after enforcement).
pub fn same_nick(a: &str, b: &str) -> bool {
    use precis_profiles::precis_core::profile::PrecisFastInvocation;
    precis_profiles::Nickname::compare(a, b).unwrap_or(a == b)
}

/// The occupant JID of a nickname (`None` when the nick is not a valid resourcepart).
pub fn occupant_jid(room: &BareJid, nick: &str) -> Option<Jid> {
    format!("{room}/{nick}").parse::<Jid>().ok()
}

/// An occupant's presence as a MUC service sends it (RFC 7702 §5.3 Table 3, XEP-0045 §7.2).
pub fn occupant_presence(from: Jid, to: Jid, available: bool, x: Element) -> Presence {
    let mut p = Presence::new(if available {
        PresenceType::None
    } else {
        PresenceType::Unavailable
    });
    p.from = Some(from);
    p.to = Some(to);
    p.payloads.push(x);
    p
}

/// A join refused: presence error from the occupant JID, with `<x xmlns='…/muc'/>` and the
/// room as the error's `by` (RFC 7702 §5.2's 425 example).
pub fn join_error(from: Jid, to: Jid, room: &BareJid, mut err: StanzaError) -> Presence {
    err.by = Some(Jid::from(room.clone()));
    let mut p = Presence::new(PresenceType::Error);
    p.from = Some(from);
    p.to = Some(to);
    p.payloads.push(Element::builder("x", NS_MUC).build());
    p.payloads.push(err.into());
    p
}

/// The room subject message (XEP-0045 §7.2.15: `<subject/>`, no body, empty when none).
pub fn subject_message(room: &BareJid, to: Jid, subject: Option<&str>) -> Message {
    let mut m = Message::new(Some(to));
    m.from = Some(Jid::from(room.clone()));
    m.type_ = MessageType::Groupchat;
    m.subjects
        .insert(Lang::default(), subject.unwrap_or_default().to_string());
    m
}

/// The occupant URI of a nickname: the room URI with `gr` = nick (RFC 7702 §5.3, the RFC 7247
/// resource ⇄ GRUU rule).
pub fn occupant_uri(room_uri: &str, nick: &str) -> String {
    match SipAddress::parse(room_uri) {
        Ok(a) => SipAddress {
            gruu: Some(nick.to_string()),
            ..a
        }
        .to_uri(),
        Err(_) => room_uri.to_string(),
    }
}

/// Whether two SIP URIs name the same user@host (parameters and case of the host aside).
pub fn same_aor(a: &str, b: &str) -> bool {
    match (SipAddress::parse(a), SipAddress::parse(b)) {
        (Ok(x), Ok(y)) => x.user == y.user && x.host == y.host,
        _ => false,
    }
}

/// The `gr` of a URI (the nickname of an occupant URI).
pub fn gr_of(uri: &str) -> Option<String> {
    SipAddress::parse(uri).ok()?.gruu
}

/// A room message in CPIM (RFC 7702 Table 4: XMPP `from`/`to`/`<body/>` → CPIM `From`/
/// `To`/content; RFC 3862 §3–§4), with CRLF line ends. `from` and `to` are header values
/// (`<sip:…>`); `subject` becomes a CPIM `Subject`.
pub fn cpim_out(
    from: &str,
    to: &str,
    datetime: Option<&str>,
    subject: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut headers = vec![
        ("From".to_string(), from.to_string()),
        ("To".to_string(), to.to_string()),
    ];
    if let Some(d) = datetime {
        headers.push(("DateTime".into(), d.to_string()));
    }
    if let Some(s) = subject {
        headers.push(("Subject".into(), cpim_escape(s)));
    }
    Cpim {
        headers,
        content_headers: vec![("Content-Type".into(), content_type.to_string())],
        body: body.to_vec(),
    }
    .to_bytes()
}

/// RFC 3862 §3.2: header values are one line; control characters are escaped.
fn cpim_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\r' | '\n' | '\t' => ' ',
            c => c,
        })
        .collect()
}

/// What a room message carries, once its CPIM envelope is off (RFC 7702 Table 5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomMessage {
    /// CPIM `From` URI (`None` for an unwrapped message).
    pub from: Option<String>,
    /// CPIM `From` display name.
    pub from_display: Option<String>,
    /// CPIM `To` URI.
    pub to: Option<String>,
    /// CPIM `DateTime`.
    pub datetime: Option<String>,
    /// CPIM `Subject`.
    pub subject: Option<String>,
    /// The inner content's MIME type (lower case, no parameters).
    pub mime: String,
    /// The inner content.
    pub body: Vec<u8>,
}

/// A room message from MSRP: `message/cpim` (what RFC 7701 rooms send), or an unwrapped
/// type from a switch that does not wrap. The error says why it cannot be read (400).
pub fn room_message(content_type: &str, body: &[u8]) -> Result<RoomMessage, String> {
    let mime = mime_of(content_type);
    if mime != "message/cpim" {
        return Ok(RoomMessage {
            mime,
            body: body.to_vec(),
            ..Default::default()
        });
    }
    let c = Cpim::parse(body).map_err(|e| e.to_string())?;
    let addr = |name: &str| c.header(name).and_then(NameAddr::parse);
    let from = addr("From");
    Ok(RoomMessage {
        from_display: from.as_ref().and_then(|f| f.display.clone()),
        from: from.map(|f| f.uri),
        to: addr("To").map(|t| t.uri),
        datetime: c.header("DateTime").map(String::from),
        subject: c.header("Subject").map(String::from),
        mime: mime_of(&c.content_type()),
        body: c.body,
    })
}

/// The text a room message becomes in XMPP: `<body/>` (plus XHTML-IM for text/html), or a
/// chat state for isComposing; `Err(415)` for what a MUC cannot carry, `Err(400)` for bad
/// content.
pub fn room_text(msg: &RoomMessage, m: &mut Message) -> Result<(), u16> {
    match msg.mime.as_str() {
        "text/plain" | "text/html" | "" => {
            let text = std::str::from_utf8(&msg.body).map_err(|_| 415u16)?;
            if msg.mime == "text/html" {
                let (plain, html) = xhtml::html_to_xhtml_im(text);
                m.bodies.insert(Lang::default(), plain);
                m.payloads.push(html);
            } else {
                m.bodies.insert(Lang::default(), text.to_string());
            }
            Ok(())
        }
        iscomposing::CONTENT_TYPE => {
            let doc = iscomposing::IsComposing::parse(&msg.body).map_err(|_| 400u16)?;
            m.payloads
                .push(iscomposing::to_chat_state(&doc, None).into());
            Ok(())
        }
        _ => Err(415),
    }
}

/// The MSRP session's check of a complete room message (RFC 7701: CPIM-wrapped text): a
/// CPIM envelope that does not parse → 400 with why; content a MUC cannot carry → 415.
pub fn check_room_body(content_type: &str, body: &[u8]) -> Result<(), (u16, String)> {
    let m = room_message(content_type, body).map_err(|e| (400, format!("Bad CPIM: {e}")))?;
    room_text(&m, &mut Message::new(None)).map_err(|code| {
        let why = if code == 415 {
            format!("Unsupported wrapped type {}", m.mime)
        } else {
            "Bad content".to_string()
        };
        (code, why)
    })
}

/// One participant of a conference-info document we write (RFC 7702 §6.1): the occupant
/// URI as user and endpoint entity, the nickname as display text, role `participant`, the
/// real JID (as `xmpp:`) in associated-aors when the room shows it, an MSRP medium.
pub fn conference_user(room_uri: &str, nick: &str, real: Option<&str>, deleted: bool) -> User {
    let entity = occupant_uri(room_uri, nick);
    if deleted {
        return User {
            entity,
            state: State::Deleted,
            ..Default::default()
        };
    }
    User {
        entity: entity.clone(),
        state: State::Full,
        display_text: Some(nick.to_string()),
        associated_aors: real
            .map(|j| vec![format!("xmpp:{}", j.split('/').next().unwrap_or(j))])
            .unwrap_or_default(),
        roles: vec!["participant".into()],
        endpoints: vec![Endpoint {
            entity,
            state: State::Full,
            status: Some("connected".into()),
            media_type: Some("message".into()),
        }],
    }
}

/// The document for a NOTIFY (RFC 4575 §5): the room URI as entity, `full` or `partial`,
/// the version, the subject and the CUSAX `grouptextchat` link (RFC 7081 §4, RFC 7106) to
/// the XMPP room it bridges.
pub fn conference_doc(
    room_uri: &str,
    room: &BareJid,
    version: u32,
    full: bool,
    subject: Option<&str>,
    users: Vec<User>,
) -> ConferenceInfo {
    ConferenceInfo {
        entity: room_uri.to_string(),
        state: if full { State::Full } else { State::Partial },
        version: Some(version),
        subject: subject.map(String::from),
        service_uris: if full {
            vec![(format!("xmpp:{room}?join"), Some("grouptextchat".into()))]
        } else {
            vec![]
        },
        users,
    }
}

/// The nickname a conference-info user stands for (RFC 7702 Table 2/3): its display text,
/// else the `gr` of its entity, else the entity's user part — as a PRECIS nickname.
pub fn user_nick(u: &User) -> Option<String> {
    u.display_text
        .clone()
        .or_else(|| gr_of(&u.entity))
        .or_else(|| SipAddress::parse(&u.entity).ok().map(|a| a.user))
        .and_then(|n| nickname(&n))
}

/// Is this conference-info user gone (deleted, or every endpoint disconnected)?
pub fn user_gone(u: &User) -> bool {
    u.state == State::Deleted
        || (!u.endpoints.is_empty()
            && u.endpoints
                .iter()
                .all(|e| e.state == State::Deleted || e.status.as_deref() == Some("disconnected")))
}

#[cfg(test)]
mod tests;

impl crate::gateway::Core {
    /// A room session's call reports: to its side.
    pub(in crate::gateway) fn muc_call_event(
        &mut self,
        now: std::time::Instant,
        id: MucId,
        ev: crate::gateway::call::CallEvent,
    ) {
        match self.mucs.get(id).map(|m| m.side) {
            Some(table::Side::Participant) => self.participant_call_event(now, id, ev),
            Some(table::Side::Focus) => self.focus_call_event(now, id, ev),
            None => {}
        }
    }

    /// A final answer (or none: `Err`) to one of a room session's transactions: the INVITE
    /// is the call's; SUBSCRIBE, REFER and NOTIFY are the side's.
    pub(in crate::gateway) fn muc_response(
        &mut self,
        now: std::time::Instant,
        id: MucId,
        tx: crate::sip::transaction::TxId,
        resp: Result<&crate::sip::message::Response, (u16, &str)>,
    ) {
        use crate::gateway::owners::Owner;
        let Some(m) = self.mucs.get(id) else {
            self.owners.remove_tx(tx);
            return;
        };
        if m.call.invite_tx == tx {
            return match resp {
                Ok(r) => self.call_response(now, Owner::Muc(id), r),
                Err((code, reason)) => self.call_failure(now, Owner::Muc(id), code, reason, None),
            };
        }
        let (code, reason, expires) = match resp {
            Ok(r) if r.code < 200 => return,
            Ok(r) => (
                r.code,
                r.reason.as_str(),
                r.headers.get("Expires").and_then(|e| e.trim().parse().ok()),
            ),
            Err((c, why)) => (c, why, None),
        };
        self.owners.remove_tx(tx);
        match m.side {
            table::Side::Participant => {
                self.participant_response(now, id, tx, code, reason, expires)
            }
            table::Side::Focus => self.focus_response(now, id, tx, code),
        }
        self.mucs.rearm(id);
    }

    /// A request inside one of a room session's dialogs.
    pub(in crate::gateway) fn muc_in_dialog(
        &mut self,
        now: std::time::Instant,
        id: MucId,
        tx: crate::sip::transaction::TxId,
        req: &crate::sip::message::Request,
    ) {
        match self.mucs.get(id).map(|m| m.side) {
            Some(table::Side::Participant) => self.participant_in_dialog(now, id, tx, req),
            Some(table::Side::Focus) => self.focus_in_dialog(now, id, tx, req),
            None => self.ua.reply(now, tx, req, 481, &[]),
        }
        self.mucs.rearm(id);
    }

    /// Every room session whose deadline has come.
    pub(in crate::gateway) fn muc_timeout(&mut self, now: std::time::Instant) {
        use crate::gateway::owners::Owner;
        while let Some(id) = self.mucs.pop_due(now) {
            let side = self.mucs.get(id).map(|m| m.side);
            if let Some(why) = self.call_timeout(now, Owner::Muc(id)) {
                self.muc_call_event(now, id, crate::gateway::call::CallEvent::End(why));
                continue;
            }
            match side {
                Some(table::Side::Participant) => self.participant_timeout(now, id),
                Some(table::Side::Focus) => self.focus_timeout(now, id),
                None => continue,
            }
            self.drain_call(now, Owner::Muc(id));
            self.mucs.rearm(id);
        }
    }

    /// The gateway stops: every XMPP user leaves its SIP rooms (self-unavailable, 332), every
    /// SIP user leaves its XMPP room (unavailable; BYE with a Reason).
    pub(in crate::gateway) fn muc_shutdown(&mut self, now: std::time::Instant) {
        for id in self.mucs.ids() {
            match self.mucs.get(id).map(|m| m.side) {
                Some(table::Side::Participant) => {
                    self.participant_leave(now, id, Some("the gateway is shutting down".into()))
                }
                Some(table::Side::Focus) => self.focus_end(
                    now,
                    id,
                    crate::gateway::call::End::Local,
                    Some((503, "the gateway is shutting down")),
                ),
                None => {}
            }
        }
    }

    /// Room sessions held (for gauges and tests).
    pub fn muc_sessions(&self) -> usize {
        self.mucs.len()
    }
}
