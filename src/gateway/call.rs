//! The shared call: one INVITE dialog with an MSRP session (RFC 4975) set up by SDP
//! offer/answer (RFC 3264, RFC 6135 `a=setup`), whoever invites. 1:1 chat sessions
//! (RFC 7573) are calls today; MUC occupants (RFC 7702) will be calls too.
//!
//! A [`Call`] carries what every phase needs (Call-ID, its INVITE transaction, our SDP, the
//! MSRP session) and a [`Phase`] that carries what only that phase has: the INVITE to build
//! the dialog from, the peer's INVITE we still have to answer, the dialog, the bound
//! connection. Its two deadlines are a [`TimerTable`] keyed by [`CallTimer`].
//!
//! The lifecycle here is the same for every owner; what a call is *for* lives with its
//! [`Owner`], which hears about the call through [`CallEvent`]s and decides when it ends
//! ([`Core::end_call`]). In this file: "an INVITE with an MSRP offer is answered"
//! ([`Core::check_offer`], [`Core::answer_call`]), our INVITE's outcome
//! ([`Core::call_response`]), in-dialog requests (BYE, re-INVITE), CANCEL, and MSRP
//! connection events routed to the session their To-Path names (RFC 4975 §5.4, §7.3).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::im::Refusal;
use super::owners::{DialogKey, Owner};
use super::timers::{TimerName, TimerTable, soonest};
use super::{Core, Output};
use crate::body::sdp::{self, Sdp};
use crate::msrp::codec::Frame;
use crate::msrp::io::{ConnId, MsrpEvent};
use crate::msrp::session::{Event as MsrpSessionEvent, FailureReport, Session, SessionConfig};
use crate::msrp::uri::{MsrpUri, new_session_id};
use crate::sip::Transport;
use crate::sip::dialog::{Dialog, InDialog, State as DialogState};
use crate::sip::message::{Headers, Method, NameAddr, Request, Response, reason_phrase};
use crate::sip::transaction::TxId;
use crate::sip::ua::Outgoing;

/// MSRP and call settings, from `[msrp]`.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Host in our MSRP paths.
    pub host: String,
    /// Port of the MSRP listener (once bound: the config may say 0).
    pub port: u16,
    /// Port of the `msrps` (TLS) listener, when there is one.
    pub tls_port: Option<u16>,
    /// Per-session MSRP settings (chunk size, size limit, accept-types).
    pub session: SessionConfig,
    /// How long the MSRP connection may take after the INVITE succeeded.
    pub connect_timeout: Duration,
    /// How long a peer's INVITE waits for the XMPP link (then 480).
    pub hold: Duration,
    /// `Failure-Report` on the SENDs we originate.
    pub failure_report: FailureReport,
}

/// Where a call is; each phase holds the data valid in it.
#[derive(Debug)]
pub enum Phase {
    /// Our INVITE is out; it becomes the dialog when a 2xx comes.
    Inviting {
        /// The INVITE as sent.
        invite: Outgoing,
    },
    /// The peer's INVITE waits for our 200 (it is held while the XMPP link is down).
    Invited {
        /// The INVITE to answer.
        req: Request,
        /// Our answer makes us the active side of the MSRP connection.
        we_connect: bool,
    },
    /// We ended the call while our INVITE was pending: CANCEL sent, the final response is
    /// awaited so that a 2xx that crossed it is ACKed and BYEd (RFC 3261 §9.1).
    Cancelled {
        /// The INVITE as sent.
        invite: Outgoing,
    },
    /// The dialog exists; the MSRP connection is not bound yet.
    Connecting {
        /// The INVITE dialog.
        dialog: Dialog,
        /// We open the MSRP connection (else the peer does, and its first SEND binds it).
        we_connect: bool,
    },
    /// Messages flow.
    Open {
        /// The INVITE dialog.
        dialog: Dialog,
        /// The MSRP connection the session is bound to.
        conn: ConnId,
    },
    /// Over; only the owner's bookkeeping is left.
    Ended,
}

/// A call's deadlines.
#[derive(Debug, Clone, Copy)]
pub enum CallTimer {
    /// A held INVITE gets 480 (`msrp.invite_hold_secs`).
    Hold,
    /// The MSRP connection must be bound by then (`msrp.connect_timeout_secs`).
    Connect,
}

impl TimerName for CallTimer {
    fn index(self) -> usize {
        self as usize
    }
}

/// One INVITE dialog with its MSRP session.
pub struct Call {
    /// The dialog's Call-ID.
    pub call_id: String,
    /// The INVITE transaction: ours (client) or theirs (server).
    pub invite_tx: TxId,
    /// See [`Phase`].
    pub phase: Phase,
    /// Our SDP (offer or answer), repeated in answers to re-INVITEs.
    pub local_sdp: String,
    /// The MSRP session (sans-IO).
    pub msrp: Session,
    /// The SIP transport the INVITE came or went over (for our Contact).
    pub transport: Transport,
    /// See [`CallTimer`].
    pub timers: TimerTable<CallTimer, 2>,
    /// The peer's `a=chatroom` tokens (RFC 7701 §7), lower case; `None` without one.
    pub peer_chatroom: Option<Vec<String>>,
    /// We answer as a conference focus: our Contact carries `isfocus` (RFC 4579 §3,
    /// RFC 7702 §6.1).
    pub focus: bool,
}

impl Call {
    /// Our INVITE (with our offer `local_sdp` for `msrp`) is out as transaction `tx`.
    pub fn inviting(
        tx: TxId,
        invite: Outgoing,
        local_sdp: String,
        msrp: Session,
        transport: Transport,
    ) -> Call {
        Call {
            call_id: invite.call_id.clone(),
            invite_tx: tx,
            phase: Phase::Inviting { invite },
            local_sdp,
            msrp,
            transport,
            timers: TimerTable::default(),
            focus: false,
            peer_chatroom: None,
        }
    }

    /// The peer's INVITE `req` (transaction `tx`, arrived over `transport`), its offer
    /// checked and answered in `offered`, waits for our 200.
    pub fn invited(tx: TxId, req: &Request, offered: Offered, transport: Transport) -> Call {
        Call {
            call_id: req.call_id().to_string(),
            invite_tx: tx,
            phase: Phase::Invited {
                req: req.clone(),
                we_connect: offered.we_connect,
            },
            local_sdp: offered.answer,
            msrp: offered.msrp,
            transport,
            timers: TimerTable::default(),
            focus: false,
            peer_chatroom: offered.chatroom,
        }
    }

    /// The call's next deadline: its own timers and its MSRP session's.
    pub fn poll_timeout(&self) -> Option<Instant> {
        soonest(self.timers.next(), self.msrp.poll_timeout())
    }

    /// Messages can be sent.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// Pending or established, i.e. not being cancelled or over.
    pub fn is_live(&self) -> bool {
        !matches!(self.phase, Phase::Cancelled { .. } | Phase::Ended)
    }

    /// The INVITE dialog, once there is one.
    pub(in crate::gateway) fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match &mut self.phase {
            Phase::Connecting { dialog, .. } | Phase::Open { dialog, .. } => Some(dialog),
            _ => None,
        }
    }

    fn conn(&self) -> Option<ConnId> {
        match self.phase {
            Phase::Open { conn, .. } => Some(conn),
            _ => None,
        }
    }
}

/// What a call tells its owner.
#[derive(Debug)]
pub enum CallEvent {
    /// Our INVITE got no session: a final failure, or no response at all (RFC 7247 Table 3
    /// takes the code, reason and a redirecting Contact).
    Refused {
        /// The SIP status.
        code: u16,
        /// Its reason phrase.
        reason: String,
        /// A failure response's Contact as an `xmpp:` URI.
        contact: Option<String>,
    },
    /// The MSRP connection is bound: the session is usable.
    Open,
    /// The call must end (the owner calls [`Core::end_call`] and does its own part).
    End(End),
    /// Something the MSRP session produced other than bytes: a message, a report, a failure.
    Msrp(MsrpSessionEvent),
}

/// Why a call ends; decides what the SIP side and the owner's pending work get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Ended on our side (`gone`, idle, unavailable): BYE/CANCEL.
    Local,
    /// The peer sent BYE (already answered).
    PeerBye,
    /// The call failed with this status (INVITE rejected, MSRP down, timeouts).
    Failed(u16),
}

/// An incoming INVITE's offer, checked and answered (not yet sent).
pub struct Offered {
    /// Our SDP answer.
    pub answer: String,
    /// The MSRP session, with the peer's path.
    pub msrp: Session,
    /// We open the MSRP connection.
    pub we_connect: bool,
    /// The offer's `a=chatroom` tokens.
    pub chatroom: Option<Vec<String>>,
}

/// A stanza id as an MSRP transaction id when it is one (RFC 4975: 4–32 of
/// `A-Za-z0-9.-+%=`; RFC 7573 §4 makes the stanza id the SEND's); others get a random one.
pub(super) fn tid_of(id: Option<&xmpp_parsers::message::Id>) -> Option<&str> {
    id.map(|i| i.0.as_str()).filter(|s| {
        (4..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-+%=".contains(&b))
    })
}

/// The first URI of an MSRP path as a socket address (IP literals only: we do not resolve
/// MSRP hosts; RFC 4975 peers put addresses there in practice).
fn path_addr(path: &[String]) -> Option<SocketAddr> {
    let u = MsrpUri::parse(path.first()?)?;
    let ip: IpAddr = u.host.trim_matches(|c| c == '[' || c == ']').parse().ok()?;
    Some(SocketAddr::new(ip, u.port.unwrap_or(2855)))
}

/// An in-dialog request as the UA sends it.
pub(super) fn in_dialog(d: &InDialog) -> Option<Outgoing> {
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

/// The request we sent (INVITE, SUBSCRIBE), as [`Dialog::uac`] wants it (CSeq from the
/// 2xx: a digest retry raised it).
pub(super) fn sent_request(out: &Outgoing, resp: &Response) -> Request {
    let mut h = Headers::default();
    h.push("From", out.from.to_header());
    h.push("To", out.to.to_header());
    h.push("Call-ID", out.call_id.clone());
    h.push(
        "CSeq",
        resp.headers.get("CSeq").unwrap_or("1 INVITE").to_string(),
    );
    Request {
        method: out.method.clone(),
        uri: out.uri.clone(),
        headers: h,
        body: Vec::new(),
    }
}

impl Core {
    /// The call an owner holds.
    pub(super) fn call_mut(&mut self, owner: Owner) -> Option<&mut Call> {
        match owner {
            Owner::Chat(id) => self.chats.call_mut(id),
            Owner::Muc(id) => self.mucs.call_mut(id),
            Owner::Page | Owner::Presence(_) => None,
        }
    }

    /// Files the call under its next deadline in its owner's timer set.
    fn rearm_call(&mut self, owner: Owner) {
        match owner {
            Owner::Chat(id) => self.chats.rearm(id),
            Owner::Muc(id) => self.mucs.rearm(id),
            Owner::Page | Owner::Presence(_) => {}
        }
    }

    /// Hands a call's news to its owner.
    fn call_event(&mut self, now: Instant, owner: Owner, ev: CallEvent) {
        match owner {
            Owner::Chat(id) => self.chat_call_event(now, id, ev),
            Owner::Muc(id) => self.muc_call_event(now, id, ev),
            Owner::Page | Owner::Presence(_) => {}
        }
    }

    /// Whether the owner has messages waiting for the call to open.
    fn owner_has_queued(&self, owner: Owner) -> bool {
        match owner {
            Owner::Chat(id) => self.chats.has_queued(id),
            Owner::Muc(id) => self.mucs.has_queued(id),
            Owner::Page | Owner::Presence(_) => false,
        }
    }

    /// A new MSRP session with our path (`msrps` and the TLS port when `tls`).
    pub(super) fn new_msrp_session(&mut self, tls: bool) -> Session {
        let scfg = self.cfg.call.session;
        self.new_msrp_session_with(tls, scfg)
    }

    /// A new MSRP session with these settings (rooms accept CPIM, RFC 7701).
    pub(super) fn new_msrp_session_with(&mut self, tls: bool, scfg: SessionConfig) -> Session {
        let cfg = &self.cfg.call;
        let port = match (tls, cfg.tls_port) {
            (true, Some(p)) => p,
            _ => cfg.port,
        };
        let local = MsrpUri {
            secure: tls,
            host: cfg.host.clone(),
            port: Some(port),
            session_id: new_session_id(&mut self.rng),
            transport: "tcp".into(),
        };
        Session::new(scfg, local, Vec::new(), &mut self.rng)
    }

    /// Our SDP offer for a new outgoing call and the session it describes.
    pub(super) fn call_offer(&mut self) -> (String, Session) {
        let msrp = self.new_msrp_session(false);
        let cfg = &self.cfg.call;
        let offer = sdp::msrp_offer(
            &cfg.host,
            &msrp.local.to_string(),
            cfg.session.accept,
            cfg.session.max_size,
            false,
        )
        .to_body();
        (offer, msrp)
    }

    /// Files a new call under its owner: its INVITE transaction and MSRP session id.
    pub(super) fn register_call(&mut self, owner: Owner) {
        let Some(call) = self.call_mut(owner) else {
            return;
        };
        let (tx, sid) = (call.invite_tx, call.msrp.local.session_id.clone());
        self.owners.insert_tx(tx, owner);
        self.owners.insert_msrp(sid, owner);
    }

    /// RFC 7573 §5 / RFC 4975 §8: can this INVITE's offer be answered? The refusal is the
    /// status with its headers (a 488 carries a Warning saying why, RFC 3261 §20.43).
    /// `room`: we answer as a chat room's focus (RFC 7702 §6.1: CPIM, `a=chatroom`).
    pub(super) fn check_offer(&mut self, req: &Request, room: bool) -> Result<Offered, Refusal> {
        let host = self.ua.config().public_host.clone();
        let warn = |code: u16, text: &str| Refusal {
            code: 488,
            reason: reason_phrase(488).to_string(),
            headers: vec![("Warning", format!("{code} {host} \"{text}\""))],
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
            return Err(warn(304, "Media type not available: only MSRP text chat"));
        };
        let tls = offer
            .msrp()
            .is_some_and(|m| m.proto.eq_ignore_ascii_case("TCP/TLS/MSRP"));
        if tls && self.cfg.call.tls_port.is_none() {
            return Err(warn(
                302,
                "Incompatible transport protocol: MSRP over TLS is not configured (msrp.tls_listen)",
            ));
        }
        let mut msrp = if room {
            self.new_room_session(tls)
        } else {
            self.new_msrp_session(tls)
        };
        let cfg = &self.cfg.call;
        let answer = if room {
            sdp::chatroom_answer(
                &offer,
                &cfg.host,
                &msrp.local.to_string(),
                self.mucs.cfg.cpim_max_bytes,
                tls,
            )
        } else {
            sdp::msrp_answer(
                &offer,
                &cfg.host,
                &msrp.local.to_string(),
                cfg.session.accept,
                cfg.session.max_size,
                tls,
            )
        };
        let Some((answer, we_connect)) = answer else {
            return Err(warn(
                305,
                "Incompatible media format: no common accept-types",
            ));
        };
        msrp.remote = offer.msrp().map(|m| m.path()).unwrap_or_default();
        if we_connect && path_addr(&msrp.remote).is_none() {
            return Err(warn(
                301,
                "Incompatible network address: the MSRP path has no IP address",
            ));
        }
        Ok(Offered {
            answer: answer.to_body(),
            msrp,
            we_connect,
            chatroom: offer.msrp().and_then(sdp::chatroom_tokens),
        })
    }

    /// 200 with our answer to a peer's INVITE; the dialog starts (RFC 3261 §12.1.1).
    pub(super) fn answer_call(&mut self, now: Instant, owner: Owner) {
        let tag = self.ua.new_tag();
        let connect_timeout = self.cfg.call.connect_timeout;
        let Some(call) = self.call_mut(owner) else {
            return;
        };
        let Phase::Invited { req, we_connect } = std::mem::replace(&mut call.phase, Phase::Ended)
        else {
            return;
        };
        let tx = call.invite_tx;
        call.timers.stop(CallTimer::Hold);
        let Some(dialog) = Dialog::uas(&req, &tag) else {
            self.ua.reply(now, tx, &req, 400, &[]);
            return self.call_event(now, owner, CallEvent::End(End::Local));
        };
        let to_uri = req
            .headers
            .get("To")
            .and_then(NameAddr::parse)
            .map(|n| n.uri)
            .unwrap_or_default();
        let (transport, focus) = (call.transport, call.focus);
        let mut contact = self.ua.config().contact(&to_uri, transport);
        if focus {
            contact.push_str(";isfocus");
        }
        let Some(call) = self.call_mut(owner) else {
            return;
        };
        let mut resp = Response::to_request(&req, 200, "OK", Some(&tag));
        resp.headers.push("Contact", contact);
        resp.headers.push("Content-Type", "application/sdp");
        resp.body = call.local_sdp.clone().into_bytes();
        let key = DialogKey::of(&dialog);
        call.phase = Phase::Connecting { dialog, we_connect };
        call.timers.set(CallTimer::Connect, now + connect_timeout);
        let connect = we_connect
            .then(|| path_addr(&call.msrp.remote).map(|a| (a, call.msrp.local.secure)))
            .flatten();
        if let Some((addr, tls)) = connect {
            self.out.push_back(Output::MsrpConnect { owner, addr, tls });
        }
        self.owners.insert_dialog(key, owner);
        self.ua.respond(now, tx, resp);
    }

    /// A final response to our INVITE.
    pub(super) fn call_response(&mut self, now: Instant, owner: Owner, resp: &Response) {
        if resp.code < 200 {
            return;
        }
        if resp.code >= 300 {
            let contact = self.addresses.failure_contact(resp);
            return self.call_failure(now, owner, resp.code, &resp.reason, contact);
        }
        let Some(call) = self.call_mut(owner) else {
            return;
        };
        // A retransmitted 2xx: ACK again (RFC 3261 §13.2.2.4).
        if let Some(d) = call.dialog_mut() {
            let seq = resp.cseq().map(|(n, _)| n).unwrap_or(1);
            if let Some(o) = in_dialog(&d.request(Method::Ack, Some(seq))) {
                self.ua.ack(now, &o);
            }
            return;
        }
        let cancelled = matches!(call.phase, Phase::Cancelled { .. });
        let (Phase::Inviting { invite } | Phase::Cancelled { invite }) =
            std::mem::replace(&mut call.phase, Phase::Ended)
        else {
            return;
        };
        let Some(mut dialog) = Dialog::uac(&sent_request(&invite, resp), resp) else {
            tracing::info!(
                ?owner,
                "2xx to our INVITE without a usable dialog; call failed"
            );
            return self.call_failure(now, owner, 502, "Bad Gateway (unusable 2xx)", None);
        };
        let seq = resp.cseq().map(|(n, _)| n).unwrap_or(1);
        if let Some(o) = in_dialog(&dialog.request(Method::Ack, Some(seq))) {
            self.ua.ack(now, &o);
        }
        self.owners.insert_dialog(DialogKey::of(&dialog), owner);
        let answer = std::str::from_utf8(&resp.body)
            .ok()
            .and_then(|b| Sdp::parse(b).ok());
        let media = answer.as_ref().and_then(|s| s.msrp()).cloned();
        let we_connect = media.as_ref().is_none_or(sdp::offerer_connects);
        let connect_timeout = self.cfg.call.connect_timeout;
        let Some(call) = self.call_mut(owner) else {
            return;
        };
        call.phase = Phase::Connecting { dialog, we_connect };
        if cancelled {
            // Our CANCEL crossed the 2xx: the session exists and must be ended (§9.1).
            return self.call_event(now, owner, CallEvent::End(End::Local));
        }
        let Some(media) = media else {
            tracing::info!(?owner, "2xx without an MSRP answer; call ended");
            return self.call_event(now, owner, CallEvent::End(End::Failed(488)));
        };
        call.msrp.remote = media.path();
        call.peer_chatroom = sdp::chatroom_tokens(&media);
        call.timers.set(CallTimer::Connect, now + connect_timeout);
        if we_connect {
            let tls = call.msrp.local.secure;
            let Some(addr) = path_addr(&call.msrp.remote) else {
                return self.call_event(now, owner, CallEvent::End(End::Failed(488)));
            };
            self.out.push_back(Output::MsrpConnect { owner, addr, tls });
        }
        self.rearm_call(owner);
    }

    /// Our INVITE failed (final response ≥ 300, or none will come).
    pub(super) fn call_failure(
        &mut self,
        now: Instant,
        owner: Owner,
        code: u16,
        reason: &str,
        contact: Option<String>,
    ) {
        let Some(call) = self.call_mut(owner) else {
            return;
        };
        tracing::info!(?owner, code, %reason, call_id = %call.call_id, "INVITE failed");
        let cancelled = matches!(call.phase, Phase::Cancelled { .. });
        call.phase = Phase::Ended;
        let ev = if cancelled {
            // The owner already did its part when it cancelled.
            CallEvent::End(End::Local)
        } else {
            CallEvent::Refused {
                code,
                reason: reason.to_string(),
                contact,
            }
        };
        self.call_event(now, owner, ev);
    }

    /// A CANCEL (already answered 200 by the UA core) for a peer's INVITE we hold: 487.
    pub(super) fn call_cancelled(&mut self, now: Instant, owner: Owner) {
        let Some(call) = self.call_mut(owner) else {
            return;
        };
        let tx = call.invite_tx;
        if let Phase::Invited { req, .. } = std::mem::replace(&mut call.phase, Phase::Ended) {
            self.ua.reply(now, tx, &req, 487, &[]);
        }
        self.call_event(now, owner, CallEvent::End(End::Local));
    }

    /// A request inside the call's dialog: BYE ends it, a re-INVITE (session refresh, or a
    /// changed offer we keep to) gets our SDP again (RFC 3261 §14.2).
    pub(super) fn call_in_dialog(&mut self, now: Instant, owner: Owner, tx: TxId, req: &Request) {
        let Some(call) = self.call_mut(owner) else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        let transport = call.transport;
        let sdp = call.local_sdp.clone();
        let Some(d) = call.dialog_mut() else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        if let Err(e) = d.on_request(req) {
            return self.ua.reply(now, tx, req, e.code(), &[]);
        }
        match req.method {
            Method::Bye => {
                self.ua.reply(now, tx, req, 200, &[]);
                self.call_event(now, owner, CallEvent::End(End::PeerBye));
            }
            Method::Invite => {
                let (local_uri, tag) = (d.local.uri.clone(), d.id.local_tag.clone());
                let contact = self.ua.config().contact(&local_uri, transport);
                let mut resp = Response::to_request(req, 200, "OK", Some(&tag));
                resp.headers.push("Contact", contact);
                resp.headers.push("Content-Type", "application/sdp");
                resp.body = sdp.into_bytes();
                self.ua.respond(now, tx, resp);
            }
            _ => {
                let allow = self.ua.allow();
                self.ua.reply(now, tx, req, 405, &[("Allow", allow)]);
            }
        }
    }

    /// Our 2xx was never ACKed: unless MSRP is flowing anyway, the call never started.
    pub(super) fn call_ack_timeout(&mut self, now: Instant, owner: Owner) {
        if self.call_mut(owner).is_some_and(|c| !c.is_open()) {
            self.call_event(now, owner, CallEvent::End(End::Failed(408)));
        }
    }

    /// Ends a call on the SIP and MSRP side: CANCEL while our INVITE is pending (`true`:
    /// the call lingers until the final response), the held INVITE answered, BYE for a
    /// dialog, routing entries removed, the connection closed with its last call. The owner
    /// does its own part (pending messages, `<gone/>`) and forgets the call unless it lingers.
    pub(super) fn end_call(&mut self, now: Instant, owner: Owner, why: End) -> bool {
        let Some(call) = self.call_mut(owner) else {
            return false;
        };
        tracing::debug!(?owner, ?why, call_id = %call.call_id, "call ends");
        let tx = call.invite_tx;
        match std::mem::replace(&mut call.phase, Phase::Ended) {
            Phase::Inviting { invite } => {
                call.phase = Phase::Cancelled { invite };
                self.ua.cancel(now, tx);
                return true;
            }
            Phase::Cancelled { invite } => {
                call.phase = Phase::Cancelled { invite };
                return true;
            }
            Phase::Invited { req, .. } => {
                let code = match why {
                    End::Failed(code) => code,
                    _ => 480,
                };
                self.ua
                    .reply(now, tx, &req, code, &[("Retry-After", "30".into())]);
            }
            Phase::Connecting { mut dialog, .. } => {
                self.bye(now, &mut dialog, why);
                self.owners.remove_dialog(&DialogKey::of(&dialog));
            }
            Phase::Open { mut dialog, conn } => {
                self.bye(now, &mut dialog, why);
                self.owners.remove_dialog(&DialogKey::of(&dialog));
                if self.conns.unbind(conn, owner) {
                    self.out.push_back(Output::MsrpClose { conn });
                }
            }
            Phase::Ended => {}
        }
        self.release_call(owner);
        false
    }

    fn bye(&mut self, now: Instant, dialog: &mut Dialog, why: End) {
        if why != End::PeerBye
            && dialog.state != DialogState::Terminated
            && let Some(o) = in_dialog(&dialog.request(Method::Bye, None))
        {
            self.ua.send_request(now, o);
        }
    }

    /// Removes a finished call's transaction and MSRP session from the routing table.
    fn release_call(&mut self, owner: Owner) {
        let Some(call) = self.call_mut(owner) else {
            return;
        };
        let (tx, sid) = (call.invite_tx, call.msrp.local.session_id.clone());
        self.owners.remove_tx(tx);
        self.owners.remove_msrp(&sid);
    }

    /// Writes what the call's MSRP session has to send; hands everything else to the owner;
    /// then files the call under its next deadline.
    pub(super) fn drain_call(&mut self, now: Instant, owner: Owner) {
        loop {
            let Some(call) = self.call_mut(owner) else {
                return;
            };
            let Some(ev) = call.msrp.poll_event() else {
                return self.rearm_call(owner);
            };
            match ev {
                MsrpSessionEvent::Transmit(bytes) => {
                    if let Some(conn) = call.conn() {
                        self.out.push_back(Output::Msrp { conn, bytes });
                    }
                }
                other => self.call_event(now, owner, CallEvent::Msrp(other)),
            }
        }
    }

    /// The call's timers at `now`; `Some` when the call must end because of one.
    pub(super) fn call_timeout(&mut self, now: Instant, owner: Owner) -> Option<End> {
        let call = self.call_mut(owner)?;
        call.msrp.handle_timeout(now);
        let hold = call.timers.expire(CallTimer::Hold, now);
        let connect = call.timers.expire(CallTimer::Connect, now);
        match call.phase {
            Phase::Invited { .. } if hold => {
                tracing::info!(?owner, "XMPP link still down: held INVITE gets 480");
                Some(End::Failed(480))
            }
            Phase::Connecting { .. } if connect => {
                tracing::info!(?owner, "MSRP connection never came up; call ended");
                Some(End::Failed(408))
            }
            _ => None,
        }
    }

    /// MSRP transport events.
    pub(super) fn on_msrp(&mut self, now: Instant, ev: MsrpEvent) {
        match ev {
            MsrpEvent::Up { conn, peer } => {
                if !self.conns.up(now, conn) {
                    tracing::warn!(%peer, "too many unbound MSRP connections; closed");
                    self.out.push_back(Output::MsrpClose { conn });
                }
            }
            MsrpEvent::Frame { conn, frame } => self.on_msrp_frame(now, conn, frame),
            MsrpEvent::Garbage { conn, reason } => {
                tracing::info!(conn, %reason, "malformed MSRP");
            }
            MsrpEvent::Down { conn } => {
                // The connection is gone already: ending the calls unbinds nothing.
                for owner in self.conns.down(conn) {
                    tracing::info!(?owner, "MSRP connection closed; call ends");
                    self.call_event(now, owner, CallEvent::End(End::Failed(503)));
                }
            }
        }
    }

    /// Our outgoing MSRP connection is up (or failed).
    pub(super) fn msrp_connected(
        &mut self,
        now: Instant,
        owner: Owner,
        result: Result<ConnId, String>,
    ) {
        let conn = match result {
            Ok(conn) => conn,
            Err(e) => {
                tracing::info!(?owner, error = %e, "MSRP connect failed");
                return self.call_event(now, owner, CallEvent::End(End::Failed(503)));
            }
        };
        self.conns.drop_unbound(conn);
        let fr = self.cfg.call.failure_report;
        let Some(call) = self.call_mut(owner) else {
            self.out.push_back(Output::MsrpClose { conn });
            return;
        };
        let Phase::Connecting { .. } = call.phase else {
            self.out.push_back(Output::MsrpClose { conn });
            return;
        };
        self.bind(owner, conn);
        let idle = !self.owner_has_queued(owner);
        if let Some(call) = self.call_mut(owner)
            && idle
        {
            // RFC 4975 §5.4: the active side sends at once; a bodiless SEND binds the
            // connection when the owner has nothing to say yet.
            let mid = call.msrp.new_message_id();
            call.msrp
                .send(now, None, &mid, "text/plain", b"", false, fr);
        }
        self.call_event(now, owner, CallEvent::Open);
        self.drain_call(now, owner);
    }

    /// Connecting → Open on `conn`.
    fn bind(&mut self, owner: Owner, conn: ConnId) {
        self.conns.bind(conn, owner);
        if let Some(call) = self.call_mut(owner)
            && let Phase::Connecting { dialog, .. } =
                std::mem::replace(&mut call.phase, Phase::Ended)
        {
            call.phase = Phase::Open { dialog, conn };
            call.timers.stop(CallTimer::Connect);
        }
    }

    /// A frame goes to the session its To-Path names (RFC 4975 §7.3), if that session lives
    /// on this connection — or is waiting for the peer to connect, in which case this frame
    /// binds it (§5.4). Anything else: 481, and a connection carrying no session is closed.
    fn on_msrp_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        let owner = frame
            .header("To-Path")
            .and_then(|p| p.split_whitespace().next())
            .and_then(MsrpUri::parse)
            .and_then(|u| self.owners.msrp(&u.session_id));
        let target = owner.and_then(|o| {
            let call = self.call_mut(o)?;
            match call.phase {
                Phase::Open { conn: bound, .. } if bound == conn => Some((o, false)),
                Phase::Connecting {
                    we_connect: false, ..
                } => Some((o, true)),
                _ => None,
            }
        });
        let Some((owner, bind)) = target else {
            if frame.method().is_some_and(|m| m != "REPORT") {
                let mut r = frame.response(481, "Session Does Not Exist");
                // From-Path: the whole To-Path the peer used (we have no session to name).
                r.set_header("From-Path", frame.header("To-Path").unwrap_or_default());
                self.out.push_back(Output::Msrp {
                    conn,
                    bytes: r.to_bytes(),
                });
            }
            if self.conns.drop_unbound(conn) {
                self.out.push_back(Output::MsrpClose { conn });
            }
            return;
        };
        if bind {
            self.bind(owner, conn);
        }
        if let Some(call) = self.call_mut(owner) {
            call.msrp.on_frame(now, frame);
        }
        if bind {
            self.call_event(now, owner, CallEvent::Open);
        }
        self.drain_call(now, owner);
    }
}
