//! RFC 7573 flows: a [`Chat`] binds an XMPP user and a SIP user to one call (INVITE dialog +
//! MSRP session, `gateway/call.rs`) and translates with the pure functions of `chat/mod.rs`.
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

use crate::gateway::metrics::{S2X, X2S, condition};
use std::time::{Duration, Instant};

use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Message, MessageType};
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use super::table::{Chat, ChatTimer, Received, Sent};
use super::{Inbound, MsrpIn, Outbound};
use crate::body::iscomposing;
use crate::config::ChatMode;
use crate::gateway::call::{Call, CallEvent, CallTimer, End, tid_of};
use crate::gateway::owners::{ChatId, Owner};
use crate::gateway::{Core, errors, im};
use crate::msrp::session::{Event as MsrpSessionEvent, FailureReport};
use crate::sip::message::Request;
use crate::sip::transaction::{Dest, TxId};
use crate::xmpp::stanza;

/// SIP statuses that mean "no sessions with me" rather than "not now".
fn is_session_refusal(code: u16) -> bool {
    matches!(code, 405 | 415 | 488 | 501 | 606)
}

impl Core {
    /// Should this stanza go through a chat session (else page mode)?
    pub(in crate::gateway) fn chat_wanted(&mut self, now: Instant, m: &Message) -> bool {
        let (Some(from), Some(to)) = (&m.from, &m.to) else {
            return false;
        };
        let thread = m.thread.as_ref().map(|t| t.id.as_str());
        if m.type_ != MessageType::Chat {
            // XEP-0184's acks carry no type (its examples, and slixmpp): a receipt belongs
            // to the session of the message it acknowledges.
            let receipt = m
                .payloads
                .iter()
                .any(|p| p.is("received", xmpp_parsers::ns::RECEIPTS));
            return receipt
                && m.type_ == MessageType::Normal
                && self.chats.find(from, to, thread).is_some();
        }
        // An existing session takes everything, whatever the mode.
        if self.chats.find(from, to, thread).is_some() {
            return true;
        }
        match self.chats.cfg.mode {
            ChatMode::Page => false,
            _ => !self.chats.page_only(now, to),
        }
    }

    /// A `type='chat'` stanza from an allowed XMPP user to a SIP user.
    pub(in crate::gateway) fn on_chat_stanza(&mut self, now: Instant, m: Message) {
        let (Some(user), Some(peer)) = (m.from.clone(), m.to.clone()) else {
            return;
        };
        let thread = m.thread.as_ref().map(|t| t.id.clone());
        let found = self.chats.find(&user, &peer, thread.as_deref());
        let last = found
            .and_then(|id| self.chats.get(id))
            .and_then(|c| c.composing_out);
        let idle = self.chats.cfg.idle;
        match super::stanza_to_msrp(&m, last) {
            Outbound::Send { .. } => match found {
                Some(id) => {
                    if let Some(c) = self.chats.get_mut(id) {
                        c.user = user;
                        c.active(now, idle);
                        c.queue.push_back(m);
                    }
                    self.flush(now, id);
                }
                None => self.open_chat(now, m),
            },
            Outbound::Composing(doc) => {
                let Some(id) = found else { return };
                let Some(c) = self.chats.get_mut(id) else {
                    return;
                };
                if !c.call.is_open() {
                    return;
                }
                c.composing_out = Some(doc.active);
                send_composing(c, now, &doc);
                self.drain_chat(now, id);
            }
            Outbound::Bye => {
                if let Some(id) = found {
                    self.end_chat(now, id, End::Local);
                }
            }
            Outbound::Report { id: stanza_id } => {
                let Some(id) = found else { return };
                let Some(c) = self.chats.get_mut(id) else {
                    return;
                };
                if let Some(r) = c.take_received(&stanza_id) {
                    c.call.msrp.report_delivered(&r.message_id, r.len);
                    self.drain_chat(now, id);
                }
            }
            Outbound::Nothing => {}
        }
    }

    /// XMPP → SIP, RFC 7573 §4: INVITE with our offer; the message waits in the queue.
    fn open_chat(&mut self, now: Instant, m: Message) {
        if self.chats.len() >= self.chats.cfg.max_sessions {
            if self.chats.cfg.mode == ChatMode::Auto {
                return self.send_page(now, m);
            }
            self.metrics.xmpp_messages_failed += 1;
            self.metrics.errored(X2S, "chat", "resource-constraint");
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
                self.metrics.errored(X2S, "chat", condition(&e));
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
        let transport = self.ua.config().request_transport();
        let (offer, msrp) = self.call_offer();
        let tag = self.ua.new_tag();
        let body = ("application/sdp".to_string(), offer.clone().into_bytes());
        let mut out = page.request("INVITE", tag, call_id.clone(), 1, body);
        let contact = self.ua.config().contact(&page.from.uri, transport);
        out.headers.push(("Contact".to_string(), contact));
        let tx = self.ua.send_request(now, out.clone());
        let call = Call::inviting(tx, out, offer, msrp, transport);
        let mut chat = Chat::new(user, peer, thread, call);
        chat.queue.push_back(m);
        self.add_chat(chat);
    }

    /// Files a new session in the chat table and its call in the routing table.
    fn add_chat(&mut self, chat: Chat) -> ChatId {
        let id = self.chats.insert(chat);
        self.register_call(Owner::Chat(id));
        tracing::debug!(chat = id, "chat session created");
        id
    }

    /// SIP → XMPP, RFC 7573 §5: an INVITE (outside any dialog).
    pub(in crate::gateway) fn on_chat_invite(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Request,
        from: Dest,
    ) {
        let (peer, user) = match im::sip_endpoints(req, &self.addresses) {
            Ok(p) => p,
            Err(r) => return self.refuse(now, tx, req, r),
        };
        let offered = match self.check_offer(req, false) {
            Ok(o) => o,
            Err(r) => return self.refuse(now, tx, req, r),
        };
        if self.chats.len() >= self.chats.cfg.max_sessions {
            tracing::warn!(
                limit = self.chats.cfg.max_sessions,
                "msrp.max_sessions reached; INVITE refused"
            );
            return self
                .ua
                .reply(now, tx, req, 503, &[("Retry-After", "30".into())]);
        }
        let call_id = req.call_id().to_string();
        let call = Call::invited(tx, req, offered, from.transport);
        let id = self.add_chat(Chat::new(user, peer, call_id.clone(), call));
        if self.link_up {
            self.answer_call(now, Owner::Chat(id));
        } else {
            tracing::info!(chat = id, "XMPP link down: INVITE held");
            let hold = self.cfg.call.hold;
            if let Some(c) = self.chats.call_mut(id) {
                c.timers.set(CallTimer::Hold, now + hold);
            }
        }
        self.chats.rearm(id);
    }

    /// What a session's call reports.
    pub(in crate::gateway) fn chat_call_event(&mut self, now: Instant, id: ChatId, ev: CallEvent) {
        match ev {
            CallEvent::Refused {
                code,
                reason,
                contact,
            } => self.chat_refused(now, id, code, &reason, contact.as_deref()),
            CallEvent::Open => self.chat_open(now, id),
            CallEvent::End(why) => self.end_chat(now, id, why),
            CallEvent::Msrp(ev) => self.chat_msrp_event(now, id, ev),
        }
        self.chats.rearm(id);
    }

    /// The peer did not take our INVITE.
    fn chat_refused(
        &mut self,
        now: Instant,
        id: ChatId,
        code: u16,
        reason: &str,
        contact: Option<&str>,
    ) {
        let Some(peer) = self.chats.get(id).map(|c| c.peer.clone()) else {
            return;
        };
        if is_session_refusal(code) && self.chats.cfg.mode == ChatMode::Auto {
            self.chats.remember_page_peer(now, &peer);
        }
        self.fail_queue(now, id, code, reason, contact);
        self.end_call(now, Owner::Chat(id), End::Failed(code));
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
        let Some(c) = self.chats.get_mut(id) else {
            return;
        };
        let queue: Vec<Message> = c.queue.drain(..).collect();
        let fallback = self.chats.cfg.mode == ChatMode::Auto && code != 487;
        for m in queue {
            if fallback {
                self.send_page(now, m);
            } else {
                self.metrics.xmpp_messages_failed += 1;
                self.metrics.errored(X2S, "chat", format!("sip_{code}"));
                let err = errors::sip_to_xmpp(code, reason, contact);
                self.bounce(&m, err);
            }
        }
    }

    /// The link came back: held INVITEs get their answer.
    pub(in crate::gateway) fn chat_link_up(&mut self, now: Instant) {
        for id in self.chats.held() {
            self.answer_call(now, Owner::Chat(id));
            self.chats.rearm(id);
        }
    }

    /// Ends a session: the call ends (BYE, CANCEL, …), queued messages are handled per
    /// `why`, the peer's BYE becomes `<gone/>`.
    pub(in crate::gateway) fn end_chat(&mut self, now: Instant, id: ChatId, why: End) {
        let lingers = self.end_call(now, Owner::Chat(id), why);
        let (code, reason) = match (why, lingers) {
            (End::Failed(code), true) => (code, ""),
            (End::Failed(code), false) => (code, "MSRP session failed"),
            _ => (480, "Temporarily Unavailable"),
        };
        self.fail_queue(now, id, code, reason, None);
        if lingers {
            // Until the INVITE's final response (a crossing 2xx is ACKed and BYEd).
            return self.chats.rearm(id);
        }
        if why == End::PeerBye
            && let Some(c) = self.chats.get(id)
        {
            let m = super::gone(c.peer.clone(), c.user.clone(), &c.thread);
            self.emit(m);
        }
        self.chats.remove(id);
    }

    /// The MSRP connection is bound: what is queued goes out.
    fn chat_open(&mut self, now: Instant, id: ChatId) {
        let idle = self.chats.cfg.idle;
        if let Some(c) = self.chats.get_mut(id) {
            c.active(now, idle);
        }
        self.flush(now, id);
    }

    /// Sends what is queued once the session is open.
    fn flush(&mut self, now: Instant, id: ChatId) {
        let fr = self.cfg.call.failure_report;
        let Some(c) = self.chats.get_mut(id) else {
            return;
        };
        if !c.call.is_open() {
            return;
        }
        while let Some(m) = c.queue.pop_front() {
            let Outbound::Send {
                content_type,
                body,
                success_report,
            } = super::stanza_to_msrp(&m, None)
            else {
                continue;
            };
            let mid = c.call.msrp.new_message_id();
            tracing::debug!(chat = id, stanza_id = ?m.id.as_ref().map(|i| &i.0), message_id = %mid, call_id = %c.call.call_id, "chat message → MSRP SEND");
            c.call.msrp.send(
                now,
                tid_of(m.id.as_ref()),
                &mid,
                content_type,
                &body,
                success_report,
                fr,
            );
            c.composing_out = Some(false);
            c.timers.stop(ChatTimer::ComposingRefresh);
            c.sent(
                mid,
                Sent {
                    stanza_id: m.id.clone(),
                    receipt: success_report,
                },
            );
            self.metrics.xmpp_messages_out += 1;
            self.metrics.message(X2S, "chat", "delivered", "");
        }
        self.drain_chat(now, id);
    }

    /// Bytes out, everything else to [`Core::chat_msrp_event`]; then the next deadline.
    fn drain_chat(&mut self, now: Instant, id: ChatId) {
        self.drain_call(now, Owner::Chat(id));
    }

    /// A message, report or failure from the session's MSRP side.
    fn chat_msrp_event(&mut self, now: Instant, id: ChatId, ev: MsrpSessionEvent) {
        let idle = self.chats.cfg.idle;
        let Some(c) = self.chats.get_mut(id) else {
            return;
        };
        match ev {
            MsrpSessionEvent::Transmit(_)
            | MsrpSessionEvent::Accepted { .. }
            | MsrpSessionEvent::NicknameResult { .. } => {}
            MsrpSessionEvent::Nickname { tid, .. } => {
                // RFC 7701 nicknames exist in chat rooms only.
                c.call.msrp.answer_nickname(&tid, 501, "Not a chat room");
            }
            MsrpSessionEvent::Message {
                tid,
                message_id,
                content_type,
                body,
                success_report,
                failure_report,
            } => {
                c.active(now, idle);
                let inbound = super::msrp_to_stanza(
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
                            peer_state(c, now, &s, &body);
                        }
                        if !m.bodies.is_empty() {
                            tracing::debug!(chat = id, %message_id, stanza_id = %tid, call_id = %c.call.call_id, "MSRP SEND → chat message");
                            self.metrics.sip_messages_in += 1;
                            self.metrics.message(S2X, "chat", "delivered", "");
                            c.received(Received {
                                stanza_id: tid.clone(),
                                message_id,
                                len: body.len(),
                                failure_report,
                            });
                        }
                        self.emit(*m);
                    }
                    Inbound::Refuse(code) => {
                        tracing::info!(chat = id, code, %content_type, "MSRP message not bridged");
                        if failure_report {
                            c.call
                                .msrp
                                .report(&message_id, body.len(), code, "Not bridged");
                        }
                    }
                }
            }
            MsrpSessionEvent::Report { message_id, status } => {
                let Some(sent) = c.take_sent(&message_id) else {
                    return;
                };
                let (peer, user, thread) = (c.peer.clone(), c.user.clone(), c.thread.clone());
                if status == 200 {
                    if sent.receipt
                        && let Some(sid) = sent.stanza_id
                    {
                        self.emit(super::report_to_receipt(peer, user, &thread, &sid.0));
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
                let Some(sent) = c.take_sent(&message_id) else {
                    return;
                };
                let (peer, user, thread) = (c.peer.clone(), c.user.clone(), c.thread.clone());
                self.chat_error(peer, user, &thread, sent.stanza_id, code, &reason);
            }
        }
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
        self.metrics.errored(X2S, "chat", format!("msrp_{code}"));
        let err = errors::sip_to_xmpp(code, &format!("MSRP {reason}"), None);
        let thread = Some(xmpp_parsers::message::Thread {
            parent: None,
            id: thread.to_string(),
        });
        self.emit(stanza::error_message(peer, user, id, thread, err));
    }

    /// The XMPP server bounced a chat message we delivered: a failure REPORT to the SIP
    /// sender when it asked for one (RFC 4975 §7.1.2), with the RFC 7247 Table 2 status.
    /// `false` when no session delivered it.
    pub(in crate::gateway) fn chat_bounce(&mut self, now: Instant, m: &Message) -> bool {
        let (Some(user), Some(peer), Some(sid)) = (&m.from, &m.to, &m.id) else {
            return false;
        };
        let cond = m
            .payloads
            .iter()
            .find_map(|p| StanzaError::try_from(p.clone()).ok())
            .map(|e| e.defined_condition)
            .unwrap_or(DefinedCondition::ServiceUnavailable);
        for id in self.chats.between(user, peer) {
            let Some(c) = self.chats.get_mut(id) else {
                continue;
            };
            if let Some(r) = c.take_received(&sid.0) {
                if r.failure_report {
                    let code = errors::xmpp_to_sip(&cond, user.resource().is_some());
                    c.call
                        .msrp
                        .report(&r.message_id, r.len, code, &format!("{cond:?}"));
                    self.drain_chat(now, id);
                }
                return true;
            }
        }
        false
    }

    /// The XMPP user's resource went offline: its sessions end (RFC 7573 §6.1 spirit).
    /// The gateway stops: every session ends with BYE, its user is told (`<gone/>`), and
    /// what was queued goes back as errors.
    pub(in crate::gateway) fn chat_shutdown(&mut self, now: Instant) {
        for id in self.chats.ids() {
            if let Some(c) = self.chats.get(id) {
                let m = super::gone(c.peer.clone(), c.user.clone(), &c.thread);
                self.emit(m);
            }
            self.end_chat(now, id, End::Local);
        }
    }

    pub(in crate::gateway) fn chat_unavailable(&mut self, now: Instant, user: &Jid) {
        for id in self.chats.of_user(user) {
            if self.chats.get(id).is_some_and(|c| &c.user == user) {
                self.end_chat(now, id, End::Local);
            }
        }
    }

    /// Every session whose deadline has come: MSRP transactions, RFC 3994 refreshes, the
    /// call's hold and connect timers, idleness.
    pub(in crate::gateway) fn chat_timeout(&mut self, now: Instant) {
        while let Some(id) = self.chats.pop_due(now) {
            if let Some(why) = self.call_timeout(now, Owner::Chat(id)) {
                self.end_chat(now, id, why);
                continue;
            }
            let Some(c) = self.chats.get_mut(id) else {
                continue;
            };
            if c.timers.expire(ChatTimer::PeerComposing, now) {
                // The peer stopped refreshing its `active` state: it is idle (RFC 3994 §4).
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
            let Some(c) = self.chats.get_mut(id) else {
                continue;
            };
            if c.timers.expire(ChatTimer::ComposingRefresh, now) && c.call.is_open() {
                send_composing(c, now, &super::composing(true));
            }
            if c.timers.expire(ChatTimer::Idle, now) && c.call.is_open() {
                tracing::debug!(chat = id, "chat session idle; BYE");
                self.end_chat(now, id, End::Local);
                continue;
            }
            self.drain_chat(now, id);
        }
    }

    /// Chat sessions now open (for metrics and tests).
    pub fn chat_sessions(&self) -> usize {
        self.chats.len()
    }
}

/// Sends an isComposing document (no reports), arming the refresh of an `active` one a
/// little before the interval it announces.
fn send_composing(c: &mut Chat, now: Instant, doc: &iscomposing::IsComposing) {
    let mid = c.call.msrp.new_message_id();
    c.call.msrp.send(
        now,
        None,
        &mid,
        iscomposing::CONTENT_TYPE,
        doc.to_body().as_bytes(),
        false,
        FailureReport::No,
    );
    match doc.refresh.filter(|_| doc.active) {
        Some(r) => c.timers.set(
            ChatTimer::ComposingRefresh,
            now + Duration::from_secs(u64::from(r).saturating_sub(10).max(1)),
        ),
        None => c.timers.stop(ChatTimer::ComposingRefresh),
    }
}

/// The peer's chat state as given to the XMPP user; an `active` isComposing lasts until its
/// refresh interval runs out (RFC 3994 §4).
fn peer_state(c: &mut Chat, now: Instant, s: &ChatState, body: &[u8]) {
    if *s == ChatState::Composing {
        let secs = iscomposing::IsComposing::parse(body)
            .map(|d| d.active_for_secs())
            .unwrap_or(iscomposing::DEFAULT_ACTIVE_SECS);
        c.timers.set(
            ChatTimer::PeerComposing,
            now + Duration::from_secs(secs.into()),
        );
    } else {
        c.timers.stop(ChatTimer::PeerComposing);
    }
    c.state_in = Some(s.clone());
}

#[cfg(test)]
#[path = "flows_tests.rs"]
mod tests;
