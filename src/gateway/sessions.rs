//! RFC 7573 chat sessions: the state around [`super::chat`]'s translations. One [`Chat`]
//! binds an XMPP user and a SIP user to one INVITE dialog and one MSRP session.
//!
//! XMPP → SIP (§4): the first `type='chat'` message with a body opens a session — INVITE with
//! an `m=message` offer (`a=setup:actpass`), messages queued in order until the MSRP
//! connection is bound, then one SEND each with the stanza id as transaction id. Later
//! stanzas from the same full JID to the same peer (and thread, when they carry one) reuse
//! it. A peer that refuses sessions (405/415/488/501/606) gets page-mode MESSAGEs instead in
//! `chat_mode = "auto"` (remembered for an hour); otherwise every queued message comes back
//! to its sender as an error (RFC 7247 Table 3). `gone`, the idle timer or the XMPP user's
//! unavailable presence end the session with BYE (or CANCEL while the INVITE is pending).
//!
//! SIP → XMPP (§5): an INVITE with an MSRP offer is answered 200 "on the user's behalf"
//! with our path; each complete MSRP message becomes one `type='chat'` stanza (id = SEND
//! transaction id, thread = Call-ID); the user's replies (matched by thread, else by JIDs)
//! go back as SENDs; BYE → 200 and `<gone/>`. While the XMPP link is down the INVITE waits
//! (`msrp.invite_hold_secs`, then 480) so that a CANCEL gets 487.
//!
//! Sans-IO like the rest of the core: MSRP connections are opened, written and closed by
//! [`super::Output`]s and come back as [`super::Input`]s; every timer is a deadline in one
//! ordered set, so a tick costs O(log n) whatever the number of sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Message, MessageType};
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use super::chat::{self, Inbound, MsrpIn, Outbound};
use super::{Core, Output, errors, im};
use crate::body::iscomposing;
use crate::body::sdp::{self, Sdp};
use crate::config::Config;
use crate::msrp::codec::Frame;
use crate::msrp::io::{ConnId, MsrpEvent};
use crate::msrp::session::{Event as MsrpSessionEvent, FailureReport, Session, SessionConfig};
use crate::msrp::uri::{MsrpUri, new_session_id};
use crate::sip::Transport;
use crate::sip::dialog::{Dialog, InDialog};
use crate::sip::message::{Headers, NameAddr, Request, Response};
use crate::sip::transaction::{Dest, TxId};
use crate::sip::ua::Outgoing;
use crate::xmpp::stanza;

pub type ChatId = u64;

/// What we accept in MSRP (and offer in `a=accept-types`): what [`chat::msrp_to_stanza`]
/// can turn into a stanza.
pub const ACCEPT: &[&str] = &["text/plain", "text/html", iscomposing::CONTENT_TYPE];

/// A peer that refused a session is written to in page mode for this long.
const PAGE_MEMORY: Duration = Duration::from_secs(3600);
/// Receipts we can still map back to a SEND, per session.
const RECEIVED_MEMORY: usize = 64;
/// Accepted MSRP connections not yet bound to a session by their first SEND.
const MAX_UNBOUND: usize = 1024;

pub use crate::config::ChatMode as Mode;

/// Chat settings, from `[msrp]` and `im.chat_mode`.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub mode: Mode,
    /// Host and port in our MSRP paths.
    pub host: String,
    pub port: u16,
    /// Port of the `msrps` (TLS) listener, when there is one.
    pub tls_port: Option<u16>,
    pub session: SessionConfig,
    pub max_sessions: usize,
    pub idle: Duration,
    pub connect_timeout: Duration,
    pub failure_report: FailureReport,
    pub hold: Duration,
}

impl ChatConfig {
    pub fn from_config(cfg: &Config, sip_host: &str) -> Self {
        let listen: Option<SocketAddr> = cfg.msrp.listen.parse().ok();
        let host = cfg
            .msrp
            .public_host
            .clone()
            .unwrap_or_else(|| match listen.map(|l| l.ip()) {
                Some(ip) if !ip.is_unspecified() => match ip {
                    IpAddr::V6(v6) => v6.to_string(),
                    v4 => v4.to_string(),
                },
                _ => sip_host.trim_matches(|c| c == '[' || c == ']').to_string(),
            });
        ChatConfig {
            mode: cfg.im.chat_mode,
            host,
            port: listen.map(|l| l.port()).unwrap_or(2855),
            tls_port: cfg
                .msrp
                .tls_listen
                .as_deref()
                .and_then(|l| l.parse::<SocketAddr>().ok())
                .map(|a| a.port()),
            session: SessionConfig {
                chunk: cfg.msrp.chunk_bytes,
                max_size: cfg.msrp.max_message_bytes,
                transaction_timeout: Duration::from_secs(30),
                accept: ACCEPT,
            },
            max_sessions: cfg.msrp.max_sessions,
            idle: Duration::from_secs(cfg.msrp.idle_secs),
            connect_timeout: Duration::from_secs(cfg.msrp.connect_timeout_secs),
            failure_report: cfg.msrp.failure_report,
            hold: Duration::from_secs(cfg.msrp.invite_hold_secs),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Our INVITE is out, or the peer's waits for the XMPP link.
    Inviting,
    /// The INVITE succeeded; the MSRP connection is not bound yet.
    Connecting,
    Open,
    /// Ended by us while our INVITE was pending: CANCEL sent, final response awaited.
    Cancelled,
}

/// A message we sent over MSRP, for its REPORT or failure.
struct Sent {
    stanza_id: Option<Id>,
    receipt: bool,
}

/// A message we delivered to XMPP, for the user's receipt or the server's bounce.
struct Received {
    stanza_id: String,
    message_id: String,
    len: usize,
    failure_report: bool,
}

pub struct Chat {
    /// The XMPP user (full JID once known) and the SIP user as a JID.
    user: Jid,
    peer: Jid,
    /// The XMPP thread (the Call-ID unless the user's thread was not a SIP word).
    thread: String,
    call_id: String,
    phase: Phase,
    /// Our INVITE (client) or theirs (server) while it has no final response.
    invite_tx: Option<TxId>,
    /// The peer's INVITE, kept until we answer it.
    held: Option<(Request, Dest)>,
    /// Our INVITE, for building the dialog from its 2xx; `Some` exactly when we invited.
    invite_out: Option<Outgoing>,
    dialog: Option<Dialog>,
    /// Our SDP (offer or answer), for re-INVITEs.
    local_sdp: String,
    msrp: Session,
    conn: Option<ConnId>,
    we_connect: bool,
    queue: VecDeque<Message>,
    sent: HashMap<String, Sent>,
    received: VecDeque<Received>,
    composing_out: Option<bool>,
    /// While the XMPP user composes, our `active` is re-sent before its refresh runs out
    /// (RFC 3994 §4: the composer refreshes).
    refresh_at: Option<Instant>,
    state_in: Option<ChatState>,
    /// RFC 3994 §4: the peer's `active` lasts until its refresh interval runs out; then the
    /// XMPP user is told `paused`.
    composing_until: Option<Instant>,
    last_activity: Instant,
    deadline: Option<Instant>,
    armed: Option<Instant>,
    transport: Transport,
}

/// All chat sessions and their indexes.
pub struct Chats {
    pub(super) cfg: ChatConfig,
    map: HashMap<ChatId, Chat>,
    next: ChatId,
    /// (user bare JID, peer bare JID) → sessions.
    /// Ordered, so that one user's sessions are a range (unavailable presence).
    by_pair: BTreeMap<(String, String), Vec<ChatId>>,
    /// (Call-ID, our tag) → session.
    by_dialog: HashMap<(String, String), ChatId>,
    by_tx: HashMap<TxId, ChatId>,
    /// Our MSRP session id → session.
    by_session: HashMap<String, ChatId>,
    /// Sessions per MSRP connection: a peer may carry several sessions over one connection
    /// (RFC 4975 §5.4 connection reuse); frames are routed by their To-Path session id.
    by_conn: HashMap<ConnId, Vec<ChatId>>,
    unbound: HashMap<ConnId, Instant>,
    timers: BTreeSet<(Instant, ChatId)>,
    page_peers: HashMap<String, Instant>,
    rng: rand::rngs::StdRng,
    pub(super) opened: u64,
}

impl Chats {
    pub fn new(cfg: ChatConfig) -> Self {
        Chats {
            cfg,
            map: HashMap::new(),
            next: 1,
            by_pair: BTreeMap::new(),
            by_dialog: HashMap::new(),
            by_tx: HashMap::new(),
            by_session: HashMap::new(),
            by_conn: HashMap::new(),
            unbound: HashMap::new(),
            timers: BTreeSet::new(),
            page_peers: HashMap::new(),
            rng: rand::rngs::StdRng::from_os_rng(),
            opened: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().next().map(|(t, _)| *t)
    }

    /// The session an XMPP stanza from `user` to `peer` belongs to: same thread if it has
    /// one; else the same full JID; else a session started towards the bare JID (which the
    /// reply then binds to this resource).
    fn find(&self, user: &Jid, peer: &Jid, thread: Option<&str>) -> Option<ChatId> {
        let ids = self
            .by_pair
            .get(&(user.to_bare().to_string(), peer.to_bare().to_string()))?;
        let live = |id: &&ChatId| {
            self.map
                .get(id)
                .is_some_and(|c| c.phase != Phase::Cancelled)
        };
        if let Some(t) = thread {
            return ids
                .iter()
                .filter(live)
                .find(|id| self.map.get(id).is_some_and(|c| c.thread == t))
                .copied();
        }
        ids.iter()
            .filter(live)
            .rev()
            .find(|id| self.map.get(id).is_some_and(|c| &c.user == user))
            .or_else(|| {
                ids.iter().filter(live).rev().find(|id| {
                    self.map
                        .get(id)
                        .is_some_and(|c| c.user.resource().is_none())
                })
            })
            .copied()
    }

    fn insert(&mut self, chat: Chat) -> ChatId {
        let id = self.next;
        self.next += 1;
        self.opened += 1;
        self.by_pair
            .entry((
                chat.user.to_bare().to_string(),
                chat.peer.to_bare().to_string(),
            ))
            .or_default()
            .push(id);
        self.by_session
            .insert(chat.msrp.local.session_id.clone(), id);
        self.map.insert(id, chat);
        id
    }

    /// Re-files the session under its next deadline (idle, connect, hold, MSRP timers).
    fn rearm(&mut self, id: ChatId) {
        let idle = self.cfg.idle;
        let Some(c) = self.map.get_mut(&id) else {
            return;
        };
        let mut next = c.deadline;
        if c.phase == Phase::Open {
            let i = c.last_activity + idle;
            next = Some(next.map_or(i, |n| n.min(i)));
        }
        if let Some(m) = c.msrp.poll_timeout() {
            next = Some(next.map_or(m, |n| n.min(m)));
        }
        for m in [c.composing_until, c.refresh_at].into_iter().flatten() {
            next = Some(next.map_or(m, |n| n.min(m)));
        }
        if c.armed == next {
            return;
        }
        if let Some(old) = c.armed.take() {
            self.timers.remove(&(old, id));
        }
        if let Some(n) = next {
            c.armed = Some(n);
            self.timers.insert((n, id));
        }
    }

    fn remove(&mut self, id: ChatId) -> Option<Chat> {
        let c = self.map.remove(&id)?;
        let pair = (c.user.to_bare().to_string(), c.peer.to_bare().to_string());
        if let Some(v) = self.by_pair.get_mut(&pair) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.by_pair.remove(&pair);
            }
        }
        if let Some(d) = &c.dialog {
            self.by_dialog
                .remove(&(d.id.call_id.clone(), d.id.local_tag.clone()));
        }
        if let Some(tx) = c.invite_tx {
            self.by_tx.remove(&tx);
        }
        self.by_session.remove(&c.msrp.local.session_id);
        if let Some(conn) = c.conn
            && let Some(v) = self.by_conn.get_mut(&conn)
        {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        if let Some(at) = c.armed {
            self.timers.remove(&(at, id));
        }
        Some(c)
    }

    fn page_only(&mut self, now: Instant, peer: &Jid) -> bool {
        let key = peer.to_bare().to_string();
        match self.page_peers.get(&key) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.page_peers.remove(&key);
                false
            }
            None => false,
        }
    }
}

/// Why a session ends; decides what the SIP side and the queued messages get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// `gone`, idle, unavailable: BYE/CANCEL, nothing queued is left.
    Local,
    /// The peer sent BYE (already answered).
    PeerBye,
    /// The session failed (INVITE rejected, MSRP down): queued messages fall back or fail.
    Failed(u16),
}

/// RFC 4975 transaction ids: 4–32 of `A-Za-z0-9.-+%=`; other stanza ids get a random one.
fn tid_of(id: Option<&Id>) -> Option<&str> {
    id.map(|i| i.0.as_str()).filter(|s| {
        (4..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-+%=".contains(&b))
    })
}

fn is_session_refusal(code: u16) -> bool {
    matches!(code, 405 | 415 | 488 | 501 | 606)
}

/// The first URI of an MSRP path as a socket address (IP literals only: we do not resolve
/// MSRP hosts; RFC 4975 peers put addresses there in practice).
fn path_addr(path: &[String]) -> Option<SocketAddr> {
    let u = MsrpUri::parse(path.first()?)?;
    let ip: IpAddr = u.host.trim_matches(|c| c == '[' || c == ']').parse().ok()?;
    Some(SocketAddr::new(ip, u.port.unwrap_or(2855)))
}

fn in_dialog(d: &InDialog) -> Option<Outgoing> {
    Some(Outgoing {
        method: d.method.clone(),
        uri: d.uri.clone(),
        from: NameAddr::parse(&d.from)?,
        to: NameAddr::parse(&d.to)?,
        call_id: d.call_id.clone(),
        cseq: d.cseq,
        headers: vec![],
        body: None,
        target: None,
        size_limit: None,
        routes: Some(d.routes.clone()),
    })
}

/// Our Contact for a session: a GRUU (RFC 5627) whose host is stox itself, so that the
/// resource travels (RFC 7573 §4) and in-dialog requests reach us without any routing of
/// the XMPP domain.
fn contact(cfg: &crate::sip::ua::UaConfig, user_uri: &str, transport: Transport) -> String {
    {
        let port = cfg
            .ports
            .iter()
            .find(|(t, _)| *t == transport)
            .or_else(|| cfg.ports.first())
            .map(|(_, p)| *p)
            .unwrap_or(5060);
        let addr = super::address::SipAddress::parse(user_uri).ok();
        let user = addr
            .as_ref()
            .map(|a| super::address::encode_user(&a.user))
            .unwrap_or_default();
        let gr = addr
            .and_then(|a| a.gruu)
            .map(|g| format!(";gr={}", super::address::encode_param(&g)))
            .unwrap_or_default();
        let at = if user.is_empty() { "" } else { "@" };
        format!(
            "<sip:{user}{at}{}:{port};transport={}{gr}>",
            cfg.public_host,
            transport.as_str()
        )
    }
}

impl Core {
    fn new_msrp_session(&mut self, remote: Vec<String>, tls: bool) -> Session {
        let sid = new_session_id(&mut self.chats.rng);
        let port = match (tls, self.chats.cfg.tls_port) {
            (true, Some(p)) => p,
            _ => self.chats.cfg.port,
        };
        let local = MsrpUri {
            secure: tls,
            host: self.chats.cfg.host.clone(),
            port: Some(port),
            session_id: sid,
            transport: "tcp".into(),
        };
        Session::new(self.chats.cfg.session, local, remote)
    }

    /// Should this `type='chat'` stanza go through a session (else page mode)?
    pub(super) fn chat_wanted(&mut self, now: Instant, m: &Message) -> bool {
        let (Some(from), Some(to)) = (&m.from, &m.to) else {
            return false;
        };
        if m.type_ != MessageType::Chat {
            // XEP-0184's acks carry no type (its examples, and slixmpp): a receipt belongs
            // to the session of the message it acknowledges.
            let receipt = m
                .payloads
                .iter()
                .any(|p| p.is("received", xmpp_parsers::ns::RECEIPTS));
            let thread = m.thread.as_ref().map(|t| t.id.as_str());
            return receipt
                && m.type_ == MessageType::Normal
                && self.chats.find(from, to, thread).is_some();
        }
        // An existing session takes everything, whatever the mode.
        let thread = m.thread.as_ref().map(|t| t.id.as_str());
        if self.chats.find(from, to, thread).is_some() {
            return true;
        }
        match self.chats.cfg.mode {
            Mode::Page => false,
            _ => !self.chats.page_only(now, to),
        }
    }

    /// A `type='chat'` stanza from an allowed XMPP user to a SIP user.
    pub(super) fn on_chat_stanza(&mut self, now: Instant, m: Message) {
        let (Some(user), Some(peer)) = (m.from.clone(), m.to.clone()) else {
            return;
        };
        let thread = m.thread.as_ref().map(|t| t.id.clone());
        let found = self.chats.find(&user, &peer, thread.as_deref());
        let last = found
            .and_then(|id| self.chats.map.get(&id))
            .and_then(|c| c.composing_out);
        match chat::stanza_to_msrp(&m, last) {
            Outbound::Send { .. } => match found {
                Some(id) => {
                    if let Some(c) = self.chats.map.get_mut(&id) {
                        c.user = user;
                        c.last_activity = now;
                        c.queue.push_back(m);
                    }
                    self.flush(now, id);
                }
                None => self.open_session(now, m),
            },
            Outbound::Composing(doc) => {
                let Some(id) = found else { return };
                let Some(c) = self.chats.map.get_mut(&id) else {
                    return;
                };
                if c.phase != Phase::Open {
                    return;
                }
                c.composing_out = Some(doc.active);
                c.send_composing(now, &doc);
                self.drain_chat(now, id);
            }
            Outbound::Bye => {
                if let Some(id) = found {
                    self.end_chat(now, id, End::Local);
                }
            }
            Outbound::Report { id: stanza_id } => {
                let Some(id) = found else { return };
                let Some(c) = self.chats.map.get_mut(&id) else {
                    return;
                };
                if let Some(pos) = c.received.iter().position(|r| r.stanza_id == stanza_id)
                    && let Some(r) = c.received.remove(pos)
                {
                    c.msrp.report_delivered(&r.message_id, r.len);
                    self.drain_chat(now, id);
                }
            }
            Outbound::Nothing => {}
        }
    }

    /// XMPP → SIP, RFC 7573 §4: INVITE with our offer; the message waits in the queue.
    fn open_session(&mut self, now: Instant, m: Message) {
        if self.chats.len() >= self.chats.cfg.max_sessions {
            if self.chats.cfg.mode == Mode::Auto {
                return self.send_page(now, m);
            }
            self.metrics.xmpp_messages_failed += 1;
            let err = stanza::error(
                DefinedCondition::ResourceConstraint,
                "too many chat sessions; try again later",
            );
            return self.bounce(&m, err);
        }
        let page = match im::xmpp_to_sip(&m, &self.addresses, false) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                self.metrics.xmpp_messages_failed += 1;
                return self.bounce(&m, e);
            }
        };
        let (Some(user), Some(peer)) = (m.from.clone(), m.to.clone()) else {
            return;
        };
        let call_id = page
            .call_id
            .clone()
            .unwrap_or_else(|| self.ua.new_call_id());
        let thread = m
            .thread
            .as_ref()
            .map(|t| t.id.clone())
            .unwrap_or_else(|| call_id.clone());
        let transport = self
            .ua
            .config()
            .outbound_proxy
            .as_ref()
            .map(|(d, _)| d.transport)
            .unwrap_or(Transport::Udp);
        let msrp = self.new_msrp_session(Vec::new(), false);
        let offer = sdp::msrp_offer(
            &self.chats.cfg.host,
            &msrp.local.to_string(),
            ACCEPT,
            self.chats.cfg.session.max_size,
            false,
        )
        .to_body();
        let tag = self.ua.new_tag();
        let body = ("application/sdp".to_string(), offer.clone().into_bytes());
        let mut out = page.request("INVITE", tag, call_id.clone(), 1, body);
        out.headers.push((
            "Contact".to_string(),
            contact(self.ua.config(), &page.from.uri, transport),
        ));
        let mut chat = Chat::new(user, peer, thread, call_id, offer, msrp, transport, now);
        chat.invite_out = Some(out.clone());
        chat.queue.push_back(m);
        let id = self.chats.insert(chat);
        let tx = self.ua.send_request(now, out);
        if let Some(c) = self.chats.map.get_mut(&id) {
            c.invite_tx = Some(tx);
        }
        self.chats.by_tx.insert(tx, id);
        tracing::debug!(chat = id, "chat session: INVITE sent");
    }

    /// A response to a SIP request; `true` if it belonged to a chat session.
    pub(super) fn chat_response(&mut self, now: Instant, tx: TxId, resp: &Response) -> bool {
        let Some(&id) = self.chats.by_tx.get(&tx) else {
            return false;
        };
        if resp.code < 200 {
            return true;
        }
        if resp.code >= 300 {
            self.chats.by_tx.remove(&tx);
            if let Some(c) = self.chats.map.get_mut(&id) {
                c.invite_tx = None;
            }
            let contact = self.failure_contact(resp);
            self.invite_failed(now, id, resp.code, &resp.reason, contact.as_deref());
            return true;
        }
        self.invite_accepted(now, id, resp);
        true
    }

    /// No response will come for a request; `true` if it was a chat INVITE.
    pub(super) fn chat_failure(&mut self, now: Instant, tx: TxId, code: u16, reason: &str) -> bool {
        let Some(id) = self.chats.by_tx.remove(&tx) else {
            return false;
        };
        if let Some(c) = self.chats.map.get_mut(&id) {
            c.invite_tx = None;
        }
        self.invite_failed(now, id, code, reason, None);
        true
    }

    fn invite_failed(
        &mut self,
        now: Instant,
        id: ChatId,
        code: u16,
        reason: &str,
        contact: Option<&str>,
    ) {
        let Some(c) = self.chats.map.get(&id) else {
            return;
        };
        tracing::info!(chat = id, code, %reason, call_id = %c.call_id, "chat INVITE failed");
        if c.phase == Phase::Cancelled {
            self.chats.remove(id);
            return;
        }
        if is_session_refusal(code) && self.chats.cfg.mode == Mode::Auto {
            let key = c.peer.to_bare().to_string();
            if self.chats.page_peers.len() >= 10_000 {
                self.chats.page_peers.clear();
            }
            self.chats.page_peers.insert(key, now + PAGE_MEMORY);
        }
        self.fail_queue(now, id, code, reason, contact);
        self.chats.remove(id);
    }

    /// Queued messages of a failed session: page mode in `auto` (the peer refused sessions
    /// or MSRP broke), else the mapped error to each sender. Never dropped.
    fn fail_queue(
        &mut self,
        now: Instant,
        id: ChatId,
        code: u16,
        reason: &str,
        contact: Option<&str>,
    ) {
        let Some(c) = self.chats.map.get_mut(&id) else {
            return;
        };
        let queue: Vec<Message> = c.queue.drain(..).collect();
        let fallback = self.chats.cfg.mode == Mode::Auto && code != 487;
        for m in queue {
            if fallback {
                self.send_page(now, m);
            } else {
                self.metrics.xmpp_messages_failed += 1;
                let err = errors::sip_to_xmpp(code, reason, contact);
                self.bounce(&m, err);
            }
        }
    }

    fn invite_accepted(&mut self, now: Instant, id: ChatId, resp: &Response) {
        let Some(c) = self.chats.map.get_mut(&id) else {
            return;
        };
        let Some(out) = c.invite_out.clone() else {
            return;
        };
        // A retransmitted 2xx: ACK again (RFC 3261 §13.2.2.4).
        if let Some(d) = c.dialog.as_mut() {
            let seq = resp.cseq().map(|(n, _)| n).unwrap_or(1);
            let ack = d.request("ACK", Some(seq));
            if let Some(o) = in_dialog(&ack) {
                self.ua.ack(now, &o);
            }
            return;
        }
        let mut h = Headers::default();
        h.push("From", out.from.to_header());
        h.push("To", out.to.to_header());
        h.push("Call-ID", out.call_id.clone());
        h.push(
            "CSeq",
            resp.headers.get("CSeq").unwrap_or("1 INVITE").to_string(),
        );
        let req = Request {
            method: "INVITE".into(),
            uri: out.uri.clone(),
            headers: h,
            body: Vec::new(),
        };
        let Some(mut dialog) = Dialog::uac(&req, resp) else {
            tracing::info!(
                chat = id,
                "2xx to our INVITE without a usable dialog; session failed"
            );
            return self.invite_failed(now, id, 502, "Bad Gateway (unusable 2xx)", None);
        };
        let seq = resp.cseq().map(|(n, _)| n).unwrap_or(1);
        let ack = dialog.request("ACK", Some(seq));
        if let Some(o) = in_dialog(&ack) {
            self.ua.ack(now, &o);
        }
        let key = (dialog.id.call_id.clone(), dialog.id.local_tag.clone());
        self.ua.add_dialog(&key.0, &key.1);
        self.chats.by_dialog.insert(key, id);
        let cancelled = c.phase == Phase::Cancelled;
        c.dialog = Some(dialog);
        if cancelled {
            // Our CANCEL crossed the 2xx: the session exists and must be ended (§9.1).
            return self.end_chat(now, id, End::Local);
        }
        let answer = std::str::from_utf8(&resp.body)
            .ok()
            .and_then(|b| Sdp::parse(b).ok());
        let Some(media) = answer.as_ref().and_then(|s| s.msrp()).cloned() else {
            tracing::info!(chat = id, "2xx without an MSRP answer; session ended");
            return self.end_chat(now, id, End::Failed(488));
        };
        c.msrp.remote = media.path();
        c.we_connect = sdp::offerer_connects(&media);
        c.phase = Phase::Connecting;
        c.deadline = Some(now + self.chats.cfg.connect_timeout);
        if c.we_connect {
            let tls = c.msrp.local.secure;
            match path_addr(&c.msrp.remote) {
                Some(addr) => self.out.push_back(Output::MsrpConnect {
                    chat: id,
                    addr,
                    tls,
                }),
                None => return self.end_chat(now, id, End::Failed(488)),
            }
        }
        self.chats.rearm(id);
    }

    /// SIP → XMPP, RFC 7573 §5: an INVITE (outside any dialog).
    pub(super) fn on_chat_invite(&mut self, now: Instant, tx: TxId, req: &Request, from: Dest) {
        let host = self.ua.config().public_host.clone();
        let warn = |code: u16, text: &str| format!("{code} {host} \"{text}\"");
        let refuse = |core: &mut Core, code: u16, headers: &[(&str, String)]| {
            core.ua.reply(now, tx, req, code, headers);
        };
        let (peer, user) = match im::sip_endpoints(req, &self.addresses) {
            Ok(p) => p,
            Err(r) => {
                tracing::info!(code = r.code, reason = %r.reason, call_id = %req.call_id(), "INVITE refused");
                let tag = self.ua.new_tag();
                let mut resp = Response::to_request(req, r.code, &r.reason, Some(&tag));
                for (n, v) in r.headers {
                    resp.headers.push(n, v);
                }
                return self.ua.respond(now, tx, resp);
            }
        };
        let is_sdp = req
            .headers
            .get("Content-Type")
            .is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/sdp"));
        let offer = is_sdp
            .then(|| std::str::from_utf8(&req.body).ok())
            .flatten()
            .and_then(|b| Sdp::parse(b).ok());
        let Some(offer) = offer.filter(|o| o.msrp().is_some()) else {
            let w = warn(304, "Media type not available: only MSRP text chat");
            return refuse(self, 488, &[("Warning", w)]);
        };
        let tls = offer
            .msrp()
            .is_some_and(|m| m.proto.eq_ignore_ascii_case("TCP/TLS/MSRP"));
        if tls && self.chats.cfg.tls_port.is_none() {
            let w = warn(
                302,
                "Incompatible transport protocol: MSRP over TLS is not configured (msrp.tls_listen)",
            );
            return refuse(self, 488, &[("Warning", w)]);
        }
        if self.chats.len() >= self.chats.cfg.max_sessions {
            tracing::warn!(
                limit = self.chats.cfg.max_sessions,
                "msrp.max_sessions reached; INVITE refused"
            );
            return refuse(self, 503, &[("Retry-After", "30".into())]);
        }
        let msrp = self.new_msrp_session(Vec::new(), tls);
        let Some((answer, we_connect)) = sdp::msrp_answer(
            &offer,
            &self.chats.cfg.host,
            &msrp.local.to_string(),
            ACCEPT,
            self.chats.cfg.session.max_size,
            tls,
        ) else {
            let w = warn(305, "Incompatible media format: no common accept-types");
            return refuse(self, 488, &[("Warning", w)]);
        };
        let mut msrp = msrp;
        msrp.remote = offer.msrp().map(|m| m.path()).unwrap_or_default();
        if we_connect && path_addr(&msrp.remote).is_none() {
            let w = warn(
                301,
                "Incompatible network address: the MSRP path has no IP address",
            );
            return refuse(self, 488, &[("Warning", w)]);
        }
        let call_id = req.call_id().to_string();
        let mut chat = Chat::new(
            user,
            peer,
            call_id.clone(),
            call_id,
            answer.to_body(),
            msrp,
            from.transport,
            now,
        );
        chat.invite_tx = Some(tx);
        chat.held = Some((req.clone(), from));
        chat.we_connect = we_connect;
        let id = self.chats.insert(chat);
        self.chats.by_tx.insert(tx, id);
        if self.link_up {
            self.answer_invite(now, id);
        } else {
            tracing::info!(chat = id, "XMPP link down: INVITE held");
            if let Some(c) = self.chats.map.get_mut(&id) {
                c.deadline = Some(now + self.chats.cfg.hold);
            }
            self.chats.rearm(id);
        }
    }

    /// 200 with our answer; the dialog starts (RFC 3261 §12.1.1).
    fn answer_invite(&mut self, now: Instant, id: ChatId) {
        let Some(c) = self.chats.map.get_mut(&id) else {
            return;
        };
        let (Some((req, _)), Some(tx)) = (c.held.take(), c.invite_tx.take()) else {
            return;
        };
        self.chats.by_tx.remove(&tx);
        let tag = self.ua.new_tag();
        let Some(dialog) = Dialog::uas(&req, &tag) else {
            self.chats.remove(id);
            return self.ua.reply(now, tx, &req, 400, &[]);
        };
        let to_uri = req
            .headers
            .get("To")
            .and_then(NameAddr::parse)
            .map(|n| n.uri)
            .unwrap_or_default();
        let contact = contact(self.ua.config(), &to_uri, c.transport);
        let Some(c) = self.chats.map.get_mut(&id) else {
            return;
        };
        let mut resp = Response::to_request(&req, 200, "OK", Some(&tag));
        resp.headers.push("Contact", contact);
        resp.headers.push("Content-Type", "application/sdp");
        resp.body = c.local_sdp.clone().into_bytes();
        let key = (dialog.id.call_id.clone(), dialog.id.local_tag.clone());
        c.dialog = Some(dialog);
        c.phase = Phase::Connecting;
        c.deadline = Some(now + self.chats.cfg.connect_timeout);
        if c.we_connect
            && let Some(addr) = path_addr(&c.msrp.remote)
        {
            let tls = c.msrp.local.secure;
            self.out.push_back(Output::MsrpConnect {
                chat: id,
                addr,
                tls,
            });
        }
        self.ua.add_dialog(&key.0, &key.1);
        self.chats.by_dialog.insert(key, id);
        self.ua.respond(now, tx, resp);
        self.chats.rearm(id);
        tracing::debug!(chat = id, "chat session: INVITE answered");
    }

    /// A CANCEL (already answered 200 by the UA core) for an INVITE we hold: 487.
    pub(super) fn chat_cancel(&mut self, now: Instant, invite: TxId) -> bool {
        let Some(&id) = self.chats.by_tx.get(&invite) else {
            return false;
        };
        if let Some(c) = self.chats.map.get_mut(&id)
            && let Some((req, _)) = c.held.take()
        {
            self.ua.reply(now, invite, &req, 487, &[]);
        }
        self.chats.remove(id);
        true
    }

    /// An in-dialog request; `true` if it belonged to a chat session.
    pub(super) fn chat_in_dialog(&mut self, now: Instant, tx: TxId, req: &Request) -> bool {
        let Some(tag) = req.to_tag() else {
            return false;
        };
        let Some(&id) = self.chats.by_dialog.get(&(req.call_id().to_string(), tag)) else {
            return false;
        };
        let Some(c) = self.chats.map.get_mut(&id) else {
            return false;
        };
        let Some(d) = c.dialog.as_mut() else {
            return false;
        };
        if let Err(e) = d.on_request(req) {
            self.ua.reply(now, tx, req, e.code(), &[]);
            return true;
        }
        match req.method.as_str() {
            "BYE" => {
                self.ua.reply(now, tx, req, 200, &[]);
                self.end_chat(now, id, End::PeerBye);
            }
            "INVITE" => {
                // A re-INVITE (session refresh, or a changed offer we keep to): the session
                // stays as negotiated, so the answer is our SDP again (RFC 3261 §14.2).
                let contact = contact(self.ua.config(), &c.local_uri(), c.transport);
                let tag = c.dialog.as_ref().map(|d| d.id.local_tag.clone());
                let mut resp = Response::to_request(req, 200, "OK", tag.as_deref());
                resp.headers.push("Contact", contact);
                resp.headers.push("Content-Type", "application/sdp");
                resp.body = c.local_sdp.clone().into_bytes();
                self.ua.respond(now, tx, resp);
            }
            _ => return false,
        }
        true
    }

    /// An ACK for a 2xx: nothing to do but note it (the transaction layer stopped the 2xx).
    pub(super) fn chat_ack(&mut self, _now: Instant, req: &Request) {
        tracing::trace!(call_id = %req.call_id(), "ACK for a chat 2xx");
    }

    /// Our 2xx was never ACKed: unless MSRP is flowing anyway, the session never started.
    pub(super) fn chat_ack_timeout(&mut self, now: Instant, tx: TxId) {
        let Some(&id) = self.chats.by_tx.get(&tx) else {
            return;
        };
        if self
            .chats
            .map
            .get(&id)
            .is_some_and(|c| c.phase != Phase::Open)
        {
            self.end_chat(now, id, End::Failed(408));
        }
    }

    /// Ends a session: BYE (or CANCEL), connection closed, queue handled per `why`.
    fn end_chat(&mut self, now: Instant, id: ChatId, why: End) {
        let Some(c) = self.chats.map.get_mut(&id) else {
            return;
        };
        tracing::debug!(chat = id, ?why, call_id = %c.call_id, "chat session ends");
        if c.phase == Phase::Inviting && c.invite_out.is_some() {
            // Our INVITE is pending: CANCEL it; the session lingers (Cancelled) until the
            // final response, so that a crossing 2xx is ACKed and BYEd.
            if let Some(tx) = c.invite_tx {
                c.phase = Phase::Cancelled;
                let queued = !c.queue.is_empty();
                self.ua.cancel(now, tx);
                if queued {
                    match why {
                        End::Failed(code) => self.fail_queue(now, id, code, "", None),
                        _ => self.fail_queue(now, id, 480, "Temporarily Unavailable", None),
                    }
                }
                return;
            }
        }
        if c.phase == Phase::Inviting
            && c.invite_out.is_none()
            && let (Some((req, _)), Some(tx)) = (c.held.take(), c.invite_tx)
        {
            let code = match why {
                End::Failed(code) => code,
                _ => 480,
            };
            self.ua
                .reply(now, tx, &req, code, &[("Retry-After", "30".into())]);
        }
        if why != End::PeerBye
            && let Some(d) = c.dialog.as_mut()
            && d.state != crate::sip::dialog::State::Terminated
        {
            let bye = d.request("BYE", None);
            if let Some(o) = in_dialog(&bye) {
                self.ua.send_request(now, o);
            }
        }
        let conn = c.conn;
        if let Some(d) = &c.dialog {
            self.ua.remove_dialog(&d.id.call_id, &d.id.local_tag);
        }
        if why == End::PeerBye {
            let m = chat::gone(c.peer.clone(), c.user.clone(), &c.thread);
            self.emit(m);
        }
        match why {
            End::Failed(code) => self.fail_queue(now, id, code, "MSRP session failed", None),
            _ => self.fail_queue(now, id, 480, "Temporarily Unavailable", None),
        }
        self.chats.remove(id);
        // The connection goes with its last session.
        if let Some(conn) = conn
            && !self.chats.by_conn.contains_key(&conn)
        {
            self.out.push_back(Output::MsrpClose { conn });
        }
    }

    /// Sends what is queued once the session is open.
    fn flush(&mut self, now: Instant, id: ChatId) {
        let fr = self.chats.cfg.failure_report;
        let Some(c) = self.chats.map.get_mut(&id) else {
            return;
        };
        if c.phase != Phase::Open || c.conn.is_none() {
            return;
        }
        while let Some(m) = c.queue.pop_front() {
            let Outbound::Send {
                content_type,
                body,
                success_report,
            } = chat::stanza_to_msrp(&m, None)
            else {
                continue;
            };
            let mid = c.msrp.new_message_id();
            c.msrp.send(
                now,
                tid_of(m.id.as_ref()),
                &mid,
                content_type,
                &body,
                success_report,
                fr,
            );
            c.composing_out = Some(false);
            c.refresh_at = None;
            c.sent.insert(
                mid,
                Sent {
                    stanza_id: m.id.clone(),
                    receipt: success_report,
                },
            );
            if c.sent.len() > 256 {
                // Reports for very old messages are not worth unbounded memory.
                if let Some(k) = c.sent.keys().next().cloned() {
                    c.sent.remove(&k);
                }
            }
            self.metrics.xmpp_messages_out += 1;
        }
        self.drain_chat(now, id);
    }

    /// What the MSRP session produced: bytes to write, messages for XMPP, reports, failures.
    fn drain_chat(&mut self, now: Instant, id: ChatId) {
        loop {
            let Some(c) = self.chats.map.get_mut(&id) else {
                return;
            };
            let Some(ev) = c.msrp.poll_event() else { break };
            match ev {
                MsrpSessionEvent::Transmit(bytes) => {
                    if let Some(conn) = c.conn {
                        self.out.push_back(Output::Msrp { conn, bytes });
                    }
                }
                MsrpSessionEvent::Message {
                    tid,
                    message_id,
                    content_type,
                    body,
                    success_report,
                    failure_report,
                } => {
                    c.last_activity = now;
                    let inbound = chat::msrp_to_stanza(
                        c.peer.clone(),
                        c.user.clone(),
                        &c.thread,
                        MsrpIn {
                            tid: &tid,
                            content_type: &content_type,
                            body: &body,
                            success_report,
                        },
                        c.state_in.as_ref(),
                    );
                    match inbound {
                        Inbound::Stanza(m) => {
                            if let Some(s) = m
                                .payloads
                                .iter()
                                .find_map(|p| ChatState::try_from(p.clone()).ok())
                            {
                                c.composing_until = (s == ChatState::Composing)
                                    .then(|| {
                                        iscomposing::IsComposing::parse(&body)
                                            .map(|d| d.active_for_secs())
                                            .unwrap_or(iscomposing::DEFAULT_ACTIVE_SECS)
                                    })
                                    .map(|secs| now + Duration::from_secs(secs.into()));
                                c.state_in = Some(s);
                            }
                            if !m.bodies.is_empty() {
                                self.metrics.sip_messages_in += 1;
                                c.received.push_back(Received {
                                    stanza_id: tid.clone(),
                                    message_id,
                                    len: body.len(),
                                    failure_report,
                                });
                                if c.received.len() > RECEIVED_MEMORY {
                                    c.received.pop_front();
                                }
                            }
                            self.emit(*m);
                        }
                        Inbound::Refuse(code) => {
                            tracing::info!(chat = id, code, %content_type, "MSRP message not bridged");
                            if failure_report {
                                c.msrp.report(&message_id, body.len(), code, "Not bridged");
                            }
                        }
                    }
                }
                MsrpSessionEvent::Report { message_id, status } => {
                    let Some(sent) = c.sent.remove(&message_id) else {
                        continue;
                    };
                    let (peer, user, thread) = (c.peer.clone(), c.user.clone(), c.thread.clone());
                    if status == 200 {
                        if sent.receipt
                            && let Some(sid) = sent.stanza_id
                        {
                            self.emit(chat::report_to_receipt(peer, user, &thread, &sid.0));
                        }
                    } else {
                        self.chat_error(peer, user, &thread, sent.stanza_id, status, "MSRP REPORT");
                    }
                }
                MsrpSessionEvent::SendFailed {
                    message_id,
                    code,
                    reason,
                } => {
                    let Some(sent) = c.sent.remove(&message_id) else {
                        continue;
                    };
                    let (peer, user, thread) = (c.peer.clone(), c.user.clone(), c.thread.clone());
                    self.chat_error(peer, user, &thread, sent.stanza_id, code, &reason);
                }
            }
        }
        self.chats.rearm(id);
    }

    /// An MSRP failure for a message the XMPP user sent: RFC 7247 Table 3 on the MSRP status
    /// (MSRP reuses SIP's codes for the cases that matter: 403, 408, 413, 415, 481).
    fn chat_error(
        &mut self,
        peer: Jid,
        user: Jid,
        thread: &str,
        id: Option<Id>,
        code: u16,
        reason: &str,
    ) {
        self.metrics.xmpp_messages_failed += 1;
        let mut m = Message::new(Some(user));
        m.from = Some(peer);
        m.id = id;
        m.type_ = MessageType::Error;
        m.thread = Some(xmpp_parsers::message::Thread {
            parent: None,
            id: thread.to_string(),
        });
        m.payloads
            .push(errors::sip_to_xmpp(code, &format!("MSRP {reason}"), None).into());
        self.emit(m);
    }

    /// The XMPP server bounced a chat message we delivered: a failure REPORT to the SIP
    /// sender when it asked for one (RFC 4975 §7.1.2), with the RFC 7247 Table 2 status.
    pub(super) fn chat_bounce(&mut self, now: Instant, m: &Message) -> bool {
        let (Some(user), Some(peer), Some(sid)) = (&m.from, &m.to, &m.id) else {
            return false;
        };
        let Some(ids) = self
            .chats
            .by_pair
            .get(&(user.to_bare().to_string(), peer.to_bare().to_string()))
            .cloned()
        else {
            return false;
        };
        let cond = m
            .payloads
            .iter()
            .find_map(|p| StanzaError::try_from(p.clone()).ok())
            .map(|e| e.defined_condition)
            .unwrap_or(DefinedCondition::ServiceUnavailable);
        for id in ids {
            let Some(c) = self.chats.map.get_mut(&id) else {
                continue;
            };
            if let Some(pos) = c.received.iter().position(|r| r.stanza_id == sid.0)
                && let Some(r) = c.received.remove(pos)
            {
                if r.failure_report {
                    let code = errors::xmpp_to_sip(&cond, user.resource().is_some());
                    c.msrp
                        .report(&r.message_id, r.len, code, &format!("{cond:?}"));
                    self.drain_chat(now, id);
                }
                return true;
            }
        }
        false
    }

    /// The XMPP user's resource went offline: its sessions end (RFC 7573 §6.1 spirit).
    pub(super) fn chat_unavailable(&mut self, now: Instant, user: &Jid) {
        let bare = user.to_bare().to_string();
        let pairs: Vec<ChatId> = self
            .chats
            .by_pair
            .range((bare.clone(), String::new())..)
            .take_while(|((u, _), _)| *u == bare)
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        for id in pairs {
            if self.chats.map.get(&id).is_some_and(|c| &c.user == user) {
                self.end_chat(now, id, End::Local);
            }
        }
    }

    /// The link came back: held INVITEs get their answer.
    pub(super) fn chat_link_up(&mut self, now: Instant) {
        let held: Vec<ChatId> = self
            .chats
            .map
            .iter()
            .filter(|(_, c)| c.held.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in held {
            self.answer_invite(now, id);
        }
    }

    pub(super) fn chat_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.chats.timers.iter().next() {
            if at > now {
                break;
            }
            self.chats.timers.remove(&(at, id));
            let idle = self.chats.cfg.idle;
            let Some(c) = self.chats.map.get_mut(&id) else {
                continue;
            };
            c.armed = None;
            c.msrp.handle_timeout(now);
            if c.composing_until.is_some_and(|t| t <= now) {
                // The peer stopped refreshing its `active` state: it is idle (RFC 3994 §4).
                c.composing_until = None;
                c.state_in = Some(ChatState::Paused);
                let mut m = Message::new(Some(c.user.clone()));
                m.from = Some(c.peer.clone());
                m.type_ = MessageType::Chat;
                m.thread = Some(xmpp_parsers::message::Thread {
                    parent: None,
                    id: c.thread.clone(),
                });
                m.payloads.push(ChatState::Paused.into());
                self.emit(m);
            }
            let Some(c) = self.chats.map.get_mut(&id) else {
                continue;
            };
            if c.refresh_at.is_some_and(|t| t <= now) && c.phase == Phase::Open {
                c.send_composing(now, &chat::composing(true));
            }
            let due = c.deadline.is_some_and(|d| d <= now);
            if due {
                c.deadline = None;
            }
            match c.phase {
                Phase::Inviting if due && c.held.is_some() => {
                    tracing::info!(chat = id, "XMPP link still down: held INVITE gets 480");
                    self.end_chat(now, id, End::Failed(480));
                    continue;
                }
                Phase::Connecting if due => {
                    tracing::info!(chat = id, "MSRP connection never came up; session ended");
                    self.end_chat(now, id, End::Failed(408));
                    continue;
                }
                Phase::Open if c.last_activity + idle <= now => {
                    tracing::debug!(chat = id, "chat session idle; BYE");
                    self.end_chat(now, id, End::Local);
                    continue;
                }
                _ => {}
            }
            self.drain_chat(now, id);
        }
    }

    /// MSRP transport events.
    pub(super) fn on_msrp(&mut self, now: Instant, ev: MsrpEvent) {
        match ev {
            MsrpEvent::Up { conn, peer } => {
                if self.chats.by_conn.contains_key(&conn) {
                    return;
                }
                if self.chats.unbound.len() >= MAX_UNBOUND {
                    tracing::warn!(%peer, "too many unbound MSRP connections; closed");
                    self.out.push_back(Output::MsrpClose { conn });
                    return;
                }
                self.chats.unbound.insert(conn, now);
            }
            MsrpEvent::Frame { conn, frame } => self.on_msrp_frame(now, conn, frame),
            MsrpEvent::Garbage { conn, reason } => {
                tracing::info!(conn, %reason, "malformed MSRP");
            }
            MsrpEvent::Down { conn } => {
                self.chats.unbound.remove(&conn);
                for id in self.chats.by_conn.remove(&conn).unwrap_or_default() {
                    if let Some(c) = self.chats.map.get_mut(&id) {
                        c.conn = None;
                    }
                    tracing::info!(chat = id, "MSRP connection closed; session ends");
                    self.end_chat(now, id, End::Failed(503));
                }
            }
        }
    }

    /// Our outgoing MSRP connection is up (or failed).
    pub(super) fn msrp_connected(
        &mut self,
        now: Instant,
        id: ChatId,
        result: Result<ConnId, String>,
    ) {
        let conn = match result {
            Ok(conn) => conn,
            Err(e) => {
                tracing::info!(chat = id, error = %e, "MSRP connect failed");
                return self.end_chat(now, id, End::Failed(503));
            }
        };
        self.chats.unbound.remove(&conn);
        let Some(c) = self.chats.map.get_mut(&id) else {
            self.out.push_back(Output::MsrpClose { conn });
            return;
        };
        c.conn = Some(conn);
        self.chats.by_conn.entry(conn).or_default().push(id);
        let fr = self.chats.cfg.failure_report;
        if c.queue.is_empty() {
            // RFC 4975 §5.4: the active side sends at once; a bodiless SEND binds the
            // connection when there is nothing to say yet.
            let mid = c.msrp.new_message_id();
            c.msrp.send(now, None, &mid, "text/plain", b"", false, fr);
        }
        self.open(now, id);
    }

    fn open(&mut self, now: Instant, id: ChatId) {
        if let Some(c) = self.chats.map.get_mut(&id) {
            c.phase = Phase::Open;
            c.deadline = None;
            c.last_activity = now;
        }
        self.flush(now, id);
        self.drain_chat(now, id);
    }

    /// A frame goes to the session its To-Path names (RFC 4975 §7.3), if that session lives
    /// on this connection — or is waiting for the peer to connect, in which case this frame
    /// binds it (§5.4). Anything else: 481, and a connection carrying no session is closed.
    fn on_msrp_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        let sid = frame
            .header("To-Path")
            .and_then(|p| p.split_whitespace().next())
            .and_then(MsrpUri::parse)
            .map(|u| u.session_id);
        let target = sid
            .and_then(|s| self.chats.by_session.get(&s).copied())
            .and_then(|id| self.chats.map.get(&id).map(|c| (id, c)))
            .and_then(|(id, c)| match c.conn {
                Some(bound) if bound == conn => Some((id, false)),
                None if !c.we_connect && c.dialog.is_some() => Some((id, true)),
                _ => None,
            });
        match target {
            Some((id, bind)) => {
                if bind {
                    self.chats.unbound.remove(&conn);
                    self.chats.by_conn.entry(conn).or_default().push(id);
                }
                if let Some(c) = self.chats.map.get_mut(&id) {
                    c.conn = Some(conn);
                    c.msrp.on_frame(now, frame);
                }
                if bind {
                    self.open(now, id);
                } else {
                    self.drain_chat(now, id);
                }
            }
            None => {
                if frame.method().is_some_and(|m| m != "REPORT") {
                    let mut r = frame.response(481, "Session Does Not Exist");
                    if let Some(h) = r.headers.get_mut(1) {
                        h.1 = frame.header("To-Path").unwrap_or_default().to_string();
                    }
                    self.out.push_back(Output::Msrp {
                        conn,
                        bytes: r.to_bytes(),
                    });
                }
                if self.chats.unbound.remove(&conn).is_some() {
                    self.out.push_back(Output::MsrpClose { conn });
                }
            }
        }
    }

    /// The MSRP listener's port, once bound (the config may say port 0).
    pub fn set_msrp_port(&mut self, port: u16) {
        self.chats.cfg.port = port;
    }

    /// The `msrps` listener's port, once bound.
    pub fn set_msrp_tls_port(&mut self, port: Option<u16>) {
        self.chats.cfg.tls_port = port;
    }

    /// Chat sessions now open (for metrics and tests).
    pub fn chat_sessions(&self) -> usize {
        self.chats.len()
    }
}

impl Chat {
    /// A session in its first phase (an INVITE pending either way); the callers set what
    /// differs between inviting and being invited.
    #[allow(clippy::too_many_arguments)]
    fn new(
        user: Jid,
        peer: Jid,
        thread: String,
        call_id: String,
        local_sdp: String,
        msrp: Session,
        transport: Transport,
        now: Instant,
    ) -> Chat {
        Chat {
            user,
            peer,
            thread,
            call_id,
            phase: Phase::Inviting,
            invite_tx: None,
            held: None,
            invite_out: None,
            dialog: None,
            local_sdp,
            msrp,
            conn: None,
            we_connect: false,
            queue: VecDeque::new(),
            sent: HashMap::new(),
            received: VecDeque::new(),
            composing_out: None,
            refresh_at: None,
            state_in: None,
            composing_until: None,
            last_activity: now,
            deadline: None,
            armed: None,
            transport,
        }
    }

    /// Sends an isComposing document (no reports), arming the refresh of an `active` one a
    /// little before the interval it announces.
    fn send_composing(&mut self, now: Instant, doc: &iscomposing::IsComposing) {
        let mid = self.msrp.new_message_id();
        self.msrp.send(
            now,
            None,
            &mid,
            iscomposing::CONTENT_TYPE,
            doc.to_body().as_bytes(),
            false,
            FailureReport::No,
        );
        self.refresh_at = doc
            .refresh
            .filter(|_| doc.active)
            .map(|r| now + Duration::from_secs(u64::from(r).saturating_sub(10).max(1)));
    }

    /// Our SIP URI in this session (for the Contact of re-INVITE answers).
    fn local_uri(&self) -> String {
        self.dialog
            .as_ref()
            .map(|d| d.local.uri.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[path = "sessions_tests.rs"]
mod tests;
