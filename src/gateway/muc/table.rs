//! The groupchat table: one [`Muc`] per (user, room) through stox, by id, by (user, room)
//! and by next deadline. Like the chat table, only this file touches the indexes; SIP and
//! MSRP routing is in the core's owner table (`gateway/owners.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;

use crate::config::GroupchatConfig;
use crate::gateway::bounded::Recent;
use crate::gateway::call::Call;
use crate::gateway::timers::{TimerName, TimerTable, soonest};
use crate::sip::dialog::Dialog;
use crate::sip::transaction::TxId;

/// Names one user's presence in one room (either direction).
pub type MucId = u64;

/// Messages remembered per room for their reflection, error or failure REPORT.
const SENT_MEMORY: usize = 256;

/// Which side of RFC 7702 a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// §5: an XMPP user in a SIP/MSRP room; stox is the participant towards the focus.
    Participant,
    /// §6: a SIP user in an XMPP MUC room; stox is the focus towards the SIP user.
    Focus,
}

/// Where the user is in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not in the room yet (INVITE, NICKNAME, roster, or the MUC join pending).
    Entering,
    /// In the room: the self-presence (110) went out (participant) or came (focus).
    Joined,
}

/// A session's deadlines (its call has its own).
#[derive(Debug, Clone, Copy)]
pub enum MucTimer {
    /// Focus: no NICKNAME came in time; join with a temporary nickname.
    NickWait,
    /// Focus: the next conference NOTIFY may go (rate limit).
    Notify,
    /// Participant: refresh our conference subscription. Focus: the SIP user's
    /// subscription runs out.
    Subscription,
    /// Participant: the focus took our subscription but sent no full document in time;
    /// enter with the occupants known so far.
    RosterWait,
}

impl TimerName for MucTimer {
    fn index(self) -> usize {
        self as usize
    }
}

/// One occupant as the other side knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Occupant {
    /// Participant side: the conference-info `<user entity>`; focus side: empty.
    pub entity: String,
    /// The real address when the room shares it (associated-aors / muc#user item jid).
    pub real: Option<String>,
}

/// The conference subscription (RFC 4575) of a session.
#[derive(Debug, Default)]
pub enum ConfSub {
    /// None (yet).
    #[default]
    None,
    /// Participant: our SUBSCRIBE is out.
    Subscribing,
    /// Participant: subscribed (NOTIFYs come); focus: the SIP user is subscribed.
    Active,
    /// Participant: the focus refused or ended it (no roster from it).
    Failed,
}

/// Focus side: the SIP user's conference subscription (the notifier's state).
#[derive(Debug, Default)]
pub struct Notifier {
    /// The subscription's own dialog, or `None` when it lives in the INVITE dialog.
    pub dialog: Option<Dialog>,
    /// The last `version` sent (RFC 4575 §4.4: +1 per NOTIFY).
    pub version: u32,
    /// A full document is due (first NOTIFY, or after the MUC self-presence).
    pub full: bool,
    /// Nicknames whose entries changed since the last NOTIFY.
    pub dirty: BTreeSet<String>,
    /// The subject changed since the last NOTIFY.
    pub subject_dirty: bool,
    /// When the subscription runs out.
    pub expires_at: Option<Instant>,
    /// A NOTIFY is out and not answered yet.
    pub in_flight: Option<TxId>,
    /// When the last NOTIFY went.
    pub last: Option<Instant>,
}

/// What we remember of a message we sent into the room.
#[derive(Debug, Clone)]
pub struct SentMsg {
    /// Participant: the stanza, reflected once the switch accepted it.
    pub stanza: Option<Message>,
    /// Focus: the MSRP message it came from, its size, and whether the SIP sender wants a
    /// failure REPORT.
    pub msrp: Option<(String, usize, bool)>,
}

/// One user in one room.
pub struct Muc {
    /// Which RFC 7702 direction.
    pub side: Side,
    /// Participant: the XMPP user's full JID. Focus: the SIP user's JID with a resource.
    pub user: Jid,
    /// The room as XMPP sees it.
    pub room: BareJid,
    /// The room's SIP URI.
    pub room_uri: String,
    /// The user's SIP URI (address of record, no `gr`).
    pub user_uri: String,
    /// Our nickname in the room (requested until joined).
    pub nick: String,
    /// See [`Stage`].
    pub stage: Stage,
    /// The INVITE dialog and MSRP session.
    pub call: Call,
    /// The other occupants by nickname.
    pub roster: BTreeMap<String, Occupant>,
    /// The room's subject.
    pub subject: Option<String>,
    /// Private messages are possible (both sides advertised `private-messages`).
    pub private_ok: bool,
    /// Participant: the NICKNAME in flight (tid, nick); focus: the peer's NICKNAME waiting
    /// for the MUC's answer (tid, nick).
    pub nick_op: Option<(String, String)>,
    /// Participant: the nickname is settled (accepted, or the focus has no NICKNAME).
    pub nick_done: bool,
    /// Participant: a roster arrived (or will not).
    pub roster_done: bool,
    /// Participant: a full conference-info document arrived: the version baseline.
    pub roster_full: bool,
    /// Participant: our conference subscription.
    pub sub: ConfSub,
    /// Participant: the last conference-info version seen.
    pub version: Option<u32>,
    /// Focus: the SIP user's conference subscription.
    pub notifier: Option<Notifier>,
    /// Focus: temporary-nickname attempts (a conflict retries with `_` appended).
    pub tries: u8,
    /// Participant: REFERs in flight (tx → invitee JID, the REFER's CSeq = the `id` of
    /// its NOTIFYs' Event, RFC 3515 §2.4.6).
    pub refers: HashMap<TxId, (String, u32)>,
    /// Participant: messages before the session opened.
    pub queue: VecDeque<Message>,
    /// Messages we sent, by MSRP Message-ID (participant) or stanza id (focus).
    pub sent: Recent<SentMsg>,
    /// See [`MucTimer`].
    pub timers: TimerTable<MucTimer, 4>,
    armed: Option<Instant>,
}

impl Muc {
    /// A session over `call`.
    pub fn new(side: Side, user: Jid, room: BareJid, room_uri: String, call: Call) -> Muc {
        Muc {
            side,
            user,
            room,
            room_uri,
            user_uri: String::new(),
            nick: String::new(),
            stage: Stage::Entering,
            call,
            roster: BTreeMap::new(),
            subject: None,
            private_ok: false,
            nick_op: None,
            nick_done: false,
            roster_done: false,
            roster_full: false,
            sub: ConfSub::None,
            version: None,
            notifier: None,
            tries: 0,
            refers: HashMap::new(),
            queue: VecDeque::new(),
            sent: Recent::new(SENT_MEMORY),
            timers: TimerTable::default(),
            armed: None,
        }
    }

    /// The occupant JID of a nickname in this room.
    pub fn occupant(&self, nick: &str) -> Option<Jid> {
        super::occupant_jid(&self.room, nick)
    }
}

/// All sessions and their indexes.
pub struct Mucs {
    /// Settings.
    pub cfg: GroupchatConfig,
    /// Boxed: a `Muc` is ~2 KB, and a map of them keeps up to half its slots empty.
    map: HashMap<MucId, Box<Muc>>,
    next: MucId,
    /// (user bare JID, room bare JID) → sessions.
    by_pair: BTreeMap<(String, String), Vec<MucId>>,
    /// room bare JID → sessions (the occupant limit on every room INVITE, disco).
    by_room: HashMap<String, Vec<MucId>>,
    timers: BTreeSet<(Instant, MucId)>,
}

fn pair(user: &Jid, room: &BareJid) -> (String, String) {
    (user.to_bare().to_string(), room.to_string())
}

impl Mucs {
    /// An empty table.
    pub fn new(cfg: GroupchatConfig) -> Self {
        Mucs {
            cfg,
            map: HashMap::new(),
            next: 1,
            by_pair: BTreeMap::new(),
            by_room: HashMap::new(),
            timers: BTreeSet::new(),
        }
    }

    /// Every session's id.
    pub fn ids(&self) -> Vec<MucId> {
        self.map.keys().copied().collect()
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// None held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A session.
    pub fn get(&self, id: MucId) -> Option<&Muc> {
        self.map.get(&id).map(|m| &**m)
    }

    /// A session, to change.
    pub fn get_mut(&mut self, id: MucId) -> Option<&mut Muc> {
        self.map.get_mut(&id).map(|m| &mut **m)
    }

    /// A session's call.
    pub fn call_mut(&mut self, id: MucId) -> Option<&mut Call> {
        self.map.get_mut(&id).map(|m| &mut m.call)
    }

    /// Messages wait for the session to open.
    pub fn has_queued(&self, id: MucId) -> bool {
        self.map.get(&id).is_some_and(|m| !m.queue.is_empty())
    }

    /// The session of this user (full JID, or bare for the focus side) in this room.
    pub fn find(&self, user: &Jid, room: &BareJid) -> Option<MucId> {
        let ids = self.by_pair.get(&pair(user, room))?;
        ids.iter()
            .find(|id| {
                self.map.get(id).is_some_and(|m| {
                    m.call.is_live() && (m.user == *user || user.resource().is_none())
                })
            })
            .copied()
    }

    /// Rooms a user (bare) is in through stox.
    pub fn rooms_of(&self, user: &Jid) -> usize {
        let bare = user.to_bare().to_string();
        self.by_pair
            .range((bare.clone(), String::new())..)
            .take_while(|((u, _), _)| *u == bare)
            .map(|(_, v)| v.len())
            .sum()
    }

    /// Sessions of any user in a room (its bare JID).
    pub fn in_room(&self, room: &BareJid) -> &[MucId] {
        self.by_room
            .get(&room.to_string())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The earliest deadline of any session.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().next().map(|(t, _)| *t)
    }

    /// The next session whose deadline is due, taken off the timer set (rearm it after).
    pub fn pop_due(&mut self, now: Instant) -> Option<MucId> {
        let &(at, id) = self.timers.iter().next().filter(|(at, _)| *at <= now)?;
        self.timers.remove(&(at, id));
        if let Some(m) = self.map.get_mut(&id) {
            m.armed = None;
        }
        Some(id)
    }

    /// Adds a session; its id.
    pub fn insert(&mut self, m: Muc) -> MucId {
        let id = self.next;
        self.next += 1;
        self.by_pair
            .entry(pair(&m.user, &m.room))
            .or_default()
            .push(id);
        self.by_room.entry(m.room.to_string()).or_default().push(id);
        self.map.insert(id, Box::new(m));
        id
    }

    /// Re-files the session under its next deadline.
    pub fn rearm(&mut self, id: MucId) {
        let Some(m) = self.map.get_mut(&id) else {
            return;
        };
        let next = soonest(m.timers.next(), m.call.poll_timeout());
        if m.armed == next {
            return;
        }
        if let Some(old) = m.armed.take() {
            self.timers.remove(&(old, id));
        }
        if let Some(n) = next {
            m.armed = Some(n);
            self.timers.insert((n, id));
        }
    }

    /// Removes a session from every index.
    pub fn remove(&mut self, id: MucId) -> Option<Box<Muc>> {
        let m = self.map.remove(&id)?;
        let key = pair(&m.user, &m.room);
        if let Some(v) = self.by_pair.get_mut(&key) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.by_pair.remove(&key);
            }
        }
        let room = m.room.to_string();
        if let Some(v) = self.by_room.get_mut(&room) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.by_room.remove(&room);
            }
        }
        if let Some(at) = m.armed {
            self.timers.remove(&(at, id));
        }
        Some(m)
    }
}
