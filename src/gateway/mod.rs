//! The sans-IO gateway core: the single owner of all interworking state.
//!
//! Contract (after str0m): feed events with [`Core::handle_input`] (each stamped with `now`),
//! then drain [`Core::poll_output`] until it returns `None`, and wake up again at
//! [`Core::poll_timeout`]. The core never reads a clock, opens a socket or spawns a task,
//! so every behaviour — including timers — is a plain unit test.
//!
//! Where things happen: XMPP iqs to the component → [`service`]; `<message/>` ⇄ SIP MESSAGE
//! → [`im`] (translation) and [`Core::on_message`]/[`Core::on_sip_message`] (transactions);
//! addresses → [`address`]; errors → [`errors`].

pub mod address;
pub mod chat;
pub mod errors;
pub mod im;
pub mod service;
pub mod sessions;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use crate::config::Config;
use crate::msrp::io::{ConnId, MsrpEvent};
use crate::sip::io::SipIn;
use crate::sip::message::{NameAddr, Request, Response};
use crate::sip::transaction::{Dest, TxId};
use crate::sip::ua::{UaConfig, UaEvent, UserAgent};
use crate::xmpp::stanza;
use address::AddressMap;

pub use crate::xmpp::stanza::{InvalidStanza, StanzaKind};

/// Everything that can happen to the core.
#[derive(Debug)]
pub enum Input {
    /// A stanza from the XMPP server.
    Stanza(Stanza),
    /// A stanza the XMPP server sent that did not parse.
    InvalidStanza(InvalidStanza),
    /// The component link is authenticated and flowing.
    LinkUp,
    /// The component link dropped; outputs queue until it is back.
    LinkDown,
    /// The link refused to queue this stanza (queue full).
    StanzaNotQueued(Stanza),
    /// The outcome of an [`Output::TrackedStanza`]: `Ok` once queued, `Err` (queue full) with
    /// the stanza given back.
    Queued(u64, Result<(), Box<Stanza>>),
    /// SIP bytes from a transport.
    Sip(SipIn),
    /// A transport could not reach this destination.
    SipUnreachable { to: Dest, reason: String },
    /// The answer to an [`Output::Resolve`].
    Resolved {
        /// As in the [`Output::Resolve`].
        id: crate::sip::ua::LookupId,
        result: Result<Vec<Dest>, String>,
    },
    /// MSRP connections: accepted, frames, closed.
    Msrp(MsrpEvent),
    /// The outcome of an [`Output::MsrpConnect`].
    MsrpConnected {
        chat: sessions::ChatId,
        result: Result<ConnId, String>,
    },
}

/// Everything the core asks the IO shell to do.
#[derive(Debug)]
pub enum Output {
    /// Send a stanza on the component link.
    Stanza(Stanza),
    /// Send a stanza and report with [`Input::Queued`] whether the link took it.
    TrackedStanza(u64, Stanza),
    /// Send SIP bytes.
    Sip { to: Dest, bytes: Arc<Vec<u8>> },
    /// Look up a SIP domain (RFC 3263) and answer with [`Input::Resolved`].
    Resolve {
        /// Names the answer.
        id: crate::sip::ua::LookupId,
        lookup: crate::sip::ua::Lookup,
    },
    /// Open an MSRP connection for a chat session; answer with [`Input::MsrpConnected`].
    MsrpConnect {
        chat: sessions::ChatId,
        addr: std::net::SocketAddr,
        /// `msrps`: connect with TLS.
        tls: bool,
    },
    /// Write MSRP bytes on a connection.
    Msrp { conn: ConnId, bytes: Vec<u8> },
    /// Close an MSRP connection.
    MsrpClose { conn: ConnId },
}

/// Counters an operator can read (and tests can assert on).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Metrics {
    pub stanzas_in: u64,
    pub stanzas_out: u64,
    pub invalid_stanzas: u64,
    /// Error stanzas the XMPP server bounced back to us.
    pub bounces: u64,
    /// Outputs the link could not queue.
    pub not_queued: u64,
    pub link_ups: u64,
    /// SIP MESSAGEs delivered to XMPP / refused with an error.
    pub sip_messages_in: u64,
    pub sip_messages_refused: u64,
    /// `<message/>`s handed to the SIP stack as MESSAGE / answered with an error stanza
    /// (a message refused by the SIP stack, e.g. too large, counts in both).
    pub xmpp_messages_out: u64,
    pub xmpp_messages_failed: u64,
}

/// A `<message/>` waiting for its MESSAGE's final response.
struct PendingX2s {
    /// The original sender (error goes back there) and recipient (error comes from there).
    sender: Jid,
    recipient: Jid,
    id: Option<xmpp_parsers::message::Id>,
    thread: Option<xmpp_parsers::message::Thread>,
}

pub struct Core {
    addresses: AddressMap,
    service: service::Service,
    ua: UserAgent,
    out: VecDeque<Output>,
    link_up: bool,
    metrics: Metrics,
    sip_message_size: usize,
    xhtml_to_sip: bool,
    x2s: HashMap<TxId, PendingX2s>,
    /// MESSAGE transactions waiting to learn whether their stanza was queued.
    s2x: HashMap<u64, (TxId, Request, String)>,
    /// Stanza id → Call-ID of MESSAGEs delivered to XMPP, so a later bounce can be logged
    /// against the SIP side (RFC 7572 §5 leaves the bounce unmapped: the 200 is gone).
    delivered: HashMap<String, String>,
    next_ticket: u64,
    /// CSeq per Call-ID for MESSAGEs that reuse a thread as Call-ID (RFC 3428 §4).
    cseqs: HashMap<String, u32>,
    /// RFC 7573 chat sessions.
    chats: sessions::Chats,
}

/// Entries kept in the Call-ID → CSeq map before it is reset.
const CSEQ_MEMORY: usize = 10_000;

impl Core {
    pub fn new(cfg: &Config, ua: UaConfig) -> Self {
        let mut ua = ua;
        ua.methods = vec!["MESSAGE".into(), "INVITE".into(), "BYE".into()];
        ua.accept = im::ACCEPT.split(", ").map(String::from).collect();
        let chats = sessions::Chats::new(sessions::ChatConfig::from_config(cfg, &ua.public_host));
        Core {
            chats,
            addresses: AddressMap::new(cfg),
            service: service::Service::new(cfg),
            ua: UserAgent::new(ua),
            out: VecDeque::new(),
            link_up: false,
            metrics: Metrics::default(),
            sip_message_size: cfg.limits.sip_message_size,
            xhtml_to_sip: cfg.im.xhtml_to_sip == crate::config::XhtmlToSip::Html,
            x2s: HashMap::new(),
            s2x: HashMap::new(),
            delivered: HashMap::new(),
            next_ticket: 1,
            cseqs: HashMap::new(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn link_up(&self) -> bool {
        self.link_up
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::LinkUp => {
                self.link_up = true;
                self.metrics.link_ups += 1;
                self.chat_link_up(now);
            }
            Input::LinkDown => self.link_up = false,
            Input::Stanza(s) => {
                self.metrics.stanzas_in += 1;
                match s {
                    Stanza::Iq(iq) => self.on_iq(iq),
                    Stanza::Message(m) => self.on_message(now, m),
                    Stanza::Presence(p) => self.on_presence(now, p),
                }
            }
            Input::InvalidStanza(bad) => {
                self.metrics.invalid_stanzas += 1;
                self.on_invalid(bad);
            }
            Input::StanzaNotQueued(s) => {
                self.metrics.not_queued += 1;
                tracing::warn!(stanza = ?stanza_summary(&s), "XMPP link queue full; stanza refused");
            }
            Input::Queued(ticket, result) => self.on_queued(now, ticket, result),
            Input::Sip(m) => self.ua.on_datagram(now, &m.bytes, m.from),
            Input::SipUnreachable { to, reason } => self.ua.transport_failed(now, to, &reason),
            Input::Resolved { id, result } => self.ua.resolved(now, id, result),
            Input::Msrp(ev) => self.on_msrp(now, ev),
            Input::MsrpConnected { chat, result } => self.msrp_connected(now, chat, result),
        }
        self.drain_ua(now);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        let o = self.out.pop_front();
        if matches!(o, Some(Output::Stanza(_) | Output::TrackedStanza(..))) {
            self.metrics.stanzas_out += 1;
        }
        o
    }

    /// The next instant the core wants [`Core::handle_timeout`]; `None` while nothing is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.ua.poll_timeout(), self.chats.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        self.drain_ua(now);
        self.chat_timeout(now);
        self.drain_ua(now);
    }

    fn emit(&mut self, s: impl Into<Stanza>) {
        self.out.push_back(Output::Stanza(s.into()));
    }

    fn drain_ua(&mut self, now: Instant) {
        while let Some(ev) = self.ua.poll_event() {
            match ev {
                UaEvent::Send { to, bytes } => self.out.push_back(Output::Sip { to, bytes }),
                UaEvent::Request { tx, req, from } => self.on_sip_request(now, tx, req, from),
                UaEvent::Ack { req, .. } => self.chat_ack(now, &req),
                UaEvent::Response { tx, resp } => {
                    if !self.chat_response(now, tx, &resp) {
                        self.on_sip_response(tx, &resp)
                    }
                }
                UaEvent::Failed { tx, code, reason } => {
                    if !self.chat_failure(now, tx, code, &reason) {
                        self.on_sip_failure(tx, code, &reason, None)
                    }
                }
                UaEvent::AckTimeout { tx } => {
                    tracing::info!(?tx, "2xx to INVITE never acknowledged");
                    self.chat_ack_timeout(now, tx);
                }
                UaEvent::Resolve { id, lookup } => {
                    self.out.push_back(Output::Resolve { id, lookup })
                }
            }
        }
    }

    fn on_iq(&mut self, iq: Iq) {
        if let Some(reply) = self.service.handle_iq(&self.addresses, iq) {
            self.emit(reply);
        }
    }

    /// Is this stanza's sender allowed to use the gateway (RFC 7247 §9, our anti-spoofing rule)?
    fn sender_allowed(&self, from: Option<&Jid>) -> bool {
        from.is_some_and(|f| self.addresses.is_served_xmpp_domain(f.domain().as_str()))
    }

    fn bounce(&mut self, m: &Message, err: StanzaError) {
        if let Some(reply) = stanza::message_error(m, err) {
            self.emit(reply);
        }
    }

    /// `<message/>` to a SIP user → SIP MESSAGE (RFC 7572 §4).
    fn on_message(&mut self, now: Instant, m: Message) {
        if m.type_ == MessageType::Error {
            self.metrics.bounces += 1;
            if self.chat_bounce(now, &m) {
                return;
            }
            let call_id = m.id.as_ref().and_then(|i| self.delivered.remove(&i.0));
            let condition = m
                .payloads
                .iter()
                .find_map(|p| StanzaError::try_from(p.clone()).ok())
                .map(|e| format!("{:?}", e.defined_condition));
            tracing::info!(
                id = ?m.id.as_ref().map(|i| &i.0),
                from = ?m.from.as_ref().map(|j| j.to_string()),
                call_id = ?call_id,
                condition = ?condition,
                "XMPP server bounced a message (its SIP MESSAGE was already answered 200)"
            );
            return;
        }
        if !self.sender_allowed(m.from.as_ref()) {
            self.metrics.xmpp_messages_failed += 1;
            let err = stanza::error(
                DefinedCondition::Forbidden,
                "only users of this deployment's XMPP domains may use this gateway",
            );
            return self.bounce(&m, err);
        }
        if m.to.as_ref().is_none_or(|t| t.node().is_none()) {
            let err = stanza::error(
                DefinedCondition::ServiceUnavailable,
                "the gateway itself takes no messages; write to a SIP contact",
            );
            return self.bounce(&m, err);
        }
        if self.chat_wanted(now, &m) {
            return self.on_chat_stanza(now, m);
        }
        self.send_page(now, m);
    }

    /// A `<message/>` as a SIP MESSAGE (RFC 7572 §4), for page mode and for chats whose peer
    /// does not do sessions.
    fn send_page(&mut self, now: Instant, m: Message) {
        let page = match im::xmpp_to_sip(&m, &self.addresses, self.xhtml_to_sip) {
            Ok(Some(p)) => p,
            Ok(None) => {
                tracing::debug!("message without body (chat state or receipt) not sent as MESSAGE");
                return;
            }
            Err(e) => {
                self.metrics.xmpp_messages_failed += 1;
                return self.bounce(&m, e);
            }
        };
        let call_id = page
            .call_id
            .clone()
            .unwrap_or_else(|| self.ua.new_call_id());
        if self.cseqs.len() >= CSEQ_MEMORY {
            self.cseqs.clear();
        }
        let cseq = {
            let c = self.cseqs.entry(call_id.clone()).or_insert(0);
            *c += 1;
            *c
        };
        let tag = self.ua.new_tag();
        let body = (page.content_type.into(), page.body.clone().into_bytes());
        let mut out = page.request("MESSAGE", tag, call_id, cseq, body);
        if let Some(l) = &page.language {
            out.headers.push(("Content-Language".into(), l.clone()));
        }
        // RFC 7572 §6: refuse what would exceed the limit, measured on the wire; the 513
        // comes back as policy-violation (RFC 7247 Table 3) with the sizes in the text.
        out.size_limit = Some(self.sip_message_size);
        let (Some(sender), Some(recipient)) = (m.from.clone(), m.to.clone()) else {
            return;
        };
        let tx = self.ua.send_request(now, out);
        self.metrics.xmpp_messages_out += 1;
        self.x2s.insert(
            tx,
            PendingX2s {
                sender,
                recipient,
                id: m.id.clone(),
                thread: m.thread.clone(),
            },
        );
    }

    /// A failure response's Contact as the `xmpp:` address RFC 7247 Table 3 puts into
    /// `<gone/>` / `<redirect/>` (only failures need it: not computed for every 2xx).
    fn failure_contact(&self, resp: &Response) -> Option<String> {
        resp.headers
            .values("Contact")
            .first()
            .and_then(|c| NameAddr::parse(c))
            .and_then(|na| address::SipAddress::parse(&na.uri).ok())
            .and_then(|a| self.addresses.sip_to_jid(&a).ok())
            .map(|j| format!("xmpp:{}", j.to_bare()))
    }

    fn on_sip_response(&mut self, tx: TxId, resp: &Response) {
        if resp.code < 200 {
            return;
        }
        if resp.code < 300 {
            self.x2s.remove(&tx);
            return;
        }
        let contact = self.failure_contact(resp);
        self.on_sip_failure(tx, resp.code, &resp.reason, contact.as_deref());
    }

    /// A MESSAGE failed: the sender gets the RFC 7247 Table 3 error with the original id.
    fn on_sip_failure(&mut self, tx: TxId, code: u16, reason: &str, contact: Option<&str>) {
        let Some(p) = self.x2s.remove(&tx) else {
            return;
        };
        self.metrics.xmpp_messages_failed += 1;
        let mut m = Message::new(Some(p.sender));
        m.from = Some(p.recipient);
        m.id = p.id;
        m.thread = p.thread;
        m.type_ = MessageType::Error;
        m.payloads
            .push(errors::sip_to_xmpp(code, reason, contact).into());
        self.emit(m);
    }

    /// A SIP request the UA core passed up.
    fn on_sip_request(&mut self, now: Instant, tx: TxId, req: Request, _from: Dest) {
        let in_dialog = req.to_tag().is_some();
        if in_dialog && self.chat_in_dialog(now, tx, &req) {
            return;
        }
        match req.method.as_str() {
            "MESSAGE" => {}
            "INVITE" if !in_dialog => return self.on_chat_invite(now, tx, &req, _from),
            "CANCEL" => {
                if let Some(invite) = self.ua.invite_for_cancel(&req) {
                    self.chat_cancel(now, invite);
                }
                return;
            }
            // In-dialog requests for dialogs we have are matched above; anything that
            // reaches here has no dialog.
            "BYE" | "INVITE" => return self.ua.reply(now, tx, &req, 481, &[]),
            _ => {
                let allow = "ACK, BYE, CANCEL, INVITE, MESSAGE, OPTIONS".to_string();
                return self.ua.reply(now, tx, &req, 405, &[("Allow", allow)]);
            }
        }
        let id = req
            .top_via()
            .and_then(|v| v.branch().map(String::from))
            .unwrap_or_else(|| self.ua.new_tag());
        match im::sip_to_xmpp(&req, &self.addresses, &id) {
            Ok(m) => {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                self.s2x.insert(ticket, (tx, req, id));
                self.out
                    .push_back(Output::TrackedStanza(ticket, Stanza::Message(m)));
            }
            Err(r) => {
                self.metrics.sip_messages_refused += 1;
                tracing::info!(code = r.code, reason = %r.reason, call_id = %req.call_id(), "SIP MESSAGE refused");
                let tag = self.ua.new_tag();
                let mut resp = Response::to_request(&req, r.code, &r.reason, Some(&tag));
                for (n, v) in r.headers {
                    resp.headers.push(n, v);
                }
                self.ua.respond(now, tx, resp);
            }
        }
    }

    /// RFC 7572 §5: 200 once the stanza is handed to the XMPP server; 503 + Retry-After when
    /// the link's queue is full.
    fn on_queued(&mut self, now: Instant, ticket: u64, result: Result<(), Box<Stanza>>) {
        let Some((tx, req, id)) = self.s2x.remove(&ticket) else {
            return;
        };
        match result {
            Ok(()) => {
                self.metrics.sip_messages_in += 1;
                if self.delivered.len() >= CSEQ_MEMORY {
                    self.delivered.clear();
                }
                self.delivered.insert(id, req.call_id().to_string());
                self.ua.reply(now, tx, &req, 200, &[]);
            }
            Err(_) => {
                self.metrics.not_queued += 1;
                self.metrics.sip_messages_refused += 1;
                let tag = self.ua.new_tag();
                let mut resp = Response::to_request(
                    &req,
                    503,
                    "XMPP server unreachable, queue full",
                    Some(&tag),
                );
                resp.headers.push("Retry-After", "5");
                self.ua.respond(now, tx, resp);
            }
        }
    }

    fn on_presence(&mut self, now: Instant, p: Presence) {
        match p.type_ {
            PresenceType::Error => {
                self.metrics.bounces += 1;
            }
            // Broadcast presence and probes carry no request to refuse; answering them with
            // errors would mark every SIP contact as broken in the user's roster.
            PresenceType::Unavailable => {
                if let Some(from) = p.from.clone() {
                    self.chat_unavailable(now, &from);
                }
            }
            PresenceType::None | PresenceType::Probe => {
                tracing::debug!(from = ?p.from.as_ref().map(|j| j.to_string()), "presence ignored: presence is not bridged yet");
            }
            _ => {
                let err = if !self.sender_allowed(p.from.as_ref()) {
                    stanza::error(
                        DefinedCondition::Forbidden,
                        "only users of this deployment's XMPP domains may use this gateway",
                    )
                } else {
                    stanza::error(
                        DefinedCondition::ServiceUnavailable,
                        "presence subscriptions to SIP users are not supported yet",
                    )
                };
                if let Some(reply) = stanza::presence_error(&p, err) {
                    self.emit(reply);
                }
            }
        }
    }

    /// A stanza that did not parse gets `bad-request` back (unless it was itself an error
    /// or an iq result, which must never be answered).
    fn on_invalid(&mut self, bad: InvalidStanza) {
        tracing::info!(kind = %bad.kind, from = ?bad.from, id = ?bad.id, reason = %bad.reason, "invalid stanza from the XMPP server");
        if matches!(bad.type_.as_deref(), Some("error") | Some("result")) {
            return;
        }
        let parse = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<Jid>().ok());
        let (Some(from), to) = (parse(&bad.from), parse(&bad.to)) else {
            return;
        };
        let to = to.or_else(|| self.addresses.component().parse::<Jid>().ok());
        let err = stanza::error(
            DefinedCondition::BadRequest,
            format!("malformed {}: {}", bad.kind, bad.reason),
        );
        match bad.kind {
            StanzaKind::Iq => {
                let id = bad.id.unwrap_or_default();
                self.emit(stanza::iq_error(Some(from), to, id, err));
            }
            StanzaKind::Presence => {
                let mut p = Presence::new(PresenceType::Error);
                p.from = to;
                p.to = Some(from);
                p.id = bad.id;
                p.payloads.push(err.into());
                self.emit(p);
            }
            StanzaKind::Message => {
                let mut m = Message::new(Some(from));
                m.from = to;
                m.id = bad.id.map(xmpp_parsers::message::Id);
                m.type_ = MessageType::Error;
                m.payloads.push(err.into());
                self.emit(m);
            }
        }
    }
}

/// A short, secret-free description of a stanza for logs.
pub fn stanza_summary(s: &Stanza) -> String {
    let j = |j: Option<&Jid>| j.map(|j| j.to_string()).unwrap_or_default();
    match s {
        Stanza::Iq(iq) => format!("iq id={} to={}", iq.id(), j(iq.to())),
        Stanza::Message(m) => format!(
            "message id={:?} to={}",
            m.id.as_ref().map(|i| &i.0),
            j(m.to.as_ref())
        ),
        Stanza::Presence(p) => format!("presence type={:?} to={}", p.type_, j(p.to.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::minidom::Element;

    fn core() -> Core {
        let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\n";
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, toml.as_bytes()).unwrap();
        let cfg = Config::load_with_env(f.path(), Some(Default::default())).unwrap();
        Core::new(&cfg, UaConfig::from_config(&cfg))
    }

    /// Feeds one stanza (XML in the component namespace) and returns every output as XML.
    fn run(core: &mut Core, xml: &str) -> Vec<String> {
        let el: Element = xml.parse().unwrap();
        let st = Stanza::try_from(el).unwrap();
        core.handle_input(Instant::now(), Input::Stanza(st));
        std::iter::from_fn(|| core.poll_output())
            .filter_map(|o| match o {
                Output::Stanza(s) | Output::TrackedStanza(_, s) => {
                    Some(String::from(&Element::from(s)))
                }
                _ => None,
            })
            .collect()
    }

    fn one(xml: &str) -> String {
        let out = run(&mut core(), xml);
        assert_eq!(out.len(), 1, "{out:?}");
        out.into_iter().next().unwrap()
    }

    const NS: &str = "xmlns='jabber:component:accept'";

    #[test]
    fn disco_info_of_the_domain() {
        let r = one(&format!(
            "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ));
        assert!(
            r.contains("type='result'")
                && r.contains("category='gateway'")
                && r.contains("type='simple'"),
            "{r}"
        );
        assert!(
            r.contains("jid\\20escaping") && r.contains("jabber:iq:gateway"),
            "{r}"
        );
        assert!(
            r.contains("from='sip.example.com'") && r.contains("to='juliet@example.com/b'"),
            "{r}"
        );
    }

    #[test]
    fn disco_info_of_a_contact() {
        let r = one(&format!(
            "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='romeo@sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ));
        assert!(
            r.contains("category='client'") && r.contains("type='phone'"),
            "{r}"
        );
    }

    #[test]
    fn disco_items_version_ping() {
        let r = one(&format!(
            "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
        ));
        assert!(
            r.contains("type='result'") && r.contains("disco#items"),
            "{r}"
        );
        let r = one(&format!(
            "<iq {NS} type='get' id='2' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:version'/></iq>"
        ));
        assert!(
            r.contains("<name>stox</name>") && !r.contains("<os>"),
            "{r}"
        );
        let r = one(&format!(
            "<iq {NS} type='get' id='3' from='juliet@example.com/b' to='sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        assert!(r.contains("type='result'") && r.contains("id='3'"), "{r}");
    }

    #[test]
    fn gateway_prompt_and_translation() {
        let r = one(&format!(
            "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'/></iq>"
        ));
        assert!(
            r.contains("<prompt>SIP address</prompt>") && r.contains("<desc>"),
            "{r}"
        );
        let r = one(&format!(
            "<iq {NS} type='set' id='2' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'><prompt>romeo@example.net</prompt></query></iq>"
        ));
        assert!(r.contains("<jid>romeo@sip.example.com</jid>"), "{r}");
        let r = one(&format!(
            "<iq {NS} type='set' id='3' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'/></iq>"
        ));
        assert!(r.contains("bad-request"), "{r}");
        let r = one(&format!(
            "<iq {NS} type='set' id='4' from='juliet@example.com/b' to='sip.example.com'><query xmlns='jabber:iq:gateway'><prompt>sips:romeo@example.net</prompt></query></iq>"
        ));
        assert!(r.contains("not-acceptable"), "{r}");
    }

    #[test]
    fn unknown_and_unsupported_iqs_get_errors() {
        let r = one(&format!(
            "<iq {NS} type='get' id='1' from='juliet@example.com/b' to='sip.example.com'><query xmlns='urn:unknown'/></iq>"
        ));
        assert!(
            r.contains("service-unavailable") && r.contains("type='cancel'"),
            "{r}"
        );
        let r = one(&format!(
            "<iq {NS} type='set' id='2' from='juliet@example.com/b' to='sip.example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ));
        assert!(r.contains("feature-not-implemented"), "{r}");
        let r = one(&format!(
            "<iq {NS} type='get' id='3' from='juliet@example.com/b' to='romeo@sip.example.com'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        assert!(r.contains("service-unavailable"), "{r}");
    }

    #[test]
    fn results_errors_and_broadcast_presence_are_not_answered() {
        let mut c = core();
        assert!(run(&mut c, &format!("<iq {NS} type='result' id='1' from='juliet@example.com/b' to='sip.example.com'/>")).is_empty());
        assert!(run(&mut c, &format!("<iq {NS} type='error' id='2' from='juliet@example.com/b' to='sip.example.com'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")).is_empty());
        assert!(
            run(
                &mut c,
                &format!("<presence {NS} from='juliet@example.com/b' to='romeo@sip.example.com'/>")
            )
            .is_empty()
        );
        assert!(run(&mut c, &format!("<message {NS} type='error' id='3' from='juliet@example.com/b' to='romeo@sip.example.com'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")).is_empty());
        assert_eq!(c.metrics().bounces, 1);
    }

    #[test]
    fn messages_from_foreign_domains_are_forbidden() {
        let r = one(&format!(
            "<message {NS} id='m' from='mallory@evil.example/x' to='romeo@sip.example.com'><body>hi</body></message>"
        ));
        assert!(
            r.contains("forbidden") && r.contains("type='auth'") && r.contains("id='m'"),
            "{r}"
        );
    }

    #[test]
    fn invalid_stanzas_get_bad_request() {
        let mut c = core();
        c.handle_input(
            Instant::now(),
            Input::InvalidStanza(InvalidStanza {
                kind: "iq".into(),
                from: Some("juliet@example.com/b".into()),
                to: Some("sip.example.com".into()),
                id: Some("x".into()),
                type_: Some("get".into()),
                reason: "no payload".into(),
            }),
        );
        let out: Vec<_> = std::iter::from_fn(|| c.poll_output()).collect();
        assert_eq!(out.len(), 1);
        let Output::Stanza(s) = &out[0] else { panic!() };
        let xml = String::from(&Element::from(match s {
            Stanza::Iq(i) => Stanza::Iq(i.clone()),
            _ => panic!(),
        }));
        assert!(
            xml.contains("bad-request") && xml.contains("no payload"),
            "{xml}"
        );
        // an invalid error stanza is not answered
        c.handle_input(
            Instant::now(),
            Input::InvalidStanza(InvalidStanza {
                kind: "message".into(),
                from: Some("juliet@example.com/b".into()),
                to: None,
                id: None,
                type_: Some("error".into()),
                reason: "x".into(),
            }),
        );
        assert!(c.poll_output().is_none());
    }

    fn sip_in(c: &mut Core, msg: &str) -> Vec<String> {
        let from = Dest {
            transport: crate::sip::Transport::Udp,
            addr: "127.0.0.1:5060".parse().unwrap(),
        };
        c.handle_input(
            Instant::now(),
            Input::Sip(SipIn {
                bytes: msg.replace('\n', "\r\n").into_bytes(),
                from,
            }),
        );
        std::iter::from_fn(|| c.poll_output())
            .filter_map(|o| match o {
                Output::Sip { bytes, .. } => Some(String::from_utf8_lossy(&bytes).to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn invites_without_msrp_get_488_with_a_warning() {
        let mut c = core();
        let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let inv = format!(
            "INVITE sip:juliet@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKi1\nFrom: <sip:romeo@example.net>;tag=a\nTo: <sip:juliet@example.com>\nCall-ID: i1\nCSeq: 1 INVITE\nContact: <sip:romeo@127.0.0.1>\nContent-Type: application/sdp\nContent-Length: {}\n\n{body}",
            body.len()
        );
        let out = sip_in(&mut c, &inv);
        assert!(out[0].starts_with("SIP/2.0 100 Trying\r\n"), "{out:?}");
        assert!(
            out[1].starts_with("SIP/2.0 488 Not Acceptable Here\r\n")
                && out[1].contains("Warning: 304 "),
            "{out:?}"
        );
        let bye = "BYE sip:juliet@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb1\nFrom: <sip:romeo@example.net>;tag=a\nTo: <sip:juliet@example.com>\nCall-ID: i3\nCSeq: 2 BYE\nContent-Length: 0\n\n";
        assert!(sip_in(&mut c, bye)[0].starts_with("SIP/2.0 481 "));
    }
}
