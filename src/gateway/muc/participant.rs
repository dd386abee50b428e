//! RFC 7702 §5: an XMPP user in a SIP/MSRP chat room; stox is the participant.
//!
//! The user joins `montague\40chat.example.net@sip.example.com/JuliC` (the XEP-0106 form
//! of `sip:montague@chat.example.net`, allowed by `sip.remote_domains`). Flow:
//! join presence → INVITE (`message/cpim` offer, `a=chatroom:nickname private-messages`,
//! §5.1 Table 1: From = bare JID, `gr` = resource in Contact) → ACK → bodiless SEND (the
//! call does it, RFC 4975 §5.4) → NICKNAME when the answer's `a=chatroom` has `nickname`
//! (§5.2) → SUBSCRIBE `Event: conference` in the INVITE dialog (§5.3, Expires 600) →
//! once the nickname is settled and the roster is in: one presence per occupant, our
//! self-presence with status 110 last, then the subject (empty when none), XEP-0045 §7.2's
//! order. Then: groupchat ⇄ CPIM SEND (Table 4/5; our own message is reflected when the
//! switch answers 200), private messages ⇄ CPIM `To: <room;gr=nick>`, nick change ⇄
//! NICKNAME (303 + 110 on success, `conflict` on 425), mediated invite → REFER (RFC 4579
//! §5.5) with its NOTIFYs, unavailable → SUBSCRIBE Expires 0 + BYE, the focus's BYE →
//! self-unavailable with 110 + 332.

use std::time::{Duration, Instant};

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::table::{ConfSub, Muc, MucTimer, SentMsg, Side, Stage};
use super::{At, MucId, NS_MUC_USER};
use crate::body::conference_info::{ConferenceInfo, State};
use crate::body::sdp;
use crate::gateway::call::{Call, CallEvent, End, in_dialog, tid_of};
use crate::gateway::metrics::{S2X, X2S, condition};
use crate::gateway::owners::Owner;
use crate::gateway::{Core, errors, im};
use crate::msrp::session::{Event as MsrpSessionEvent, FailureReport};
use crate::sip::message::{Method, Request};
use crate::sip::subscription::{SubState, SubscriptionState};
use crate::sip::transaction::TxId;
use crate::sip::ua::Outgoing;
use crate::xmpp::stanza;

/// The first token of an `Event` header, lower case.
pub(in crate::gateway) fn event_of(req: &Request) -> String {
    req.headers
        .get("Event")
        .and_then(|e| e.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl Core {
    /// Presence from an XMPP user to an occupant JID under the component: join, nick
    /// change, leave. `false` when it is not about a room (presence interworking takes it).
    pub(in crate::gateway) fn participant_presence(&mut self, now: Instant, p: &Presence) -> bool {
        let (Some(user), Some(to)) = (p.from.clone(), p.to.clone()) else {
            return false;
        };
        if !to
            .domain()
            .as_str()
            .eq_ignore_ascii_case(self.addresses.component())
        {
            return false;
        }
        let Some(nick) = to.resource().map(|r| r.as_str().to_string()) else {
            return false;
        };
        let room = to.to_bare();
        let found = self.mucs.find(&user, &room);
        match (&p.type_, found) {
            (PresenceType::Unavailable, Some(id)) => {
                let status = p.statuses.values().next().cloned();
                self.participant_leave(now, id, status);
            }
            (PresenceType::None, Some(id)) => self.participant_nick(now, id, nick),
            (PresenceType::None, None) if super::is_join(p) => match super::nickname(&nick) {
                Some(n) if n == nick => self.participant_join(now, user, room, nick),
                _ => self.participant_refuse(
                    user,
                    &room,
                    &nick,
                    DefinedCondition::JidMalformed,
                    "not a nickname SIP rooms take (RFC 8266 Nickname profile)",
                ),
            },
            (PresenceType::Error, Some(_)) => {}
            _ => return false,
        }
        true
    }

    fn participant_refuse(
        &mut self,
        user: Jid,
        room: &BareJid,
        nick: &str,
        cond: DefinedCondition,
        text: &str,
    ) {
        let Some(from) = super::occupant_jid(room, nick) else {
            return;
        };
        self.emit(super::join_error(
            from,
            user,
            room,
            stanza::error(cond, text),
        ));
    }

    /// §5.1: the join presence becomes an INVITE to the room URI.
    fn participant_join(&mut self, now: Instant, user: Jid, room: BareJid, nick: String) {
        if !self.mucs.cfg.enabled {
            return self.participant_refuse(
                user,
                &room,
                &nick,
                DefinedCondition::ServiceUnavailable,
                "groupchat is turned off on this gateway (groupchat.enabled)",
            );
        }
        if user.resource().is_none() {
            return self.participant_refuse(
                user,
                &room,
                &nick,
                DefinedCondition::JidMalformed,
                "join from a full JID",
            );
        }
        if self.mucs.rooms_of(&user) >= self.mucs.cfg.max_rooms_per_user {
            return self.participant_refuse(
                user,
                &room,
                &nick,
                DefinedCondition::ResourceConstraint,
                "too many rooms through this gateway (groupchat.max_rooms_per_user)",
            );
        }
        if self.mucs.len() + self.chats.len() >= self.chats.cfg.max_sessions {
            return self.participant_refuse(
                user,
                &room,
                &nick,
                DefinedCondition::ResourceConstraint,
                "too many MSRP sessions (msrp.max_sessions); try again later",
            );
        }
        // The addressing of Table 1, as for any message from this user to that JID.
        let mut probe = Message::new(Some(Jid::from(room.clone())));
        probe.from = Some(user.clone());
        probe.type_ = MessageType::Chat;
        let mut page = match im::page_to(&probe, &self.addresses) {
            Ok(p) => p,
            Err(e) => {
                let text = e.texts.values().next().cloned().unwrap_or_default();
                return self.participant_refuse(
                    user,
                    &room,
                    &nick,
                    DefinedCondition::ItemNotFound,
                    &text,
                );
            }
        };
        let transport = self.ua.config().request_transport();
        let contact = self.ua.config().contact(&page.from.uri, transport);
        page.from_without_gruu();
        let (offer, msrp) = self.room_offer();
        let call_id = self.ua.new_call_id();
        let tag = self.ua.new_tag();
        let body = ("application/sdp".to_string(), offer.clone().into_bytes());
        let mut out = page.request("INVITE", tag, call_id.clone(), 1, body);
        out.headers.push(("Contact".to_string(), contact));
        out.headers
            .push(("Accept-Contact".to_string(), "*;isfocus".into()));
        let tx = self.ua.send_request(now, out.clone());
        let call = Call::inviting(tx, out, offer, msrp, transport);
        let mut m = Muc::new(
            Side::Participant,
            user,
            room,
            page.request_uri.clone(),
            call,
        );
        m.user_uri = page.from.uri.clone();
        m.nick = nick;
        let id = self.mucs.insert(m);
        self.register_call(Owner::Muc(id));
        self.mucs.rearm(id);
        tracing::debug!(muc = id, room = %page.request_uri, "joining a SIP chat room");
    }

    /// Our offer for a room and the MSRP session it describes (CPIM only, RFC 7701).
    pub(in crate::gateway) fn room_offer(&mut self) -> (String, crate::msrp::session::Session) {
        let msrp = self.new_room_session(false);
        let offer = sdp::chatroom_offer(
            &self.cfg.call.host,
            &msrp.local.to_string(),
            self.mucs.cfg.cpim_max_bytes,
        )
        .to_body();
        (offer, msrp)
    }

    /// A room session's MSRP side: CPIM and the plain types, `groupchat.cpim_max_bytes`.
    pub(in crate::gateway) fn new_room_session(
        &mut self,
        tls: bool,
    ) -> crate::msrp::session::Session {
        let mut scfg = self.cfg.call.session;
        scfg.accept = super::ACCEPT;
        scfg.check = Some(super::check_room_body);
        scfg.max_size = self.mucs.cfg.cpim_max_bytes;
        self.new_msrp_session_with(tls, scfg)
    }

    /// What a participant session's call reports.
    pub(in crate::gateway) fn participant_call_event(
        &mut self,
        now: Instant,
        id: MucId,
        ev: CallEvent,
    ) {
        match ev {
            CallEvent::Refused {
                code,
                reason,
                contact,
            } => {
                tracing::info!(muc = id, code, %reason, "the SIP chat room refused the join");
                if let Some(m) = self.mucs.get(id)
                    && let Some(from) = m.occupant(&m.nick)
                {
                    let err = errors::sip_to_xmpp(code, &reason, contact.as_deref());
                    let p = super::join_error(from, m.user.clone(), &m.room, err);
                    self.emit(p);
                }
                self.participant_fail_queue(id, code, &reason);
                self.end_call(now, Owner::Muc(id), End::Failed(code));
                self.mucs.remove(id);
            }
            CallEvent::Open => self.participant_open(now, id),
            CallEvent::End(why) => self.participant_end(now, id, why),
            CallEvent::Msrp(ev) => self.participant_msrp(now, id, ev),
        }
        self.mucs.rearm(id);
    }

    /// The MSRP session is up: NICKNAME (when the room takes it), the conference
    /// SUBSCRIBE, and whatever was queued.
    fn participant_open(&mut self, now: Instant, id: MucId) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let tokens = m.call.peer_chatroom.clone().unwrap_or_default();
        m.private_ok = tokens.iter().any(|t| t == "private-messages");
        if tokens.iter().any(|t| t == "nickname") {
            let nick = m.nick.clone();
            let tid = m.call.msrp.nickname(now, &nick);
            m.nick_op = Some((tid, nick));
        } else {
            m.nick_done = true;
        }
        let expires = self.mucs.cfg.subscribe_expires_secs;
        self.conference_subscribe(now, id, expires);
        self.drain_call(now, Owner::Muc(id));
        self.participant_try_joined(now, id);
    }

    /// SUBSCRIBE `Event: conference` in the INVITE dialog (§5.3; Expires 0 ends it).
    fn conference_subscribe(&mut self, now: Instant, id: MucId, expires: u32) {
        let Some(contact) = self.participant_contact(id) else {
            return;
        };
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let Some(d) = m.call.dialog_mut() else {
            return;
        };
        let Some(mut o) = in_dialog(&d.request(Method::Subscribe, None)) else {
            return;
        };
        o.headers = vec![
            ("Event".into(), "conference".into()),
            ("Expires".into(), expires.to_string()),
            (
                "Accept".into(),
                crate::body::conference_info::CONTENT_TYPE.into(),
            ),
            ("Allow-Events".into(), "conference".into()),
            ("Contact".into(), contact),
        ];
        m.sub = if expires == 0 {
            ConfSub::None
        } else {
            ConfSub::Subscribing
        };
        let tx = self.ua.send_request(now, o);
        self.owners.insert_tx(tx, Owner::Muc(id));
    }

    /// Our Contact in the room's dialog (the user's GRUU, as in the INVITE).
    fn participant_contact(&self, id: MucId) -> Option<String> {
        let m = self.mucs.get(id)?;
        let uri = self.addresses.jid_to_sip(&m.user).ok()?.to_uri();
        Some(self.ua.config().contact(&uri, m.call.transport))
    }

    /// A final answer to a SUBSCRIBE or REFER of ours (not the INVITE).
    pub(in crate::gateway) fn participant_response(
        &mut self,
        now: Instant,
        id: MucId,
        tx: TxId,
        code: u16,
        reason: &str,
        expires: Option<u32>,
    ) {
        let asked = self.mucs.cfg.subscribe_expires_secs;
        let roster_wait = Duration::from_millis(self.mucs.cfg.roster_wait_ms);
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if let Some((invitee, _)) = m.refers.get(&tx).cloned() {
            if code >= 300 {
                m.refers.remove(&tx);
                self.participant_decline(id, &invitee, code, reason);
            }
            return;
        }
        if matches!(m.sub, ConfSub::Subscribing | ConfSub::Active) {
            if code < 300 {
                if matches!(m.sub, ConfSub::Subscribing) && !m.roster_done {
                    m.timers.set(MucTimer::RosterWait, now + roster_wait);
                }
                m.sub = ConfSub::Active;
                let e = expires.unwrap_or(asked).max(2);
                let margin = (e / 2).min(60);
                m.timers.set(
                    MucTimer::Subscription,
                    now + Duration::from_secs(u64::from(e - margin)),
                );
            } else {
                tracing::info!(muc = id, code, %reason, "conference subscription refused; roster from NOTIFYs unavailable");
                m.sub = ConfSub::Failed;
                m.roster_done = true;
                m.timers.stop(MucTimer::Subscription);
                m.timers.stop(MucTimer::RosterWait);
                self.participant_try_joined(now, id);
            }
        }
    }

    /// A request from the focus inside the room's dialog: conference and refer NOTIFYs;
    /// everything else (BYE, re-INVITE) is the call's.
    pub(in crate::gateway) fn participant_in_dialog(
        &mut self,
        now: Instant,
        id: MucId,
        tx: TxId,
        req: &Request,
    ) {
        if req.method != Method::Notify {
            return self.call_in_dialog(now, Owner::Muc(id), tx, req);
        }
        let Some(m) = self.mucs.get_mut(id) else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        if let Some(d) = m.call.dialog_mut()
            && let Err(e) = d.on_request(req)
        {
            return self.ua.reply(now, tx, req, e.code(), &[]);
        }
        match event_of(req).as_str() {
            "conference" => self.participant_conference_notify(now, id, tx, req),
            "refer" => self.participant_refer_notify(now, id, tx, req),
            _ => self.ua.reply(
                now,
                tx,
                req,
                489,
                &[("Allow-Events", "conference, refer".into())],
            ),
        }
    }

    /// §5.3: a conference-info NOTIFY → occupant presences (Table 2/3).
    fn participant_conference_notify(&mut self, now: Instant, id: MucId, tx: TxId, req: &Request) {
        if req.body.len() > self.mucs.cfg.notify_max_bytes {
            let r = im::Refusal::new(
                413,
                "conference-info too large (groupchat.notify_max_bytes)",
            );
            return self.refuse(now, tx, req, r);
        }
        let state = req
            .headers
            .get("Subscription-State")
            .and_then(SubscriptionState::parse);
        let doc = if req.body.is_empty() {
            None
        } else {
            match ConferenceInfo::parse(&req.body) {
                Ok(d) => Some(d),
                Err(e) => {
                    let r = im::Refusal::new(400, format!("Bad conference-info: {e}"));
                    return self.refuse(now, tx, req, r);
                }
            }
        };
        self.ua.reply(now, tx, req, 200, &[]);
        if let Some(m) = self.mucs.get_mut(id)
            && state.is_some_and(|s| matches!(s.state, SubState::Terminated(_)))
        {
            m.sub = ConfSub::Failed;
            m.roster_done = true;
            m.timers.stop(MucTimer::Subscription);
            m.timers.stop(MucTimer::RosterWait);
        }
        if let Some(doc) = doc {
            self.participant_roster(now, id, doc);
        }
        self.participant_try_joined(now, id);
    }

    /// Applies a conference-info document (full replaces, partial merges by entity,
    /// `deleted` or all endpoints disconnected removes); presences for what changed once
    /// the user is in.
    ///
    /// RFC 4575 §4.4: a subscription's first NOTIFY carries full state and starts the version
    /// count. A focus that sends a partial one first (a roster change racing our SUBSCRIBE)
    /// has it merged, but only a full document completes the join and sets the baseline, so
    /// the full one that follows is not taken for stale.
    fn participant_roster(&mut self, _now: Instant, id: MucId, doc: ConferenceInfo) {
        let max = self.mucs.cfg.max_occupants;
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let full = doc.state == State::Full;
        if !m.roster_full && !full {
            tracing::debug!(
                muc = id,
                "partial conference-info before the full one; merged"
            );
        } else if let (Some(v), Some(old)) = (doc.version, m.version) {
            if v <= old {
                tracing::debug!(muc = id, v, old, "stale conference-info ignored");
                return;
            }
            if v > old + 1 && doc.state == State::Partial {
                tracing::info!(
                    muc = id,
                    v,
                    old,
                    "conference-info versions skipped; merging anyway"
                );
            }
        }
        if m.roster_full || full {
            m.version = doc.version.or(m.version);
        }
        if full {
            m.roster_full = true;
            m.roster_done = true;
            m.timers.stop(MucTimer::RosterWait);
        }
        let joined = m.stage == Stage::Joined;
        let mut changes: Vec<(String, bool, Option<String>)> = vec![];
        if let Some(s) = &doc.subject
            && m.subject.as_ref() != Some(s)
        {
            m.subject = Some(s.clone());
            if joined {
                let msg = super::subject_message(&m.room, m.user.clone(), Some(s));
                self.out
                    .push_back(crate::gateway::Output::Stanza(msg.into()));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for u in &doc.users {
            let Some(nick) = super::user_nick(u) else {
                continue;
            };
            let me = super::gr_of(&u.entity).is_some_and(|g| super::same_nick(&g, &m.nick))
                || super::same_nick(&nick, &m.nick);
            if me {
                continue;
            }
            let old = m
                .roster
                .iter()
                .find(|(_, o)| o.entity == u.entity)
                .map(|(n, _)| n.clone());
            if super::user_gone(u) {
                if let Some(old) = old {
                    m.roster.remove(&old);
                    changes.push((old, false, None));
                }
                continue;
            }
            seen.insert(nick.clone());
            if let Some(old) = old.filter(|o| *o != nick) {
                m.roster.remove(&old);
                changes.push((old, false, Some(nick.clone())));
            }
            if !m.roster.contains_key(&nick) {
                if m.roster.len() >= max {
                    tracing::warn!(
                        muc = id,
                        max,
                        "roster larger than groupchat.max_occupants; occupant ignored"
                    );
                    continue;
                }
                changes.push((nick.clone(), true, None));
            }
            m.roster.insert(
                nick,
                super::table::Occupant {
                    entity: u.entity.clone(),
                    real: u.associated_aors.first().cloned(),
                },
            );
        }
        if doc.state == State::Full {
            let gone: Vec<String> = m
                .roster
                .keys()
                .filter(|n| !seen.contains(*n))
                .cloned()
                .collect();
            for n in gone {
                m.roster.remove(&n);
                changes.push((n, false, None));
            }
        }
        if !joined {
            return;
        }
        let (room, user) = (m.room.clone(), m.user.clone());
        for (nick, available, new_nick) in changes {
            let Some(from) = super::occupant_jid(&room, &nick) else {
                continue;
            };
            let codes: &[u16] = if new_nick.is_some() { &[303] } else { &[] };
            let x = super::muc_user(available, new_nick.as_deref(), None, codes);
            self.emit(super::occupant_presence(from, user.clone(), available, x));
        }
    }

    /// When the nickname is settled and the roster is in: occupants, self-presence (110)
    /// last, then the subject (XEP-0045 §7.2.3, §7.2.15), then what the user queued.
    fn participant_try_joined(&mut self, now: Instant, id: MucId) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if m.stage != Stage::Entering || !m.nick_done || !m.roster_done || !m.call.is_open() {
            return;
        }
        m.stage = Stage::Joined;
        let (room, user) = (m.room.clone(), m.user.clone());
        let mut out: Vec<Presence> = vec![];
        for nick in m.roster.keys() {
            if let Some(from) = super::occupant_jid(&room, nick) {
                out.push(super::occupant_presence(
                    from,
                    user.clone(),
                    true,
                    super::muc_user(true, None, None, &[]),
                ));
            }
        }
        if let Some(me) = m.occupant(&m.nick) {
            out.push(super::occupant_presence(
                me,
                user.clone(),
                true,
                super::muc_user(true, None, None, &[110]),
            ));
        }
        let subject = super::subject_message(&room, user, m.subject.as_deref());
        let queued: Vec<Message> = m.queue.drain(..).collect();
        for p in out {
            self.emit(p);
        }
        self.emit(subject);
        tracing::debug!(muc = id, "joined the SIP chat room");
        for q in queued {
            self.participant_message(now, id, q);
        }
    }

    /// A stanza from the XMPP user to a room it is in through stox (or tries to write to).
    /// `false`: not a room (page mode or chat takes it).
    pub(in crate::gateway) fn participant_stanza(&mut self, now: Instant, m: &Message) -> bool {
        let (Some(user), Some(to)) = (m.from.clone(), m.to.clone()) else {
            return false;
        };
        let room = to.to_bare();
        let Some(id) = self.mucs.find(&user, &room) else {
            if m.type_ == MessageType::Groupchat {
                let err =
                    stanza::error(DefinedCondition::NotAcceptable, "you are not in this room");
                self.bounce(m, err);
                return true;
            }
            return false;
        };
        if self
            .mucs
            .get(id)
            .is_some_and(|s| s.side != Side::Participant)
        {
            return false;
        }
        self.participant_message(now, id, m.clone());
        true
    }

    /// Table 4: groupchat → CPIM SEND to the room; `chat` to an occupant → CPIM SEND with
    /// `To: <room;gr=nick>`; a mediated invite → REFER.
    fn participant_message(&mut self, now: Instant, id: MucId, msg: Message) {
        let cpim_max = self.mucs.cfg.cpim_max_bytes;
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let invites: Vec<String> = msg
            .payloads
            .iter()
            .filter(|p| p.is("x", NS_MUC_USER))
            .flat_map(|x| x.children().filter(|c| c.is("invite", NS_MUC_USER)))
            .filter_map(|i| i.attr("to").map(String::from))
            .collect();
        if !invites.is_empty() {
            for to in invites {
                self.participant_refer(now, id, &msg, &to);
            }
            return;
        }
        let body = msg
            .bodies
            .get("")
            .or_else(|| msg.bodies.values().next())
            .cloned();
        let private = msg
            .to
            .as_ref()
            .and_then(|t| t.resource())
            .map(|r| r.as_str().to_string());
        let err = |c, t: &str| Some(stanza::error(c, t));
        let problem = match (&private, &msg.type_, &body) {
            (Some(_), MessageType::Groupchat, _) => err(
                DefinedCondition::BadRequest,
                "groupchat messages go to the room, not to an occupant",
            ),
            (None, MessageType::Groupchat, None) if !msg.subjects.is_empty() => err(
                DefinedCondition::Forbidden,
                "subject changes are not carried to SIP rooms (RFC 7702 §3)",
            ),
            (None, t, Some(_)) if *t != MessageType::Groupchat => err(
                DefinedCondition::BadRequest,
                "messages to the room must be type='groupchat'",
            ),
            (Some(_), _, Some(_)) if !m.private_ok && m.stage == Stage::Joined => err(
                DefinedCondition::FeatureNotImplemented,
                "this SIP room does not take private messages",
            ),
            (_, _, Some(b)) if b.len() as u64 + 256 > cpim_max => err(
                DefinedCondition::NotAcceptable,
                "message too large for the room (groupchat.cpim_max_bytes)",
            ),
            _ => None,
        };
        if let Some(e) = problem {
            self.metrics.errored(X2S, "groupchat", condition(&e));
            return self.bounce(&msg, e);
        }
        let Some(text) = body.filter(|b| !b.is_empty()) else {
            return; // chat states and the like: nothing to carry
        };
        if !m.call.is_open() || m.stage != Stage::Joined {
            m.queue.push_back(msg);
            return;
        }
        let (to_hdr, from_hdr) = match &private {
            Some(nick) => {
                let gr = msg
                    .from
                    .as_ref()
                    .and_then(|f| f.resource())
                    .map(|r| r.as_str().to_string());
                let from = match gr {
                    Some(g) => super::occupant_uri(&m.user_uri, &g),
                    None => m.user_uri.clone(),
                };
                (
                    format!("<{}>", super::occupant_uri(&m.room_uri, nick)),
                    format!("<{from}>"),
                )
            }
            None => (format!("<{}>", m.room_uri), format!("<{}>", m.user_uri)),
        };
        let dt = self.wall_now(now);
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let cpim = super::cpim_out(
            &from_hdr,
            &to_hdr,
            dt.as_deref(),
            None,
            "text/plain;charset=UTF-8",
            text.as_bytes(),
        );
        let mid = m.call.msrp.new_message_id();
        tracing::debug!(muc = id, stanza_id = ?msg.id.as_ref().map(|i| &i.0), message_id = %mid, call_id = %m.call.call_id, "room message → MSRP SEND");
        m.call.msrp.send(
            now,
            tid_of(msg.id.as_ref()),
            &mid,
            "message/cpim",
            &cpim,
            false,
            FailureReport::Yes,
        );
        let reflect = private.is_none().then_some(msg);
        m.sent.insert(
            mid,
            SentMsg {
                stanza: reflect,
                msrp: None,
            },
        );
        self.metrics.message(X2S, "groupchat", "delivered", "");
        self.drain_call(now, Owner::Muc(id));
    }

    /// A messages's failure back to its XMPP sender (queued ones when the join failed).
    fn participant_fail_queue(&mut self, id: MucId, code: u16, reason: &str) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let queued: Vec<Message> = m.queue.drain(..).collect();
        for q in queued {
            self.metrics
                .errored(X2S, "groupchat", format!("sip_{code}"));
            self.bounce(&q, errors::sip_to_xmpp(code, reason, None));
        }
    }

    /// Table 5: MSRP from the switch → stanzas; our NICKNAME's answer; SEND outcomes
    /// (reflection on 200, an error on failure).
    fn participant_msrp(&mut self, now: Instant, id: MucId, ev: MsrpSessionEvent) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        match ev {
            MsrpSessionEvent::Message {
                tid,
                content_type,
                body,
                ..
            } => {
                // The session's check (`check_room_body`) answered what does not read with
                // 400/415 already.
                let Ok(msg) = super::room_message(&content_type, &body) else {
                    return;
                };
                let nick = msg
                    .from
                    .as_deref()
                    .and_then(super::gr_of)
                    .or(msg.from_display.clone());
                if nick.as_deref() == Some(m.nick.as_str()) {
                    return; // an echo of our own: already reflected
                }
                let private = msg
                    .to
                    .as_deref()
                    .is_some_and(|t| !super::same_aor(t, &m.room_uri) || super::gr_of(t).is_some());
                let from = match &nick {
                    Some(n) => m.occupant(n),
                    None => Some(Jid::from(m.room.clone())),
                };
                let Some(from) = from else {
                    return;
                };
                let mut st = Message::new(Some(m.user.clone()));
                st.from = Some(from);
                st.id = Some(Id(tid));
                st.type_ = if private {
                    MessageType::Chat
                } else {
                    MessageType::Groupchat
                };
                if private {
                    st.payloads.push(Element::builder("x", NS_MUC_USER).build());
                }
                if let Some(s) = &msg.subject {
                    st.subjects.insert(Lang::default(), s.clone());
                }
                if super::room_text(&msg, &mut st).is_err() {
                    return;
                }
                self.metrics.message(S2X, "groupchat", "delivered", "");
                self.emit(st);
            }
            MsrpSessionEvent::Accepted { message_id } => {
                if let Some(SentMsg {
                    stanza: Some(mut st),
                    ..
                }) = m.sent.remove(&message_id)
                    && let Some(me) = m.occupant(&m.nick)
                {
                    // §5.4: the XMPP sender sees its own message come back from the room.
                    st.from = Some(me);
                    st.to = Some(m.user.clone());
                    self.emit(st);
                }
            }
            MsrpSessionEvent::SendFailed {
                message_id,
                code,
                reason,
            } => {
                let Some(sent) = m.sent.remove(&message_id) else {
                    return;
                };
                let (room, user) = (Jid::from(m.room.clone()), m.user.clone());
                let sid = sent.stanza.and_then(|s| s.id);
                self.metrics
                    .errored(X2S, "groupchat", format!("msrp_{code}"));
                let err = errors::sip_to_xmpp(code, &format!("MSRP {reason}"), None);
                self.emit(stanza::error_message(room, user, sid, None, err));
            }
            MsrpSessionEvent::Nickname { tid, .. } => {
                m.call.msrp.answer_nickname(&tid, 501, "Not a focus");
            }
            MsrpSessionEvent::NicknameResult { tid, code } => {
                self.participant_nick_result(now, id, &tid, code)
            }
            MsrpSessionEvent::Report { .. } | MsrpSessionEvent::Transmit(_) => {}
        }
    }

    /// §5.2 / §5.5: the answer to our NICKNAME.
    fn participant_nick_result(&mut self, now: Instant, id: MucId, tid: &str, code: u16) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let Some((_, nick)) = m.nick_op.take_if(|(t, _)| t == tid) else {
            return;
        };
        let (room, user) = (m.room.clone(), m.user.clone());
        let Some(occupant) = super::occupant_jid(&room, &nick) else {
            return;
        };
        let err = || {
            if code == 425 {
                stanza::error(
                    DefinedCondition::Conflict,
                    "that nickname is in use in the room (MSRP 425)",
                )
            } else {
                errors::sip_to_xmpp(code, "NICKNAME refused", None)
            }
        };
        if m.stage == Stage::Entering {
            if code == 200 {
                m.nick = nick;
                m.nick_done = true;
                return self.participant_try_joined(now, id);
            }
            // The client picks another nickname and joins again (RFC 7702 §5.2).
            self.emit(super::join_error(occupant, user, &room, err()));
            self.participant_fail_queue(id, code, "NICKNAME refused");
            if self.end_call(now, Owner::Muc(id), End::Local) {
                return;
            }
            self.mucs.remove(id);
            return;
        }
        if code == 200 {
            let old = std::mem::replace(&mut m.nick, nick.clone());
            if let Some(from) = super::occupant_jid(&room, &old) {
                let x = super::muc_user(false, Some(&nick), None, &[303, 110]);
                self.emit(super::occupant_presence(from, user.clone(), false, x));
            }
            let x = super::muc_user(true, None, None, &[110]);
            self.emit(super::occupant_presence(occupant, user, true, x));
        } else {
            self.emit(super::join_error(occupant, user, &room, err()));
        }
    }

    /// §5.5: presence to another occupant JID of the same room while in it: NICKNAME.
    fn participant_nick(&mut self, now: Instant, id: MucId, nick: String) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if nick == m.nick || m.stage != Stage::Joined || !m.call.is_open() {
            return; // a presence update in the room: not mapped
        }
        if super::nickname(&nick).as_deref() != Some(nick.as_str()) {
            let (room, user) = (m.room.clone(), m.user.clone());
            if let Some(occ) = super::occupant_jid(&room, &nick) {
                let err = stanza::error(
                    DefinedCondition::JidMalformed,
                    "not a nickname SIP rooms take (RFC 8266 Nickname profile)",
                );
                self.emit(super::join_error(occ, user, &room, err));
            }
            return;
        }
        if m.nick_op.is_some()
            || !m
                .call
                .peer_chatroom
                .as_ref()
                .is_some_and(|t| t.iter().any(|t| t == "nickname"))
        {
            let (room, user) = (m.room.clone(), m.user.clone());
            if let Some(occ) = super::occupant_jid(&room, &nick) {
                let err = stanza::error(
                    DefinedCondition::NotAllowed,
                    "this room does not change nicknames now",
                );
                self.emit(super::join_error(occ, user, &room, err));
            }
            return;
        }
        let tid = m.call.msrp.nickname(now, &nick);
        m.nick_op = Some((tid, nick));
        self.drain_call(now, Owner::Muc(id));
    }

    /// §5.6: a mediated invitation → REFER to the focus in the room's dialog.
    fn participant_refer(&mut self, now: Instant, id: MucId, msg: &Message, to: &str) {
        let target = to
            .parse::<Jid>()
            .ok()
            .and_then(|j| self.addresses.jid_to_sip(&Jid::from(j.to_bare())).ok());
        let Some(target) = target else {
            let err = stanza::error(
                DefinedCondition::JidMalformed,
                format!("cannot invite {to} through SIP"),
            );
            return self.bounce(msg, err);
        };
        let Some(contact) = self.participant_contact(id) else {
            return;
        };
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let Some(d) = m.call.dialog_mut() else {
            let err = stanza::error(DefinedCondition::NotAcceptable, "not in the room yet");
            return self.bounce(msg, err);
        };
        let ind = d.request(Method::Refer, None);
        let cseq = ind.cseq;
        let Some(mut o): Option<Outgoing> = in_dialog(&ind) else {
            return;
        };
        o.headers = vec![
            ("Refer-To".into(), format!("<{}>", target.to_uri())),
            ("Accept".into(), "message/sipfrag".into()),
            ("Supported".into(), "replaces".into()),
            ("Contact".into(), contact),
        ];
        let tx = self.ua.send_request(now, o);
        self.owners.insert_tx(tx, Owner::Muc(id));
        if let Some(m) = self.mucs.get_mut(id) {
            m.refers.insert(tx, (to.to_string(), cseq));
        }
    }

    /// RFC 3515 §2.4.5: the progress of our REFER; a final failure becomes a decline.
    fn participant_refer_notify(&mut self, now: Instant, id: MucId, tx: TxId, req: &Request) {
        self.ua.reply(now, tx, req, 200, &[]);
        let code = std::str::from_utf8(&req.body)
            .ok()
            .and_then(|b| b.lines().next())
            .and_then(|l| l.strip_prefix("SIP/2.0 "))
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        let reason = std::str::from_utf8(&req.body)
            .ok()
            .and_then(|b| b.lines().next())
            .and_then(|l| l.get(12..))
            .unwrap_or("")
            .to_string();
        let id_param: Option<u32> = req
            .headers
            .get("Event")
            .and_then(|e| e.split(';').find_map(|p| p.trim().strip_prefix("id=")))
            .and_then(|v| v.trim().parse().ok());
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        let key = m
            .refers
            .iter()
            .find(|(_, (_, cseq))| id_param.is_none_or(|i| i == *cseq))
            .map(|(k, _)| *k);
        let Some(key) = key else {
            return;
        };
        let terminated = req
            .headers
            .get("Subscription-State")
            .and_then(SubscriptionState::parse)
            .is_some_and(|s| matches!(s.state, SubState::Terminated(_)));
        match code {
            Some(c) if c >= 300 => {
                if let Some((invitee, _)) = m.refers.remove(&key) {
                    self.participant_decline(id, &invitee, c, &reason);
                }
            }
            Some(c) if c >= 200 => {
                m.refers.remove(&key);
            }
            _ if terminated => {
                m.refers.remove(&key);
            }
            _ => {}
        }
    }

    /// XEP-0045 §7.8.2: the invitee did not come (the REFER or the INVITE it caused failed).
    fn participant_decline(&mut self, id: MucId, invitee: &str, code: u16, reason: &str) {
        let Some(m) = self.mucs.get(id) else {
            return;
        };
        let mut st = Message::new(Some(m.user.clone()));
        st.type_ = MessageType::Normal;
        st.from = Some(Jid::from(m.room.clone()));
        st.payloads.push(
            Element::builder("x", NS_MUC_USER)
                .append(
                    Element::builder("decline", NS_MUC_USER)
                        .at("from", invitee)
                        .append(
                            Element::builder("reason", NS_MUC_USER)
                                .append(format!("SIP {code} {reason}").trim_end().to_string()),
                        )
                        .build(),
                )
                .build(),
        );
        self.emit(st);
    }

    /// §5.7: the user leaves: SUBSCRIBE Expires 0, BYE, self-unavailable with 110 (and the
    /// status text the user gave; RFC 7702 does not carry it into SIP).
    pub(in crate::gateway) fn participant_leave(
        &mut self,
        now: Instant,
        id: MucId,
        status: Option<String>,
    ) {
        let Some(m) = self.mucs.get(id) else {
            return;
        };
        let joined = m.stage == Stage::Joined;
        if matches!(m.sub, ConfSub::Active) {
            self.conference_subscribe(now, id, 0);
        }
        if let Some(m) = self.mucs.get(id)
            && joined
            && let Some(me) = m.occupant(&m.nick)
        {
            let mut p = super::occupant_presence(
                me,
                m.user.clone(),
                false,
                super::muc_user(false, None, None, &[110]),
            );
            if let Some(s) = status {
                p.statuses.insert(Lang::default(), s);
            }
            self.emit(p);
        }
        self.participant_fail_queue(id, 480, "left the room");
        if self.end_call(now, Owner::Muc(id), End::Local) {
            return self.mucs.rearm(id);
        }
        self.mucs.remove(id);
    }

    /// The call ended from its side: the focus's BYE (332), a failure (333), or our CANCEL
    /// completing.
    fn participant_end(&mut self, now: Instant, id: MucId, why: End) {
        let lingers = self.end_call(now, Owner::Muc(id), why);
        let Some(m) = self.mucs.get(id) else {
            return;
        };
        let code = match why {
            End::Failed(c) => c,
            _ => 480,
        };
        if why != End::Local {
            if m.stage == Stage::Joined {
                if let Some(me) = m.occupant(&m.nick) {
                    let codes: &[u16] = if why == End::PeerBye {
                        &[110, 332]
                    } else {
                        &[110, 333]
                    };
                    let mut p = super::occupant_presence(
                        me,
                        m.user.clone(),
                        false,
                        super::muc_user(false, None, None, codes),
                    );
                    let text = if why == End::PeerBye {
                        "the SIP chat room ended the session"
                    } else {
                        "the connection to the SIP chat room failed"
                    };
                    p.statuses.insert(Lang::default(), text.into());
                    self.emit(p);
                }
            } else if let Some(me) = m.occupant(&m.nick) {
                let p = super::join_error(
                    me,
                    m.user.clone(),
                    &m.room,
                    errors::sip_to_xmpp(code, "chat room session failed", None),
                );
                self.emit(p);
            }
        }
        self.participant_fail_queue(id, code, "chat room session ended");
        if lingers {
            return self.mucs.rearm(id);
        }
        self.mucs.remove(id);
    }

    /// A participant session's own timers: the conference subscription's refresh.
    pub(in crate::gateway) fn participant_timeout(&mut self, now: Instant, id: MucId) {
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if m.timers.expire(MucTimer::RosterWait, now) && !m.roster_done {
            tracing::info!(
                muc = id,
                "no full conference-info in time; entering with the occupants known so far"
            );
            m.roster_done = true;
            self.participant_try_joined(now, id);
        }
        let Some(m) = self.mucs.get_mut(id) else {
            return;
        };
        if m.timers.expire(MucTimer::Subscription, now) && matches!(m.sub, ConfSub::Active) {
            let e = self.mucs.cfg.subscribe_expires_secs;
            self.conference_subscribe(now, id, e);
        }
    }

    /// CUSAX (RFC 7081 §4): disco#info of a SIP room stox bridges, or one linked to an
    /// audio/video conference: a `conference` identity, the MUC feature and, when linked,
    /// the `muc#roominfo` field with the SIP URI. `None`: not a room.
    pub(in crate::gateway) fn room_disco(
        &self,
        iq: &xmpp_parsers::iq::Iq,
    ) -> Option<xmpp_parsers::iq::Iq> {
        use xmpp_parsers::iq::Iq;
        let Iq::Get {
            from,
            to,
            id,
            payload,
        } = iq
        else {
            return None;
        };
        if !payload.is("query", xmpp_parsers::ns::DISCO_INFO) || payload.attr("node").is_some() {
            return None;
        }
        let to = to.as_ref()?;
        if to.resource().is_some()
            || !to
                .domain()
                .as_str()
                .eq_ignore_ascii_case(self.addresses.component())
        {
            return None;
        }
        let room = to.to_bare();
        let uri = self
            .addresses
            .jid_to_sip(&Jid::from(room.clone()))
            .ok()?
            .to_uri();
        let av = self.mucs.cfg.audio_video.get(&uri);
        let bridged = self.mucs.in_room(&room).iter().any(|i| {
            self.mucs
                .get(*i)
                .is_some_and(|m| m.side == Side::Participant)
        });
        if av.is_none() && !bridged {
            return None;
        }
        let name = room
            .node()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        let mut q = Element::builder("query", xmpp_parsers::ns::DISCO_INFO)
            .append(
                Element::builder("identity", xmpp_parsers::ns::DISCO_INFO)
                    .at("category", "conference")
                    .at("type", "text")
                    .at("name", name)
                    .build(),
            )
            .append(
                Element::builder("feature", xmpp_parsers::ns::DISCO_INFO)
                    .at("var", super::NS_MUC)
                    .build(),
            );
        if let Some(av) = av {
            let field = |var: &str, value: &str, hidden: bool| {
                let mut f = Element::builder("field", "jabber:x:data").at("var", var);
                if hidden {
                    f = f.at("type", "hidden");
                }
                f.append(
                    Element::builder("value", "jabber:x:data")
                        .append(value.to_string())
                        .build(),
                )
                .build()
            };
            q = q.append(
                Element::builder("x", "jabber:x:data")
                    .at("type", "result")
                    .append(field(
                        "FORM_TYPE",
                        "http://jabber.org/protocol/muc#roominfo",
                        true,
                    ))
                    .append(field(&self.mucs.cfg.audio_video_var, av, false))
                    .build(),
            );
        }
        Some(Iq::Result {
            from: Some(to.clone()),
            to: from.clone(),
            id: id.clone(),
            payload: Some(q.build()),
        })
    }
}
