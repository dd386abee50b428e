//! RFC 3261 §17 transactions (with the RFC 6026 Accepted states), sans-IO.
//!
//! Why not rsipstack's transaction layer: it owns its sockets and tokio timers, so it cannot
//! live inside our single-owner core, its timers cannot be driven by hand in tests, and
//! because its transport parses first, a request with an unknown method never reaches the
//! transaction user (RFC 3261 §8.2.1 wants a 405 for it). This layer takes parsed messages
//! and `now`, and yields datagrams to send, messages for the transaction user, and the next
//! deadline. Timers live in one ordered map, so a tick costs O(expired · log n), never O(n).
//!
//! One deliberate extension: a server INVITE transaction that sent a 2xx retransmits it
//! (T1 doubling to T2) until the ACK arrives or 64·T1 passes — RFC 3261 §13.3.1.4 puts that
//! on the UAS core; doing it here keeps every timer in one place. The ACK still goes up to
//! the transaction user.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::message::{Headers, Message, Method, NameAddr, Request, Response, Via};
use crate::sip::Transport;

/// Where bytes go (or came from). Stream transports reuse the connection to `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    /// The transport.
    pub transport: Transport,
    /// The address.
    pub addr: SocketAddr,
}

impl Dest {
    /// TCP and TLS: no retransmissions (RFC 3261 §17.1.1.2).
    pub fn reliable(&self) -> bool {
        self.transport != Transport::Udp
    }
}

/// RFC 3261 §17.1.1.1 timer values; all configurable.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Longest non-INVITE retransmit interval (default 4 s).
    pub t2: Duration,
    /// How long the network may keep a message (default 5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
/// Names one transaction (client or server).
pub struct TxId(pub u64);

/// What the transaction layer asks of its user.
#[derive(Debug)]
pub enum TxOutput {
    /// Bytes to send.
    Send {
        /// Where.
        to: Dest,
        /// One message.
        bytes: Arc<Vec<u8>>,
    },
    /// A request for the transaction user; `tx` is `None` for an ACK to a 2xx (and stray
    /// ACKs), which belong to no transaction.
    Request {
        /// The server transaction (answer through it).
        tx: Option<TxId>,
        /// The request.
        req: Request,
        /// Where it came from.
        from: Dest,
    },
    /// A response to a client transaction (1xx and finals; 2xx retransmissions too).
    Response {
        /// The client transaction.
        tx: TxId,
        /// The response.
        resp: Response,
    },
    /// Timer B/F fired: treat as a 408 (RFC 3261 §8.1.3.1).
    Timeout {
        /// The transaction.
        tx: TxId,
    },
    /// A 2xx to an INVITE was never ACKed within 64·T1 (RFC 3261 §13.3.1.4).
    AckTimeout {
        /// The transaction.
        tx: TxId,
    },
    /// A client INVITE transaction is gone (Timer D or M): no more responses will match it.
    Ended {
        /// The transaction.
        tx: TxId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: String,
    sent_by: String,
    method: Method,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    branch: String,
    method: Method,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// A/E (client), G (server non-2xx), 2xx retransmission (server)
    Retransmit,
    /// B/F (client), H (server INVITE), L (server Accepted)
    Expire,
    /// D/K (client Completed), I/J (server), M (client Accepted)
    Linger,
}

struct Tx {
    server: Option<ServerKey>,
    client: Option<ClientKey>,
    invite: bool,
    state: State,
    dest: Dest,
    /// Client: the request. Server: the last response sent.
    bytes: Option<Arc<Vec<u8>>>,
    /// Client INVITE: the request, to build the ACK for a non-2xx.
    request: Option<Request>,
    interval: Duration,
    deadlines: [Option<Instant>; 3],
    /// Server INVITE that sent a 2xx: Call-ID and CSeq number identify its ACK.
    ack_key: Option<(String, u32)>,
}

impl Tx {
    fn deadline(&self, k: TimerKind) -> Option<Instant> {
        self.deadlines[k as usize]
    }
}

/// All transactions, their timers, and the matching rules of RFC 3261 §17.1.3/§17.2.3.
pub struct TransactionLayer {
    timers: Timers,
    next_id: u64,
    txs: HashMap<TxId, Tx>,
    servers: HashMap<ServerKey, TxId>,
    clients: HashMap<ClientKey, TxId>,
    acks: HashMap<(String, u32), TxId>,
    wheel: BTreeMap<(Instant, TxId, TimerKind), ()>,
    out: VecDeque<TxOutput>,
    retransmissions: u64,
}

fn sent_by_key(via: &Via) -> String {
    format!("{}:{}", via.host, via.port.unwrap_or(5060))
}

fn server_key(req: &Request) -> Option<ServerKey> {
    let via = req.top_via()?;
    let method = if req.method == Method::Ack {
        Method::Invite
    } else {
        req.method.clone()
    };
    let branch = match via.branch() {
        Some(b) if b.starts_with("z9hG4bK") => b.to_string(),
        // RFC 2543 peers: fall back to the dialog identifiers (§17.2.3, simplified).
        _ => {
            let from_tag = NameAddr::parse(req.headers.get("From")?)?
                .tag()
                .unwrap_or_default()
                .to_string();
            format!("2543|{}|{}|{}", req.call_id(), req.cseq()?.0, from_tag)
        }
    };
    Some(ServerKey {
        branch,
        sent_by: sent_by_key(&via),
        method,
    })
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(timers: Timers) -> Self {
        TransactionLayer {
            timers,
            next_id: 1,
            txs: HashMap::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            acks: HashMap::new(),
            wheel: BTreeMap::new(),
            out: VecDeque::new(),
            retransmissions: 0,
        }
    }

    /// Requests and responses sent again by timer (A, E, G, 2xx), since start.
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    /// The timer values.
    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// No transactions.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        self.out.pop_front()
    }

    /// When [`TransactionLayer::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wheel.keys().next().map(|(t, _, _)| *t)
    }

    fn alloc(&mut self) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        id
    }

    fn arm(&mut self, id: TxId, kind: TimerKind, at: Instant) {
        if let Some(tx) = self.txs.get_mut(&id) {
            if let Some(old) = tx.deadlines[kind as usize].take() {
                self.wheel.remove(&(old, id, kind));
            }
            tx.deadlines[kind as usize] = Some(at);
            self.wheel.insert((at, id, kind), ());
        }
    }

    fn disarm(&mut self, id: TxId, kind: TimerKind) {
        if let Some(tx) = self.txs.get_mut(&id)
            && let Some(old) = tx.deadlines[kind as usize].take()
        {
            self.wheel.remove(&(old, id, kind));
        }
    }

    fn terminate(&mut self, id: TxId) {
        if let Some(tx) = self.txs.remove(&id) {
            for (i, k) in [TimerKind::Retransmit, TimerKind::Expire, TimerKind::Linger]
                .into_iter()
                .enumerate()
            {
                if let Some(at) = tx.deadlines[i] {
                    self.wheel.remove(&(at, id, k));
                }
            }
            if let Some(k) = tx.server {
                self.servers.remove(&k);
            }
            if let Some(k) = tx.client {
                self.clients.remove(&k);
            }
            if let Some(k) = tx.ack_key {
                self.acks.remove(&k);
            }
        }
    }

    fn send(&mut self, to: Dest, bytes: Arc<Vec<u8>>) {
        self.out.push_back(TxOutput::Send { to, bytes });
    }

    /// Sends bytes outside any transaction (ACK for 2xx, stateless error responses).
    pub fn send_stateless(&mut self, to: Dest, bytes: Vec<u8>) {
        self.send(to, Arc::new(bytes));
    }

    /// A message from the transport. Requests get RFC 3581 `received`/`rport` stamped
    /// on their top Via so that responses carry them.
    pub fn on_message(&mut self, now: Instant, msg: Message, from: Dest) {
        match msg {
            Message::Request(req) => self.on_request(now, req, from),
            Message::Response(resp) => self.on_response(now, resp),
        }
    }

    fn on_request(&mut self, now: Instant, mut req: Request, from: Dest) {
        let reply_to = stamp_via(&mut req, from);
        let Some(key) = server_key(&req) else {
            // The parser guarantees Via/CSeq, so this is unreachable in practice; still, never panic.
            return;
        };
        if let Some(&id) = self.servers.get(&key) {
            self.on_retransmission(now, id, &req);
            return;
        }
        if req.method == Method::Ack {
            // ACK to a 2xx: new branch, matched by dialog; stops our 2xx retransmissions.
            if let Some((_, (num, _))) = Some(req.call_id().to_string()).zip(req.cseq())
                && let Some(&id) = self.acks.get(&(req.call_id().to_string(), num))
            {
                self.terminate(id);
            }
            self.out.push_back(TxOutput::Request {
                tx: None,
                req,
                from,
            });
            return;
        }
        let id = self.alloc();
        let invite = req.method == Method::Invite;
        self.txs.insert(
            id,
            Tx {
                server: Some(key.clone()),
                client: None,
                invite,
                state: if invite {
                    State::Proceeding
                } else {
                    State::Trying
                },
                dest: reply_to,
                bytes: None,
                request: None,
                interval: self.timers.t1,
                deadlines: [None; 3],
                ack_key: None,
            },
        );
        self.servers.insert(key, id);
        if invite {
            // §17.2.1: a 100 right away stops the client's INVITE retransmissions.
            let trying = Response::to_request(&req, 100, "Trying", None);
            let bytes = Arc::new(trying.to_bytes());
            if let Some(tx) = self.txs.get_mut(&id) {
                tx.bytes = Some(bytes.clone());
            }
            self.send(reply_to, bytes);
        }
        self.out.push_back(TxOutput::Request {
            tx: Some(id),
            req,
            from,
        });
    }

    fn on_retransmission(&mut self, now: Instant, id: TxId, req: &Request) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let dest = tx.dest;
        match (tx.invite, req.method == Method::Ack, tx.state) {
            // ACK for a non-2xx final: Completed → Confirmed, Timer I.
            (true, true, State::Completed) => {
                tx.state = State::Confirmed;
                let linger = if dest.reliable() {
                    Duration::ZERO
                } else {
                    self.timers.t4
                };
                self.disarm(id, TimerKind::Retransmit);
                self.disarm(id, TimerKind::Expire);
                self.arm(id, TimerKind::Linger, now + linger);
            }
            (_, true, _) => {}
            (_, false, State::Proceeding | State::Completed | State::Accepted) => {
                if let Some(b) = tx.bytes.clone() {
                    self.send(dest, b);
                }
            }
            _ => {}
        }
    }

    /// The transaction user answers a server transaction.
    pub fn respond(&mut self, now: Instant, id: TxId, resp: Response) {
        let t = self.timers;
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        if matches!(tx.state, State::Completed | State::Confirmed) || tx.server.is_none() {
            return;
        }
        let bytes = Arc::new(resp.to_bytes());
        tx.bytes = Some(bytes.clone());
        let dest = tx.dest;
        let invite = tx.invite;
        let code = resp.code;
        self.send(dest, bytes);
        if code < 200 {
            if let Some(tx) = self.txs.get_mut(&id) {
                tx.state = State::Proceeding;
            }
            return;
        }
        if invite && code < 300 {
            // RFC 6026 Accepted: absorb INVITE retransmissions, resend the 2xx until ACK.
            let ack_key = resp.cseq().map(|(n, _)| {
                (
                    resp.headers.get("Call-ID").unwrap_or_default().to_string(),
                    n,
                )
            });
            if let Some(tx) = self.txs.get_mut(&id) {
                tx.state = State::Accepted;
                tx.interval = t.t1;
                tx.ack_key = ack_key.clone();
            }
            if let Some(k) = ack_key {
                self.acks.insert(k, id);
            }
            if !dest.reliable() {
                self.arm(id, TimerKind::Retransmit, now + t.t1);
            }
            self.arm(id, TimerKind::Expire, now + 64 * t.t1);
            return;
        }
        if let Some(tx) = self.txs.get_mut(&id) {
            tx.state = State::Completed;
            tx.interval = t.t1;
        }
        if invite {
            if !dest.reliable() {
                self.arm(id, TimerKind::Retransmit, now + t.t1); // G
            }
            self.arm(id, TimerKind::Expire, now + 64 * t.t1); // H
        } else {
            let j = if dest.reliable() {
                Duration::ZERO
            } else {
                64 * t.t1
            };
            self.arm(id, TimerKind::Linger, now + j); // J
        }
    }

    /// Starts a client transaction. The request must carry its own top Via with a fresh
    /// `z9hG4bK` branch (the UA core builds it).
    pub fn send_request(&mut self, now: Instant, req: Request, to: Dest) -> Option<TxId> {
        let bytes = req.to_bytes();
        self.send_serialized(now, req, bytes, to)
    }

    /// [`TransactionLayer::send_request`] for a request the caller already serialized
    /// (to check its size), so it is not serialized twice.
    pub fn send_serialized(
        &mut self,
        now: Instant,
        req: Request,
        bytes: Vec<u8>,
        to: Dest,
    ) -> Option<TxId> {
        let via = req.top_via()?;
        let branch = via.branch()?.to_string();
        let method = req.method.clone();
        let key = ClientKey {
            branch,
            method: method.clone(),
        };
        let id = self.alloc();
        let invite = method == Method::Invite;
        let bytes = Arc::new(bytes);
        self.txs.insert(
            id,
            Tx {
                server: None,
                client: Some(key.clone()),
                invite,
                state: State::Trying,
                dest: to,
                bytes: Some(bytes.clone()),
                request: invite.then(|| req.clone()),
                interval: self.timers.t1,
                deadlines: [None; 3],
                ack_key: None,
            },
        );
        self.clients.insert(key, id);
        self.send(to, bytes);
        if !to.reliable() {
            self.arm(id, TimerKind::Retransmit, now + self.timers.t1); // A / E
        }
        self.arm(id, TimerKind::Expire, now + 64 * self.timers.t1); // B / F
        Some(id)
    }

    fn on_response(&mut self, now: Instant, resp: Response) {
        let t = self.timers;
        let Some(via) = resp.top_via() else { return };
        let Some(branch) = via.branch() else { return };
        let Some((_, method)) = resp.cseq() else {
            return;
        };
        let key = ClientKey {
            branch: branch.to_string(),
            method: Method::from(method),
        };
        let Some(&id) = self.clients.get(&key) else {
            tracing::debug!(
                code = resp.code,
                "response matches no transaction; dropped (RFC 3261 §18.1.2)"
            );
            return;
        };
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let (invite, state, dest) = (tx.invite, tx.state, tx.dest);
        let code = resp.code;
        match state {
            State::Trying | State::Proceeding => {
                if code < 200 {
                    tx.state = State::Proceeding;
                    if invite {
                        self.disarm(id, TimerKind::Retransmit);
                    } else if !dest.reliable() {
                        // §17.1.2.2: in Proceeding, E fires every T2.
                        tx.interval = t.t2;
                    }
                    self.out.push_back(TxOutput::Response { tx: id, resp });
                    return;
                }
                self.disarm(id, TimerKind::Retransmit);
                self.disarm(id, TimerKind::Expire);
                if invite && code < 300 {
                    if let Some(tx) = self.txs.get_mut(&id) {
                        tx.state = State::Accepted;
                    }
                    self.arm(id, TimerKind::Linger, now + 64 * t.t1); // M
                } else if invite {
                    let ack = tx_ack(self.txs.get(&id).and_then(|t| t.request.as_ref()), &resp);
                    if let Some(tx) = self.txs.get_mut(&id) {
                        tx.state = State::Completed;
                        tx.bytes = ack.clone();
                    }
                    if let Some(ack) = ack {
                        self.send(dest, ack);
                    }
                    let d = if dest.reliable() {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(32).max(64 * t.t1)
                    };
                    self.arm(id, TimerKind::Linger, now + d); // D
                } else {
                    if let Some(tx) = self.txs.get_mut(&id) {
                        tx.state = State::Completed;
                        // Nothing is resent in Completed (§17.1.2.2): free the request now
                        // rather than after Timer K — at high rates that is most of the
                        // memory the table holds.
                        tx.bytes = None;
                    }
                    let k = if dest.reliable() {
                        Duration::ZERO
                    } else {
                        t.t4
                    };
                    self.arm(id, TimerKind::Linger, now + k); // K
                }
                self.out.push_back(TxOutput::Response { tx: id, resp });
            }
            // Retransmitted non-2xx final to an INVITE: ACK again.
            State::Completed if invite && code >= 300 => {
                if let Some(b) = tx.bytes.clone() {
                    self.send(dest, b);
                }
            }
            // 2xx retransmissions go up to the TU, which ACKs each (RFC 6026 §8.4).
            State::Accepted if (200..300).contains(&code) => {
                self.out.push_back(TxOutput::Response { tx: id, resp });
            }
            _ => {}
        }
    }

    /// Time passed: retransmissions and timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((&(at, id, kind), _)) = self.wheel.iter().next() {
            if at > now {
                break;
            }
            self.wheel.remove(&(at, id, kind));
            let Some(tx) = self.txs.get_mut(&id) else {
                continue;
            };
            if tx.deadline(kind) != Some(at) {
                continue;
            }
            tx.deadlines[kind as usize] = None;
            self.fire(now, id, kind);
        }
    }

    fn fire(&mut self, now: Instant, id: TxId, kind: TimerKind) {
        let t = self.timers;
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let is_client = tx.client.is_some();
        match (kind, is_client, tx.state) {
            (TimerKind::Retransmit, true, State::Trying | State::Proceeding) => {
                // A doubles without bound (B ends it); E doubles up to T2.
                let next = if tx.invite {
                    tx.interval * 2
                } else {
                    (tx.interval * 2).min(t.t2)
                };
                let wait = if !tx.invite && tx.state == State::Proceeding {
                    t.t2
                } else {
                    next
                };
                tx.interval = next;
                let (dest, bytes) = (tx.dest, tx.bytes.clone());
                if let Some(b) = bytes {
                    self.retransmissions += 1;
                    self.send(dest, b);
                }
                self.arm(id, TimerKind::Retransmit, now + wait);
            }
            (TimerKind::Retransmit, false, State::Completed | State::Accepted) => {
                // G, or the 2xx retransmission: T1 doubling up to T2.
                tx.interval = (tx.interval * 2).min(t.t2);
                let (dest, bytes, wait) = (tx.dest, tx.bytes.clone(), tx.interval);
                if let Some(b) = bytes {
                    self.retransmissions += 1;
                    self.send(dest, b);
                }
                self.arm(id, TimerKind::Retransmit, now + wait);
            }
            (TimerKind::Expire, true, State::Trying | State::Proceeding) => {
                self.terminate(id);
                self.out.push_back(TxOutput::Timeout { tx: id });
            }
            (TimerKind::Expire, false, State::Accepted) => {
                // L without an ACK: tell the TU so it can end the dialog.
                self.terminate(id);
                self.out.push_back(TxOutput::AckTimeout { tx: id });
            }
            (TimerKind::Expire, false, State::Completed) => {
                // H: the ACK never came.
                self.terminate(id);
            }
            (TimerKind::Linger, client, _) => {
                let invite = tx.invite;
                self.terminate(id);
                if client && invite {
                    self.out.push_back(TxOutput::Ended { tx: id });
                }
            }
            _ => {}
        }
    }

    /// The transport could not reach `dest`: every client transaction still waiting on it
    /// ends now (RFC 3261 §17.1.4). A scan, but only on a failure, never per message.
    pub fn fail_destination(&mut self, dest: Dest) -> Vec<TxId> {
        let ids: Vec<TxId> = self
            .txs
            .iter()
            .filter(|(_, t)| {
                t.client.is_some()
                    && t.dest == dest
                    && matches!(t.state, State::Trying | State::Proceeding)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.terminate(*id);
        }
        ids
    }

    /// The server INVITE transaction a CANCEL refers to (RFC 3261 §9.2: same branch and
    /// sent-by), if it is still waiting for a final response.
    pub fn invite_for_cancel(&self, cancel: &Request) -> Option<TxId> {
        let mut key = server_key(cancel)?;
        key.method = Method::Invite;
        let id = *self.servers.get(&key)?;
        let tx = self.txs.get(&id)?;
        (tx.state == State::Proceeding).then_some(id)
    }

    /// RFC 3261 §9.1: the CANCEL for a client INVITE (same Request-URI, Call-ID, From, To,
    /// CSeq number, Route and top Via) and where it goes; `None` once the INVITE got a
    /// final response. The flag says whether a provisional response came (a CANCEL must
    /// not be sent before one).
    pub fn cancel_for(&self, id: TxId) -> Option<(Request, Dest, bool)> {
        let tx = self.txs.get(&id)?;
        if !matches!(tx.state, State::Trying | State::Proceeding) || tx.client.is_none() {
            return None;
        }
        let inv = tx.request.as_ref()?;
        let mut h = super::message::Headers::default();
        h.push("Via", inv.headers.values("Via").first()?.to_string());
        h.push("Max-Forwards", "70");
        for r in inv.headers.get_all("Route") {
            h.push("Route", r.to_string());
        }
        for n in ["From", "To", "Call-ID"] {
            h.push(n, inv.headers.get(n)?.to_string());
        }
        h.push("CSeq", format!("{} CANCEL", inv.cseq()?.0));
        let cancel = Request {
            method: "CANCEL".into(),
            uri: inv.uri.clone(),
            headers: h,
            body: Vec::new(),
        };
        Some((cancel, tx.dest, tx.state == State::Proceeding))
    }

    /// Is this server transaction still waiting for a final response?
    pub fn is_pending(&self, id: TxId) -> bool {
        self.txs
            .get(&id)
            .is_some_and(|t| matches!(t.state, State::Trying | State::Proceeding))
    }
}

/// §18.2.1 / RFC 3581: `received` when the source differs from sent-by, `rport` filled in
/// when asked for. Returns where responses must go (§18.2.2).
fn stamp_via(req: &mut Request, from: Dest) -> Dest {
    let Some(idx) = req.headers.0.iter().position(|(n, _)| n == "Via") else {
        return from;
    };
    let first_field = req.headers.0[idx].1.clone();
    let parts = super::message::split_list(&first_field);
    let Some(top) = parts.first().and_then(|v| Via::parse(v)) else {
        return from;
    };
    let ip = from.addr.ip().to_string();
    let mut stamped = parts.first().map(|s| s.to_string()).unwrap_or_default();
    let wants_rport = top.param("rport").is_some();
    if (top.host != ip || wants_rport) && top.param("received").is_none() {
        stamped.push_str(&format!(";received={ip}"));
    }
    if wants_rport {
        // replace the bare rport with rport=<port>
        stamped = stamped
            .split(';')
            .map(|p| {
                if p.trim().eq_ignore_ascii_case("rport") {
                    format!("rport={}", from.addr.port())
                } else {
                    p.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(";");
    }
    let rest: Vec<&str> = parts.iter().skip(1).copied().collect();
    let mut value = stamped;
    for r in rest {
        value.push_str(", ");
        value.push_str(r);
    }
    req.headers.0[idx].1 = value;
    if from.reliable() || wants_rport {
        return from;
    }
    let port = top.port.unwrap_or(5060);
    Dest {
        transport: from.transport,
        addr: SocketAddr::new(from.addr.ip(), port),
    }
}

/// §17.1.1.3: the ACK for a non-2xx final response, in the INVITE's transaction.
fn tx_ack(invite: Option<&Request>, resp: &Response) -> Option<Arc<Vec<u8>>> {
    let inv = invite?;
    let mut h = Headers::default();
    h.push("Via", *inv.headers.values("Via").first()?);
    for r in inv.headers.get_all("Route") {
        h.push("Route", r);
    }
    h.push("Max-Forwards", "70");
    h.push("From", inv.headers.get("From")?);
    h.push("To", resp.headers.get("To")?);
    h.push("Call-ID", inv.call_id());
    h.push("CSeq", format!("{} ACK", inv.cseq()?.0));
    let ack = Request {
        method: "ACK".into(),
        uri: inv.uri.clone(),
        headers: h,
        body: Vec::new(),
    };
    Some(Arc::new(ack.to_bytes()))
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
