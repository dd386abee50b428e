//! Page-mode IM, RFC 7572: the transactions around [`super::im`]'s translations.
//!
//! XMPP → SIP (§4): "`<message/>` becomes SIP MESSAGE" is [`Core::send_page`]; the final
//! response comes back through the routing table ([`Core::page_response`]) and a failure
//! becomes the RFC 7247 Table 3 error with the original id.
//! SIP → XMPP (§5): "SIP MESSAGE becomes `<message/>`" is [`Core::on_sip_message`]; the 200
//! waits until the link took the stanza ([`Core::on_queued`]); a full queue is 503 +
//! Retry-After. A later bounce of that stanza is logged against its Call-ID.

use std::collections::HashMap;
use std::time::Instant;

use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Message, MessageType, Thread};
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_error::StanzaError;

use super::owners::Owner;
use super::{Core, Output, errors, im};
use crate::config::PageForm;
use crate::sip::message::{Request, Response};
use crate::sip::transaction::TxId;
use crate::xmpp::stanza;

/// Entries kept in the Call-ID → CSeq and stanza id → Call-ID maps before they are reset.
const MEMORY: usize = 10_000;

/// A `<message/>` waiting for its MESSAGE's final response.
struct PendingX2s {
    /// The original sender (error goes back there) and recipient (error comes from there).
    sender: Jid,
    recipient: Jid,
    id: Option<Id>,
    thread: Option<Thread>,
}

/// Page-mode state: messages in flight both ways.
#[derive(Default)]
pub struct Pages {
    x2s: HashMap<TxId, PendingX2s>,
    /// MESSAGE transactions waiting to learn whether their stanza was queued.
    s2x: HashMap<u64, (TxId, Request, String)>,
    /// Stanza id → Call-ID of MESSAGEs delivered to XMPP, so a later bounce can be logged
    /// against the SIP side (RFC 7572 §5 leaves the bounce unmapped: the 200 is gone).
    delivered: HashMap<String, String>,
    next_ticket: u64,
    /// CSeq per Call-ID for MESSAGEs that reuse a thread as Call-ID (RFC 3428 §4).
    cseqs: HashMap<String, u32>,
    /// (XMPP user, SIP peer), bare → the thread the user last wrote in (`clients` form).
    threads: HashMap<(String, String), String>,
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

    /// The conversation thread for a stanza coming from SIP.
    fn thread_of(&self, m: &Message) -> Option<Thread> {
        let (Some(peer), Some(user)) = (&m.from, &m.to) else {
            return None;
        };
        let key = (user.to_bare().to_string(), peer.to_bare().to_string());
        self.threads.get(&key).map(|id| Thread {
            parent: None,
            id: id.clone(),
        })
    }
}

impl Core {
    /// A `<message/>` as a SIP MESSAGE (RFC 7572 §4), for page mode and for chats whose peer
    /// does not do sessions.
    pub(super) fn send_page(&mut self, now: Instant, m: Message) {
        let mut page = match im::xmpp_to_sip(&m, &self.addresses, self.cfg.xhtml_to_sip) {
            Ok(Some(p)) => p,
            Ok(None) => {
                tracing::debug!("message without body (chat state or receipt) not sent as MESSAGE");
                return;
            }
            Err(e) => {
                self.metrics.xmpp_messages_failed += 1;
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
        let tag = self.ua.new_tag();
        let body = (page.content_type.into(), page.body.clone().into_bytes());
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
        let (Some(sender), Some(recipient)) = (m.from.clone(), m.to.clone()) else {
            return;
        };
        let tx = self.ua.send_request(now, out);
        self.owners.insert_tx(tx, Owner::Page);
        self.metrics.xmpp_messages_out += 1;
        self.pages.x2s.insert(
            tx,
            PendingX2s {
                sender,
                recipient,
                id: m.id.clone(),
                thread: m.thread.clone(),
            },
        );
    }

    /// A response to one of our MESSAGEs.
    pub(super) fn page_response(&mut self, tx: TxId, resp: &Response) {
        if resp.code < 200 {
            return;
        }
        if resp.code < 300 {
            self.owners.remove_tx(tx);
            self.pages.x2s.remove(&tx);
            return;
        }
        let contact = self.addresses.failure_contact(resp);
        self.page_failure(tx, resp.code, &resp.reason, contact.as_deref());
    }

    /// A MESSAGE failed: the sender gets the RFC 7247 Table 3 error with the original id.
    pub(super) fn page_failure(
        &mut self,
        tx: TxId,
        code: u16,
        reason: &str,
        contact: Option<&str>,
    ) {
        self.owners.remove_tx(tx);
        let Some(p) = self.pages.x2s.remove(&tx) else {
            return;
        };
        self.metrics.xmpp_messages_failed += 1;
        let err = errors::sip_to_xmpp(code, reason, contact);
        self.emit(stanza::error_message(
            p.recipient,
            p.sender,
            p.id,
            p.thread,
            err,
        ));
    }

    /// SIP MESSAGE → `<message/>` (RFC 7572 §5), tracked so that the 200 waits for the link.
    pub(super) fn on_sip_message(&mut self, now: Instant, tx: TxId, req: Request) {
        let id = req
            .top_via()
            .and_then(|v| v.branch().map(String::from))
            .unwrap_or_else(|| self.ua.new_tag());
        match im::sip_to_xmpp(&req, &self.addresses, &id) {
            Ok(mut m) => {
                if self.cfg.page_form == PageForm::Clients {
                    // One conversation in XMPP clients: `chat`, and the thread the XMPP user
                    // last used with this peer (none if they never set one), not the
                    // Call-ID, which is new for every MESSAGE of a client.
                    m.type_ = MessageType::Chat;
                    m.thread = self.pages.thread_of(&m);
                }
                let ticket = self.pages.next_ticket;
                self.pages.next_ticket += 1;
                self.pages.s2x.insert(ticket, (tx, req, id));
                self.out
                    .push_back(Output::TrackedStanza(ticket, Stanza::Message(m)));
            }
            Err(r) => {
                self.metrics.sip_messages_refused += 1;
                self.refuse(now, tx, &req, r);
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
                let delivered = &mut self.pages.delivered;
                if delivered.len() >= MEMORY {
                    delivered.clear();
                }
                delivered.insert(id, req.call_id().to_string());
                self.ua.reply(now, tx, &req, 200, &[]);
            }
            Err(_) => {
                self.metrics.not_queued += 1;
                self.metrics.sip_messages_refused += 1;
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

    /// The XMPP server bounced a message a SIP MESSAGE brought: logged against its Call-ID.
    pub(super) fn page_bounce(&mut self, m: &Message) {
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
    }
}
