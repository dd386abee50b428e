//! A SIP watcher watches an XMPP user (RFC 8048 §5.3): SUBSCRIBE → 200 and a `pending`
//! NOTIFY, `<presence type='subscribe'/>` on the watcher's behalf; the user's `subscribed` →
//! NOTIFY `active`, then PIDF as presence arrives (Table 1: one tuple per available resource);
//! `unsubscribed` → `terminated;reason=rejected`; refreshes answered with a NOTIFY of what is
//! known (empty when nothing is, §5.3.2), never mapped to a new `subscribe`; `Expires: 0` →
//! a `closed` document with `terminated;reason=timeout` and `unavailable` to the user
//! (§5.3.3); a fetch (a new dialog with `Expires: 0`) is answered from what the server sent
//! the watcher's JID, or with a probe when nothing is known (§7).
//!
//! Choices: every new dialog asks the XMPP user with `subscribe` (the XMPP server answers
//! `subscribed` itself when the watcher is already approved, RFC 6121 §3.1.3, so the user is
//! asked once); NOTIFYs to one watcher are at least `presence.notify_interval_ms` apart and
//! changes in between are merged (RFC 6665 §4.2.2); a NOTIFY that fails ends the
//! subscription (RFC 6665 §4.2.2); the `unavailable` of §5.3.3 is not sent when the user
//! also watches that SIP contact (it would hide the contact's real presence).

use std::time::{Duration, Instant};

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::x2s::presence;
use super::{PendingTx, PresenceId, Saved, mapping};
use crate::body::pidf::{Basic, Pidf};
use crate::gateway::call::in_dialog;
use crate::gateway::im::{self, Refusal};
use crate::gateway::metrics::{S2X, X2S};
use crate::gateway::owners::DialogKey;
use crate::gateway::{Core, Owner};
use crate::sip::dialog::Dialog;
use crate::sip::message::{Method, Request, Response};
use crate::sip::subscription::{Key, SubState};
use crate::sip::transaction::TxId;

impl Core {
    /// A SUBSCRIBE outside any dialog (RFC 6665 §4.2.1, RFC 8048 §5.3.1).
    pub(in crate::gateway) fn s2x_subscribe(&mut self, now: Instant, tx: TxId, req: &Request) {
        match self.s2x_accept(now, tx, req) {
            Ok(()) => {
                self.metrics.presence_subscribes_in += 1;
                self.metrics.message(S2X, "presence", "delivered", "");
            }
            Err(r) => {
                self.metrics
                    .errored(S2X, "presence", format!("sip_{}", r.code));
                self.refuse(now, tx, req, r)
            }
        }
    }

    fn s2x_accept(&mut self, now: Instant, tx: TxId, req: &Request) -> Result<(), Refusal> {
        if super::event_package(req).as_deref() != Some("presence") {
            let mut r = Refusal::new(489, "Bad Event (only presence)");
            r.headers.push(("Allow-Events", "presence".into()));
            return Err(r);
        }
        if let Some(accept) = req.headers.get("Accept") {
            let ok = crate::sip::message::split_list(accept).iter().any(|t| {
                let t = t
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                t == "application/pidf+xml" || t == "application/*" || t == "*/*"
            });
            if !ok && !accept.trim().is_empty() {
                let mut r = Refusal::new(406, "Not Acceptable (presence comes as PIDF)");
                r.headers.push(("Accept", "application/pidf+xml".into()));
                return Err(r);
            }
        }
        let (from, to) = im::sip_endpoints(req, &self.addresses)?;
        let (watcher, user) = (from.to_bare(), to.to_bare());
        let granted = self.presence.subs.grant(req).map_err(|r| Refusal {
            code: r.code,
            reason: crate::sip::message::reason_phrase(r.code).to_string(),
            headers: r.headers,
        })?;
        if granted > 0
            && let Some(why) = self.presence.over_limit(&user)
        {
            tracing::info!(%user, %why, "SIP presence subscription refused");
            let mut r = Refusal::new(503, format!("Service Unavailable ({why})"));
            r.headers.push(("Retry-After", "600".into()));
            return Err(r);
        }
        let tag = self.ua.new_tag();
        let dialog = Dialog::uas(req, &tag).ok_or_else(|| {
            Refusal::new(400, "Bad Request (SUBSCRIBE without From tag or Contact)")
        })?;
        let ua = self.ua.config();
        let contact = ua.contact(&dialog.local.uri, ua.request_transport());
        let mut resp = Response::to_request(req, 200, "OK", Some(&tag));
        resp.headers.push("Expires", granted.to_string());
        resp.headers.push("Contact", contact);
        self.ua.respond(now, tx, resp);
        let pair = (user.clone(), watcher.clone());
        if granted == 0 {
            // A fetch (RFC 8048 §7): what the server sent this watcher, else a probe.
            let body = self.s2x_document(&pair, false);
            if body.is_none() {
                self.emit(presence(PresenceType::Probe, from, Jid::from(user)));
            }
            let mut d = dialog;
            self.s2x_send(now, &mut d, None, "terminated;reason=timeout".into(), body);
            return Ok(());
        }
        let key: Key = (req.call_id().to_string(), tag.clone(), "presence".into());
        let approved = self.presence.watchers_of.get(&pair).is_some_and(|ids| {
            ids.iter()
                .any(|i| self.presence.watchers.get(i).is_some_and(|w| w.approved))
        });
        let id = self.presence.add_watcher(user.clone(), watcher, key);
        self.owners.insert_dialog(
            DialogKey {
                call_id: req.call_id().to_string(),
                local_tag: tag,
            },
            Owner::Presence(id),
        );
        let state = if approved {
            SubState::Active
        } else {
            SubState::Pending
        };
        if let Some(w) = self.presence.watchers.get_mut(&id) {
            w.approved = approved;
        }
        self.presence
            .subs
            .accept(now, dialog, "presence", granted, state);
        self.s2x_save(now, id);
        if !approved {
            self.emit(presence(PresenceType::Subscribe, from, Jid::from(user)));
        }
        Ok(())
    }

    /// A SUBSCRIBE in a watcher's dialog: refresh, or `Expires: 0` (RFC 6665 §4.2.1.2).
    pub(in crate::gateway) fn s2x_resubscribe(
        &mut self,
        now: Instant,
        id: PresenceId,
        tx: TxId,
        req: &Request,
    ) {
        let Some(key) = self.presence.watchers.get(&id).map(|w| w.key.clone()) else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        let Some(sub) = self.presence.subs.get_mut(&key) else {
            return self.ua.reply(now, tx, req, 481, &[]);
        };
        if let Err(e) = sub.dialog.on_request(req) {
            return self.ua.reply(now, tx, req, e.code(), &[]);
        }
        let local = sub.dialog.local.uri.clone();
        let granted = match self.presence.subs.grant(req) {
            Ok(g) => g,
            Err(r) => {
                let headers: Vec<(&str, String)> = r.headers;
                return self.ua.reply(now, tx, req, r.code, &headers);
            }
        };
        let ua = self.ua.config();
        let contact = ua.contact(&local, ua.request_transport());
        self.ua.reply(
            now,
            tx,
            req,
            200,
            &[("Expires", granted.to_string()), ("Contact", contact)],
        );
        self.presence.subs.refresh(now, &key, granted);
        if granted > 0 {
            self.s2x_save(now, id);
        }
    }

    /// The XMPP user's `subscribed` (approve) or `unsubscribed` (deny or revoke) for a SIP
    /// watcher's JID.
    pub(in crate::gateway) fn s2x_authorization(&mut self, now: Instant, p: &Presence) {
        let (Some(from), Some(to)) = (&p.from, &p.to) else {
            return;
        };
        let pair = (from.to_bare(), to.to_bare());
        let ids = self
            .presence
            .watchers_of
            .get(&pair)
            .cloned()
            .unwrap_or_default();
        if ids.is_empty() {
            tracing::debug!(user = %pair.0, watcher = %pair.1, "authorization for no SIP watcher");
        }
        for id in ids {
            let Some(w) = self.presence.watchers.get_mut(&id) else {
                continue;
            };
            let key = w.key.clone();
            if p.type_ == PresenceType::Unsubscribed {
                self.presence.subs.terminate(&key, "rejected");
                continue;
            }
            if w.approved {
                continue;
            }
            w.approved = true;
            self.presence.subs.set_state(&key, SubState::Active);
            self.s2x_save(now, id);
            self.s2x_send_state(now, id);
        }
    }

    /// An XMPP user's presence notification to a SIP watcher's JID (Table 1): cached, and
    /// NOTIFYed to that watcher's approved dialogs.
    pub(in crate::gateway) fn s2x_presence(&mut self, now: Instant, p: &Presence) {
        let (Some(from), Some(to)) = (&p.from, &p.to) else {
            return;
        };
        let pair = (from.to_bare(), to.to_bare());
        let watched = self.presence.watchers_of.contains_key(&pair);
        // Presence before the SUBSCRIBE is kept too (the next NOTIFY needs it), up to a bound.
        if !watched
            && !self.presence.seen.contains_key(&pair)
            && self.presence.seen.len() >= self.presence.cfg.max_subscriptions
        {
            return;
        }
        let res = from.resource().map(|r| r.to_string()).unwrap_or_default();
        let seen = self.presence.seen.entry(pair.clone()).or_default();
        match p.type_ {
            PresenceType::None => {
                seen.available.insert(res, p.clone());
            }
            PresenceType::Unavailable => {
                seen.available.remove(&res);
                seen.last_closed = Some(p.clone());
            }
            _ => return,
        }
        for id in self
            .presence
            .watchers_of
            .get(&pair)
            .cloned()
            .unwrap_or_default()
        {
            if self.presence.watchers.get(&id).is_some_and(|w| w.approved) {
                self.s2x_changed(now, id);
            }
        }
    }

    /// Presence changed for a watcher: NOTIFY now, or when the rate allows.
    fn s2x_changed(&mut self, now: Instant, id: PresenceId) {
        let interval = Duration::from_millis(self.presence.cfg.notify_interval_ms);
        let Some(w) = self.presence.watchers.get_mut(&id) else {
            return;
        };
        w.dirty = true;
        if w.notifying.is_some() || w.next_at.is_some() {
            return;
        }
        match w.last_sent.map(|t| t + interval).filter(|t| *t > now) {
            Some(at) => self.presence.arm(id, at),
            None => self.s2x_send_state(now, id),
        }
    }

    /// A deferred NOTIFY is due.
    pub(in crate::gateway) fn s2x_due(&mut self, now: Instant, id: PresenceId) {
        if self.presence.watchers.get(&id).is_some_and(|w| w.dirty) {
            self.s2x_changed(now, id);
        }
    }

    /// NOTIFY the watcher's current state and what is known of the user.
    fn s2x_send_state(&mut self, now: Instant, id: PresenceId) {
        let Some(w) = self.presence.watchers.get(&id) else {
            return;
        };
        let key = w.key.clone();
        let pair = (w.user.clone(), w.watcher.clone());
        let Some(state) = self.presence.subs.state_header(now, &key) else {
            return;
        };
        let body = if w.approved {
            self.s2x_document(&pair, false)
        } else {
            None
        };
        self.s2x_notify_in(now, id, &key, state, body);
    }

    /// The subscription machine asks for a NOTIFY (after accept, refresh, expiry, end).
    pub(in crate::gateway) fn s2x_notify_action(&mut self, now: Instant, key: &Key, state: String) {
        let Some(&id) = self.presence.by_key.get(key) else {
            return;
        };
        let Some(w) = self.presence.watchers.get(&id) else {
            return;
        };
        let pair = (w.user.clone(), w.watcher.clone());
        let terminated = state.starts_with("terminated");
        let body = match (w.approved, terminated) {
            (false, _) => None,
            // §5.3.2: a refresh carries what is known, nothing when nothing is.
            (true, false) => self.s2x_document(&pair, false),
            (true, true) if state.contains("reason=rejected") => None,
            // §5.3.3: the watcher leaves (or the dialog expires): closed.
            (true, true) => self.s2x_document(&pair, true),
        };
        self.s2x_notify_in(now, id, key, state, body);
    }

    fn s2x_notify_in(
        &mut self,
        now: Instant,
        id: PresenceId,
        key: &Key,
        state: String,
        body: Option<String>,
    ) {
        let Some(dialog) = self.presence.subs.dialog_mut(key) else {
            return;
        };
        let mut d = dialog.clone();
        let terminal = state.starts_with("terminated");
        let tx = self.s2x_send(now, &mut d, Some(id).filter(|_| !terminal), state, body);
        if let Some(dialog) = self.presence.subs.dialog_mut(key) {
            dialog.local_seq = d.local_seq;
        }
        if let (Some(tx), Some(w)) = (tx, self.presence.watchers.get_mut(&id))
            && !terminal
        {
            w.notifying = Some(tx);
            w.dirty = false;
            w.last_sent = Some(now);
        }
    }

    /// Sends one NOTIFY in `d` (RFC 6665 §8.2.3 headers, RFC 3856 PIDF).
    fn s2x_send(
        &mut self,
        now: Instant,
        d: &mut Dialog,
        id: Option<PresenceId>,
        state: String,
        body: Option<String>,
    ) -> Option<TxId> {
        let local = d.local.uri.clone();
        let mut out = in_dialog(&d.request(Method::Notify, None))?;
        let ua = self.ua.config();
        out.headers = vec![
            ("Contact".into(), ua.contact(&local, ua.request_transport())),
            ("Event".into(), "presence".into()),
            ("Subscription-State".into(), state),
        ];
        out.body = body.map(|b| ("application/pidf+xml".to_string(), b.into_bytes()));
        let tx = self.ua.send_request(now, out);
        self.metrics.presence_notifies_out += 1;
        let owner = id.unwrap_or(0);
        self.owners.insert_tx(tx, Owner::Presence(owner));
        let kind = match id {
            Some(id) => PendingTx::Notify(id),
            None => PendingTx::Final,
        };
        self.presence.txs.insert(tx, kind);
        Some(tx)
    }

    /// The answer to a NOTIFY (`Err`: none came). A failed NOTIFY ends the subscription
    /// (RFC 6665 §4.2.2).
    pub(in crate::gateway) fn s2x_response(&mut self, now: Instant, id: PresenceId, code: u16) {
        let Some(w) = self.presence.watchers.get_mut(&id) else {
            return;
        };
        w.notifying = None;
        if (200..300).contains(&code) {
            self.metrics.message(X2S, "presence", "delivered", "");
            if w.dirty {
                self.s2x_changed(now, id);
            }
            return;
        }
        tracing::info!(code, user = %w.user, watcher = %w.watcher, call_id = %w.key.0, "NOTIFY failed; the SIP watcher's subscription ends");
        self.metrics.errored(X2S, "presence", format!("sip_{code}"));
        let key = w.key.clone();
        self.presence.subs.remove(&key);
        self.s2x_forget(id);
    }

    /// The subscription machine ended a watcher's dialog (Expires 0, expiry, rejection).
    pub(in crate::gateway) fn s2x_ended(&mut self, key: &Key, reason: &str) {
        self.presence.subs.forget_ended(key);
        let Some(&id) = self.presence.by_key.get(key) else {
            return;
        };
        let Some(w) = self.presence.watchers.get(&id) else {
            return;
        };
        let (user, watcher) = (w.user.clone(), w.watcher.clone());
        let also_watched = self
            .presence
            .watch_of
            .contains_key(&(user.clone(), watcher.clone()));
        self.s2x_forget(id);
        if reason != "rejected" && !also_watched {
            // §5.3.3: the SIP user stopped watching.
            self.emit(presence(
                PresenceType::Unavailable,
                Jid::from(watcher),
                Jid::from(user),
            ));
        }
    }

    fn s2x_forget(&mut self, id: PresenceId) {
        if let Some(w) = self.presence.remove_watcher(id) {
            self.owners
                .remove_dialog(&DialogKey::of_subscription(&w.key));
            self.unsave(super::watcher_key(&w.key.0, &w.key.1));
        }
    }

    /// Saves the watcher as it is now.
    pub(super) fn s2x_save(&mut self, now: Instant, id: PresenceId) {
        let Some(w) = self.presence.watchers.get(&id) else {
            return;
        };
        let Some(sub) = self.presence.subs.get(&w.key) else {
            return;
        };
        let left = sub.expires_at.saturating_duration_since(now).as_secs();
        let now_unix = super::unix(self.wall(now)).unwrap_or(0);
        let rec = Saved::Watcher {
            user: w.user.to_string(),
            watcher: w.watcher.to_string(),
            approved: w.approved,
            dialog: sub.dialog.clone(),
            expires_unix: now_unix + left,
        };
        self.save(rec);
    }

    /// The PIDF for a watcher (Table 1), `None` when the server has told it nothing.
    /// `closed`: every tuple closed (the subscription ends).
    fn s2x_document(&self, pair: &(BareJid, BareJid), closed: bool) -> Option<String> {
        let seen = self.presence.seen.get(pair)?;
        let user = Jid::from(pair.0.clone());
        let entity = self.addresses.jid_to_sip(&user).ok()?.to_uri();
        let entity = format!("pres:{}", entity.trim_start_matches("sip:"));
        // The available resources; when none is left, the one that went last, closed.
        let mut ps: Vec<&Presence> = seen.available.values().collect();
        if ps.is_empty()
            && let Some(c) = &seen.last_closed
        {
            ps.push(c);
        }
        let mut tuples: Vec<_> = ps
            .into_iter()
            .filter_map(|p| {
                let gruu = p
                    .from
                    .as_ref()
                    .filter(|f| f.resource().is_some())
                    .and_then(|f| self.addresses.jid_to_sip(f).ok())
                    .map(|a| a.to_uri());
                mapping::presence_to_tuple(p, gruu)
            })
            .collect();
        if tuples.is_empty() {
            return None;
        }
        if closed {
            for t in &mut tuples {
                t.basic = Some(Basic::Closed);
            }
        }
        // SIP phones read RPID (RFC 4480), not `<show xmlns='jabber:client'/>`; note 7 of
        // Table 1 says to include both. The most available resource decides.
        let activity = if closed {
            None
        } else {
            seen.available
                .values()
                .max_by_key(|p| p.priority.0)
                .and_then(|p| p.show.as_ref())
                .and_then(mapping::rpid_activity)
        };
        Some(
            Pidf {
                entity,
                tuples,
                activities: activity.into_iter().map(String::from).collect(),
                ..Default::default()
            }
            .to_body(),
        )
    }
}
