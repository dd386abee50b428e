//! The sans-IO gateway core: the single owner of all interworking state.
//!
//! Contract (after str0m): feed events with [`Core::handle_input`] (each stamped with `now`),
//! then drain [`Core::poll_output`] until it returns `None`, and wake up again at
//! [`Core::poll_timeout`]. The core never reads a clock, opens a socket or spawns a task,
//! so every behaviour — including timers — is a plain unit test.

pub mod address;
pub mod service;

use std::collections::VecDeque;
use std::time::Instant;

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_error::DefinedCondition;

use crate::config::Config;
use crate::xmpp::stanza;
use address::AddressMap;

/// A stanza that arrived but could not be parsed; enough is kept to bounce it.
#[derive(Debug, Clone)]
pub struct InvalidStanza {
    /// `message`, `presence` or `iq`.
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub id: Option<String>,
    pub type_: Option<String>,
    pub reason: String,
}

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
    /// The link refused to queue this stanza (queue full); map it to the producer's protocol.
    StanzaNotQueued(Stanza),
}

/// Everything the core asks the IO shell to do.
#[derive(Debug)]
pub enum Output {
    /// Send a stanza on the component link.
    Stanza(Stanza),
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
}

pub struct Core {
    addresses: AddressMap,
    service: service::Service,
    out: VecDeque<Output>,
    link_up: bool,
    metrics: Metrics,
}

impl Core {
    pub fn new(cfg: &Config) -> Self {
        Core {
            addresses: AddressMap::new(cfg),
            service: service::Service::new(cfg),
            out: VecDeque::new(),
            link_up: false,
            metrics: Metrics::default(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn link_up(&self) -> bool {
        self.link_up
    }

    pub fn handle_input(&mut self, _now: Instant, input: Input) {
        match input {
            Input::LinkUp => {
                self.link_up = true;
                self.metrics.link_ups += 1;
            }
            Input::LinkDown => self.link_up = false,
            Input::Stanza(s) => {
                self.metrics.stanzas_in += 1;
                match s {
                    Stanza::Iq(iq) => self.on_iq(iq),
                    Stanza::Message(m) => self.on_message(m),
                    Stanza::Presence(p) => self.on_presence(p),
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
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        let o = self.out.pop_front();
        if o.is_some() {
            self.metrics.stanzas_out += 1;
        }
        o
    }

    /// The next instant the core wants [`Core::handle_timeout`]; `None` while nothing is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    pub fn handle_timeout(&mut self, _now: Instant) {}

    fn emit(&mut self, s: impl Into<Stanza>) {
        self.out.push_back(Output::Stanza(s.into()));
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

    fn on_message(&mut self, m: Message) {
        if m.type_ == MessageType::Error {
            self.metrics.bounces += 1;
            tracing::info!(id = ?m.id, from = ?m.from.as_ref().map(|j| j.to_string()), "XMPP server bounced a message");
            return;
        }
        let err = if !self.sender_allowed(m.from.as_ref()) {
            stanza::error(
                DefinedCondition::Forbidden,
                "only users of this deployment's XMPP domains may use this gateway",
            )
        } else {
            stanza::error(
                DefinedCondition::ServiceUnavailable,
                "messages to SIP users are not supported by this gateway yet",
            )
        };
        if let Some(reply) = stanza::message_error(&m, err) {
            self.emit(reply);
        }
    }

    fn on_presence(&mut self, p: Presence) {
        match p.type_ {
            PresenceType::Error => {
                self.metrics.bounces += 1;
            }
            // Broadcast presence and probes carry no request to refuse; answering them with
            // errors would mark every SIP contact as broken in the user's roster.
            PresenceType::None | PresenceType::Unavailable | PresenceType::Probe => {
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
        match bad.kind.as_str() {
            "iq" => {
                let id = bad.id.unwrap_or_default();
                self.emit(stanza::iq_error(Some(from), to, id, err));
            }
            "presence" => {
                let mut p = Presence::new(PresenceType::Error);
                p.from = to;
                p.to = Some(from);
                p.id = bad.id;
                p.payloads.push(err.into());
                self.emit(p);
            }
            _ => {
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
