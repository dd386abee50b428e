//! SUBSCRIBE/NOTIFY dialogs (RFC 6665), sans-IO with time as an input: Expires
//! negotiation, refresh, `Subscription-State`, and termination by expiry, by NOTIFY or by
//! the subscriber. Deadlines sit in one ordered map, so a tick is O(expired · log n).
//! The transaction user sends the SUBSCRIBE/NOTIFY requests these actions ask for.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::dialog::Dialog;
use super::message::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Which side of the subscription we are (RFC 6665 §4.1/§4.2).
pub enum Role {
    /// We sent the SUBSCRIBE and receive NOTIFYs.
    Subscriber,
    /// We received the SUBSCRIBE and send NOTIFYs.
    Notifier,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// `Subscription-State` values (RFC 6665 §8.2.3).
pub enum SubState {
    /// Awaiting authorization.
    Pending,
    /// Authorized.
    Active,
    /// Over, with the reason.
    Terminated(String),
}

/// A parsed `Subscription-State` (RFC 6665 §8.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The state.
    pub state: SubState,
    /// `expires=`.
    pub expires: Option<u32>,
    /// `retry-after=`.
    pub retry_after: Option<u32>,
}

impl SubscriptionState {
    /// Parses a `Subscription-State` header value.
    pub fn parse(v: &str) -> Option<SubscriptionState> {
        let mut parts = v.split(';').map(str::trim);
        let value = parts.next()?.to_ascii_lowercase();
        let (mut expires, mut retry_after, mut reason) = (None, None, None);
        for p in parts {
            let (k, val) = p
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .unwrap_or((p, ""));
            match k.to_ascii_lowercase().as_str() {
                "expires" => expires = val.parse().ok(),
                "retry-after" => retry_after = val.parse().ok(),
                "reason" => reason = Some(val.to_ascii_lowercase()),
                _ => {}
            }
        }
        let state = match value.as_str() {
            "active" => SubState::Active,
            "pending" => SubState::Pending,
            "terminated" => SubState::Terminated(reason.unwrap_or_else(|| "noresource".into())),
            _ => return None,
        };
        Some(SubscriptionState {
            state,
            expires,
            retry_after,
        })
    }

    /// The header value for a NOTIFY we send.
    pub fn header(state: &SubState, remaining: Duration) -> String {
        match state {
            SubState::Active => format!("active;expires={}", remaining.as_secs()),
            SubState::Pending => format!("pending;expires={}", remaining.as_secs()),
            SubState::Terminated(reason) => format!("terminated;reason={reason}"),
        }
    }
}

/// Expires limits for subscriptions we accept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Shortest Expires accepted (else 423 + Min-Expires).
    pub min: u32,
    /// Longest Expires granted.
    pub max: u32,
    /// Expires when the SUBSCRIBE names none.
    pub default: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min: 60,
            max: 3600,
            default: 3600,
        }
    }
}

/// (Call-ID, local tag, Event).
pub type Key = (String, String, String);

#[derive(Debug, Clone)]
/// One subscription dialog.
pub struct Subscription {
    /// The SUBSCRIBE dialog.
    pub dialog: Dialog,
    /// The event package.
    pub event: String,
    /// Our side.
    pub role: Role,
    /// Its state.
    pub state: SubState,
    /// When it runs out unless refreshed.
    pub expires_at: Instant,
}

/// What the transaction user must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Notifier: send a NOTIFY carrying this `Subscription-State`.
    Notify {
        /// The subscription.
        key: Key,
        /// The header's value.
        subscription_state: String,
    },
    /// Subscriber: send a refreshing SUBSCRIBE with this Expires.
    Refresh {
        /// The subscription.
        key: Key,
        /// The Expires to ask for.
        expires: u32,
    },
    /// The subscription is over (expired, or terminated by the peer); it is forgotten.
    Ended {
        /// The subscription.
        key: Key,
        /// Why (the `reason` of a terminated state, or `timeout`).
        reason: String,
    },
}

/// Why a SUBSCRIBE is refused: status and extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status.
    pub code: u16,
    /// Extra headers (Min-Expires, …).
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Debug, Default)]
/// All subscriptions with their expiry wheel.
pub struct Subscriptions {
    limits: Limits,
    subs: HashMap<Key, Subscription>,
    /// Notifier dialogs that ended, kept until the owner has sent the final NOTIFY their
    /// `Notify` action asks for and handled their `Ended` ([`Subscriptions::forget_ended`]).
    ended: HashMap<Key, Subscription>,
    wheel: BTreeMap<(Instant, Key), ()>,
    out: VecDeque<Action>,
}

/// When a subscriber refreshes: a minute before expiry, or halfway for short ones (§4.1.2.1).
fn refresh_at(now: Instant, expires: u32) -> Instant {
    let e = Duration::from_secs(expires.into());
    let margin = (e / 2).min(Duration::from_secs(60));
    now + e - margin
}

impl Subscriptions {
    /// An empty table with these Expires limits.
    pub fn new(limits: Limits) -> Self {
        Subscriptions {
            limits,
            ..Default::default()
        }
    }

    /// Subscriptions held.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// None held.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// One subscription.
    pub fn get(&self, key: &Key) -> Option<&Subscription> {
        self.subs.get(key)
    }

    /// One subscription, to build an in-dialog request or check an incoming one.
    pub fn get_mut(&mut self, key: &Key) -> Option<&mut Subscription> {
        self.subs.get_mut(key)
    }

    /// The dialog of a subscription, live or ended but not yet forgotten (for the final
    /// NOTIFY).
    pub fn dialog_mut(&mut self, key: &Key) -> Option<&mut Dialog> {
        match self.subs.get_mut(key) {
            Some(s) => Some(&mut s.dialog),
            None => self.ended.get_mut(key).map(|s| &mut s.dialog),
        }
    }

    /// Drops what an ended notifier dialog left behind.
    pub fn forget_ended(&mut self, key: &Key) {
        self.ended.remove(key);
    }

    /// Forgets a subscription without any action (the owner already did what ends it).
    pub fn remove(&mut self, key: &Key) -> Option<Subscription> {
        let s = self.subs.remove(key)?;
        self.wheel.remove(&(s.expires_at, key.clone()));
        Some(s)
    }

    /// Files a subscription as it was before a restart; its deadline (expiry for a notifier,
    /// next refresh for a subscriber) is `sub.expires_at`.
    pub fn restore(&mut self, sub: Subscription) -> Key {
        let key: Key = (
            sub.dialog.id.call_id.clone(),
            sub.dialog.id.local_tag.clone(),
            sub.event.clone(),
        );
        self.wheel.insert((sub.expires_at, key.clone()), ());
        self.subs.insert(key.clone(), sub);
        key
    }

    /// Notifier: the subscription's state changes (authorization given); no action.
    pub fn set_state(&mut self, key: &Key, state: SubState) {
        if let Some(s) = self.subs.get_mut(key) {
            s.state = state;
        }
    }

    /// Notifier: the `Subscription-State` a NOTIFY sent now carries (§4.2.2).
    pub fn state_header(&self, now: Instant, key: &Key) -> Option<String> {
        let s = self.subs.get(key)?;
        Some(SubscriptionState::header(
            &s.state,
            s.expires_at.saturating_duration_since(now),
        ))
    }

    /// Notifier: we end the subscription (authorization withdrawn, §4.2.2): a final NOTIFY
    /// with `terminated;reason=…`, then it is forgotten.
    pub fn terminate(&mut self, key: &Key, reason: &str) {
        if self.subs.contains_key(key) {
            self.notify(
                key.clone(),
                &SubState::Terminated(reason.into()),
                Duration::ZERO,
            );
            self.end(key, reason);
        }
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// When [`Subscriptions::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wheel.keys().next().map(|(t, _)| *t)
    }

    fn arm(&mut self, key: &Key, at: Instant) {
        if let Some(s) = self.subs.get_mut(key) {
            self.wheel.remove(&(s.expires_at, key.clone()));
            s.expires_at = at;
            self.wheel.insert((at, key.clone()), ());
        }
    }

    fn notify(&mut self, key: Key, state: &SubState, remaining: Duration) {
        let subscription_state = SubscriptionState::header(state, remaining);
        self.out.push_back(Action::Notify {
            key,
            subscription_state,
        });
    }

    fn end(&mut self, key: &Key, reason: &str) {
        if let Some(s) = self.subs.remove(key) {
            self.wheel.remove(&(s.expires_at, key.clone()));
            if s.role == Role::Notifier {
                self.ended.insert(key.clone(), s);
            }
            self.out.push_back(Action::Ended {
                key: key.clone(),
                reason: reason.to_string(),
            });
        }
    }

    /// The Expires we grant for a SUBSCRIBE (§4.2.1.1): 423 + Min-Expires below the minimum
    /// (0 is allowed: a fetch or an unsubscribe), capped at the maximum.
    pub fn grant(&self, req: &Request) -> Result<u32, Refusal> {
        let asked = match req.headers.get("Expires") {
            Some(v) => v.trim().parse::<u32>().map_err(|_| Refusal {
                code: 400,
                headers: vec![],
            })?,
            None => self.limits.default,
        };
        if asked != 0 && asked < self.limits.min {
            return Err(Refusal {
                code: 423,
                headers: vec![("Min-Expires", self.limits.min.to_string())],
            });
        }
        Ok(asked.min(self.limits.max))
    }

    /// Notifier: a new SUBSCRIBE was accepted (2xx sent) with `granted` seconds. An
    /// immediate NOTIFY follows (§4.2.1.2); with Expires 0 it says terminated.
    pub fn accept(
        &mut self,
        now: Instant,
        dialog: Dialog,
        event: &str,
        granted: u32,
        state: SubState,
    ) {
        let key: Key = (
            dialog.id.call_id.clone(),
            dialog.id.local_tag.clone(),
            event.to_string(),
        );
        let at = now + Duration::from_secs(granted.into());
        let sub = Subscription {
            dialog,
            event: event.to_string(),
            role: Role::Notifier,
            state: state.clone(),
            expires_at: at,
        };
        self.subs.insert(key.clone(), sub);
        self.wheel.insert((at, key.clone()), ());
        if granted == 0 {
            self.notify(
                key.clone(),
                &SubState::Terminated("timeout".into()),
                Duration::ZERO,
            );
            self.end(&key, "fetch");
        } else {
            self.out.push_back(Action::Notify {
                key,
                subscription_state: SubscriptionState::header(
                    &state,
                    Duration::from_secs(granted.into()),
                ),
            });
        }
    }

    /// Notifier: a refreshing SUBSCRIBE (0 = unsubscribe: final NOTIFY, then gone).
    pub fn refresh(&mut self, now: Instant, key: &Key, granted: u32) {
        if !self.subs.contains_key(key) {
            return;
        }
        if granted == 0 {
            self.notify(
                key.clone(),
                &SubState::Terminated("timeout".into()),
                Duration::ZERO,
            );
            self.end(key, "unsubscribed");
            return;
        }
        self.arm(key, now + Duration::from_secs(granted.into()));
        let state = self
            .subs
            .get(key)
            .map(|s| s.state.clone())
            .unwrap_or(SubState::Active);
        self.out.push_back(Action::Notify {
            key: key.clone(),
            subscription_state: SubscriptionState::header(
                &state,
                Duration::from_secs(granted.into()),
            ),
        });
    }

    /// Subscriber: our SUBSCRIBE got a 2xx with `expires`; refresh before it runs out.
    pub fn subscribed(&mut self, now: Instant, dialog: Dialog, event: &str, expires: u32) -> Key {
        let key: Key = (
            dialog.id.call_id.clone(),
            dialog.id.local_tag.clone(),
            event.to_string(),
        );
        let at = refresh_at(now, expires);
        let sub = Subscription {
            dialog,
            event: event.to_string(),
            role: Role::Subscriber,
            state: SubState::Pending,
            expires_at: at,
        };
        self.subs.insert(key.clone(), sub);
        self.wheel.insert((at, key.clone()), ());
        key
    }

    /// Subscriber: a NOTIFY arrived; its Subscription-State drives the state (§4.1.3).
    /// Returns false when the NOTIFY matches no subscription (answer 481).
    pub fn on_notify(&mut self, now: Instant, key: &Key, state: &SubscriptionState) -> bool {
        let Some(sub) = self.subs.get_mut(key) else {
            return false;
        };
        sub.state = state.state.clone();
        match &state.state {
            SubState::Terminated(reason) => {
                let reason = reason.clone();
                self.end(key, &reason);
            }
            _ => {
                if let Some(e) = state.expires {
                    self.arm(key, refresh_at(now, e));
                }
            }
        }
        true
    }

    /// Time passed: refreshes and expiries.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, key)) = self.wheel.keys().next().cloned() {
            if at > now {
                break;
            }
            self.wheel.remove(&(at, key.clone()));
            let Some(sub) = self.subs.get(&key) else {
                continue;
            };
            if sub.expires_at != at {
                continue;
            }
            match sub.role {
                Role::Notifier => {
                    self.notify(
                        key.clone(),
                        &SubState::Terminated("timeout".into()),
                        Duration::ZERO,
                    );
                    if let Some(s) = self.subs.remove(&key) {
                        self.ended.insert(key.clone(), s);
                    }
                    self.out.push_back(Action::Ended {
                        key,
                        reason: "timeout".into(),
                    });
                }
                Role::Subscriber => {
                    // Re-armed for the real expiry; the refresh's 2xx moves it again.
                    let expires = self.limits.default;
                    self.out.push_back(Action::Refresh {
                        key: key.clone(),
                        expires,
                    });
                    let grace = now + Duration::from_secs(60);
                    if let Some(s) = self.subs.get_mut(&key) {
                        s.expires_at = grace;
                    }
                    self.wheel.insert((grace, key), ());
                }
            }
        }
    }

    /// Subscriber: the refresh failed (non-2xx or timeout): the subscription is over.
    pub fn refresh_failed(&mut self, key: &Key, code: u16) {
        self.end(key, &format!("refresh failed ({code})"));
    }

    /// Subscriber: a refreshing SUBSCRIBE got a 2xx.
    pub fn refreshed(&mut self, now: Instant, key: &Key, expires: u32) {
        self.arm(key, refresh_at(now, expires));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{Message, parse};

    fn subscribe(expires: Option<u32>) -> Request {
        let e = expires
            .map(|e| format!("Expires: {e}\r\n"))
            .unwrap_or_default();
        let m = format!(
            "SUBSCRIBE sip:romeo@sip.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:juliet@example.com>;tag=s1\r\nTo: <sip:romeo@sip.example.com>\r\nCall-ID: sub-1\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\n{e}Contact: <sip:juliet@192.0.2.1>\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(m.as_bytes(), true, 65535).unwrap() {
            Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    fn drain(s: &mut Subscriptions) -> Vec<Action> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    #[test]
    fn subscription_state_header() {
        let s = SubscriptionState::parse("active;expires=3599").unwrap();
        assert_eq!((s.state, s.expires), (SubState::Active, Some(3599)));
        let s = SubscriptionState::parse("terminated;reason=timeout;retry-after=30").unwrap();
        assert_eq!(
            (s.state, s.retry_after),
            (SubState::Terminated("timeout".into()), Some(30))
        );
        assert_eq!(
            SubscriptionState::parse("Pending").unwrap().state,
            SubState::Pending
        );
        assert!(SubscriptionState::parse("bogus").is_none());
        assert_eq!(
            SubscriptionState::header(&SubState::Active, Duration::from_secs(600)),
            "active;expires=600"
        );
    }

    #[test]
    fn expires_negotiation() {
        let s = Subscriptions::new(Limits::default());
        assert_eq!(s.grant(&subscribe(Some(7200))), Ok(3600));
        assert_eq!(s.grant(&subscribe(None)), Ok(3600));
        assert_eq!(s.grant(&subscribe(Some(0))), Ok(0));
        assert_eq!(
            s.grant(&subscribe(Some(10))),
            Err(Refusal {
                code: 423,
                headers: vec![("Min-Expires", "60".into())]
            })
        );
    }

    #[test]
    fn notifier_lifecycle_by_time() {
        let mut s = Subscriptions::new(Limits::default());
        let now = Instant::now();
        let d = Dialog::uas(&subscribe(Some(600)), "n1").unwrap();
        s.accept(now, d, "presence", 600, SubState::Active);
        let key: Key = ("sub-1".into(), "n1".into(), "presence".into());
        assert_eq!(
            drain(&mut s),
            vec![Action::Notify {
                key: key.clone(),
                subscription_state: "active;expires=600".into()
            }]
        );
        s.handle_timeout(now + Duration::from_secs(599));
        assert!(drain(&mut s).is_empty());
        s.refresh(now + Duration::from_secs(500), &key, 600);
        drain(&mut s);
        s.handle_timeout(now + Duration::from_secs(700));
        assert!(drain(&mut s).is_empty(), "refreshed: not expired yet");
        s.handle_timeout(now + Duration::from_secs(1100));
        assert_eq!(
            drain(&mut s),
            vec![
                Action::Notify {
                    key: key.clone(),
                    subscription_state: "terminated;reason=timeout".into()
                },
                Action::Ended {
                    key,
                    reason: "timeout".into()
                }
            ]
        );
        assert!(s.is_empty());
    }

    #[test]
    fn unsubscribe_and_fetch() {
        let mut s = Subscriptions::new(Limits::default());
        let now = Instant::now();
        s.accept(
            now,
            Dialog::uas(&subscribe(Some(0)), "f").unwrap(),
            "presence",
            0,
            SubState::Active,
        );
        let a = drain(&mut s);
        assert!(
            matches!(&a[0], Action::Notify { subscription_state, .. } if subscription_state.starts_with("terminated"))
        );
        assert!(s.is_empty());
        s.accept(
            now,
            Dialog::uas(&subscribe(Some(600)), "u").unwrap(),
            "presence",
            600,
            SubState::Pending,
        );
        let key: Key = ("sub-1".into(), "u".into(), "presence".into());
        assert!(
            matches!(&drain(&mut s)[0], Action::Notify { subscription_state, .. } if subscription_state == "pending;expires=600")
        );
        s.refresh(now, &key, 0);
        assert_eq!(drain(&mut s).len(), 2);
        assert!(s.is_empty());
    }

    #[test]
    fn subscriber_refreshes_before_expiry_and_ends_on_terminated_notify() {
        let mut s = Subscriptions::new(Limits::default());
        let now = Instant::now();
        let d = Dialog::uas(&subscribe(Some(600)), "me").unwrap();
        let key = s.subscribed(now, d, "presence", 600);
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(540)));
        assert!(s.on_notify(
            now,
            &key,
            &SubscriptionState::parse("active;expires=600").unwrap()
        ));
        assert_eq!(s.get(&key).unwrap().state, SubState::Active);
        s.handle_timeout(now + Duration::from_secs(540));
        assert_eq!(
            drain(&mut s),
            vec![Action::Refresh {
                key: key.clone(),
                expires: 3600
            }]
        );
        s.refreshed(now + Duration::from_secs(541), &key, 3600);
        assert!(s.on_notify(
            now,
            &key,
            &SubscriptionState::parse("terminated;reason=deactivated").unwrap()
        ));
        assert_eq!(
            drain(&mut s),
            vec![Action::Ended {
                key: key.clone(),
                reason: "deactivated".into()
            }]
        );
        assert!(
            !s.on_notify(now, &key, &SubscriptionState::parse("active").unwrap()),
            "481 for an unknown subscription"
        );
    }

    #[test]
    fn short_subscriptions_refresh_halfway() {
        let now = Instant::now();
        assert_eq!(refresh_at(now, 60), now + Duration::from_secs(30));
        assert_eq!(refresh_at(now, 600), now + Duration::from_secs(540));
    }
}
