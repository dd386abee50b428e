//! Stanzas from the XMPP server, before any protocol mapping: who may use the gateway
//! (RFC 7247 §9: only users of the served XMPP domains), iqs to [`super::service`], messages
//! to chat sessions or page mode, presence, bounces, and `bad-request` for what did not parse.

use std::time::Instant;

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use super::Core;
use crate::xmpp::stanza::{self, InvalidStanza, StanzaKind};

impl Core {
    /// One stanza from the XMPP server.
    pub(super) fn on_stanza(&mut self, now: Instant, s: Stanza) {
        self.metrics.stanzas_in += 1;
        match s {
            Stanza::Iq(iq) => self.on_iq(iq),
            Stanza::Message(m) => self.on_message(now, m),
            Stanza::Presence(p) => self.on_presence(now, p),
        }
    }

    fn on_iq(&mut self, iq: Iq) {
        if let Some(reply) = self.room_disco(&iq) {
            return self.emit(reply);
        }
        if let Some(reply) = self.cfg.service.handle_iq(&self.addresses, iq) {
            self.emit(reply);
        }
    }

    /// Is this stanza's sender allowed to use the gateway (RFC 7247 §9, our anti-spoofing rule)?
    fn sender_allowed(&self, from: Option<&Jid>) -> bool {
        from.is_some_and(|f| self.addresses.is_served_xmpp_domain(f.domain().as_str()))
    }

    /// `<message/>` to a SIP user → SIP MESSAGE (RFC 7572 §4).
    fn on_message(&mut self, now: Instant, m: Message) {
        if self.focus_stanza_message(now, &m) {
            return;
        }
        if m.type_ == MessageType::Error {
            self.metrics.bounces += 1;
            if !self.chat_bounce(now, &m) {
                self.page_bounce(now, &m);
            }
            return;
        }
        if !self.sender_allowed(m.from.as_ref()) {
            self.metrics.xmpp_messages_failed += 1;
            self.metrics
                .errored(super::metrics::X2S, "page", "forbidden");
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
        if self.participant_stanza(now, &m) {
            return;
        }
        if self.chat_wanted(now, &m) {
            return self.on_chat_stanza(now, m);
        }
        self.send_page(now, m);
    }

    pub(super) fn bounce(&mut self, m: &Message, err: StanzaError) {
        if let Some(reply) = stanza::message_error(m, err) {
            self.emit(reply);
        }
    }

    /// Presence: errors are counted; an `unavailable` also ends the sender's chat sessions;
    /// everything else is presence interworking (RFC 8048) when `presence.enabled`.
    fn on_presence(&mut self, now: Instant, p: Presence) {
        if self.focus_stanza_presence(now, &p) {
            return;
        }
        if p.type_ == PresenceType::Error {
            self.metrics.bounces += 1;
            return;
        }
        if p.type_ == PresenceType::Unavailable
            && let Some(from) = p.from.clone()
        {
            self.chat_unavailable(now, &from);
        }
        let broadcast = matches!(
            p.type_,
            PresenceType::None | PresenceType::Unavailable | PresenceType::Probe
        );
        if !self.sender_allowed(p.from.as_ref()) {
            // Broadcast presence and probes carry no request to refuse.
            if !broadcast {
                let err = stanza::error(
                    DefinedCondition::Forbidden,
                    "only users of this deployment's XMPP domains may use this gateway",
                );
                if let Some(reply) = stanza::presence_error(&p, err) {
                    self.emit(reply);
                }
            }
            return;
        }
        if self.participant_presence(now, &p) {
            return;
        }
        if self.cfg.presence.enabled {
            return self.on_presence_bridged(now, &p);
        }
        if !broadcast {
            let err = stanza::error(
                DefinedCondition::ServiceUnavailable,
                "presence is turned off on this gateway (presence.enabled)",
            );
            if let Some(reply) = stanza::presence_error(&p, err) {
                self.emit(reply);
            }
        }
    }

    /// A stanza that did not parse gets `bad-request` back (unless it was itself an error
    /// or an iq result, which must never be answered).
    pub(super) fn on_invalid(&mut self, bad: InvalidStanza) {
        self.metrics.invalid_stanzas += 1;
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
                let Some(to) = to else { return };
                let id = bad.id.map(xmpp_parsers::message::Id);
                self.emit(stanza::error_message(to, from, id, None, err));
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
