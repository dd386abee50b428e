//! Presence both ways, RFC 8048 (which obsoletes RFC 7248; the differences are noted where
//! they matter). An XMPP presence *authorization* is long-lived; a SIP *subscription* is a
//! notification dialog that must be refreshed (RFC 6665). The gateway keeps one to match the
//! other:
//!
//! - [`x2s`] — an XMPP user watches a SIP contact (RFC 8048 §5.2): stox is the subscriber.
//! - [`s2x`] — a SIP watcher watches an XMPP user (RFC 8048 §5.3): stox is the notifier.
//! - [`mapping`] — Tables 1 and 2 (§6): `<presence/>` ⇄ PIDF tuples.
//!
//! The dialogs themselves (Expires, refresh, `Subscription-State`, expiry) are the RFC 6665
//! machines of [`crate::sip::subscription`]; this table adds who is who, the cached presence
//! that answers probes and refreshes, the limits, and the records a restart must not lose
//! ([`Saved`], written by the store shell from [`super::Output::Store`]).

mod flows;
pub mod mapping;
mod s2x;
mod x2s;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::presence::Presence;

use crate::config::PresenceConfig;
use crate::sip::dialog::Dialog;
use crate::sip::subscription::{Key, Limits, Subscriptions};
use crate::sip::transaction::TxId;
use crate::sip::ua::Outgoing;

/// Names one watch or watcher in the table (and in [`super::Owner::Presence`]).
pub type PresenceId = u64;

/// An XMPP user watching a SIP contact; stox holds the SIP subscription (subscriber role).
#[derive(Debug)]
pub struct Watch {
    /// The XMPP user.
    pub user: BareJid,
    /// The SIP contact as a JID under the component domain.
    pub contact: BareJid,
    /// `subscribed` was sent to the user: the SIP side approved once (RFC 8048 §5.2.1).
    pub authorized: bool,
    /// The notification dialog, once a 2xx or a NOTIFY created it.
    pub key: Option<Key>,
    /// The SUBSCRIBE that starts a new dialog, while it is in flight.
    pub sending: Option<(TxId, Outgoing)>,
    /// The user unsubscribed; the `Expires: 0` SUBSCRIBE is on its way.
    pub unsubscribing: bool,
    /// The contact's available resources as the last NOTIFY told (answers probes).
    pub seen: BTreeMap<String, Presence>,
    /// When to try a new dialog after a passing failure.
    pub retry_at: Option<Instant>,
    /// The id of the user's `subscribe`, for the error that may answer it.
    pub ask_id: Option<String>,
}

/// A SIP watcher of an XMPP user; stox is the notifier of its dialog.
#[derive(Debug)]
pub struct Watcher {
    /// The XMPP user watched.
    pub user: BareJid,
    /// The SIP watcher as a JID under the component domain.
    pub watcher: BareJid,
    /// The subscription dialog.
    pub key: Key,
    /// The XMPP user said `subscribed` (the state is active).
    pub approved: bool,
    /// A NOTIFY in flight (one at a time keeps CSeq order and paces a slow watcher).
    pub notifying: Option<TxId>,
    /// Presence changed since the last NOTIFY.
    pub dirty: bool,
    /// When the last presence NOTIFY went out (rate control, RFC 6665 §4.2.2).
    pub last_sent: Option<Instant>,
    /// A deferred NOTIFY is due then.
    pub next_at: Option<Instant>,
}

/// The XMPP user's presence as the XMPP server sent it to one SIP watcher's JID (so one
/// watcher never sees what the server addressed to another: RFC 8048 §8 presence leaks).
#[derive(Debug, Default)]
pub struct Seen {
    /// Available resources.
    pub available: BTreeMap<String, Presence>,
    /// The last resource that went away, sent as a `closed` tuple.
    pub last_closed: Option<Presence>,
}

/// What a SIP transaction of ours was for.
#[derive(Debug)]
pub enum PendingTx {
    /// A SUBSCRIBE in a new dialog (its request builds the dialog from the 2xx).
    Subscribe(PresenceId),
    /// A refreshing SUBSCRIBE in the dialog.
    Refresh(PresenceId),
    /// `Expires: 0` in the dialog: the user unsubscribed.
    Unsubscribe(PresenceId),
    /// A NOTIFY to a SIP watcher.
    Notify(PresenceId),
    /// A NOTIFY that ends a dialog already forgotten.
    Final,
}

/// A record the store keeps (JSON). Times are Unix seconds: instants do not survive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Saved {
    /// A [`Watch`].
    Watch {
        /// The XMPP user.
        user: String,
        /// The SIP contact's JID.
        contact: String,
        /// `subscribed` was sent.
        authorized: bool,
        /// The dialog, if one was up.
        dialog: Option<Dialog>,
    },
    /// A [`Watcher`].
    Watcher {
        /// The XMPP user.
        user: String,
        /// The watcher's JID.
        watcher: String,
        /// The user approved.
        approved: bool,
        /// The dialog.
        dialog: Dialog,
        /// When it expires unless refreshed.
        expires_unix: u64,
    },
}

impl Saved {
    /// The store key: one record per watch pair, one per watcher dialog.
    pub fn key(&self) -> String {
        match self {
            Saved::Watch { user, contact, .. } => watch_key(user, contact),
            Saved::Watcher { dialog, .. } => watcher_key(&dialog.id.call_id, &dialog.id.local_tag),
        }
    }
}

/// The store key of a watch.
pub fn watch_key(user: &impl std::fmt::Display, contact: &impl std::fmt::Display) -> String {
    format!("watch:{user}|{contact}")
}

/// The store key of a watcher's dialog.
pub fn watcher_key(call_id: &str, local_tag: &str) -> String {
    format!("watcher:{call_id}|{local_tag}")
}

/// Every presence subscription, both directions.
pub struct Presences {
    /// `[presence]`.
    pub cfg: PresenceConfig,
    /// The RFC 6665 dialogs of both roles.
    pub subs: Subscriptions,
    next_id: PresenceId,
    /// Watches by id.
    pub watches: HashMap<PresenceId, Watch>,
    /// (user, contact) → watch.
    pub watch_of: HashMap<(BareJid, BareJid), PresenceId>,
    /// Watchers by id.
    pub watchers: HashMap<PresenceId, Watcher>,
    /// (user, watcher) → its dialogs (a SIP user may watch from several devices).
    pub watchers_of: HashMap<(BareJid, BareJid), Vec<PresenceId>>,
    /// Subscription dialog → watch or watcher.
    pub by_key: HashMap<Key, PresenceId>,
    /// Our transactions.
    pub txs: HashMap<TxId, PendingTx>,
    /// Subscriptions per XMPP user, both directions.
    pub per_user: HashMap<BareJid, usize>,
    /// (user, watcher) → what the XMPP server sent the watcher's JID.
    pub seen: HashMap<(BareJid, BareJid), Seen>,
    /// Retries of watches and deferred NOTIFYs.
    pub deadlines: BTreeSet<(Instant, PresenceId)>,
}

impl Presences {
    /// An empty table.
    pub fn new(cfg: PresenceConfig) -> Self {
        let limits = Limits {
            min: cfg.min_expires_secs,
            max: cfg.max_expires_secs,
            default: cfg.subscribe_expires_secs,
        };
        Presences {
            cfg,
            subs: Subscriptions::new(limits),
            next_id: 1,
            watches: HashMap::new(),
            watch_of: HashMap::new(),
            watchers: HashMap::new(),
            watchers_of: HashMap::new(),
            by_key: HashMap::new(),
            txs: HashMap::new(),
            per_user: HashMap::new(),
            seen: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }

    /// Subscriptions held, both directions.
    pub fn len(&self) -> usize {
        self.watches.len() + self.watchers.len()
    }

    /// None held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Why one more subscription for `user` would exceed a limit, if it would.
    pub fn over_limit(&self, user: &BareJid) -> Option<String> {
        if self.len() >= self.cfg.max_subscriptions {
            return Some(format!(
                "the gateway holds its limit of {} presence subscriptions (presence.max_subscriptions)",
                self.cfg.max_subscriptions
            ));
        }
        let n = self.per_user.get(user).copied().unwrap_or(0);
        (n >= self.cfg.max_per_user).then(|| {
            format!(
                "{user} has its limit of {} presence subscriptions (presence.max_per_user)",
                self.cfg.max_per_user
            )
        })
    }

    fn next_id(&mut self) -> PresenceId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn count(&mut self, user: &BareJid, up: bool) {
        let n = self.per_user.entry(user.clone()).or_insert(0);
        if up {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_user.remove(user);
            }
        }
    }

    /// Files a new watch.
    pub fn add_watch(&mut self, user: BareJid, contact: BareJid, authorized: bool) -> PresenceId {
        let id = self.next_id();
        self.count(&user, true);
        self.watch_of.insert((user.clone(), contact.clone()), id);
        self.watches.insert(
            id,
            Watch {
                user,
                contact,
                authorized,
                key: None,
                sending: None,
                unsubscribing: false,
                seen: BTreeMap::new(),
                retry_at: None,
                ask_id: None,
            },
        );
        id
    }

    /// Forgets a watch (its dialog must already be gone from `subs`).
    pub fn remove_watch(&mut self, id: PresenceId) -> Option<Watch> {
        let w = self.watches.remove(&id)?;
        self.count(&w.user, false);
        self.watch_of.remove(&(w.user.clone(), w.contact.clone()));
        if let Some(k) = &w.key {
            self.by_key.remove(k);
        }
        if let Some(t) = w.retry_at {
            self.deadlines.remove(&(t, id));
        }
        Some(w)
    }

    /// Files a new watcher with its dialog key.
    pub fn add_watcher(&mut self, user: BareJid, watcher: BareJid, key: Key) -> PresenceId {
        let id = self.next_id();
        self.count(&user, true);
        self.by_key.insert(key.clone(), id);
        self.watchers_of
            .entry((user.clone(), watcher.clone()))
            .or_default()
            .push(id);
        self.watchers.insert(
            id,
            Watcher {
                user,
                watcher,
                key,
                approved: false,
                notifying: None,
                dirty: false,
                last_sent: None,
                next_at: None,
            },
        );
        id
    }

    /// Forgets a watcher (its dialog must already be gone from `subs`).
    pub fn remove_watcher(&mut self, id: PresenceId) -> Option<Watcher> {
        let w = self.watchers.remove(&id)?;
        self.count(&w.user, false);
        self.by_key.remove(&w.key);
        let pair = (w.user.clone(), w.watcher.clone());
        if let Some(ids) = self.watchers_of.get_mut(&pair) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.watchers_of.remove(&pair);
                self.seen.remove(&pair);
            }
        }
        if let Some(t) = w.next_at {
            self.deadlines.remove(&(t, id));
        }
        Some(w)
    }

    /// Arms (or moves) the deadline of a watch retry or a deferred NOTIFY.
    pub fn arm(&mut self, id: PresenceId, at: Instant) {
        let slot = if let Some(w) = self.watches.get_mut(&id) {
            &mut w.retry_at
        } else if let Some(w) = self.watchers.get_mut(&id) {
            &mut w.next_at
        } else {
            return;
        };
        if let Some(old) = slot.replace(at) {
            self.deadlines.remove(&(old, id));
        }
        self.deadlines.insert((at, id));
    }

    /// The deadlines due at `now`, removed.
    pub fn due(&mut self, now: Instant) -> Vec<PresenceId> {
        let mut ids = Vec::new();
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(w) = self.watches.get_mut(&id) {
                w.retry_at = None;
            } else if let Some(w) = self.watchers.get_mut(&id) {
                w.next_at = None;
            }
            ids.push(id);
        }
        ids
    }

    /// When [`super::Core::handle_timeout`] is next due for presence.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let d = self.deadlines.first().map(|(t, _)| *t);
        super::timers::soonest(d, self.subs.poll_timeout())
    }
}

/// The wall clock as Unix seconds, when the runtime gave the core one.
pub fn unix(wall: Option<SystemTime>) -> Option<u64> {
    wall?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The `Event` package of a SUBSCRIBE or NOTIFY (`presence;id=1` → `presence`).
pub fn event_package(req: &crate::sip::message::Request) -> Option<String> {
    let v = req.headers.get("Event")?;
    let pkg = v.split(';').next()?.trim().to_ascii_lowercase();
    (!pkg.is_empty()).then_some(pkg)
}

/// How long after `now` a deadline `secs` (Unix) away lies; zero when past.
pub fn remaining(now_unix: u64, at_unix: u64) -> Duration {
    Duration::from_secs(at_unix.saturating_sub(now_unix))
}

#[cfg(test)]
mod tests;
