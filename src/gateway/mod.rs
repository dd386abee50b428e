//! The sans-IO gateway core: the single owner of all interworking state.
//!
//! Contract (str0m's shape, quinn's poll names): feed events with [`Core::handle_input`]
//! (each stamped with `now`), then drain [`Core::poll_output`] until it returns `None`, and
//! wake up again at [`Core::poll_timeout`]. The core never reads a clock, opens a socket,
//! spawns a task or asks the OS for randomness (it is seeded), so every behaviour —
//! including timers — is a plain unit test.
//!
//! Where things happen:
//! - who owns a SIP transaction, dialog or MSRP session → [`owners`] (the one routing table),
//!   consulted by the dispatch in this file;
//! - `<message/>` ⇄ SIP MESSAGE (RFC 7572) → [`page`] (transactions) and [`im`] (translation);
//! - 1:1 chat (RFC 7573) → [`chat`]; the INVITE + MSRP call it rides on → [`call`], MSRP
//!   connections → [`msrp_conns`];
//! - presence subscriptions both ways (RFC 8048) → [`presence`];
//! - stanzas from the XMPP server (iq, presence, errors) → [`stanzas`], [`service`];
//! - addresses → [`address`]; errors → [`errors`]; configuration → [`core_config`].

pub mod address;
pub mod bounded;
pub mod call;
pub mod chat;
pub mod core_config;
pub mod errors;
pub mod im;
pub mod metrics;
pub mod msrp_conns;
pub mod muc;
pub mod notices;
pub mod owners;
pub mod page;
pub mod presence;
pub mod service;
pub mod stanzas;
pub mod timers;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use xmpp_parsers::stanza::Stanza;

use crate::msrp::io::{ConnId, MsrpEvent};
use crate::sip::io::SipIn;
use crate::sip::message::{Method, Request, Response};
use crate::sip::transaction::{Dest, TxId};
use crate::sip::ua::{Lookup, LookupId, UaEvent, UserAgent};
pub use core_config::CoreConfig;
pub use metrics::Metrics;
pub use owners::{ChatId, Owner};
pub use stanzas::stanza_summary;

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
    SipUnreachable {
        /// Where it could not go.
        to: Dest,
        /// Why, for the log and the error text.
        reason: String,
    },
    /// The answer to an [`Output::Resolve`].
    Resolved {
        /// As in the [`Output::Resolve`].
        id: LookupId,
        /// The targets in the order to try, or why there are none.
        result: Result<Vec<Dest>, String>,
    },
    /// MSRP connections: accepted, frames, closed.
    Msrp(MsrpEvent),
    /// The outcome of an [`Output::MsrpConnect`].
    MsrpConnected {
        /// As in the [`Output::MsrpConnect`].
        owner: Owner,
        /// The new connection, or why there is none.
        result: Result<ConnId, String>,
    },
    /// What the store kept (key, JSON), fed once at start before the link is up.
    Restored(Vec<(String, String)>),
    /// The gateway stops: what is in flight is answered with errors (never silence), chat
    /// sessions end with BYE and `<gone/>`.
    Shutdown,
}

/// Everything the core asks the IO shell to do.
#[derive(Debug)]
pub enum Output {
    /// Send a stanza on the component link.
    Stanza(Stanza),
    /// Send a stanza and report with [`Input::Queued`] whether the link took it.
    TrackedStanza(u64, Stanza),
    /// Send SIP bytes.
    Sip {
        /// Where.
        to: Dest,
        /// One message.
        bytes: Arc<Vec<u8>>,
    },
    /// Look up a SIP domain (RFC 3263) and answer with [`Input::Resolved`].
    Resolve {
        /// Names the answer.
        id: LookupId,
        /// What to look up.
        lookup: Lookup,
    },
    /// Open an MSRP connection for a call; answer with [`Input::MsrpConnected`].
    MsrpConnect {
        /// The call's owner, named again in the answer.
        owner: Owner,
        /// The first hop of the peer's MSRP path.
        addr: std::net::SocketAddr,
        /// `msrps`: connect with TLS.
        tls: bool,
    },
    /// Write MSRP bytes on a connection.
    Msrp {
        /// Which connection.
        conn: ConnId,
        /// Frames.
        bytes: Vec<u8>,
    },
    /// Close an MSRP connection.
    MsrpClose {
        /// Which connection.
        conn: ConnId,
    },
    /// Save or forget a record (presence subscriptions that must survive a restart).
    Store(crate::store::StoreOp),
}

/// Live counts read by the exporter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// RFC 7573 sessions.
    pub chat_sessions: usize,
    /// XMPP users watching SIP contacts.
    pub presence_watches: usize,
    /// SIP watchers of XMPP users.
    pub presence_watchers: usize,
    /// Live SIP transactions.
    pub sip_transactions: usize,
    /// SIP retransmissions since start (a counter).
    pub sip_retransmissions: u64,
    /// Users in rooms through stox (RFC 7702, both directions).
    pub groupchat_sessions: usize,
}

/// The gateway core.
pub struct Core {
    cfg: CoreConfig,
    addresses: address::AddressMap,
    ua: UserAgent,
    out: VecDeque<Output>,
    link_up: bool,
    metrics: Metrics,
    /// Every random id the core makes comes from here (seeded: [`CoreConfig::seed`]).
    rng: rand::rngs::StdRng,
    owners: owners::Owners,
    conns: msrp_conns::MsrpConns,
    pages: page::Pages,
    chats: chat::table::Chats,
    presence: presence::Presences,
    mucs: muc::table::Mucs,
    /// Shutting down: new SIP requests are refused (503) so the proxy tries another instance.
    closing: bool,
}

impl Core {
    /// A core with nothing going on.
    pub fn new(cfg: CoreConfig) -> Self {
        let mut rng = match cfg.seed {
            Some(seed) => rand::rngs::StdRng::from_seed(seed),
            None => rand::rngs::StdRng::from_os_rng(),
        };
        let ua_rng = rand::rngs::StdRng::from_seed(rng.random());
        Core {
            addresses: cfg.addresses.clone(),
            ua: UserAgent::with_rng(cfg.ua.clone(), ua_rng),
            chats: chat::table::Chats::new(cfg.chat.clone()),
            presence: presence::Presences::new(cfg.presence.clone()),
            mucs: muc::table::Mucs::new(cfg.groupchat.clone()),
            closing: false,
            cfg,
            out: VecDeque::new(),
            link_up: false,
            metrics: Metrics::default(),
            rng,
            owners: owners::Owners::default(),
            conns: msrp_conns::MsrpConns::default(),
            pages: page::Pages::default(),
        }
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// What is live now, for gauges.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            chat_sessions: self.chats.len(),
            presence_watches: self.presence.watches.len(),
            presence_watchers: self.presence.watchers.len(),
            sip_transactions: self.ua.transactions(),
            sip_retransmissions: self.ua.retransmissions(),
            groupchat_sessions: self.mucs.len(),
        }
    }

    /// Whether the component link is up.
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// One event in; then drain [`Core::poll_output`].
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::LinkUp => {
                self.link_up = true;
                self.metrics.link_ups += 1;
                self.chat_link_up(now);
                self.muc_link_up(now);
            }
            Input::LinkDown => self.link_up = false,
            Input::Stanza(s) => self.on_stanza(now, s),
            Input::InvalidStanza(bad) => self.on_invalid(bad),
            Input::StanzaNotQueued(s) => {
                self.metrics.not_queued += 1;
                tracing::warn!(stanza = ?stanza_summary(&s), "XMPP link queue full; stanza refused");
            }
            Input::Queued(ticket, result) => self.on_queued(now, ticket, result),
            Input::Sip(m) => self.ua.on_datagram(now, &m.bytes, m.from),
            Input::SipUnreachable { to, reason } => self.ua.transport_failed(now, to, &reason),
            Input::Resolved { id, result } => self.ua.resolved(now, id, result),
            Input::Msrp(ev) => self.on_msrp(now, ev),
            Input::MsrpConnected { owner, result } => self.msrp_connected(now, owner, result),
            Input::Restored(records) => self.presence_restore(now, records),
            Input::Shutdown => {
                self.closing = true;
                self.page_shutdown();
                self.chat_shutdown(now);
                self.muc_shutdown(now);
            }
        }
        self.drain_ua(now);
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        let o = self.out.pop_front();
        if matches!(o, Some(Output::Stanza(_) | Output::TrackedStanza(..))) {
            self.metrics.stanzas_out += 1;
        }
        o
    }

    /// The next instant the core wants [`Core::handle_timeout`]; `None` while nothing is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = timers::soonest(self.ua.poll_timeout(), self.chats.poll_timeout());
        let t = timers::soonest(t, self.presence.poll_timeout());
        let t = timers::soonest(t, self.mucs.poll_timeout());
        timers::soonest(t, self.pages.poll_timeout())
    }

    /// Time passed: fire what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        self.drain_ua(now);
        self.chat_timeout(now);
        self.page_timeout(now);
        self.presence_timeout(now);
        self.muc_timeout(now);
        self.drain_ua(now);
    }

    fn emit(&mut self, s: impl Into<Stanza>) {
        self.out.push_back(Output::Stanza(s.into()));
    }

    /// What the UA core reports, routed once through the owner table.
    fn drain_ua(&mut self, now: Instant) {
        while let Some(ev) = self.ua.poll_event() {
            match ev {
                UaEvent::Send { to, bytes } => self.out.push_back(Output::Sip { to, bytes }),
                UaEvent::Request { tx, req, from } => self.on_sip_request(now, tx, req, from),
                UaEvent::Ack { req, .. } => {
                    tracing::trace!(call_id = %req.call_id(), "ACK for a 2xx");
                }
                UaEvent::Response { tx, resp } => match self.owners.tx(tx) {
                    Some(Owner::Page) => self.page_response(now, tx, &resp),
                    Some(Owner::Presence(_)) => self.presence_response(now, tx, Ok(&resp)),
                    Some(Owner::Muc(id)) => self.muc_response(now, id, tx, Ok(&resp)),
                    Some(owner) => self.call_response(now, owner, &resp),
                    None => {}
                },
                UaEvent::Failed { tx, code, reason } => match self.owners.tx(tx) {
                    Some(Owner::Page) => self.page_failure(now, tx, (code, &reason), None, None),
                    Some(Owner::Presence(_)) => {
                        self.presence_response(now, tx, Err((code, &reason)))
                    }
                    Some(Owner::Muc(id)) => self.muc_response(now, id, tx, Err((code, &reason))),
                    Some(owner) => self.call_failure(now, owner, code, &reason, None),
                    None => {}
                },
                UaEvent::AckTimeout { tx } => {
                    tracing::info!(?tx, "2xx to INVITE never acknowledged");
                    if let Some(owner) = self.owners.tx(tx) {
                        self.call_ack_timeout(now, owner);
                    }
                }
                UaEvent::Resolve { id, lookup } => {
                    self.out.push_back(Output::Resolve { id, lookup })
                }
            }
        }
    }

    /// A SIP request the UA core passed up: by method, and for in-dialog requests by the
    /// owner of the dialog (481 when nobody owns it, RFC 3261 §12.2.2).
    fn on_sip_request(&mut self, now: Instant, tx: TxId, req: Request, from: Dest) {
        let dialog = owners::DialogKey::of_request(&req).map(|k| self.owners.dialog(&k));
        if self.closing && dialog.is_none() && req.method != Method::Cancel {
            let mut r = im::Refusal::new(503, "Service Unavailable (shutting down)");
            r.headers.push(("Retry-After", "5".into()));
            return self.refuse(now, tx, &req, r);
        }
        match (&req.method, dialog) {
            (Method::Cancel, _) => {
                let owner = self
                    .ua
                    .invite_for_cancel(&req)
                    .and_then(|invite| self.owners.tx(invite));
                if let Some(owner) = owner {
                    self.call_cancelled(now, owner);
                }
            }
            (_, Some(None)) => self.ua.reply(now, tx, &req, 481, &[]),
            (_, Some(Some(Owner::Presence(id)))) => self.presence_request(now, Some(id), tx, &req),
            (_, Some(Some(Owner::Muc(id)))) => self.muc_in_dialog(now, id, tx, &req),
            (Method::Message, _) => self.on_sip_message(now, tx, req),
            (_, Some(Some(owner))) => self.call_in_dialog(now, owner, tx, &req),
            (Method::Subscribe, None) if muc::participant::event_of(&req) == "conference" => {
                self.focus_subscribe(now, None, tx, &req)
            }
            (Method::Subscribe, None) => self.presence_request(now, None, tx, &req),
            (Method::Invite, None) if self.is_room_request(&req) => {
                self.on_room_invite(now, tx, &req, from)
            }
            (Method::Invite, None) => self.on_chat_invite(now, tx, &req, from),
            _ => self.ua.reply(now, tx, &req, 481, &[]),
        }
    }

    /// A refused request answered with the refusal's status, reason and headers.
    fn refuse(&mut self, now: Instant, tx: TxId, req: &Request, r: im::Refusal) {
        tracing::info!(code = r.code, reason = %r.reason, method = %req.method, call_id = %req.call_id(), "SIP request refused");
        let tag = self.ua.new_tag();
        let mut resp = Response::to_request(req, r.code, &r.reason, Some(&tag));
        for (n, v) in r.headers {
            resp.headers.push(n, v);
        }
        self.ua.respond(now, tx, resp);
    }
}

#[cfg(test)]
pub(crate) mod harness;
#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
