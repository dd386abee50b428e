//! Page-mode IM, RFC 7572: the transactions around [`super::im`]'s translations, and what
//! real SIP clients send beside the text ([`super::notices`]).
//!
//! XMPP → SIP (§4): "`<message/>` becomes SIP MESSAGE" is [`Core::send_page`]; the final
//! response comes back through the routing table ([`Core::page_response`]): a failure
//! becomes the RFC 7247 Table 3 error with the original id, a 200 a XEP-0184 receipt when
//! one was asked and the peer sends no IMDNs itself (`im.receipts_on_2xx`; 202 means
//! stored, not delivered), a 415 to text/html a retry as text/plain. Receipts, markers and
//! chat states without a body become IMDN and isComposing MESSAGEs — only to peers that
//! asked for them or showed they take them.
//! SIP → XMPP (§5): "SIP MESSAGE becomes `<message/>`" is [`Core::on_sip_message`]:
//! `Content-Encoding: deflate` and CPIM envelopes come off first, IMDNs become receipts and
//! markers, isComposing chat states; the 200 for a message waits until the link took the
//! stanza ([`Core::on_queued`]); a full queue is 503 + Retry-After. A later bounce of that
//! stanza becomes a failed IMDN when the sender asked for negative delivery reports, else it
//! is logged against its Call-ID.

use crate::gateway::metrics::{S2X, X2S, condition};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Message, MessageType, Thread};
use xmpp_parsers::receipts::{Received, Request as ReceiptRequest};
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_error::StanzaError;

use super::im::mime_of;
use super::notices::{self, AskedReport, Extra, SentPage};
use super::owners::Owner;
use super::{Core, Output, errors, im};
use crate::body::imdn::{Kind, Status};
use crate::body::iscomposing;
use crate::config::PageForm;
use crate::sip::message::{Request, Response};
use crate::sip::transaction::TxId;
use crate::xmpp::stanza;

/// Entries kept in the Call-ID → CSeq and stanza id → Call-ID maps before they are reset.
const MEMORY: usize = 10_000;
/// A CPIM message whose `DateTime` is older than this gets a XEP-0203 delay (it waited
/// somewhere: a store-and-forward server, a client offline).
const DELAYED_AFTER: Duration = Duration::from_secs(60);

/// What a MESSAGE we sent was for.
enum Pending {
    /// A stanza's text; its failure goes back to the sender.
    Text {
        /// The stanza, for a retry (text/html refused → text/plain) and for the error.
        m: Box<Message>,
        /// The MIME type sent (without parameters).
        mime: String,
        receipt: bool,
        /// The MESSAGE's Call-ID, logged with the stanza id.
        call_id: String,
    },
    /// An IMDN or isComposing: a failure only teaches us about the peer.
    Notice { peer: Jid, mime: &'static str },
}

/// Page-mode state: messages in flight both ways, conversations, reports.
#[derive(Default)]
pub struct Pages {
    x2s: HashMap<TxId, Pending>,
    /// MESSAGE transactions waiting to learn whether their stanza was queued.
    s2x: HashMap<u64, (TxId, Request, String)>,
    /// Stanza id → Call-ID of MESSAGEs delivered to XMPP, so a later bounce can be logged
    /// against the SIP side.
    delivered: HashMap<String, String>,
    next_ticket: u64,
    /// CSeq per Call-ID for MESSAGEs that reuse a thread as Call-ID (RFC 3428 §4).
    cseqs: HashMap<String, u32>,
    /// (XMPP user, SIP peer), bare → the thread the user last wrote in (`clients` form).
    threads: HashMap<(String, String), String>,
    /// Reports and what each peer takes.
    notices: notices::Notices,
    /// RFC 3994 §4: a peer's `active` lasts its refresh interval (120 s by default); then
    /// the XMPP user is told `paused`. (deadline, XMPP user, SIP peer), and the deadline per
    /// conversation.
    composing: BTreeSet<(Instant, Jid, Jid)>,
    composing_until: HashMap<(Jid, Jid), Instant>,
}

impl Pages {
    /// Notes the thread of a stanza going to SIP (or that it had none).
    fn remember_thread(&mut self, m: &Message) {
        let (Some(user), Some(peer)) = (&m.from, &m.to) else {
            return;
        };
        let key = (user.to_bare().to_string(), peer.to_bare().to_string());
        match &m.thread {
            Some(t) => {
                if self.threads.len() >= MEMORY {
                    self.threads.clear();
                }
                self.threads.insert(key, t.id.clone());
            }
            None => {
                self.threads.remove(&key);
            }
        }
    }

    /// The conversation thread between an XMPP user and a SIP peer.
    fn thread_of(&self, user: &Jid, peer: &Jid) -> Option<Thread> {
        let key = (user.to_bare().to_string(), peer.to_bare().to_string());
        self.threads.get(&key).map(|id| Thread {
            parent: None,
            id: id.clone(),
        })
    }
}

impl Pages {
    /// Notes (or clears) the deadline of a peer's `active` state.
    fn peer_composing(&mut self, user: &Jid, peer: &Jid, until: Option<Instant>) {
        let key = (user.clone(), peer.clone());
        if let Some(old) = self.composing_until.remove(&key) {
            self.composing.remove(&(old, key.0.clone(), key.1.clone()));
        }
        if let Some(at) = until {
            if self.composing_until.len() >= MEMORY {
                return;
            }
            self.composing.insert((at, key.0.clone(), key.1.clone()));
            self.composing_until.insert(key, at);
        }
    }

    /// When the next peer's `active` runs out.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.composing.iter().next().map(|(t, _, _)| *t)
    }
}

impl Core {
    /// The wall clock at `now`, when the runtime gave the core the wall clock.
    pub(in crate::gateway) fn wall(&self, now: Instant) -> Option<SystemTime> {
        let (at, wall) = self.cfg.wall_clock?;
        Some(wall + now.saturating_duration_since(at))
    }

    /// [`Core::wall`] as RFC 3339 (CPIM `DateTime`).
    pub(in crate::gateway) fn wall_now(&self, now: Instant) -> Option<String> {
        notices::rfc3339(self.wall(now)?)
    }

    /// Whether a CPIM `DateTime` lies more than [`DELAYED_AFTER`] before `now` (only when
    /// the runtime gave the core the wall clock).
    fn is_old(&self, now: Instant, d: &xmpp_parsers::date::DateTime) -> bool {
        let Some(wall_now) = self.wall(now) else {
            return false;
        };
        let Ok(secs) = u64::try_from(d.0.timestamp()) else {
            return false;
        };
        let stamp = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        wall_now
            .duration_since(stamp)
            .is_ok_and(|age| age > DELAYED_AFTER)
    }

    /// Peers whose `active` ran out unrefreshed: `paused` for the XMPP user (RFC 3994 §4).
    pub(super) fn page_timeout(&mut self, now: Instant) {
        while let Some((at, user, peer)) = self.pages.composing.iter().next().cloned() {
            if at > now {
                break;
            }
            self.pages
                .composing
                .remove(&(at, user.clone(), peer.clone()));
            self.pages
                .composing_until
                .remove(&(user.clone(), peer.clone()));
            let thread = self.pages.thread_of(&user, &peer);
            let mut s = Message::new(Some(user));
            s.from = Some(peer);
            s.type_ = MessageType::Chat;
            s.thread = thread;
            s.payloads.push(ChatState::Paused.into());
            self.emit(s);
        }
    }

    /// A `<message/>` as a SIP MESSAGE (RFC 7572 §4), for page mode and for chats whose peer
    /// does not do sessions. Body-less stanzas carry receipts, markers or chat states.
    pub(super) fn send_page(&mut self, now: Instant, m: Message) {
        let (Some(sender), Some(recipient)) = (m.from.clone(), m.to.clone()) else {
            return;
        };
        let caps = self.pages.notices.peer(now, &recipient);
        let html = self.cfg.xhtml_to_sip && caps.takes("text/html");
        let cpim = caps.cpim && caps.takes("message/cpim");
        let mut page = match im::xmpp_to_sip(&m, &self.addresses, html) {
            Ok(Some(p)) => p,
            Ok(None) => return self.send_extra(now, &m),
            Err(e) => {
                self.metrics.xmpp_messages_failed += 1;
                self.metrics.errored(X2S, "page", condition(&e));
                return self.bounce(&m, e);
            }
        };
        let (call_id, cseq, contact) = match self.cfg.page_form {
            PageForm::Rfc7572 => {
                let call_id = page
                    .call_id
                    .clone()
                    .unwrap_or_else(|| self.ua.new_call_id());
                let cseqs = &mut self.pages.cseqs;
                if cseqs.len() >= MEMORY {
                    cseqs.clear();
                }
                let c = cseqs.entry(call_id.clone()).or_insert(0);
                *c += 1;
                (call_id, *c, None)
            }
            PageForm::Clients => {
                // A Call-ID its receiver has never seen (clients that do not speak CPIM take
                // it as the message id and drop repeats); the resource goes into Contact;
                // the thread is remembered for the replies.
                let ua = self.ua.config();
                let contact = ua.contact(&page.from.uri, ua.request_transport());
                page.from_without_gruu();
                self.pages.remember_thread(&m);
                (self.ua.new_call_id(), 1, Some(contact))
            }
        };
        let wants = notices::wants(&m);
        // CPIM only to a peer that uses it; its IMDNs then name our imdn.Message-ID. `mime`
        // is what goes on the wire, so that a 415 teaches the right thing.
        let (body, report_id) = if cpim {
            let mid = self.ua.new_tag();
            let cpim = notices::cpim_text(
                &page.from.uri,
                &page.to.uri,
                page.content_type,
                page.body.clone().into_bytes(),
                &mid,
                wants,
                self.wall_now(now).as_deref(),
            );
            (("message/cpim".to_string(), cpim), mid)
        } else {
            let plain = (page.content_type.into(), page.body.clone().into_bytes());
            (plain, call_id.clone())
        };
        let mime = mime_of(&body.0);
        let tag = self.ua.new_tag();
        tracing::debug!(stanza_id = ?m.id.as_ref().map(|i| &i.0), %call_id, from = %sender, to = %recipient, "message → SIP MESSAGE");
        let logged_call_id = call_id.clone();
        let mut out = page.request("MESSAGE", tag, call_id, cseq, body);
        if let Some(c) = contact {
            out.headers.push(("Contact".into(), c));
        }
        if let Some(l) = &page.language {
            out.headers.push(("Content-Language".into(), l.clone()));
        }
        // RFC 7572 §6: refuse what would exceed the limit, measured on the wire; the 513
        // comes back as policy-violation (RFC 7247 Table 3) with the sizes in the text.
        out.size_limit = Some(self.cfg.sip_message_size);
        let tx = self.ua.send_request(now, out);
        self.owners.insert_tx(tx, Owner::Page);
        self.metrics.xmpp_messages_out += 1;
        self.pages.notices.sent(
            report_id,
            SentPage {
                stanza_id: m.id.clone(),
                sender,
                recipient,
                receipt: wants.0,
                markable: wants.1,
            },
        );
        self.pages.x2s.insert(
            tx,
            Pending::Text {
                m: Box::new(m),
                mime,
                receipt: wants.0,
                call_id: logged_call_id,
            },
        );
    }

    /// A body-less stanza to a SIP peer: a receipt or marker → IMDN for the messages that
    /// asked for one (RFC 5438), a chat state → isComposing to peers that take it
    /// (RFC 3994); anything else goes nowhere.
    fn send_extra(&mut self, now: Instant, m: &Message) {
        let (Some(user), Some(peer)) = (&m.from, &m.to) else {
            return;
        };
        let caps = self.pages.notices.peer(now, peer);
        let typing = caps.iscomposing && caps.takes(iscomposing::CONTENT_TYPE);
        let owed = |n: &mut notices::Notices, id: &str, display: bool, want: &str| {
            n.take_owed(user, peer, id, display)
                .into_iter()
                .filter(|a| a.dispositions.iter().any(|d| d == want))
                .collect::<Vec<_>>()
        };
        match notices::extra_of(m) {
            Some(Extra::Delivered(id)) => {
                for a in owed(&mut self.pages.notices, &id, false, "positive-delivery") {
                    self.send_imdn(now, m, &a, Kind::Delivery, Status::Delivered);
                }
            }
            Some(Extra::Displayed(id)) => {
                for a in owed(&mut self.pages.notices, &id, true, "display") {
                    self.send_imdn(now, m, &a, Kind::Display, Status::Displayed);
                }
            }
            Some(Extra::Composing(active)) => {
                if typing {
                    let doc = notices::composing(active).to_body();
                    self.send_notice(now, m, iscomposing::CONTENT_TYPE, |_| {
                        (iscomposing::CONTENT_TYPE.into(), doc.into_bytes())
                    });
                }
            }
            None => tracing::debug!("body-less message with nothing for SIP"),
        }
    }

    /// One IMDN for a message from SIP that asked for it.
    fn send_imdn(
        &mut self,
        now: Instant,
        m: &Message,
        a: &AskedReport,
        kind: Kind,
        status: Status,
    ) {
        let id = self.ua.new_tag();
        self.send_notice(now, m, crate::body::imdn::CONTENT_TYPE, |page| {
            notices::imdn_body(a, kind, status, &page.from.uri, &page.to.uri, id)
        });
    }

    /// A MESSAGE that carries no text of the user's (IMDN, isComposing): addressed like the
    /// stanza, never retried, its failures only teach us about the peer.
    /// `body` is built from the addressing (From without the resource, To).
    fn send_notice(
        &mut self,
        now: Instant,
        m: &Message,
        mime: &'static str,
        body: impl FnOnce(&im::PageMessage) -> (String, Vec<u8>),
    ) {
        let (Ok(mut page), Some(peer)) = (im::page_to(m, &self.addresses), m.to.clone()) else {
            return;
        };
        page.from_without_gruu();
        let body = body(&page);
        let (tag, call_id) = (self.ua.new_tag(), self.ua.new_call_id());
        let mut out = page.request("MESSAGE", tag, call_id, 1, body);
        // RFC 5438 §7.1.1: reports are not urgent.
        if mime != iscomposing::CONTENT_TYPE {
            out.headers.push(("Priority".into(), "non-urgent".into()));
        }
        out.size_limit = Some(self.cfg.sip_message_size);
        let tx = self.ua.send_request(now, out);
        self.owners.insert_tx(tx, Owner::Page);
        self.pages.x2s.insert(tx, Pending::Notice { peer, mime });
    }

    /// A response to one of our MESSAGEs.
    pub(super) fn page_response(&mut self, now: Instant, tx: TxId, resp: &Response) {
        if resp.code < 200 {
            return;
        }
        if resp.code >= 300 {
            let contact = self.addresses.failure_contact(resp);
            let accept = resp.headers.get("Accept");
            return self.page_failure(
                now,
                tx,
                (resp.code, &resp.reason),
                accept,
                contact.as_deref(),
            );
        }
        self.owners.remove_tx(tx);
        let Some(Pending::Text {
            m,
            receipt,
            call_id,
            ..
        }) = self.pages.x2s.remove(&tx)
        else {
            return;
        };
        tracing::debug!(stanza_id = ?m.id.as_ref().map(|i| &i.0), %call_id, code = resp.code, "SIP MESSAGE delivered");
        self.metrics.message(X2S, "page", "delivered", "");
        // A 200 from a peer that sends no IMDNs is the best word on delivery there is;
        // 202 means stored, not delivered (RFC 3428 §7).
        let (Some(sender), Some(recipient), Some(id)) = (&m.from, &m.to, &m.id) else {
            return;
        };
        let imdn = self.pages.notices.peer(now, recipient).imdn;
        if receipt && resp.code == 200 && self.cfg.receipts_on_2xx && !imdn {
            let mut r = Message::new(Some(sender.clone()));
            r.from = Some(recipient.clone());
            r.type_ = MessageType::Chat;
            r.thread = m.thread.clone();
            r.payloads.push(Received { id: id.0.clone() }.into());
            self.emit(r);
        }
    }

    /// A MESSAGE failed (final response ≥ 300, or none came): the sender gets the RFC 7247
    /// Table 3 error with the original id; a 415 teaches what the peer takes (text/html
    /// refused → the same message again as text/plain).
    pub(super) fn page_failure(
        &mut self,
        now: Instant,
        tx: TxId,
        (code, reason): (u16, &str),
        accept: Option<&str>,
        contact: Option<&str>,
    ) {
        self.owners.remove_tx(tx);
        let Some(p) = self.pages.x2s.remove(&tx) else {
            return;
        };
        let accept = accept.map(|a| a.to_ascii_lowercase());
        let refused =
            |mime: &str| code == 415 && accept.as_deref().is_none_or(|a| !a.contains(mime));
        // An `Accept` that lists isComposing is as good as the peer sending one.
        let takes_typing = accept
            .as_deref()
            .is_some_and(|a| a.contains(iscomposing::CONTENT_TYPE));
        match p {
            Pending::Notice { peer, mime } => {
                tracing::debug!(code, mime, "notice MESSAGE refused");
                if refused(mime) {
                    self.pages.notices.learn(now, &peer, |c| {
                        c.refused.push(mime.to_string());
                        if mime == iscomposing::CONTENT_TYPE {
                            c.iscomposing = false;
                        }
                    });
                }
            }
            Pending::Text {
                m, mime, call_id, ..
            } => {
                if let Some(peer) = m.to.clone()
                    && takes_typing
                {
                    self.pages
                        .notices
                        .learn(now, &peer, |c| c.iscomposing = true);
                }
                if let Some(peer) = m.to.clone()
                    && refused(&mime)
                {
                    self.pages.notices.learn(now, &peer, |c| {
                        c.refused.push(mime.clone());
                        if mime == "message/cpim" {
                            c.cpim = false;
                        }
                    });
                    if mime != "text/plain" {
                        // Never lost for a refused extra: the same text again, plainer.
                        self.metrics.xmpp_messages_out =
                            self.metrics.xmpp_messages_out.saturating_sub(1);
                        return self.send_page(now, *m);
                    }
                }
                let (Some(sender), Some(recipient)) = (m.from.clone(), m.to.clone()) else {
                    return;
                };
                tracing::info!(stanza_id = ?m.id.as_ref().map(|i| &i.0), %call_id, code, %reason, "SIP MESSAGE failed; error to the sender");
                self.metrics.xmpp_messages_failed += 1;
                self.metrics.errored(X2S, "page", format!("sip_{code}"));
                let err = errors::sip_to_xmpp(code, reason, contact);
                self.emit(stanza::error_message(
                    recipient, sender, m.id, m.thread, err,
                ));
            }
        }
    }

    /// The gateway stops: every MESSAGE still waiting for its answer goes back to its sender
    /// as an error (its delivery is not confirmed; never silence).
    pub(super) fn page_shutdown(&mut self) {
        let pending: Vec<TxId> = self.pages.x2s.keys().copied().collect();
        for tx in pending {
            self.owners.remove_tx(tx);
            let Some(Pending::Text { m, call_id, .. }) = self.pages.x2s.remove(&tx) else {
                continue;
            };
            let (Some(sender), Some(recipient)) = (m.from.clone(), m.to.clone()) else {
                continue;
            };
            tracing::info!(stanza_id = ?m.id.as_ref().map(|i| &i.0), %call_id, "shutting down: SIP MESSAGE unanswered; error to the sender");
            self.metrics.xmpp_messages_failed += 1;
            self.metrics.errored(X2S, "page", "remote-server-timeout");
            let err = stanza::error(
                xmpp_parsers::stanza_error::DefinedCondition::RemoteServerTimeout,
                "the gateway is shutting down; delivery of this message was not confirmed",
            );
            self.emit(stanza::error_message(
                recipient, sender, m.id, m.thread, err,
            ));
        }
    }

    /// SIP MESSAGE → `<message/>`, report or chat state (RFC 7572 §5, RFC 5438, RFC 3994).
    pub(super) fn on_sip_message(&mut self, now: Instant, tx: TxId, req: Request) {
        let id = req
            .top_via()
            .and_then(|v| v.branch().map(String::from))
            .unwrap_or_else(|| self.ua.new_tag());
        let max = self.cfg.max_body;
        let inbound = match im::sip_to_xmpp(&req, &self.addresses, &id, max) {
            Ok(i) => i,
            Err(r) => {
                self.metrics.sip_messages_refused += 1;
                self.metrics.errored(S2X, "page", format!("sip_{}", r.code));
                return self.refuse(now, tx, &req, r);
            }
        };
        let im::Inbound {
            page,
            envelope,
            from,
            to,
        } = inbound;
        if envelope.cpim {
            self.pages.notices.learn(now, &from, |c| c.cpim = true);
        }
        let thread = self.pages.thread_of(&to, &from);
        match page {
            im::PageIn::Message(mut m) => {
                // A message ends the peer's composing (RFC 3994 §3).
                self.pages.peer_composing(&to, &from, None);
                if let Some(d) = envelope
                    .datetime
                    .as_deref()
                    .and_then(|d| d.parse::<xmpp_parsers::date::DateTime>().ok())
                    .filter(|d| self.is_old(now, d))
                {
                    m.payloads.push(
                        xmpp_parsers::delay::Delay {
                            from: None,
                            stamp: d,
                            data: None,
                        }
                        .into(),
                    );
                }
                if self.cfg.page_form == PageForm::Clients {
                    // One conversation in XMPP clients: `chat`, and the thread the XMPP user
                    // last used with this peer (none if they never set one), not the
                    // Call-ID, which is new for every MESSAGE of a client.
                    m.type_ = MessageType::Chat;
                    m.thread = thread;
                }
                if !envelope.dispositions.is_empty() {
                    self.pages.notices.learn(now, &from, |c| c.imdn = true);
                    let ds = &envelope.dispositions;
                    if ds.iter().any(|d| d == "positive-delivery") {
                        m.payloads.push(ReceiptRequest.into());
                    }
                    if ds.iter().any(|d| d == "display") {
                        m.payloads
                            .push(xmpp_parsers::displayed_markers::Markable.into());
                    }
                    let message_id = envelope
                        .message_id
                        .clone()
                        .unwrap_or_else(|| req.call_id().to_string());
                    self.pages.notices.asked(
                        &to,
                        &from,
                        AskedReport {
                            stanza_id: id.clone(),
                            message_id,
                            dispositions: envelope.dispositions.clone(),
                            cpim: envelope.cpim,
                            datetime: envelope.datetime.clone(),
                            delivered: false,
                        },
                    );
                }
                tracing::debug!(call_id = %req.call_id(), stanza_id = %id, from = ?m.from.as_ref().map(|j| j.to_string()), to = ?m.to.as_ref().map(|j| j.to_string()), "SIP MESSAGE → message");
                let ticket = self.pages.next_ticket;
                self.pages.next_ticket += 1;
                self.pages.s2x.insert(ticket, (tx, req, id));
                self.out
                    .push_back(Output::TrackedStanza(ticket, Stanza::Message(*m)));
            }
            im::PageIn::Notification(imdn) => {
                self.pages.notices.learn(now, &from, |c| c.imdn = true);
                let stanza = self
                    .pages
                    .notices
                    .sent_page(&imdn.message_id)
                    .filter(|s| s.recipient.to_bare() == from.to_bare())
                    .and_then(|s| notices::imdn_to_stanza(&imdn, s, thread));
                match stanza {
                    Some(s) => self.emit(s),
                    None => {
                        tracing::debug!(message_id = %imdn.message_id, "IMDN about no message we remember, or nothing asked")
                    }
                }
                self.ua.reply(now, tx, &req, 200, &[]);
            }
            im::PageIn::Composing(doc) => {
                self.pages
                    .notices
                    .learn(now, &from, |c| c.iscomposing = true);
                let until = doc
                    .active
                    .then(|| now + Duration::from_secs(doc.active_for_secs().into()));
                self.pages.peer_composing(&to, &from, until);
                let mut s = Message::new(Some(to));
                s.from = Some(from);
                s.type_ = MessageType::Chat;
                s.thread = thread;
                let state = if doc.active {
                    ChatState::Composing
                } else {
                    ChatState::Paused
                };
                s.payloads.push(state.into());
                self.emit(s);
                self.ua.reply(now, tx, &req, 200, &[]);
            }
        }
    }

    /// RFC 7572 §5: 200 once the stanza is handed to the XMPP server; 503 + Retry-After when
    /// the link's queue is full.
    pub(super) fn on_queued(&mut self, now: Instant, ticket: u64, result: Result<(), Box<Stanza>>) {
        let Some((tx, req, id)) = self.pages.s2x.remove(&ticket) else {
            return;
        };
        match result {
            Ok(()) => {
                self.metrics.sip_messages_in += 1;
                // While the link is down the stanza waits in its queue: taken, not yet delivered.
                let outcome = if self.link_up { "delivered" } else { "queued" };
                self.metrics.message(S2X, "page", outcome, "");
                let delivered = &mut self.pages.delivered;
                if delivered.len() >= MEMORY {
                    delivered.clear();
                }
                delivered.insert(id, req.call_id().to_string());
                self.ua.reply(now, tx, &req, 200, &[]);
            }
            Err(_) => {
                tracing::info!(call_id = %req.call_id(), stanza_id = %id, "XMPP link queue full; MESSAGE answered 503");
                self.metrics.not_queued += 1;
                self.metrics.sip_messages_refused += 1;
                self.metrics.errored(S2X, "page", "sip_503");
                let tag = self.ua.new_tag();
                let mut resp = Response::to_request(
                    &req,
                    503,
                    "XMPP server unreachable, queue full",
                    Some(&tag),
                );
                resp.headers.push("Retry-After", "5");
                self.ua.respond(now, tx, resp);
            }
        }
    }

    /// The XMPP server bounced a message a SIP MESSAGE brought: a failed IMDN when its
    /// sender asked for negative delivery reports (RFC 5438 §6.4), else logged against its
    /// Call-ID (the 200 is gone).
    pub(super) fn page_bounce(&mut self, now: Instant, m: &Message) {
        let call_id =
            m.id.as_ref()
                .and_then(|i| self.pages.delivered.remove(&i.0));
        let condition = m
            .payloads
            .iter()
            .find_map(|p| StanzaError::try_from(p.clone()).ok())
            .map(|e| format!("{:?}", e.defined_condition));
        tracing::info!(
            id = ?m.id.as_ref().map(|i| &i.0),
            from = ?m.from.as_ref().map(|j| j.to_string()),
            call_id = ?call_id,
            condition = ?condition,
            "XMPP server bounced a message (its SIP MESSAGE was already answered 200)"
        );
        let (Some(user), Some(peer), Some(Id(id))) = (&m.from, &m.to, &m.id) else {
            return;
        };
        let asked = self.pages.notices.take_bounced(user, peer, id);
        if let Some(a) = asked.filter(|a| a.dispositions.iter().any(|d| d == "negative-delivery")) {
            // The IMDN goes from the XMPP user's address: the bounce's from/to as a stanza.
            let mut from_user = Message::new(Some(peer.clone()));
            from_user.from = Some(user.clone());
            self.send_imdn(now, &from_user, &a, Kind::Delivery, Status::Failed);
        }
    }
}
