//! An XMPP user watches a SIP contact (RFC 8048 §5.2, §7): `subscribe` → SUBSCRIBE
//! `Event: presence`; `subscribed` only once a NOTIFY says `active` (a 2xx or a `pending`
//! NOTIFY produces no stanza, §5.2.1); NOTIFY PIDF → presence (Table 2); refresh before
//! expiry, each preceded by a probe of the user's bare JID (§8 amplification guard);
//! `unsubscribe` → `Expires: 0` then `unsubscribed` (§5.2.3); probes answered from what the
//! last NOTIFY said (§7), starting a dialog only when none is up or on its way.
//!
//! Choices where the RFC leaves room: a watch is refreshed for as long as the authorization
//! lasts (the XMPP server tells a contact with only a `to` subscription nothing when the
//! user logs off); 403/404/489/603/604 end the authorization (`unsubscribed`), 423 retries
//! with Min-Expires, 481 and `deactivated`/`timeout` start a new dialog at once, anything
//! else (timeouts, 5xx, `giveup`, `probation`) shows the contact unavailable and retries after
//! `presence.retry_secs` (or the `retry-after` given); `noresource` shows it unavailable and
//! waits for the next probe.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{PendingTx, PresenceId, Saved, mapping};
use crate::body::pidf::Pidf;
use crate::gateway::call::{in_dialog, sent_request};
use crate::gateway::owners::DialogKey;
use crate::gateway::{Core, Owner, errors};
use crate::sip::dialog::Dialog;
use crate::sip::message::{Method, NameAddr, Request, Response};
use crate::sip::subscription::{Action, Key, SubState, SubscriptionState};
use crate::sip::transaction::TxId;
use crate::sip::ua::Outgoing;
use crate::xmpp::stanza;

/// A presence stanza of `type_` from `from` to `to`.
pub(crate) fn presence(type_: PresenceType, from: Jid, to: Jid) -> Presence {
    let mut p = Presence::new(type_);
    p.from = Some(from);
    p.to = Some(to);
    p
}

/// SIP statuses after which the SIP side will not let the user watch (RFC 8048 §5.2.2:
/// 403, 489, 603 MUST; a contact that does not exist, 404/604, cannot be watched either).
fn ends_authorization(code: u16) -> bool {
    matches!(code, 403 | 404 | 489 | 603 | 604)
}

impl Core {
    /// `<presence type='subscribe'/>` to a SIP contact.
    pub(in crate::gateway) fn x2s_subscribe(&mut self, now: Instant, p: &Presence) {
        let Some((user, contact)) = pair(p) else {
            return;
        };
        if let Some(&id) = self.presence.watch_of.get(&(user.clone(), contact.clone())) {
            if let Some(w) = self.presence.watches.get(&id)
                && w.authorized
            {
                // Approved before: say so again (RFC 6121 §3.1.3), with what we know.
                let (c, u) = (Jid::from(contact.clone()), Jid::from(user.clone()));
                self.emit(presence(PresenceType::Subscribed, c, u.clone()));
                self.x2s_answer(id, &u);
            }
            return self.x2s_ensure(now, id);
        }
        if let Some(why) = self.presence.over_limit(&user) {
            let err = stanza::error(DefinedCondition::ResourceConstraint, why);
            if let Some(e) = stanza::presence_error(p, err) {
                self.emit(e);
            }
            return;
        }
        let id = self.presence.add_watch(user, contact, false);
        if let Some(w) = self.presence.watches.get_mut(&id) {
            w.ask_id = p.id.clone();
        }
        self.x2s_save(id);
        self.x2s_ensure(now, id);
    }

    /// `<presence type='unsubscribe'/>`: `Expires: 0` in the dialog, then `unsubscribed`.
    pub(in crate::gateway) fn x2s_unsubscribe(&mut self, now: Instant, p: &Presence) {
        let Some((user, contact)) = pair(p) else {
            return;
        };
        let id = self
            .presence
            .watch_of
            .get(&(user.clone(), contact.clone()))
            .copied();
        let Some(w) = id.and_then(|id| self.presence.watches.get_mut(&id)) else {
            let (c, u) = (Jid::from(contact), Jid::from(user));
            return self.emit(presence(PresenceType::Unsubscribed, c, u));
        };
        w.unsubscribing = true;
        let (Some(id), Some(key)) = (id, w.key.clone()) else {
            // No dialog yet: the SUBSCRIBE's answer ends it (see `x2s_response`).
            return;
        };
        self.x2s_refresh(now, id, &key, 0);
    }

    /// `<presence type='probe'/>` the XMPP server sends on the user's behalf (RFC 8048 §7):
    /// answered from the last NOTIFY; a dialog is started only when none is up. The server
    /// probes only contacts the user is authorized to see, so an unknown pair (a roster older
    /// than stox, a lost store) becomes an authorized watch.
    pub(in crate::gateway) fn x2s_probe(&mut self, now: Instant, p: &Presence) {
        let Some((user, contact)) = pair(p) else {
            return;
        };
        let to = p.from.clone().unwrap_or_else(|| Jid::from(user.clone()));
        let id = match self.presence.watch_of.get(&(user.clone(), contact.clone())) {
            Some(&id) => id,
            None if self.presence.over_limit(&user).is_some() => {
                return self.emit(presence(PresenceType::Unavailable, contact.into(), to));
            }
            None => {
                let id = self.presence.add_watch(user, contact, true);
                self.x2s_save(id);
                id
            }
        };
        self.x2s_answer(id, &to);
        self.x2s_ensure(now, id);
    }

    /// The contact's presence as last known, to `to` (unavailable when nothing is known).
    fn x2s_answer(&mut self, id: PresenceId, to: &Jid) {
        let Some(w) = self.presence.watches.get(&id) else {
            return;
        };
        let mut out: Vec<Presence> = w.seen.values().cloned().collect();
        if out.is_empty() {
            let contact = Jid::from(w.contact.clone());
            out.push(presence(PresenceType::Unavailable, contact, to.clone()));
        }
        for mut p in out {
            p.to = Some(to.clone());
            self.emit(p);
        }
    }

    /// Makes sure a dialog is up or on its way (unless the user is leaving).
    fn x2s_ensure(&mut self, now: Instant, id: PresenceId) {
        let Some(w) = self.presence.watches.get(&id) else {
            return;
        };
        if w.key.is_some() || w.sending.is_some() || w.unsubscribing {
            return;
        }
        self.x2s_subscribe_new(now, id, self.presence.cfg.subscribe_expires_secs);
    }

    /// A SUBSCRIBE in a new dialog (RFC 8048 §5.2.1, RFC 3856 §6).
    fn x2s_subscribe_new(&mut self, now: Instant, id: PresenceId, expires: u32) {
        let Some(w) = self.presence.watches.get(&id) else {
            return;
        };
        let (user, contact) = (Jid::from(w.user.clone()), Jid::from(w.contact.clone()));
        let (me, them) = match (
            self.addresses.jid_to_sip(&user),
            self.addresses.jid_to_sip(&contact),
        ) {
            (Ok(me), Ok(them)) => (me.to_uri(), them.to_uri()),
            (Err(e), _) | (_, Err(e)) => {
                tracing::info!(%user, %contact, error = %e, "presence subscription cannot be addressed");
                let err = stanza::error(DefinedCondition::ItemNotFound, e.to_string());
                let mut p = presence(PresenceType::Error, contact, user);
                p.payloads.push(err.into());
                self.emit(p);
                self.x2s_forget(id);
                return;
            }
        };
        let tag = self.ua.new_tag();
        let call_id = self.ua.new_call_id();
        let ua = self.ua.config();
        let contact_header = ua.contact(&me, ua.request_transport());
        let out = Outgoing {
            method: Method::Subscribe,
            uri: them.clone(),
            from: NameAddr {
                display: None,
                uri: me,
                params: vec![("tag".into(), Some(tag.clone()))],
            },
            to: NameAddr {
                display: None,
                uri: them,
                params: vec![],
            },
            call_id: call_id.clone(),
            cseq: 1,
            headers: subscribe_headers(contact_header, expires),
            body: None,
            target: None,
            size_limit: None,
            routes: None,
        };
        let tx = self.ua.send_request(now, out.clone());
        self.owners.insert_tx(tx, Owner::Presence(id));
        // A NOTIFY may beat the 2xx (RFC 6665 §4.1.2.4): it names this dialog by our tag.
        let dk = DialogKey {
            call_id,
            local_tag: tag,
        };
        self.owners.insert_dialog(dk, Owner::Presence(id));
        self.presence.txs.insert(tx, PendingTx::Subscribe(id));
        if let Some(w) = self.presence.watches.get_mut(&id) {
            w.sending = Some((tx, out));
        }
        self.metrics.presence_subscribes_out += 1;
    }

    /// A SUBSCRIBE in the dialog: a refresh, or `Expires: 0` when the user unsubscribed.
    fn x2s_refresh(&mut self, now: Instant, id: PresenceId, key: &Key, expires: u32) {
        let Some(sub) = self.presence.subs.get_mut(key) else {
            return;
        };
        let local = sub.dialog.local.uri.clone();
        let Some(mut out) = in_dialog(&sub.dialog.request(Method::Subscribe, None)) else {
            return;
        };
        let ua = self.ua.config();
        out.headers = subscribe_headers(ua.contact(&local, ua.request_transport()), expires);
        let tx = self.ua.send_request(now, out);
        self.owners.insert_tx(tx, Owner::Presence(id));
        let kind = if expires == 0 {
            PendingTx::Unsubscribe(id)
        } else {
            PendingTx::Refresh(id)
        };
        self.presence.txs.insert(tx, kind);
        self.x2s_save(id);
    }

    /// The subscription machine asks for a refresh: probe the user first (RFC 8048 §8).
    pub(in crate::gateway) fn x2s_refresh_due(&mut self, now: Instant, key: &Key, expires: u32) {
        let Some(&id) = self.presence.by_key.get(key) else {
            return;
        };
        let Some(w) = self.presence.watches.get(&id) else {
            return;
        };
        if let Ok(me) = self.addresses.component().parse::<Jid>() {
            self.emit(presence(PresenceType::Probe, me, Jid::from(w.user.clone())));
        }
        self.x2s_refresh(now, id, key, expires);
    }

    /// A final answer to one of our SUBSCRIBEs (`Err`: no answer came; the status to
    /// treat it as).
    pub(in crate::gateway) fn x2s_response(
        &mut self,
        now: Instant,
        kind: PendingTx,
        resp: Result<&Response, (u16, &str)>,
    ) {
        let (code, reason) = match resp {
            Ok(r) => (r.code, r.reason.as_str()),
            Err((c, r)) => (c, r),
        };
        let id = match kind {
            PendingTx::Subscribe(id) | PendingTx::Refresh(id) | PendingTx::Unsubscribe(id) => id,
            _ => return,
        };
        let Some(w) = self.presence.watches.get_mut(&id) else {
            return;
        };
        let expires = resp
            .ok()
            .and_then(|r| r.headers.get("Expires"))
            .and_then(|e| e.trim().parse::<u32>().ok());
        let min_expires = resp
            .ok()
            .and_then(|r| r.headers.get("Min-Expires"))
            .and_then(|e| e.trim().parse::<u32>().ok());
        if matches!(kind, PendingTx::Unsubscribe(_)) || (w.unsubscribing && code >= 300) {
            // Gone either way: the roster must not wait for a SIP answer.
            let (c, u) = (Jid::from(w.contact.clone()), Jid::from(w.user.clone()));
            self.emit(presence(PresenceType::Unsubscribed, c, u));
            return self.x2s_forget(id);
        }
        let fresh = matches!(kind, PendingTx::Subscribe(_));
        if fresh {
            let sent = w.sending.take();
            if (200..300).contains(&code) {
                let key = w.key.clone();
                let expires = expires.unwrap_or(self.presence.cfg.subscribe_expires_secs);
                match (key, sent) {
                    (Some(key), _) => self.presence.subs.refreshed(now, &key, expires),
                    (None, Some((_, out))) => {
                        let Ok(r) = resp else { return };
                        let Some(d) = Dialog::uac(&sent_request(&out, r), r) else {
                            return;
                        };
                        let key = self.presence.subs.subscribed(now, d, "presence", expires);
                        self.presence.by_key.insert(key.clone(), id);
                        if let Some(w) = self.presence.watches.get_mut(&id) {
                            w.key = Some(key);
                        }
                    }
                    (None, None) => {}
                }
                if self
                    .presence
                    .watches
                    .get(&id)
                    .is_some_and(|w| w.unsubscribing)
                {
                    if let Some(key) = self.presence.watches.get(&id).and_then(|w| w.key.clone()) {
                        self.x2s_refresh(now, id, &key, 0);
                    }
                    return;
                }
                return self.x2s_save(id);
            }
            if let Some((_, out)) = &sent
                && w.key.is_none()
            {
                self.owners.remove_dialog(&DialogKey {
                    call_id: out.call_id.clone(),
                    local_tag: out.from.tag().unwrap_or_default().to_string(),
                });
            }
        } else if (200..300).contains(&code) {
            if let Some(key) = w.key.clone() {
                let e = expires.unwrap_or(self.presence.cfg.subscribe_expires_secs);
                self.presence.subs.refreshed(now, &key, e);
                self.x2s_save(id);
            }
            return;
        }
        let Some(w) = self.presence.watches.get(&id) else {
            return;
        };
        let call_id = w.key.as_ref().map(|k| k.0.clone()).unwrap_or_default();
        tracing::info!(code, %reason, user = %w.user, contact = %w.contact, %call_id, "presence SUBSCRIBE failed");
        self.metrics.errored(
            crate::gateway::metrics::X2S,
            "presence",
            format!("sip_{code}"),
        );
        let authorized = w.authorized;
        if code == 423
            && let Some(min) = min_expires.filter(|m| *m > 0)
        {
            return match self.presence.watches.get(&id).and_then(|w| w.key.clone()) {
                Some(key) if !fresh => self.x2s_refresh(now, id, &key, min),
                _ => self.x2s_subscribe_new(now, id, min),
            };
        }
        self.x2s_drop_dialog(id);
        if code == 481 {
            // The dialog is gone at the far end; the authorization is not (§5.2.2).
            return self.x2s_subscribe_new(now, id, self.presence.cfg.subscribe_expires_secs);
        }
        let Some(w) = self.presence.watches.get(&id) else {
            return;
        };
        let (c, u) = (Jid::from(w.contact.clone()), Jid::from(w.user.clone()));
        if !authorized {
            // The request itself failed: a presence error mapped by RFC 7247 Table 3.
            let contact = resp.ok().and_then(|r| self.addresses.failure_contact(r));
            let mut p = presence(PresenceType::Error, c, u);
            p.id = w.ask_id.clone();
            p.payloads
                .push(errors::sip_to_xmpp(code, reason, contact.as_deref()).into());
            self.emit(p);
            return self.x2s_forget(id);
        }
        if ends_authorization(code) {
            self.emit(presence(PresenceType::Unsubscribed, c, u));
            return self.x2s_forget(id);
        }
        if !fresh {
            // A refresh the notifier will not take (a 500 for its CSeq, a 5xx): a new
            // dialog now; if that fails too, the retry below paces it.
            return self.x2s_subscribe_new(now, id, self.presence.cfg.subscribe_expires_secs);
        }
        self.x2s_gone_for_now(now, id, None);
    }

    /// A NOTIFY in a dialog of ours (RFC 6665 §4.1.3, RFC 8048 §5.2.1).
    pub(in crate::gateway) fn x2s_notify(
        &mut self,
        now: Instant,
        id: PresenceId,
        tx: TxId,
        req: &Request,
    ) {
        let max = self.presence.cfg.pidf_max_bytes;
        let checked = check_notify(req, max);
        let (state, doc) = match checked {
            Ok(v) => v,
            Err((code, why)) => {
                tracing::info!(code, call_id = %req.call_id(), problem = %why, "presence NOTIFY refused");
                return self.refuse(now, tx, req, crate::gateway::im::Refusal::new(code, why));
            }
        };
        let Some(w) = self.presence.watches.get(&id) else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        let mut created = false;
        let key = match (&w.key, &w.sending) {
            (Some(k), _) => k.clone(),
            (None, Some((_, out))) if out.call_id == req.call_id() => {
                // The NOTIFY beat the 2xx: it creates the dialog (RFC 6665 §4.1.2.4).
                let tag = out.from.tag().unwrap_or_default().to_string();
                let Some(mut d) = Dialog::uas(req, &tag) else {
                    return self.ua.reply(now, tx, req, 400, &[]);
                };
                d.local_seq = out.cseq;
                let e = state
                    .expires
                    .unwrap_or(self.presence.cfg.subscribe_expires_secs);
                let key = self.presence.subs.subscribed(now, d, "presence", e);
                self.presence.by_key.insert(key.clone(), id);
                if let Some(w) = self.presence.watches.get_mut(&id) {
                    w.key = Some(key.clone());
                }
                created = true;
                key
            }
            _ => return self.ua.reply(now, tx, req, 481, &[]),
        };
        if let Some(sub) = self.presence.subs.get_mut(&key)
            && !created
            && let Err(e) = sub.dialog.on_request(req)
        {
            return self.ua.reply(now, tx, req, e.code(), &[]);
        }
        self.ua.reply(now, tx, req, 200, &[]);
        self.metrics.presence_notifies_in += 1;
        self.metrics
            .message(crate::gateway::metrics::S2X, "presence", "delivered", "");
        self.presence.subs.on_notify(now, &key, &state);
        match &state.state {
            // §5.2.1: a pending NOTIFY MUST NOT produce a stanza.
            SubState::Pending => {}
            SubState::Active => {
                let Some(w) = self.presence.watches.get_mut(&id) else {
                    return;
                };
                let approved_now = !w.authorized;
                if approved_now {
                    w.authorized = true;
                    let (c, u) = (Jid::from(w.contact.clone()), Jid::from(w.user.clone()));
                    self.emit(presence(PresenceType::Subscribed, c, u));
                }
                self.x2s_pidf(id, doc.as_ref());
                // Saved when what a restart needs changed (approval, a dialog this NOTIFY
                // created), not on every NOTIFY: the peer's CSeq need not survive.
                if approved_now || created {
                    self.x2s_save(id);
                }
            }
            SubState::Terminated(reason) => {
                if doc.is_some() {
                    self.x2s_pidf(id, doc.as_ref());
                }
                self.x2s_terminated(now, id, reason, state.retry_after);
            }
        }
    }

    /// `Subscription-State: terminated` (RFC 6665 §4.1.3 reasons).
    fn x2s_terminated(&mut self, now: Instant, id: PresenceId, reason: &str, retry: Option<u32>) {
        self.x2s_drop_dialog(id);
        let Some(w) = self.presence.watches.get(&id) else {
            return;
        };
        let (c, u) = (Jid::from(w.contact.clone()), Jid::from(w.user.clone()));
        if w.unsubscribing || reason == "rejected" {
            // §5.2.1: rejected → the authorization is over; an unsubscribe completes.
            self.emit(presence(PresenceType::Unsubscribed, c, u));
            return self.x2s_forget(id);
        }
        match reason {
            "deactivated" | "timeout" => {
                self.x2s_subscribe_new(now, id, self.presence.cfg.subscribe_expires_secs)
            }
            "noresource" | "invariant" => {
                self.x2s_unavailable(id);
                self.x2s_save(id);
            }
            _ => self.x2s_gone_for_now(now, id, retry.map(u64::from)),
        }
    }

    /// A passing failure: unavailable for now, a new dialog later.
    fn x2s_gone_for_now(&mut self, now: Instant, id: PresenceId, retry: Option<u64>) {
        self.x2s_unavailable(id);
        let secs = retry.unwrap_or(self.presence.cfg.retry_secs);
        self.presence.arm(id, now + Duration::from_secs(secs));
        self.x2s_save(id);
    }

    /// Every resource the user saw goes unavailable (or the bare contact, if none).
    fn x2s_unavailable(&mut self, id: PresenceId) {
        let Some(w) = self.presence.watches.get_mut(&id) else {
            return;
        };
        let seen = std::mem::take(&mut w.seen);
        let u = Jid::from(w.user.clone());
        let from: Vec<Jid> = if seen.is_empty() {
            vec![Jid::from(w.contact.clone())]
        } else {
            seen.into_values().filter_map(|p| p.from).collect()
        };
        for f in from {
            self.emit(presence(PresenceType::Unavailable, f, u.clone()));
        }
    }

    /// Table 2 on a NOTIFY's document: one presence per tuple; a resource the previous
    /// document had and this one lacks went away (PIDF in NOTIFY is full state, RFC 3856
    /// §6.9). No document means unknown, shown as unavailable (§5.2.1).
    fn x2s_pidf(&mut self, id: PresenceId, doc: Option<&Pidf>) {
        let Some(doc) = doc else {
            return self.x2s_unavailable(id);
        };
        let Some(w) = self.presence.watches.get_mut(&id) else {
            return;
        };
        let (c, u) = (Jid::from(w.contact.clone()), Jid::from(w.user.clone()));
        let ps = mapping::pidf_to_presences(doc, &c, &u);
        let mut now_seen = BTreeMap::new();
        for p in &ps {
            let res = p
                .from
                .as_ref()
                .and_then(|j| j.resource().map(|r| r.to_string()))
                .unwrap_or_default();
            if p.type_ == PresenceType::None {
                now_seen.insert(res, p.clone());
            }
        }
        let before = std::mem::replace(&mut w.seen, now_seen);
        let mentioned: Vec<Option<Jid>> = ps.iter().map(|p| p.from.clone()).collect();
        let gone: Vec<Jid> = before
            .into_values()
            .filter_map(|p| p.from)
            .filter(|f| !mentioned.contains(&Some(f.clone())))
            .collect();
        if ps.is_empty() && gone.is_empty() {
            // Nothing usable (no tuple with <basic/>): unknown, shown as unavailable.
            self.emit(presence(PresenceType::Unavailable, c, u.clone()));
        }
        let caps = self.cfg.service.contact_caps();
        for mut p in ps {
            if p.type_ == PresenceType::None {
                p.payloads.push(caps.clone().into());
            }
            self.emit(p);
        }
        for f in gone {
            self.emit(presence(PresenceType::Unavailable, f, u.clone()));
        }
    }

    /// Drops the watch's dialog (no request; it is over or broken).
    fn x2s_drop_dialog(&mut self, id: PresenceId) {
        let Some(w) = self.presence.watches.get_mut(&id) else {
            return;
        };
        if let Some(k) = w.key.take() {
            self.presence.by_key.remove(&k);
            self.presence.subs.remove(&k);
            self.owners.remove_dialog(&DialogKey::of_subscription(&k));
        }
    }

    /// Forgets a watch and its record.
    fn x2s_forget(&mut self, id: PresenceId) {
        self.x2s_drop_dialog(id);
        if let Some(w) = self.presence.remove_watch(id) {
            self.unsave(super::watch_key(&w.user, &w.contact));
        }
    }

    /// Saves the watch as it is now.
    fn x2s_save(&mut self, id: PresenceId) {
        let Some(w) = self.presence.watches.get(&id) else {
            return;
        };
        let dialog = w
            .key
            .as_ref()
            .and_then(|k| self.presence.subs.get(k))
            .map(|s| s.dialog.clone());
        let rec = Saved::Watch {
            user: w.user.to_string(),
            contact: w.contact.to_string(),
            authorized: w.authorized,
            dialog,
        };
        self.save(rec);
    }

    /// A watch's retry is due.
    pub(in crate::gateway) fn x2s_retry(&mut self, now: Instant, id: PresenceId) {
        self.x2s_ensure(now, id);
    }

    /// The subscription machine gave up on a refresh (no answer in time).
    pub(in crate::gateway) fn x2s_action(&mut self, now: Instant, a: Action) {
        match a {
            Action::Refresh { key, expires } => self.x2s_refresh_due(now, &key, expires),
            Action::Ended { key, reason } => {
                if let Some(&id) = self.presence.by_key.get(&key) {
                    tracing::debug!(%reason, "presence dialog ended");
                    if let Some(w) = self.presence.watches.get_mut(&id) {
                        w.key = None;
                    }
                    self.presence.by_key.remove(&key);
                }
            }
            Action::Notify { .. } => {}
        }
    }
}

/// (user, contact) of a presence stanza to a SIP contact, both bare.
fn pair(p: &Presence) -> Option<(BareJid, BareJid)> {
    Some((p.from.as_ref()?.to_bare(), p.to.as_ref()?.to_bare()))
}

/// SUBSCRIBE headers (RFC 3856 §6.4: `Event: presence`, PIDF accepted).
fn subscribe_headers(contact: String, expires: u32) -> Vec<(String, String)> {
    vec![
        ("Contact".into(), contact),
        ("Event".into(), "presence".into()),
        ("Accept".into(), "application/pidf+xml".into()),
        ("Expires".into(), expires.to_string()),
    ]
}

/// A NOTIFY's package, state and document, or the status and reason to refuse it with.
pub(crate) fn check_notify(
    req: &Request,
    max: usize,
) -> Result<(SubscriptionState, Option<Pidf>), (u16, String)> {
    if super::event_package(req).as_deref() != Some("presence") {
        return Err((489, "Bad Event (only presence)".into()));
    }
    let state = req
        .headers
        .get("Subscription-State")
        .and_then(SubscriptionState::parse)
        .ok_or((
            400,
            "Bad Request (missing or bad Subscription-State)".to_string(),
        ))?;
    if req.body.is_empty() {
        return Ok((state, None));
    }
    if req.body.len() > max {
        return Err((
            413,
            format!(
                "Request Entity Too Large (PIDF of {} bytes, limit {max})",
                req.body.len()
            ),
        ));
    }
    let ct = crate::gateway::im::mime_of(req.headers.get("Content-Type").unwrap_or_default());
    if ct != "application/pidf+xml" {
        return Err((
            415,
            "Unsupported Media Type (only application/pidf+xml)".into(),
        ));
    }
    let doc = Pidf::parse(&req.body).map_err(|e| (400, format!("Bad PIDF: {e}")))?;
    Ok((state, Some(doc)))
}
