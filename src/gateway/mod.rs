//! The sans-IO gateway core: the single owner of all interworking state.
//!
//! Contract (after str0m): feed events with [`Core::handle_input`] (each stamped with `now`),
//! then drain [`Core::poll_output`] until it returns `None`, and wake up again at
//! [`Core::poll_timeout`]. The core never reads a clock, opens a socket or spawns a task,
//! so every behaviour — including timers — is a plain unit test.

pub mod address;
pub mod errors;
pub mod im;
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

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::minidom::Element;

    fn core() -> Core {
        let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\n";
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, toml.as_bytes()).unwrap();
        Core::new(&Config::load_with_env(f.path(), Some(Default::default())).unwrap())
    }

    /// Feeds one stanza (XML in the component namespace) and returns every output as XML.
    fn run(core: &mut Core, xml: &str) -> Vec<String> {
        let el: Element = xml.parse().unwrap();
        let st = Stanza::try_from(el).unwrap();
        core.handle_input(Instant::now(), Input::Stanza(st));
        std::iter::from_fn(|| core.poll_output())
            .map(|Output::Stanza(s)| String::from(&Element::from(s)))
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
        let Output::Stanza(s) = &out[0];
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
}
