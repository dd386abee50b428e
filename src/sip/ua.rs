//! The SIP user-agent core (RFC 3261 §8), sans-IO: everything between the transport and
//! the interworking logic that every request gets regardless of what it is for.
//!
//! UAS side, in order (§8.2): trusted source (else 403 or drop), parse (malformed → 400 with
//! the reason as phrase), transaction matching, method (405 + Allow, also for methods the
//! parser has never heard of), Max-Forwards 0 (483), `Require` (420 + Unsupported),
//! OPTIONS (200 + Allow/Accept/Supported), CANCEL (200, then 487 to the INVITE). What
//! survives goes to the transaction user, which owns the dialogs (481 for unknown ones).
//!
//! UAC side: Via with a fresh branch and `rport`, Max-Forwards 70, the outbound proxy as a
//! preloaded loose Route, digest credentials for a 401/407 (retried once, never looped), and
//! a failure event with a SIP status when no response ever comes.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rand::{Rng, SeedableRng};

use super::auth::{self, Challenge};
use super::message::{self, Headers, Message, Method, NameAddr, Request, Response, reason_phrase};
use super::transaction::{Dest, Timers, TransactionLayer, TxId, TxOutput};
use super::uri::{Scheme, SipUri};
use crate::sip::Transport;

/// Settings of the UA core, derived from the config.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Networks allowed to send us SIP.
    pub trusted: Vec<IpNet>,
    /// Drop (instead of 403) what comes from elsewhere.
    pub drop_untrusted: bool,
    /// Host for Via sent-by and Contact.
    pub public_host: String,
    /// Listening port per transport, for Via sent-by.
    pub ports: Vec<(Transport, u16)>,
    /// Outbound proxy: where requests go, and the Route that says so.
    pub outbound_proxy: Option<(Dest, String)>,
    /// Digest credentials per realm.
    pub credentials: Vec<Credential>,
    /// T1/T2/T4.
    pub timers: Timers,
    /// Largest message we accept (and send over UDP when the caller sets no limit).
    pub max_message: usize,
    /// Requests larger than this go over TCP when we listen on TCP (RFC 3261 §18.1.1:
    /// 1300 bytes when the path MTU is unknown); callers with a limit (page mode,
    /// RFC 7572 §6) are held to it over UDP.
    pub udp_max: usize,
    /// Methods the transaction user handles (plus OPTIONS, ACK, CANCEL handled here).
    pub methods: Vec<Method>,
    /// Option tags we support in `Require`.
    pub supported: Vec<String>,
    /// `Accept` advertised in OPTIONS answers and 415s.
    pub accept: Vec<String>,
    /// `User-Agent`/`Server` value.
    pub user_agent: String,
}

impl UaConfig {
    /// Our listening port for a transport (else the first one), for Via and Contact.
    pub fn port_for(&self, transport: Transport) -> u16 {
        self.ports
            .iter()
            .find(|(t, _)| *t == transport)
            .or_else(|| self.ports.first())
            .map(|(_, p)| *p)
            .unwrap_or(5060)
    }

    /// The transport of requests outside a dialog: the outbound proxy's, else UDP (for the
    /// Contact we put into them).
    pub fn request_transport(&self) -> Transport {
        self.outbound_proxy
            .as_ref()
            .map(|(d, _)| d.transport)
            .unwrap_or(Transport::Udp)
    }

    /// Our Contact for a dialog: a GRUU (RFC 5627) whose host is stox itself, so that the
    /// resource travels (RFC 7573 §4: the user part and `gr` of `user_uri`) and in-dialog
    /// requests reach us without any routing of the XMPP domain.
    pub fn contact(&self, user_uri: &str, transport: Transport) -> String {
        let port = self.port_for(transport);
        let uri = SipUri::parse(user_uri).ok();
        let user = uri
            .as_ref()
            .and_then(|u| u.user.as_deref())
            .unwrap_or_default();
        let gr = uri
            .as_ref()
            .and_then(|u| u.param("gr").flatten())
            .map(|g| format!(";gr={g}"))
            .unwrap_or_default();
        let at = if user.is_empty() { "" } else { "@" };
        format!(
            "<sip:{user}{at}{}:{port};transport={}{gr}>",
            self.public_host,
            transport.as_str()
        )
    }
}

/// Digest credentials for one realm (RFC 7616).
#[derive(Debug, Clone)]
pub struct Credential {
    /// The realm a challenge names.
    pub realm: String,
    /// The user name to answer with.
    pub username: String,
    /// The password (never logged).
    pub password: String,
}

/// The transport a proxy URI asks for: its `transport=` parameter (tcp, tls), else TLS for
/// `sips:`, else UDP (RFC 3263 §4.1 without NAPTR).
pub fn proxy_transport(uri: &SipUri) -> Transport {
    match uri.transport() {
        Some(Transport::Tcp) => Transport::Tcp,
        Some(Transport::Tls) => Transport::Tls,
        _ if uri.scheme == Scheme::Sips => Transport::Tls,
        _ => Transport::Udp,
    }
}

/// The default port of a transport (RFC 3261 §19.1.2).
pub fn default_port(transport: Transport) -> u16 {
    if transport == Transport::Tls {
        5061
    } else {
        5060
    }
}

/// `sip:127.0.0.1:5060;transport=tcp` → where to send and the `<…;lr>` Route value.
/// Only IP literals: a host name here is resolved by the IO layer before the core starts.
pub fn proxy_dest(uri: &str) -> Option<(Dest, String)> {
    let parsed = SipUri::parse(uri).ok()?;
    if !matches!(parsed.scheme, Scheme::Sip | Scheme::Sips) {
        return None;
    }
    let transport = proxy_transport(&parsed);
    let ip = parsed.ip()?;
    let port = parsed.port.unwrap_or(default_port(transport));
    // The Route keeps the URI as configured, parameters replaced by the transport and `lr`.
    let bare = uri.split(';').next().unwrap_or(uri);
    let route = if transport == Transport::Udp {
        format!("<{bare};lr>")
    } else {
        format!("<{bare};transport={};lr>", transport.as_str())
    };
    Some((
        Dest {
            transport,
            addr: SocketAddr::new(ip, port),
        },
        route,
    ))
}

/// What the UA core reports to the transaction user.
#[derive(Debug)]
pub enum UaEvent {
    /// Bytes to send.
    Send {
        /// Where.
        to: Dest,
        /// One message.
        bytes: Arc<Vec<u8>>,
    },
    /// A request the core did not answer itself; answer it with [`UserAgent::respond`].
    Request {
        /// The server transaction to answer with [`UserAgent::respond`].
        tx: TxId,
        /// The request.
        req: Request,
        /// Where it came from.
        from: Dest,
    },
    /// An ACK to a 2xx (dialog business).
    Ack {
        /// The ACK.
        req: Request,
        /// Where it came from.
        from: Dest,
    },
    /// A response to a request sent with [`UserAgent::send_request`].
    Response {
        /// The id [`UserAgent::send_request`] returned.
        tx: TxId,
        /// The response.
        resp: Response,
    },
    /// No response will come: timeout (408), no route (503), … `tx` as returned when sent.
    Failed {
        /// The id [`UserAgent::send_request`] returned.
        tx: TxId,
        /// The status to treat it as.
        code: u16,
        /// Why.
        reason: String,
    },
    /// A 2xx we sent to an INVITE was never acknowledged.
    AckTimeout {
        /// The server INVITE transaction.
        tx: TxId,
    },
    /// Resolve this name (RFC 3263) and report with [`UserAgent::resolved`].
    Resolve {
        /// Names the answer for [`UserAgent::resolved`].
        id: LookupId,
        /// What to look up.
        lookup: Lookup,
    },
}

/// A request the transaction user wants sent; the core adds Via, Max-Forwards and Route.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: String,
    /// From (with our tag).
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Content-Type and body.
    pub body: Option<(String, Vec<u8>)>,
    /// Where to send when there is no outbound proxy and the Request-URI host is a name.
    pub target: Option<Dest>,
    /// Largest size on the wire the caller accepts (RFC 7572 §6); beyond it the request
    /// fails with 513 without being sent.
    pub size_limit: Option<usize>,
    /// In-dialog requests: the dialog's route set (RFC 3261 §12.2.1.1). It replaces the
    /// outbound proxy's preloaded Route, and its first entry (else the Request-URI) is the
    /// next hop.
    pub routes: Option<Vec<String>>,
}

/// Names one DNS lookup between [`UaEvent::Resolve`] and [`UserAgent::resolved`]. Its number
/// is the id the transaction user holds for the waiting request, but the two are different
/// things and do not mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LookupId(pub u64);

/// A name to resolve (RFC 3263) before a request can go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The host name.
    pub host: String,
    /// A port, when the URI names one.
    pub port: Option<u16>,
    /// A transport, when the URI names one.
    pub transport: Option<Transport>,
    /// `sips:`.
    pub secure: bool,
}

/// Where a request goes.
enum Route {
    To(Dest),
    Resolve(Lookup),
}

/// `sip:user@host:port;transport=x` → what RFC 3263 needs; `None` for IP literals (no
/// lookup) and non-SIP URIs.
pub fn uri_lookup(uri: &str) -> Option<Lookup> {
    let u = SipUri::parse(uri).ok()?;
    let secure = match u.scheme {
        Scheme::Sip => false,
        Scheme::Sips => true,
        _ => return None,
    };
    if u.ip().is_some() {
        return None;
    }
    Some(Lookup {
        transport: u.transport(),
        host: u.host,
        port: u.port,
        secure,
    })
}

struct ClientCtx {
    /// The id the transaction user knows this request by.
    tu: TxId,
    out: Outgoing,
    dest: Dest,
    auth_tried: bool,
    /// Further DNS targets to try after a timeout or transport failure (RFC 3263 §4.3).
    next: Vec<Dest>,
}

/// The UA core (sans-IO).
pub struct UserAgent {
    cfg: UaConfig,
    tl: TransactionLayer,
    clients: HashMap<TxId, ClientCtx>,
    events: std::collections::VecDeque<UaEvent>,
    rng: rand::rngs::StdRng,
    next_failed: u64,
    /// Requests waiting for DNS, by the id the transaction user was given.
    resolving: HashMap<TxId, Outgoing>,
    logged_untrusted: HashSet<IpAddr>,
    drop_log: (Option<Instant>, u64),
    /// Client INVITEs to cancel as soon as a provisional response arrives (RFC 3261 §9.1).
    cancel_pending: HashSet<TxId>,
}

/// Random token for tags and branches: 64 bits, hex.
fn token(rng: &mut impl Rng) -> String {
    format!("{:016x}", rng.random::<u64>())
}

impl UserAgent {
    /// A UA core whose tags, branches and Call-IDs come from the operating system's entropy.
    pub fn new(cfg: UaConfig) -> Self {
        Self::with_rng(cfg, rand::rngs::StdRng::from_os_rng())
    }

    /// A UA core drawing its random tokens from `rng` (the core's, seeded).
    pub fn with_rng(cfg: UaConfig, rng: rand::rngs::StdRng) -> Self {
        let timers = cfg.timers;
        UserAgent {
            cfg,
            tl: TransactionLayer::new(timers),
            clients: HashMap::new(),
            events: Default::default(),
            rng,
            next_failed: u64::MAX / 2,
            resolving: HashMap::new(),
            logged_untrusted: HashSet::new(),
            drop_log: (None, 0),
            cancel_pending: HashSet::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &UaConfig {
        &self.cfg
    }

    /// A fresh tag.
    pub fn new_tag(&mut self) -> String {
        token(&mut self.rng)
    }

    /// A fresh Call-ID.
    pub fn new_call_id(&mut self) -> String {
        format!(
            "{}{}@{}",
            token(&mut self.rng),
            token(&mut self.rng),
            self.cfg.public_host.trim_matches(|c| c == '[' || c == ']')
        )
    }

    /// Live transactions.
    pub fn transactions(&self) -> usize {
        self.tl.len()
    }

    /// Retransmissions since start (the transaction layer's timers).
    pub fn retransmissions(&self) -> u64 {
        self.tl.retransmissions()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// When [`UserAgent::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tl.poll_timeout()
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tl.handle_timeout(now);
        self.pump(now);
    }

    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.tl.poll_output() {
            self.on_tx_output(now, o);
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.cfg.trusted.iter().any(|n| n.contains(&ip))
    }

    fn log_drop(&mut self, now: Instant, from: Dest, why: &str) {
        // At most one line per second; the rest are counted into the next line.
        let (last, suppressed) = self.drop_log;
        if last.is_none_or(|l| now.duration_since(l) >= Duration::from_secs(1)) {
            tracing::info!(source = %from.addr, suppressed, "SIP message dropped: {why}");
            self.drop_log = (Some(now), 0);
        } else {
            self.drop_log.1 = suppressed + 1;
        }
    }

    /// Bytes from the transport: one datagram, or one frame of a stream.
    pub fn on_datagram(&mut self, now: Instant, bytes: &[u8], from: Dest) {
        if !self.trusted(from.addr.ip()) {
            if self.logged_untrusted.len() < 4096 && self.logged_untrusted.insert(from.addr.ip()) {
                tracing::warn!(source = %from.addr, "SIP from a source outside sip.trusted_peers refused");
            }
            if self.cfg.drop_untrusted {
                return;
            }
            if let Ok(Message::Request(req)) =
                message::parse(bytes, !from.reliable(), self.cfg.max_message)
                && req.method != Method::Ack
            {
                self.stateless(now, &req, 403, "Forbidden (untrusted source)", from);
            }
            return;
        }
        match message::parse(bytes, !from.reliable(), self.cfg.max_message) {
            Ok(m) => {
                self.tl.on_message(now, m, from);
                self.pump(now);
            }
            Err(e) => match &e.request {
                Some(req) if req.method != Method::Ack && has_reply_headers(req) => {
                    tracing::debug!(source = %from.addr, error = %e, "malformed SIP request answered");
                    self.stateless(now, req, e.status, &e.reason, from);
                }
                _ => self.log_drop(now, from, &e.reason),
            },
        }
    }

    fn stateless(&mut self, now: Instant, req: &Request, code: u16, reason: &str, to: Dest) {
        let tag = self.new_tag();
        let resp = Response::to_request(req, code, reason, Some(&tag));
        self.tl.send_stateless(to, resp.to_bytes());
        self.pump(now);
    }

    fn on_tx_output(&mut self, now: Instant, o: TxOutput) {
        match o {
            TxOutput::Send { to, bytes } => self.events.push_back(UaEvent::Send { to, bytes }),
            TxOutput::Request {
                tx: None,
                req,
                from,
            } => self.events.push_back(UaEvent::Ack { req, from }),
            TxOutput::Request {
                tx: Some(tx),
                req,
                from,
            } => self.on_request(now, tx, req, from),
            TxOutput::Response { tx, resp } => self.on_response(now, tx, resp),
            TxOutput::Timeout { tx } => {
                if let Some(ctx) = self.clients.remove(&tx) {
                    self.fail_over(now, ctx, 408, "Request Timeout".into());
                }
            }
            TxOutput::AckTimeout { tx } => self.events.push_back(UaEvent::AckTimeout { tx }),
            TxOutput::Ended { tx } => {
                self.clients.remove(&tx);
                self.cancel_pending.remove(&tx);
            }
        }
    }

    /// Answers a server transaction with the standard reason phrase and a fresh To tag.
    /// (Build the [`Response`] yourself and use [`UserAgent::respond`] for anything else.)
    pub fn reply(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Request,
        code: u16,
        headers: &[(&str, String)],
    ) {
        let tag = self.new_tag();
        let mut resp = Response::to_request(req, code, reason_phrase(code), Some(&tag));
        for (n, v) in headers {
            resp.headers.push(n, v.clone());
        }
        self.respond(now, tx, resp);
    }

    /// Sends a response on a server transaction (adds `Server`).
    pub fn respond(&mut self, now: Instant, tx: TxId, mut resp: Response) {
        if resp.headers.get("Server").is_none() {
            resp.headers.push("Server", self.cfg.user_agent.clone());
        }
        self.tl.respond(now, tx, resp);
        self.pump(now);
    }

    /// The `Allow` header value: what the UA core answers itself and the transaction
    /// user's methods.
    pub fn allow(&self) -> String {
        let mut m: Vec<&str> = vec!["ACK", "CANCEL", "OPTIONS"];
        m.extend(self.cfg.methods.iter().map(Method::as_str));
        m.sort_unstable();
        m.dedup();
        m.join(", ")
    }

    fn on_request(&mut self, now: Instant, tx: TxId, req: Request, from: Dest) {
        let method = &req.method;
        let known =
            matches!(method, Method::Options | Method::Cancel) || self.cfg.methods.contains(method);
        if !known {
            let allow = self.allow();
            self.reply(now, tx, &req, 405, &[("Allow", allow)]);
            return;
        }
        if req
            .headers
            .get("Max-Forwards")
            .is_some_and(|m| m.trim().parse::<u8>() == Ok(0))
            && *method != Method::Options
        {
            self.reply(now, tx, &req, 483, &[]);
            return;
        }
        let unsupported: Vec<&str> = req
            .headers
            .values("Require")
            .into_iter()
            .filter(|t| !self.cfg.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unsupported.is_empty() && *method != Method::Cancel {
            let u = unsupported.join(", ");
            self.reply(now, tx, &req, 420, &[("Unsupported", u)]);
            return;
        }
        match req.method {
            Method::Options => {
                let mut h = vec![
                    ("Allow", self.allow()),
                    ("Accept", self.cfg.accept.join(", ")),
                ];
                if !self.cfg.supported.is_empty() {
                    h.push(("Supported", self.cfg.supported.join(", ")));
                }
                self.reply(now, tx, &req, 200, &h);
            }
            Method::Cancel => match self.tl.invite_for_cancel(&req) {
                Some(_invite) => {
                    self.reply(now, tx, &req, 200, &[]);
                    // The INVITE's 487 is the transaction user's to send: it knows the INVITE.
                    self.events.push_back(UaEvent::Request { tx, req, from });
                }
                None => self.reply(now, tx, &req, 481, &[]),
            },
            // In-dialog requests too: the transaction user owns the dialogs (and answers 481
            // for those it does not know).
            _ => self.events.push_back(UaEvent::Request { tx, req, from }),
        }
    }

    /// The transports could not reach `to`: requests waiting on it fail with 503
    /// (RFC 3261 §8.1.3.1) instead of waiting for Timer B/F.
    pub fn transport_failed(&mut self, now: Instant, to: Dest, reason: &str) {
        for id in self.tl.fail_destination(to) {
            if let Some(ctx) = self.clients.remove(&id) {
                let why = format!("Service Unavailable (transport failure: {reason})");
                self.fail_over(now, ctx, 503, why);
            }
        }
    }

    /// RFC 3263 §4.3: after a timeout or transport failure, the same request (new branch)
    /// goes to the next target; with none left, the transaction user gets the failure.
    fn fail_over(&mut self, now: Instant, mut ctx: ClientCtx, code: u16, reason: String) {
        if ctx.next.is_empty() {
            self.events.push_back(UaEvent::Failed {
                tx: ctx.tu,
                code,
                reason,
            });
            return;
        }
        let dest = ctx.next.remove(0);
        tracing::info!(to = %dest.addr, previous = %ctx.dest.addr, %reason, "trying the next SIP target");
        self.send_to(now, ctx.out, dest, Some(ctx.tu), ctx.next);
    }

    /// The server INVITE transaction a CANCEL (already answered 200) refers to.
    pub fn invite_for_cancel(&self, cancel: &Request) -> Option<TxId> {
        self.tl.invite_for_cancel(cancel)
    }

    /// Cancels a request sent with [`UserAgent::send_request`] (RFC 3261 §9.1): the CANCEL
    /// goes now if a provisional response came, else when one does; a request still waiting
    /// for DNS just fails with 487. The INVITE's final response (487, or a 2xx that crossed
    /// the CANCEL) still arrives as a [`UaEvent::Response`].
    pub fn cancel(&mut self, now: Instant, tu: TxId) {
        if self.resolving.remove(&tu).is_some() {
            self.events.push_back(UaEvent::Failed {
                tx: tu,
                code: 487,
                reason: "Request Terminated".into(),
            });
            return;
        }
        let Some(id) = self
            .clients
            .iter()
            .find(|(_, c)| c.tu == tu && c.out.method == Method::Invite)
            .map(|(id, _)| *id)
        else {
            return;
        };
        match self.tl.cancel_for(id) {
            Some((req, dest, true)) => {
                let _ = self.tl.send_request(now, req, dest);
                self.pump(now);
            }
            Some((_, _, false)) => {
                self.cancel_pending.insert(id);
            }
            None => {}
        }
    }

    /// The ACK for a 2xx (RFC 3261 §13.2.2.4): outside any transaction, to the same next hop
    /// as other in-dialog requests; sent again for every retransmitted 2xx.
    pub fn ack(&mut self, now: Instant, out: &Outgoing) {
        let dest = match self.route(out) {
            Some(Route::To(d)) => d,
            _ => {
                tracing::info!(call_id = %out.call_id, "no IP next hop for the ACK; not sent");
                return;
            }
        };
        let req = self.build(out, dest, None);
        self.tl.send_stateless(dest, req.to_bytes());
        self.pump(now);
    }

    fn via(&mut self, transport: Transport) -> String {
        let port = self.cfg.port_for(transport);
        let t = match transport {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        };
        format!(
            "SIP/2.0/{t} {}:{port};branch=z9hG4bK{};rport",
            self.cfg.public_host,
            token(&mut self.rng)
        )
    }

    /// Where a request goes: the outbound proxy, else an IP-literal Request-URI, else the
    /// caller's target, else a DNS lookup of the Request-URI host (RFC 3263).
    fn route(&self, out: &Outgoing) -> Option<Route> {
        if let Some(routes) = &out.routes {
            let next = match routes.first() {
                Some(r) => NameAddr::parse(r)?.uri,
                None => out.uri.clone(),
            };
            if let Some((d, _)) = proxy_dest(&next) {
                return Some(Route::To(d));
            }
            if let Some(d) = out.target {
                return Some(Route::To(d));
            }
            return uri_lookup(&next).map(Route::Resolve);
        }
        if let Some((d, _)) = &self.cfg.outbound_proxy {
            return Some(Route::To(*d));
        }
        if let Some(d) = proxy_dest(&out.uri) {
            return Some(Route::To(d.0));
        }
        if let Some(d) = out.target {
            return Some(Route::To(d));
        }
        uri_lookup(&out.uri).map(Route::Resolve)
    }
    fn build(&mut self, out: &Outgoing, dest: Dest, auth: Option<(&str, String)>) -> Request {
        let mut h = Headers::default();
        h.push("Via", self.via(dest.transport));
        h.push("Max-Forwards", "70");
        match &out.routes {
            Some(routes) => {
                for r in routes {
                    h.push("Route", r.clone());
                }
            }
            None => {
                if let Some((_, route)) = &self.cfg.outbound_proxy {
                    h.push("Route", route.clone());
                }
            }
        }
        h.push("From", out.from.to_header());
        h.push("To", out.to.to_header());
        h.push("Call-ID", out.call_id.clone());
        h.push("CSeq", format!("{} {}", out.cseq, out.method));
        h.push("User-Agent", self.cfg.user_agent.clone());
        for (n, v) in &out.headers {
            h.push(n, v.clone());
        }
        if let Some((name, value)) = auth {
            h.push(name, value);
        }
        let body = match &out.body {
            Some((ct, b)) => {
                h.push("Content-Type", ct.clone());
                b.clone()
            }
            None => Vec::new(),
        };
        Request {
            method: out.method.clone(),
            uri: out.uri.clone(),
            headers: h,
            body,
        }
    }

    /// A request that fails before any transaction exists: an id from a range transactions
    /// never use, and the failure event right away.
    fn fail_now(&mut self, code: u16, reason: &str) -> TxId {
        let id = TxId(self.next_failed);
        self.next_failed += 1;
        self.events.push_back(UaEvent::Failed {
            tx: id,
            code,
            reason: reason.into(),
        });
        id
    }

    /// Sends a request in a new client transaction. The returned id names it in later
    /// [`UaEvent::Response`]/[`UaEvent::Failed`] events, across an authentication retry.
    pub fn send_request(&mut self, now: Instant, out: Outgoing) -> TxId {
        let dest = match self.route(&out) {
            Some(Route::To(d)) => d,
            Some(Route::Resolve(lookup)) => {
                let id = TxId(self.next_failed);
                self.next_failed += 1;
                self.resolving.insert(id, out);
                self.events.push_back(UaEvent::Resolve {
                    id: LookupId(id.0),
                    lookup,
                });
                return id;
            }
            None => return self.fail_now(502, "No route to the SIP destination"),
        };
        self.send_to(now, out, dest, None, Vec::new())
    }

    /// The DNS answer for a [`UaEvent::Resolve`]: send to the first target, or fail the
    /// request with 502 (→ `remote-server-not-found`).
    pub fn resolved(&mut self, now: Instant, id: LookupId, result: Result<Vec<Dest>, String>) {
        let tu = TxId(id.0);
        let Some(out) = self.resolving.remove(&tu) else {
            return;
        };
        match result.ok().filter(|t| !t.is_empty()) {
            Some(mut targets) => {
                let dest = targets.remove(0);
                self.send_to(now, out, dest, Some(tu), targets);
            }
            None => self.events.push_back(UaEvent::Failed {
                tx: tu,
                code: 502,
                reason: "Bad Gateway (the SIP domain does not resolve)".into(),
            }),
        }
    }

    /// Sends `out` to `dest`; `tu` is the id the transaction user already holds, if any.
    fn send_to(
        &mut self,
        now: Instant,
        out: Outgoing,
        dest: Dest,
        tu: Option<TxId>,
        next: Vec<Dest>,
    ) -> TxId {
        let mut dest = dest;
        let mut req = self.build(&out, dest, None);
        let mut bytes = req.to_bytes();
        if dest.transport == Transport::Udp
            && bytes.len() > self.cfg.udp_max
            && self.cfg.ports.iter().any(|(t, _)| *t == Transport::Tcp)
        {
            // RFC 3261 §18.1.1: too large for UDP → the same next hop over TCP.
            dest.transport = Transport::Tcp;
            req = self.build(&out, dest, None);
            bytes = req.to_bytes();
        }
        let limit = match (dest.transport, out.size_limit) {
            (Transport::Udp, Some(l)) => l.min(self.cfg.udp_max),
            (Transport::Udp, None) => self.cfg.max_message,
            (_, Some(l)) => l,
            (_, None) => usize::MAX,
        };
        let failure = if bytes.len() > limit {
            Some((
                513,
                format!(
                    "Message Too Large: the request would be {} bytes, the limit is {limit} (RFC 7572 §6)",
                    bytes.len()
                ),
            ))
        } else {
            match self.tl.send_serialized(now, req, bytes, dest) {
                Some(id) => {
                    let tu = tu.unwrap_or(id);
                    let ctx = ClientCtx {
                        tu,
                        out,
                        dest,
                        next,
                        auth_tried: false,
                    };
                    self.clients.insert(id, ctx);
                    self.pump(now);
                    return tu;
                }
                None => Some((500, "Could not build the request".to_string())),
            }
        };
        let (code, reason) = failure.unwrap_or((500, "Server Internal Error".into()));
        match tu {
            Some(tu) => {
                self.events.push_back(UaEvent::Failed {
                    tx: tu,
                    code,
                    reason,
                });
                tu
            }
            None => self.fail_now(code, &reason),
        }
    }

    fn on_response(&mut self, now: Instant, tx: TxId, resp: Response) {
        if !self.clients.contains_key(&tx) {
            return;
        }
        if resp.code < 200
            && self.cancel_pending.remove(&tx)
            && let Some((req, dest, _)) = self.tl.cancel_for(tx)
        {
            let _ = self.tl.send_request(now, req, dest);
            self.pump(now);
        }
        if resp.code >= 200 {
            self.cancel_pending.remove(&tx);
        }
        let Some(ctx) = self.clients.get(&tx) else {
            return;
        };
        let tu = ctx.tu;
        if (resp.code == 401 || resp.code == 407) && !ctx.auth_tried {
            let (chal_hdr, auth_hdr) = if resp.code == 401 {
                ("WWW-Authenticate", "Authorization")
            } else {
                ("Proxy-Authenticate", "Proxy-Authorization")
            };
            let creds = resp
                .headers
                .get_all(chal_hdr)
                .filter_map(Challenge::parse)
                .find_map(|c| {
                    self.cfg
                        .credentials
                        .iter()
                        .find(|cr| cr.realm == c.realm)
                        .map(|cr| (c.clone(), cr.username.clone(), cr.password.clone()))
                });
            if let Some((c, user, pass)) = creds
                && let Some(mut ctx) = self.clients.remove(&tx)
            {
                ctx.out.cseq += 1;
                let cnonce = token(&mut self.rng);
                let value = auth::authorization(
                    &c,
                    &user,
                    &pass,
                    ctx.out.method.as_str(),
                    &ctx.out.uri,
                    &cnonce,
                    1,
                );
                let req = self.build(&ctx.out, ctx.dest, Some((auth_hdr, value)));
                if let Some(new_id) = self.tl.send_request(now, req, ctx.dest) {
                    ctx.auth_tried = true;
                    self.clients.insert(new_id, ctx);
                    return;
                }
            }
        }
        if resp.code >= 200
            && let Some(ctx) = self.clients.get(&tx)
            && ctx.out.method != Method::Invite
        {
            self.clients.remove(&tx);
        }
        self.events.push_back(UaEvent::Response { tx: tu, resp });
    }
}

fn has_reply_headers(req: &Request) -> bool {
    ["Via", "From", "To", "Call-ID", "CSeq"]
        .iter()
        .all(|h| req.headers.get(h).is_some())
        && req.top_via().is_some()
}

#[cfg(test)]
#[path = "ua_tests.rs"]
mod tests;
