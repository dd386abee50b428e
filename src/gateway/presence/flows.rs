//! Presence in the core's dispatch: which stanzas and SIP requests go to [`super::x2s`] or
//! [`super::s2x`], the subscription machine's actions, timers, the component's own
//! presence (XEP-0115 caps), and the records saved and restored (the store is an IO shell:
//! the core emits [`Output::Store`] and is fed [`crate::gateway::Input::Restored`]).

use std::time::{Duration, Instant};

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::x2s::presence;
use super::{PendingTx, PresenceId, Saved};
use crate::gateway::owners::DialogKey;
use crate::gateway::{Core, Output, Owner};
use crate::sip::message::{Method, Request, Response};
use crate::sip::subscription::{Action, Role, SubState, Subscription};
use crate::sip::transaction::TxId;
use crate::store::StoreOp;

impl Core {
    /// A presence stanza from the XMPP server (senders already checked).
    pub(in crate::gateway) fn on_presence_bridged(&mut self, now: Instant, p: &Presence) {
        tracing::debug!(from = ?p.from.as_ref().map(|j| j.to_string()), to = ?p.to.as_ref().map(|j| j.to_string()), type_ = ?p.type_, "presence from XMPP");
        let to_contact = p.to.as_ref().is_some_and(|t| t.node().is_some());
        if !to_contact {
            return self.component_presence(p);
        }
        match p.type_ {
            PresenceType::Subscribe => self.x2s_subscribe(now, p),
            PresenceType::Unsubscribe => self.x2s_unsubscribe(now, p),
            PresenceType::Probe => self.x2s_probe(now, p),
            PresenceType::Subscribed | PresenceType::Unsubscribed => self.s2x_authorization(now, p),
            PresenceType::None | PresenceType::Unavailable => self.s2x_presence(now, p),
            PresenceType::Error => {}
        }
        self.presence_drain(now);
    }

    /// Presence to the component's own JID (the gateway in the roster, XEP-0100 §4.1):
    /// subscriptions accepted, probes answered with our presence and caps (XEP-0115).
    fn component_presence(&mut self, p: &Presence) {
        let (Some(from), Some(to)) = (p.from.clone(), p.to.clone()) else {
            return;
        };
        let reply = |t| presence(t, to.clone(), from.clone());
        match p.type_ {
            PresenceType::Subscribe => {
                self.emit(reply(PresenceType::Subscribed));
                self.emit_own_presence(&to, &from);
            }
            PresenceType::Probe => self.emit_own_presence(&to, &from),
            PresenceType::Unsubscribe => self.emit(reply(PresenceType::Unsubscribed)),
            _ => {}
        }
    }

    fn emit_own_presence(&mut self, me: &Jid, to: &Jid) {
        let mut p = presence(PresenceType::None, me.clone(), to.clone());
        p.payloads.push(self.cfg.service.domain_caps().into());
        self.emit(p);
    }

    /// A SIP request for presence: SUBSCRIBE outside a dialog, or inside one of ours.
    pub(in crate::gateway) fn presence_request(
        &mut self,
        now: Instant,
        owner: Option<PresenceId>,
        tx: TxId,
        req: &Request,
    ) {
        match (owner, &req.method) {
            (None, Method::Subscribe) => self.s2x_subscribe(now, tx, req),
            (Some(id), Method::Subscribe) if self.presence.watchers.contains_key(&id) => {
                self.s2x_resubscribe(now, id, tx, req)
            }
            (Some(id), Method::Notify) if self.presence.watches.contains_key(&id) => {
                self.x2s_notify(now, id, tx, req)
            }
            _ => self.ua.reply(now, tx, req, 481, &[]),
        }
        self.presence_drain(now);
    }

    /// A final answer (or none: `Err`) to a presence transaction of ours.
    pub(in crate::gateway) fn presence_response(
        &mut self,
        now: Instant,
        tx: TxId,
        resp: Result<&Response, (u16, &str)>,
    ) {
        if resp.is_ok_and(|r| r.code < 200) {
            return;
        }
        self.owners.remove_tx(tx);
        let Some(kind) = self.presence.txs.remove(&tx) else {
            return;
        };
        match kind {
            PendingTx::Notify(id) => {
                let code = match resp {
                    Ok(r) => r.code,
                    Err((c, _)) => c,
                };
                self.s2x_response(now, id, code)
            }
            PendingTx::Final => {}
            other => self.x2s_response(now, other, resp),
        }
        self.presence_drain(now);
    }

    /// What the RFC 6665 machines ask for.
    pub(in crate::gateway) fn presence_drain(&mut self, now: Instant) {
        while let Some(a) = self.presence.subs.poll_action() {
            match a {
                Action::Notify {
                    key,
                    subscription_state,
                } => self.s2x_notify_action(now, &key, subscription_state),
                Action::Ended { key, reason } => {
                    let id = self.presence.by_key.get(&key).copied();
                    match id {
                        Some(id) if self.presence.watchers.contains_key(&id) => {
                            self.s2x_ended(&key, &reason)
                        }
                        _ => {
                            self.presence.subs.forget_ended(&key);
                            self.x2s_action(now, Action::Ended { key, reason });
                        }
                    }
                }
                refresh @ Action::Refresh { .. } => self.x2s_action(now, refresh),
            }
        }
    }

    /// Presence timers: the machines' refreshes and expiries, retries, deferred NOTIFYs.
    pub(in crate::gateway) fn presence_timeout(&mut self, now: Instant) {
        self.presence.subs.handle_timeout(now);
        self.presence_drain(now);
        for id in self.presence.due(now) {
            if self.presence.watches.contains_key(&id) {
                self.x2s_retry(now, id);
            } else {
                self.s2x_due(now, id);
            }
        }
        self.presence_drain(now);
    }

    /// Queues a record for the store.
    pub(super) fn save(&mut self, rec: Saved) {
        match serde_json::to_string(&rec) {
            Ok(value) => self.out.push_back(Output::Store(StoreOp::Put {
                key: rec.key(),
                value,
            })),
            Err(e) => tracing::error!(error = %e, "presence record not saved"),
        }
    }

    /// Queues a record's removal.
    pub(super) fn unsave(&mut self, key: String) {
        self.out.push_back(Output::Store(StoreOp::Delete { key }));
    }

    /// What the store kept before a restart. Watches refresh their dialogs at once (the
    /// refresh's NOTIFY brings the contact's current state; a 481 starts a new dialog, with
    /// no stanza), spread a millisecond apart; watchers keep their dialogs (their refreshes
    /// succeed) and the XMPP user is probed on their behalf so the next NOTIFY says
    /// something. Unreadable or expired records are dropped.
    pub(in crate::gateway) fn presence_restore(
        &mut self,
        now: Instant,
        records: Vec<(String, String)>,
    ) {
        let now_unix = super::unix(self.wall(now));
        let mut n = 0u64;
        let mut probes = std::collections::HashSet::new();
        for (key, value) in records {
            let rec: Saved = match serde_json::from_str(&value) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(%key, error = %e, "unreadable presence record dropped");
                    self.unsave(key);
                    continue;
                }
            };
            match rec {
                Saved::Watch {
                    user,
                    contact,
                    authorized,
                    dialog,
                } => {
                    let (Ok(user), Ok(contact)) =
                        (user.parse::<BareJid>(), contact.parse::<BareJid>())
                    else {
                        self.unsave(key);
                        continue;
                    };
                    let id = self.presence.add_watch(user, contact, authorized);
                    let at = now + Duration::from_millis(n);
                    n += 1;
                    match dialog {
                        Some(d) => {
                            let dk = DialogKey::of(&d);
                            let k = self.presence.subs.restore(Subscription {
                                dialog: d,
                                event: "presence".into(),
                                role: Role::Subscriber,
                                state: SubState::Active,
                                expires_at: at,
                            });
                            self.presence.by_key.insert(k.clone(), id);
                            self.owners.insert_dialog(dk, Owner::Presence(id));
                            if let Some(w) = self.presence.watches.get_mut(&id) {
                                w.key = Some(k);
                            }
                        }
                        None => self.presence.arm(id, at),
                    }
                }
                Saved::Watcher {
                    user,
                    watcher,
                    approved,
                    dialog,
                    expires_unix,
                } => {
                    let left = match now_unix {
                        Some(t) => super::remaining(t, expires_unix),
                        None => Duration::from_secs(self.presence.cfg.max_expires_secs.into()),
                    };
                    let (Ok(u), Ok(wj)) = (user.parse::<BareJid>(), watcher.parse::<BareJid>())
                    else {
                        self.unsave(key);
                        continue;
                    };
                    if left.is_zero() {
                        self.unsave(key);
                        continue;
                    }
                    let dk = DialogKey::of(&dialog);
                    let k = self.presence.subs.restore(Subscription {
                        dialog,
                        event: "presence".into(),
                        role: Role::Notifier,
                        state: if approved {
                            SubState::Active
                        } else {
                            SubState::Pending
                        },
                        expires_at: now + left,
                    });
                    let id = self.presence.add_watcher(u.clone(), wj.clone(), k);
                    if let Some(w) = self.presence.watchers.get_mut(&id) {
                        w.approved = approved;
                    }
                    self.owners.insert_dialog(dk, Owner::Presence(id));
                    if approved && probes.insert((u.clone(), wj.clone())) {
                        self.emit(presence(PresenceType::Probe, wj.into(), u.into()));
                    }
                }
            }
        }
        tracing::info!(
            watches = self.presence.watches.len(),
            watchers = self.presence.watchers.len(),
            "presence subscriptions restored"
        );
    }
}
