//! RFC 7702 §6: a SIP user in an XMPP MUC room; stox answers as the room's focus.
//!
//! `sip:capulet@muc.example.com` is the room `capulet@muc.example.com` when
//! `muc.example.com` is in `xmpp.muc_domains`. Flow: INVITE (an MSRP offer that takes
//! `message/cpim`) → 200 with `isfocus` and `a=chatroom:nickname private-messages` →
//! the SIP user's NICKNAME (awaited `groupchat.nickname_wait_ms`, else a temporary
//! nickname from the From display name or user part, §6.1 allows both) → MUC join
//! presence from the SIP user's JID → MUC presence is cached as the roster; once the
//! self-presence (110) arrives, a `full` conference-info NOTIFY with everyone (RFC 4575,
//! versions +1 per NOTIFY, `partial` afterwards, at most one per
//! `groupchat.notify_interval_ms`). SEND (CPIM) ⇄ groupchat/private messages (Tables 4/5);
//! the MUC's reflection of the user's own message is not sent back (§6.2); history and
//! subject are passed on as the MUC sends them. NICKNAME after the join → nick change
//! (200 on the MUC's 303 + new presence, 425 on `conflict`/`not-acceptable`, 403 on other
//! refusals); REFER → 202, one NOTIFY `terminated;reason=noresource` with `SIP/2.0 100
//! Trying` (§6.4), and a mediated invite; BYE → unavailable.

use std::time::{Duration, Instant};

use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use super::table::{Muc, MucTimer, Notifier, Occupant, SentMsg, Side, Stage};
use super::{At, MucId, NS_MUC, NS_MUC_USER};
use crate::body::conference_info::CONTENT_TYPE as CONF_INFO;
use crate::gateway::address::SipAddress;
use crate::gateway::call::{Call, CallEvent, End, in_dialog};
use crate::gateway::metrics::{S2X, X2S};
use crate::gateway::owners::{DialogKey, Owner};
use crate::gateway::{Core, errors, im};
use crate::msrp::session::{Event as MsrpSessionEvent, FailureReport};
use crate::sip::dialog::Dialog;
use crate::sip::message::{Method, NameAddr, Request, Response};
use crate::sip::subscription::{SubState, SubscriptionState};
use crate::sip::transaction::{Dest, TxId};
use crate::xmpp::stanza;

/// Longest conference subscription granted, and the shortest accepted.
const MAX_EXPIRES: u32 = 3600;
const MIN_EXPIRES: u32 = 60;

/// The temporary nickname of a SIP user (RFC 7702 §6.1: "such as the From display name").
fn temporary_nick(req: &Request) -> String {
    let from = req.headers.get("From").and_then(NameAddr::parse);
    from.as_ref()
        .and_then(|f| f.display.as_deref())
        .and_then(super::nickname)
        .or_else(|| {
            from.and_then(|f| SipAddress::parse(&f.uri).ok())
                .and_then(|a| super::nickname(&a.user))
        })
        .unwrap_or_else(|| "sip".into())
}

/// The SIP status a MUC join or nick-change error becomes (§6.3: conflict → 425; a
/// reserved nickname that must be used → 425; the rest by RFC 7247 Table 2).
fn nick_status(cond: &DefinedCondition) -> u16 {
    match cond {
        DefinedCondition::Conflict | DefinedCondition::NotAcceptable => 425,
        DefinedCondition::NotAllowed
        | DefinedCondition::Forbidden
        | DefinedCondition::NotAuthorized => 403,
        other => errors::xmpp_to_sip(other, true),
    }
}

impl Core {
    /// Is this INVITE or SUBSCRIBE for a room of `xmpp.muc_domains`?
    pub(in crate::gateway) fn is_room_request(&self, req: &Request) -> bool {
        SipAddress::parse(&req.uri).is_ok_and(|a| self.addresses.is_muc_domain(&a.host))
    }

    /// §6.1: a SIP user's INVITE to an XMPP room.
    pub(in crate::gateway) fn on_room_invite(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Request,
        from: Dest,
    ) {
        if !self.mucs.cfg.enabled {
            return self.refuse(
                now,
                tx,
                req,
                im::Refusal::new(404, "Groupchat is turned off on this gateway"),
            );
        }
        let user = match im::sip_sender(req, &self.addresses) {
            Ok(u) => u,
            Err(r) => return self.refuse(now, tx, req, r),
        };
        let target = SipAddress::parse(&req.uri).ok();
        let room = target
            .as_ref()
            .and_then(|t| {
                self.addresses
                    .sip_to_jid(&SipAddress {
                        gruu: None,
                        ..t.clone()
                    })
                    .ok()
            })
            .map(|j| j.to_bare());
        let (Some(target), Some(room)) = (target, room) else {
            return self.refuse(now, tx, req, im::Refusal::new(404, "No such room"));
        };
        if self.mucs.rooms_of(&user) >= self.mucs.cfg.max_rooms_per_user {
            return self.refuse(
                now,
                tx,
                req,
                im::Refusal::new(
                    486,
                    "Busy Here (too many rooms: groupchat.max_rooms_per_user)",
                ),
            );
        }
        if self.mucs.in_room(&room).len() >= self.mucs.cfg.max_occupants {
            return self.refuse(
                now,
                tx,
                req,
                im::Refusal::new(486, "Busy Here (room full: groupchat.max_occupants)"),
            );
        }
        if self.mucs.len() + self.chats.len() >= self.chats.cfg.max_sessions {
            let mut r = im::Refusal::new(503, "Service Unavailable (msrp.max_sessions)");
            r.headers.push(("Retry-After", "30".into()));
            return self.refuse(now, tx, req, r);
        }
        let offered = match self.check_offer(req, true) {
            Ok(o) => o,
            Err(r) => return self.refuse(now, tx, req, r),
        };
        let user = if user.resource().is_some() {
            user
        } else {
            let res = format!("msrp-{:08x}", rand::Rng::random::<u32>(&mut self.rng));
            format!("{}/{res}", user.to_bare())
                .parse::<Jid>()
                .unwrap_or(user)
        };
        let user_uri = req
            .headers
            .get("From")
            .and_then(NameAddr::parse)
            .and_then(|f| SipAddress::parse(&f.uri).ok())
            .map(|a| SipAddress { gruu: None, ..a }.to_uri())
            .unwrap_or_default();
        let mut call = Call::invited(tx, req, offered, from.transport);
        call.focus = true;
        let room_uri = SipAddress {
            gruu: None,
            ..target
        }
        .to_uri();
        let mut m = Muc::new(Side::Focus, user, room, room_uri, call);
        m.user_uri = user_uri;
        m.nick = temporary_nick(req);
        m.private_ok = m
            .call
            .peer_chatroom
            .as_ref()
            .is_some_and(|t| t.iter().any(|t| t == "private-messages"));
        let wait = Duration::from_millis(self.mucs.cfg.nickname_wait_ms);
        m.timers.set(MucTimer::NickWait, now + wait);
        let id = self.mucs.insert(m);
        self.register_call(Owner::Muc(id));
        if self.link_up {
            self.answer_call(now, Owner::Muc(id));
        } else {
            // As for 1:1 chat: the INVITE waits for the link (`msrp.invite_hold_secs`, then
            // 480), so that a gateway that is (re)connecting does not turn callers away.
            let hold = self.cfg.call.hold;
            if let Some(c) = self.mucs.call_mut(id) {
                c.timers
                    .set(crate::gateway::call::CallTimer::Hold, now + hold);
            }
        }
        self.mucs.rearm(id);
        tracing::debug!(muc = id, call_id = %req.call_id(), "SIP user entering an XMPP room");
    }

    /// What a focus session's call reports.
    pub(in crate::gateway) fn focus_call_event(&mut self, now: Instant, id: MucId, ev: CallEvent) {
        match ev {
            CallEvent::Refused { .. } | CallEvent::End(_) => {
                let why = match ev {
                    CallEvent::End(w) => w,
                    _ => End::Local,
                };
                self.focus_end(now, id, why, None);
            }
            CallEvent::Open => {}
            CallEvent::Msrp(ev) => self.focus_msrp(now, id, ev),
        }
        self.mucs.rearm(id);
    }

    /// The MUC join (or a retry with another nickname).
    fn focus_join(&mut self, id: MucId) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        m.tries += 1;
        m.timers.stop(MucTimer::NickWait);
        self.focus_join_presence(id);
    }

    fn focus_join_presence(&mut self, id: MucId) {
        let Some(m) = self.mucs.get(id) else {
            return;
        };
        let Some(to) = m.occupant(&m.nick) else {
            return;
        };
        let mut p = Presence::new(PresenceType::None);
        p.from = Some(m.user.clone());
        p.to = Some(to);
        p.payloads.push(Element::builder("x", NS_MUC).build());
        self.emit(p);
    }

    /// The component link is back: held INVITEs are answered. A MUC removes occupants whose stanzas bounced while stox
    /// was away (XEP-0045 status 333), so every SIP user in a room joins again; a MUC that
    /// still has them answers with the roster and self-presence as for any join, and the
    /// conference NOTIFYs carry what changed.
    pub(in crate::gateway) fn muc_link_up(&mut self, now: Instant) {
        for id in self.mucs.ids() {
            if self.mucs.get(id).is_some_and(|m| {
                m.side == Side::Focus
                    && matches!(m.call.phase, crate::gateway::call::Phase::Invited { .. })
            }) {
                self.answer_call(now, Owner::Muc(id));
                self.mucs.rearm(id);
                continue;
            }
            if self
                .mucs
                .get(id)
                .is_some_and(|m| m.side == Side::Focus && m.stage == Stage::Joined)
            {
                self.focus_join_presence(id);
            }
        }
    }

    /// The MSRP side of a SIP user in a room: messages (Table 5), NICKNAME.
    fn focus_msrp(&mut self, now: Instant, id: MucId, ev: MsrpSessionEvent) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        match ev {
            MsrpSessionEvent::Message {
                tid,
                message_id,
                content_type,
                body,
                failure_report,
                ..
            } => {
                // The session's check (`check_room_body`) answered what does not read with
                // 400/415 already.
                let Ok(msg) = super::room_message(&content_type, &body) else {
                    return;
                };
                let private = msg.to.as_deref().and_then(super::gr_of);
                let to = match &private {
                    Some(nick) => m.occupant(nick),
                    None => Some(Jid::from(m.room.clone())),
                };
                let Some(to) = to else {
                    if failure_report {
                        m.call
                            .msrp
                            .report(&message_id, body.len(), 404, "No such participant");
                    }
                    return self.drain_call(now, Owner::Muc(id));
                };
                let mut st = Message::new(Some(to));
                st.from = Some(m.user.clone());
                st.id = Some(Id(tid.clone()));
                st.type_ = if private.is_some() {
                    MessageType::Chat
                } else {
                    MessageType::Groupchat
                };
                if private.is_some() {
                    st.payloads.push(Element::builder("x", NS_MUC_USER).build());
                }
                if super::room_text(&msg, &mut st).is_err() {
                    return;
                }
                m.sent.insert(
                    tid,
                    SentMsg {
                        stanza: None,
                        msrp: Some((message_id, body.len(), failure_report)),
                    },
                );
                if m.stage == Stage::Joined {
                    self.metrics.message(S2X, "groupchat", "delivered", "");
                    self.emit(st);
                } else {
                    m.queue.push_back(st);
                }
            }
            MsrpSessionEvent::Nickname { tid, nick } => self.focus_nickname(now, id, tid, nick),
            MsrpSessionEvent::SendFailed { code, reason, .. } => {
                tracing::info!(muc = id, code, %reason, "room message to a SIP participant failed");
            }
            MsrpSessionEvent::Accepted { .. }
            | MsrpSessionEvent::Report { .. }
            | MsrpSessionEvent::NicknameResult { .. }
            | MsrpSessionEvent::Transmit(_) => {}
        }
        self.drain_call(now, Owner::Muc(id));
    }

    /// §6.1 / §6.3: the SIP user's NICKNAME: the join's nickname, or a nick change.
    fn focus_nickname(&mut self, now: Instant, id: MucId, tid: String, nick: String) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let Some(nick) = super::nickname(&nick) else {
            m.call
                .msrp
                .answer_nickname(&tid, 425, "Nickname usage failed (not a valid nickname)");
            return self.drain_call(now, Owner::Muc(id));
        };
        if m.occupant(&nick).is_none() {
            m.call
                .msrp
                .answer_nickname(&tid, 425, "Nickname usage failed (not a valid nickname)");
            return self.drain_call(now, Owner::Muc(id));
        }
        if m.nick_op.is_some() {
            m.call
                .msrp
                .answer_nickname(&tid, 403, "Another NICKNAME is in progress");
            return self.drain_call(now, Owner::Muc(id));
        }
        match (m.stage, m.tries) {
            (Stage::Entering, 0) => {
                m.nick = nick.clone();
                m.nick_op = Some((tid, nick));
                self.focus_join(id);
            }
            (Stage::Entering, _) => m.nick_op = Some((tid, nick)),
            (Stage::Joined, _) if nick == m.nick => {
                m.call.msrp.answer_nickname(&tid, 200, "OK");
            }
            (Stage::Joined, _) => {
                m.nick_op = Some((tid, nick.clone()));
                self.focus_nick_change(id, &nick);
            }
        }
        self.drain_call(now, Owner::Muc(id));
    }

    fn focus_nick_change(&mut self, id: MucId, nick: &str) {
        let Some(m) = self.mucs.get(id) else {
            return;
        };
        let Some(to) = m.occupant(nick) else {
            return;
        };
        let mut p = Presence::new(PresenceType::None);
        p.from = Some(m.user.clone());
        p.to = Some(to);
        self.emit(p);
    }

    /// A stanza from a MUC room to a SIP user in it. `false`: not one of our sessions.
    pub(in crate::gateway) fn focus_stanza_presence(&mut self, now: Instant, p: &Presence) -> bool {
        let (Some(from), Some(to)) = (p.from.as_ref(), p.to.as_ref()) else {
            return false;
        };
        if !self.addresses.is_muc_domain(from.domain().as_str()) {
            return false;
        }
        let Some(id) = self.mucs.find(to, &from.to_bare()) else {
            return true; // nothing to do for a room we are not in (never answered: presence)
        };
        let Some(nick) = from.resource().map(|r| r.as_str().to_string()) else {
            return true;
        };
        let codes = super::statuses(&p.payloads);
        let (new_nick, real) = super::item(&p.payloads);
        let max = self.mucs.cfg.max_occupants;
        let Some(m) = self.mucs.get_mut(id) else {
            return true;
        };
        let pending = m.nick_op.as_ref().map(|(_, n)| n.clone());
        let is_self =
            codes.contains(&110) || nick == m.nick || pending.as_deref() == Some(nick.as_str());
        match p.type_ {
            PresenceType::Error if is_self => {
                let cond = p
                    .payloads
                    .iter()
                    .find_map(|e| StanzaError::try_from(e.clone()).ok())
                    .map(|e| e.defined_condition)
                    .unwrap_or(DefinedCondition::ServiceUnavailable);
                self.focus_presence_error(now, id, &nick, cond);
            }
            PresenceType::Unavailable if is_self => {
                if codes.contains(&303) {
                    return true; // a nick change: the new nick's presence follows
                }
                tracing::info!(muc = id, ?codes, "the MUC removed the SIP user");
                let reason = if codes.contains(&307) {
                    "kicked from the room"
                } else if codes.contains(&301) {
                    "banned from the room"
                } else {
                    "removed from the room"
                };
                self.focus_end(now, id, End::Local, Some((403, reason)));
            }
            PresenceType::None if is_self => {
                let old = std::mem::replace(&mut m.nick, nick.clone());
                let entering = m.stage == Stage::Entering;
                m.stage = Stage::Joined;
                if let Some(n) = m.notifier.as_mut() {
                    if entering {
                        n.full = true;
                    } else if old != nick {
                        n.dirty.insert(old.clone());
                        n.dirty.insert(nick.clone());
                    }
                }
                let op = m.nick_op.take();
                match op {
                    Some((tid, want)) if want == nick => {
                        m.call.msrp.answer_nickname(&tid, 200, "OK")
                    }
                    Some((tid, want)) => {
                        // Joined with the temporary nick while the NICKNAME was on its way.
                        m.nick_op = Some((tid, want.clone()));
                        self.focus_nick_change(id, &want);
                    }
                    None => {}
                }
                if entering {
                    let Some(m) = self.mucs.get_mut(id) else {
                        return true;
                    };
                    let queued: Vec<Message> = m.queue.drain(..).collect();
                    for q in queued {
                        self.metrics.message(S2X, "groupchat", "delivered", "");
                        self.emit(q);
                    }
                }
                self.drain_call(now, Owner::Muc(id));
            }
            PresenceType::Unavailable => {
                if m.roster.remove(&nick).is_some()
                    && let Some(n) = m.notifier.as_mut()
                {
                    n.dirty.insert(nick);
                }
                let _ = new_nick;
            }
            PresenceType::None => {
                if !m.roster.contains_key(&nick) && m.roster.len() >= max {
                    return true;
                }
                m.roster.insert(
                    nick.clone(),
                    Occupant {
                        entity: String::new(),
                        real,
                    },
                );
                if let Some(n) = m.notifier.as_mut() {
                    n.dirty.insert(nick);
                }
            }
            _ => {}
        }
        self.focus_notify(now, id);
        self.mucs.rearm(id);
        true
    }

    /// The MUC refused our join or nick change.
    fn focus_presence_error(
        &mut self,
        now: Instant,
        id: MucId,
        nick: &str,
        cond: DefinedCondition,
    ) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let code = nick_status(&cond);
        if let Some((tid, _)) = m.nick_op.take() {
            // The SIP user chose the nickname: it hears 425/403 and may try another.
            let reason = if code == 425 {
                "Nickname usage failed"
            } else {
                "Forbidden"
            };
            m.call.msrp.answer_nickname(&tid, code, reason);
            if m.stage == Stage::Entering {
                m.tries = 0;
                m.nick = nick.to_string();
            }
            return self.drain_call(now, Owner::Muc(id));
        }
        if m.stage == Stage::Entering && code == 425 && m.tries < 4 {
            // A temporary nickname in use: the gateway adjusts it (§7).
            m.nick.push('_');
            return self.focus_join(id);
        }
        if m.stage == Stage::Entering {
            tracing::info!(muc = id, ?cond, "the MUC refused the SIP user");
            let status = errors::xmpp_to_sip(&cond, false);
            self.focus_end(
                now,
                id,
                End::Local,
                Some((status, "the XMPP room refused the join")),
            );
        }
    }

    /// A message from a MUC room to a SIP user: groupchat (not the user's own reflection),
    /// private, subject, errors for what the user sent. `false`: not one of our sessions.
    pub(in crate::gateway) fn focus_stanza_message(&mut self, now: Instant, msg: &Message) -> bool {
        let (Some(from), Some(to)) = (msg.from.as_ref(), msg.to.as_ref()) else {
            return false;
        };
        if !self.addresses.is_muc_domain(from.domain().as_str()) {
            return false;
        }
        let Some(id) = self.mucs.find(to, &from.to_bare()) else {
            if msg.type_ != MessageType::Error && msg.type_ != MessageType::Groupchat {
                let err = stanza::error(
                    DefinedCondition::ItemNotFound,
                    "no such SIP participant in this room",
                );
                self.bounce(msg, err);
            }
            return true;
        };
        let Some(m) = self.mucs.get_mut(id) else {
            return true;
        };
        let nick = from.resource().map(|r| r.as_str().to_string());
        if msg.type_ == MessageType::Error {
            let cond = msg
                .payloads
                .iter()
                .find_map(|e| StanzaError::try_from(e.clone()).ok())
                .map(|e| e.defined_condition)
                .unwrap_or(DefinedCondition::ServiceUnavailable);
            let sent = msg.id.as_ref().and_then(|i| m.sent.remove(&i.0));
            if let Some(SentMsg {
                msrp: Some((mid, len, true)),
                ..
            }) = sent
            {
                let code = errors::xmpp_to_sip(&cond, nick.is_some());
                m.call.msrp.report(&mid, len, code, &format!("{cond:?}"));
                self.metrics.errored(S2X, "groupchat", format!("{cond:?}"));
                self.drain_call(now, Owner::Muc(id));
            }
            return true;
        }
        let body = msg
            .bodies
            .get("")
            .or_else(|| msg.bodies.values().next())
            .cloned();
        let subject = msg
            .subjects
            .get("")
            .or_else(|| msg.subjects.values().next())
            .cloned();
        let stamp = msg
            .payloads
            .iter()
            .find(|p| p.is("delay", "urn:xmpp:delay"))
            .and_then(|d| d.attr("stamp"))
            .map(String::from);
        let private = msg.type_ != MessageType::Groupchat;
        if !private && nick.as_deref() == Some(m.nick.as_str()) && stamp.is_none() {
            // §6.2: the MUC's reflection of the user's own message is not echoed.
            if let Some(i) = &msg.id {
                m.sent.remove(&i.0);
            }
            return true;
        }
        if !private
            && nick.is_none()
            && let Some(s) = &subject
        {
            m.subject = Some(s.clone()).filter(|s| !s.is_empty());
            if let Some(n) = m.notifier.as_mut() {
                n.subject_dirty = true;
            }
        }
        let text = match (&body, &subject) {
            (Some(b), _) if !b.is_empty() => b.clone(),
            (_, Some(s)) if !s.is_empty() && nick.is_none() => s.clone(),
            _ => {
                self.focus_notify(now, id);
                return true; // chat states, invitations, status codes: nothing to carry
            }
        };
        if private && !m.private_ok {
            let err = stanza::error(
                DefinedCondition::FeatureNotImplemented,
                "this SIP participant takes no private messages",
            );
            self.bounce(msg, err);
            return true;
        }
        let from_uri = match &nick {
            Some(n) => super::occupant_uri(&m.room_uri, n),
            None => m.room_uri.clone(),
        };
        let to_uri = if private {
            m.user_uri.clone()
        } else {
            m.room_uri.clone()
        };
        let dt = match stamp {
            Some(s) => Some(s),
            None => self.wall_now(now),
        };
        let Some(m) = self.mucs.get_mut(id) else {
            return true;
        };
        let subj = subject.filter(|_| nick.is_none());
        let cpim = super::cpim_out(
            &format!("<{from_uri}>"),
            &format!("<{to_uri}>"),
            dt.as_deref(),
            subj.as_deref(),
            "text/plain;charset=UTF-8",
            text.as_bytes(),
        );
        let mid = m.call.msrp.new_message_id();
        m.call.msrp.send(
            now,
            None,
            &mid,
            "message/cpim",
            &cpim,
            false,
            FailureReport::Yes,
        );
        self.metrics.message(X2S, "groupchat", "delivered", "");
        self.drain_call(now, Owner::Muc(id));
        self.focus_notify(now, id);
        true
    }

    /// In the SIP user's INVITE dialog (or its own subscription dialog): SUBSCRIBE to the
    /// conference, REFER; the rest (BYE, re-INVITE) is the call's.
    pub(in crate::gateway) fn focus_in_dialog(
        &mut self,
        now: Instant,
        id: MucId,
        tx: TxId,
        req: &Request,
    ) {
        match req.method {
            Method::Subscribe => self.focus_subscribe(now, Some(id), tx, req),
            Method::Refer => self.focus_refer(now, id, tx, req),
            _ => {
                let in_sub = self
                    .mucs
                    .get(id)
                    .and_then(|m| m.notifier.as_ref())
                    .and_then(|n| n.dialog.as_ref())
                    .is_some_and(|d| Some(DialogKey::of(d)) == DialogKey::of_request(req));
                if in_sub {
                    return self
                        .ua
                        .reply(now, tx, req, 405, &[("Allow", "SUBSCRIBE".into())]);
                }
                self.call_in_dialog(now, Owner::Muc(id), tx, req)
            }
        }
    }

    /// §6.1, RFC 4575: a SUBSCRIBE to the room's conference state (in the INVITE dialog, in
    /// its own dialog, or a new one naming the room).
    pub(in crate::gateway) fn focus_subscribe(
        &mut self,
        now: Instant,
        id: Option<MucId>,
        tx: TxId,
        req: &Request,
    ) {
        if event_is_not_conference(req) {
            return self
                .ua
                .reply(now, tx, req, 489, &[("Allow-Events", "conference".into())]);
        }
        let id = match id {
            Some(id) => id,
            None => {
                let user = match im::sip_sender(req, &self.addresses) {
                    Ok(u) => u,
                    Err(r) => return self.refuse(now, tx, req, r),
                };
                let room = SipAddress::parse(&req.uri)
                    .ok()
                    .and_then(|t| {
                        self.addresses
                            .sip_to_jid(&SipAddress { gruu: None, ..t })
                            .ok()
                    })
                    .map(|j| j.to_bare());
                let found = room.and_then(|r| self.mucs.find(&Jid::from(user.to_bare()), &r));
                match found {
                    Some(id) => id,
                    None => {
                        return self.refuse(
                            now,
                            tx,
                            req,
                            im::Refusal::new(403, "Forbidden (enter the room with INVITE first)"),
                        );
                    }
                }
            }
        };
        let expires = match req.headers.get("Expires").map(|e| e.trim().parse::<u32>()) {
            None => MAX_EXPIRES,
            Some(Ok(e)) => e,
            Some(Err(_)) => return self.refuse(now, tx, req, im::Refusal::new(400, "Bad Expires")),
        };
        if expires != 0 && expires < MIN_EXPIRES {
            let mut r = im::Refusal::new(423, "Interval Too Brief");
            r.headers.push(("Min-Expires", MIN_EXPIRES.to_string()));
            return self.refuse(now, tx, req, r);
        }
        let granted = expires.min(MAX_EXPIRES);
        let key = DialogKey::of_request(req);
        let Some(m) = self.mucs.get_mut(id) else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        let invite_key = m.call.dialog_mut().map(|d| DialogKey::of(d));
        let own_key = m
            .notifier
            .as_ref()
            .and_then(|n| n.dialog.as_ref())
            .map(DialogKey::of);
        // Which dialog: the INVITE's, the subscription's own, or a new one.
        let tag = match &key {
            Some(k) if Some(k) == invite_key.as_ref() => {
                if let Some(d) = m.call.dialog_mut()
                    && let Err(e) = d.on_request(req)
                {
                    return self.ua.reply(now, tx, req, e.code(), &[]);
                }
                if m.notifier.as_ref().is_some_and(|n| n.dialog.is_some()) {
                    m.notifier = None;
                }
                None
            }
            Some(k) if Some(k) == own_key.as_ref() => {
                if let Some(d) = m.notifier.as_mut().and_then(|n| n.dialog.as_mut())
                    && let Err(e) = d.on_request(req)
                {
                    return self.ua.reply(now, tx, req, e.code(), &[]);
                }
                None
            }
            Some(_) => return self.ua.reply(now, tx, req, 481, &[]),
            None => Some(self.ua.new_tag()),
        };
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if let Some(tag) = &tag {
            let Some(d) = Dialog::uas(req, tag) else {
                return self.ua.reply(now, tx, req, 400, &[]);
            };
            if let Some(old) = m.notifier.as_ref().and_then(|n| n.dialog.as_ref()) {
                self.owners.remove_dialog(&DialogKey::of(old));
            }
            self.owners.insert_dialog(DialogKey::of(&d), Owner::Muc(id));
            m.notifier = Some(Notifier {
                dialog: Some(d),
                ..Default::default()
            });
        } else if m.notifier.is_none() {
            m.notifier = Some(Notifier::default());
        }
        let to_uri = m.room_uri.clone();
        let transport = m.call.transport;
        let mut resp = Response::to_request(req, 200, "OK", tag.as_deref());
        resp.headers.push("Expires", granted.to_string());
        resp.headers.push(
            "Contact",
            format!("{};isfocus", self.ua.config().contact(&to_uri, transport)),
        );
        self.ua.respond(now, tx, resp);
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let Some(n) = m.notifier.as_mut() else {
            return;
        };
        n.full = true;
        n.last = None;
        if granted == 0 {
            n.expires_at = Some(now);
            self.conference_notify(now, id, "terminated;reason=timeout".into());
            return self.focus_unsubscribed(id);
        }
        n.expires_at = Some(now + Duration::from_secs(granted.into()));
        m.timers.set(
            MucTimer::Subscription,
            now + Duration::from_secs(granted.into()),
        );
        self.focus_notify(now, id);
        self.mucs.rearm(id);
    }

    /// The SIP user's conference subscription is over; its own dialog is forgotten.
    fn focus_unsubscribed(&mut self, id: MucId) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if let Some(n) = m.notifier.take()
            && let Some(d) = &n.dialog
        {
            self.owners.remove_dialog(&DialogKey::of(d));
        }
        m.timers.stop(MucTimer::Subscription);
        m.timers.stop(MucTimer::Notify);
    }

    /// Sends what changed, when the rate limit allows (RFC 6665 §4.2.2): the first document
    /// at once (empty until the join completes), a `full` one when the join completes, then
    /// `partial` ones.
    fn focus_notify(&mut self, now: Instant, id: MucId) {
        let interval = Duration::from_millis(self.mucs.cfg.notify_interval_ms);
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let stage = m.stage;
        let Some(n) = m.notifier.as_mut() else {
            return;
        };
        let due = n.full || n.subject_dirty || !n.dirty.is_empty();
        if !due || n.in_flight.is_some() || (stage == Stage::Entering && n.version > 0) {
            return;
        }
        if let Some(last) = n.last
            && last + interval > now
        {
            m.timers.set(MucTimer::Notify, last + interval);
            return;
        }
        let remaining = n
            .expires_at
            .map(|e| e.saturating_duration_since(now))
            .unwrap_or_default();
        self.conference_notify(
            now,
            id,
            SubscriptionState::header(&SubState::Active, remaining),
        );
    }

    /// One conference NOTIFY with the pending changes and this Subscription-State.
    fn conference_notify(&mut self, now: Instant, id: MucId, state: String) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let joined = m.stage == Stage::Joined;
        let room_uri = m.room_uri.clone();
        let my_nick = m.nick.clone();
        let users_for = |nick: &str, occ: Option<&Occupant>, me: bool| {
            if me {
                super::conference_user(&room_uri, nick, None, false)
            } else {
                match occ {
                    Some(o) => super::conference_user(&room_uri, nick, o.real.as_deref(), false),
                    None => super::conference_user(&room_uri, nick, None, true),
                }
            }
        };
        let Some(n) = m.notifier.as_mut() else {
            return;
        };
        n.version += 1;
        let full = n.full;
        let users: Vec<_> = if full {
            let mut all: Vec<_> = m
                .roster
                .iter()
                .map(|(k, o)| users_for(k, Some(o), false))
                .collect();
            if joined {
                all.push(users_for(&my_nick, None, true));
            }
            all
        } else {
            n.dirty
                .iter()
                .map(|k| users_for(k, m.roster.get(k), *k == my_nick && joined))
                .collect()
        };
        let subject = (full || n.subject_dirty)
            .then(|| m.subject.clone())
            .flatten();
        let doc = super::conference_doc(
            &room_uri,
            &m.room,
            n.version,
            full,
            subject.as_deref(),
            users,
        );
        n.full = false;
        n.subject_dirty = false;
        n.dirty.clear();
        n.last = Some(now);
        let dialog = match n.dialog.as_mut() {
            Some(d) => Some(d),
            None => m.call.dialog_mut(),
        };
        let Some(d) = dialog else {
            return;
        };
        let Some(mut o) = in_dialog(&d.request(Method::Notify, None)) else {
            return;
        };
        let contact = self.ua.config().contact(&room_uri, m.call.transport);
        o.headers = vec![
            ("Event".into(), "conference".into()),
            ("Subscription-State".into(), state),
            ("Contact".into(), format!("{contact};isfocus")),
        ];
        o.body = Some((CONF_INFO.to_string(), doc.to_body().into_bytes()));
        let tx = self.ua.send_request(now, o);
        self.owners.insert_tx(tx, Owner::Muc(id));
        if let Some(n) = self.mucs.get_mut(id).and_then(|m| m.notifier.as_mut()) {
            n.in_flight = Some(tx);
        }
    }

    /// The answer to one of our NOTIFYs: the next may go; a failure ends the subscription
    /// (RFC 6665 §4.2.2: 481 and other failures).
    pub(in crate::gateway) fn focus_response(
        &mut self,
        now: Instant,
        id: MucId,
        tx: TxId,
        code: u16,
    ) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let Some(n) = m.notifier.as_mut() else {
            return;
        };
        if n.in_flight != Some(tx) {
            return; // a REFER progress NOTIFY
        }
        n.in_flight = None;
        if code >= 300 {
            tracing::info!(
                muc = id,
                code,
                "conference NOTIFY refused; subscription over"
            );
            return self.focus_unsubscribed(id);
        }
        self.focus_notify(now, id);
        self.mucs.rearm(id);
    }

    /// §6.4: REFER from the SIP user → 202, a NOTIFY that ends the implicit subscription
    /// at once (`100 Trying`: what happens next is unknowable), and a mediated invite.
    fn focus_refer(&mut self, now: Instant, id: MucId, tx: TxId, req: &Request) {
        let target = req
            .headers
            .get("Refer-To")
            .and_then(NameAddr::parse)
            .and_then(|n| SipAddress::parse(&n.uri).ok())
            .and_then(|a| {
                self.addresses
                    .sip_to_jid(&SipAddress { gruu: None, ..a })
                    .ok()
            });
        let Some(invitee) = target else {
            return self.refuse(
                now,
                tx,
                req,
                im::Refusal::new(400, "Bad Refer-To (not an address this gateway can invite)"),
            );
        };
        let Some(m) = self.mucs.get_mut(id) else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        let Some(d) = m.call.dialog_mut() else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        if let Err(e) = d.on_request(req) {
            return self.ua.reply(now, tx, req, e.code(), &[]);
        }
        let cseq = req.cseq().map(|(n, _)| n).unwrap_or(1);
        let (room_uri, transport) = (m.room_uri.clone(), m.call.transport);
        let contact = format!("{};isfocus", self.ua.config().contact(&room_uri, transport));
        let mut resp = Response::to_request(req, 202, "Accepted", None);
        resp.headers.push("Contact", contact.clone());
        self.ua.respond(now, tx, resp);
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let Some(d) = m.call.dialog_mut() else {
            return;
        };
        if let Some(mut o) = in_dialog(&d.request(Method::Notify, None)) {
            o.headers = vec![
                ("Event".into(), format!("refer;id={cseq}")),
                (
                    "Subscription-State".into(),
                    "terminated;reason=noresource".into(),
                ),
                ("Contact".into(), contact),
            ];
            o.body = Some((
                "message/sipfrag;version=2.0".into(),
                b"SIP/2.0 100 Trying\r\n".to_vec(),
            ));
            let tx = self.ua.send_request(now, o);
            self.owners.insert_tx(tx, Owner::Muc(id));
        }
        let Some(m) = self.mucs.get(id) else {
            return;
        };
        let mut st = Message::new(Some(Jid::from(m.room.clone())));
        st.type_ = MessageType::Normal;
        st.from = Some(m.user.clone());
        st.payloads.push(
            Element::builder("x", NS_MUC_USER)
                .append(
                    Element::builder("invite", NS_MUC_USER)
                        .at("to", invitee.to_bare().to_string())
                        .build(),
                )
                .build(),
        );
        self.emit(st);
    }

    /// The SIP user leaves (BYE), is removed, or the session fails: unavailable to the
    /// room, the conference subscription terminated, BYE (with a Reason when the XMPP side
    /// ended it, RFC 3326).
    pub(in crate::gateway) fn focus_end(
        &mut self,
        now: Instant,
        id: MucId,
        why: End,
        reason: Option<(u16, &str)>,
    ) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if m.tries > 0
            && let Some(to) = m.occupant(&m.nick)
        {
            let mut p = Presence::new(PresenceType::Unavailable);
            p.from = Some(m.user.clone());
            p.to = Some(to);
            self.emit(p);
        }
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if let Some(n) = m.notifier.as_mut()
            && (n.dialog.is_some() || why != End::PeerBye)
        {
            n.in_flight = None;
            n.last = None;
            self.conference_notify(now, id, "terminated;reason=noresource".into());
        }
        self.focus_unsubscribed(id);
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        for q in m.queue.drain(..) {
            tracing::info!(muc = id, stanza_id = ?q.id.as_ref().map(|i| &i.0), "room message not delivered: the session ended before the join");
        }
        if let (Some((code, text)), Some(d)) = (reason, m.call.dialog_mut())
            && let Some(mut o) = in_dialog(&d.request(Method::Bye, None))
        {
            o.headers.push((
                "Reason".into(),
                format!("SIP ;cause={code} ;text=\"{text}\""),
            ));
            self.ua.send_request(now, o);
        }
        self.end_call(now, Owner::Muc(id), why);
        self.mucs.remove(id);
    }

    /// A focus session's own timers: the NICKNAME wait, the NOTIFY rate, the subscription.
    pub(in crate::gateway) fn focus_timeout(&mut self, now: Instant, id: MucId) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if m.timers.expire(MucTimer::NickWait, now) && m.tries == 0 && m.stage == Stage::Entering {
            self.focus_join(id);
        }
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if m.timers.expire(MucTimer::Subscription, now) && m.notifier.is_some() {
            if let Some(n) = m.notifier.as_mut() {
                n.in_flight = None;
                n.last = None;
            }
            self.conference_notify(now, id, "terminated;reason=timeout".into());
            self.focus_unsubscribed(id);
        }
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if m.timers.expire(MucTimer::Notify, now) {
            self.focus_notify(now, id);
        }
    }
}

/// A SUBSCRIBE for another package than `conference`.
fn event_is_not_conference(req: &Request) -> bool {
    super::participant::event_of(req) != "conference"
}
