//! The 1:1 chat table: sessions by id, by (XMPP user, SIP peer), and by next deadline.
//!
//! Only this file touches the indexes: `insert` and `remove` keep them consistent, `rearm`
//! files a session under its next deadline (its call's and its own, folded), so a tick costs
//! O(log n) whatever the number of sessions. SIP and MSRP routing is not here: transactions,
//! dialogs and MSRP session ids are in the core's one routing table (`gateway/owners.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Message};

use crate::config::ChatMode;
use crate::gateway::bounded::Recent;
use crate::gateway::call::Call;
use crate::gateway::owners::ChatId;
use crate::gateway::timers::{TimerName, TimerTable, soonest};

/// A peer that refused a session is written to in page mode for this long.
const PAGE_MEMORY: Duration = Duration::from_secs(3600);
/// Peers remembered as page-only at most.
const PAGE_PEERS: usize = 10_000;
/// Receipts we can still map back to a SEND, per session.
const RECEIVED_MEMORY: usize = 64;
/// Messages sent over MSRP whose REPORT we still map to a stanza, per session.
const SENT_MEMORY: usize = 256;

/// Chat settings, from `im.chat_mode` and `[msrp]`.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Sessions, page mode, or sessions with page-mode fallback.
    pub mode: ChatMode,
    /// `msrp.max_sessions`.
    pub max_sessions: usize,
    /// `msrp.idle_secs`: an open session without traffic ends with BYE.
    pub idle: Duration,
}

/// A chat's own deadlines (its call has its own).
#[derive(Debug, Clone, Copy)]
pub enum ChatTimer {
    /// No traffic for `msrp.idle_secs` on an open session: BYE.
    Idle,
    /// The peer's `active` isComposing ran out unrefreshed: `paused` (RFC 3994 §4).
    PeerComposing,
    /// Re-send our `active` while the XMPP user composes (RFC 3994 §4: the composer
    /// refreshes).
    ComposingRefresh,
}

impl TimerName for ChatTimer {
    fn index(self) -> usize {
        self as usize
    }
}

/// A message we sent over MSRP, for its REPORT or failure.
pub struct Sent {
    /// The stanza it came from.
    pub stanza_id: Option<Id>,
    /// Its sender asked for a receipt (XEP-0184).
    pub receipt: bool,
}

/// A message we delivered to XMPP, for the user's receipt or the server's bounce.
pub struct Received {
    /// The stanza id we gave it (the SEND's transaction id).
    pub stanza_id: String,
    /// Its MSRP Message-ID and size, for the REPORT.
    pub message_id: String,
    /// Its size, for the REPORT's Byte-Range.
    pub len: usize,
    /// The SIP sender wants a failure REPORT if delivery fails.
    pub failure_report: bool,
}

/// One XMPP user ⇄ SIP user conversation over one call (RFC 7573).
pub struct Chat {
    /// The XMPP user (full JID once known).
    pub user: Jid,
    /// The SIP user as a JID.
    pub peer: Jid,
    /// The XMPP thread (the Call-ID unless the user's thread was not a SIP word).
    pub thread: String,
    /// The INVITE dialog and MSRP session.
    pub call: Call,
    /// Messages waiting for the session to open.
    pub queue: VecDeque<Message>,
    sent: Recent<Sent>,
    /// Messages delivered to XMPP, newest last.
    pub received: VecDeque<Received>,
    /// The last isComposing state we sent (`true` = active).
    pub composing_out: Option<bool>,
    /// The last chat state we gave the XMPP user.
    pub state_in: Option<ChatState>,
    /// See [`ChatTimer`].
    pub timers: TimerTable<ChatTimer, 3>,
    armed: Option<Instant>,
}

impl Chat {
    /// A chat over `call` (INVITE pending either way).
    pub fn new(user: Jid, peer: Jid, thread: String, call: Call) -> Chat {
        Chat {
            user,
            peer,
            thread,
            call,
            queue: VecDeque::new(),
            sent: Recent::new(SENT_MEMORY),
            received: VecDeque::new(),
            composing_out: None,
            state_in: None,
            timers: TimerTable::default(),
            armed: None,
        }
    }

    /// Remembers a SEND for its REPORT; the oldest is forgotten beyond [`SENT_MEMORY`].
    pub fn sent(&mut self, message_id: String, sent: Sent) {
        self.sent.insert(message_id, sent);
    }

    /// The SEND a REPORT or failure is about.
    pub fn take_sent(&mut self, message_id: &str) -> Option<Sent> {
        self.sent.remove(message_id)
    }

    /// Remembers a delivered message for its receipt or bounce.
    pub fn received(&mut self, r: Received) {
        self.received.push_back(r);
        if self.received.len() > RECEIVED_MEMORY {
            self.received.pop_front();
        }
    }

    /// The delivered message with this stanza id.
    pub fn take_received(&mut self, stanza_id: &str) -> Option<Received> {
        let pos = self
            .received
            .iter()
            .position(|r| r.stanza_id == stanza_id)?;
        self.received.remove(pos)
    }

    /// Traffic on an open session: the idle timer starts again.
    pub fn active(&mut self, now: Instant, idle: Duration) {
        if self.call.is_open() {
            self.timers.set(ChatTimer::Idle, now + idle);
        }
    }
}

/// All chat sessions and their indexes.
pub struct Chats {
    /// Settings.
    pub cfg: ChatConfig,
    map: HashMap<ChatId, Chat>,
    next: ChatId,
    /// (user bare JID, peer bare JID) → sessions. Ordered, so that one user's sessions are
    /// a range (unavailable presence).
    by_pair: BTreeMap<(String, String), Vec<ChatId>>,
    timers: BTreeSet<(Instant, ChatId)>,
    page_peers: HashMap<String, Instant>,
}

fn pair(user: &Jid, peer: &Jid) -> (String, String) {
    (user.to_bare().to_string(), peer.to_bare().to_string())
}

impl Chats {
    /// An empty table.
    pub fn new(cfg: ChatConfig) -> Self {
        Chats {
            cfg,
            map: HashMap::new(),
            next: 1,
            by_pair: BTreeMap::new(),
            timers: BTreeSet::new(),
            page_peers: HashMap::new(),
        }
    }

    /// Every session's id (for shutdown).
    pub fn ids(&self) -> Vec<ChatId> {
        self.map.keys().copied().collect()
    }

    /// Sessions in the table (also those being cancelled).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No sessions.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A session.
    pub fn get(&self, id: ChatId) -> Option<&Chat> {
        self.map.get(&id)
    }

    /// A session, to change.
    pub fn get_mut(&mut self, id: ChatId) -> Option<&mut Chat> {
        self.map.get_mut(&id)
    }

    /// A session's call.
    pub fn call_mut(&mut self, id: ChatId) -> Option<&mut Call> {
        self.map.get_mut(&id).map(|c| &mut c.call)
    }

    /// Messages wait for the session to open.
    pub fn has_queued(&self, id: ChatId) -> bool {
        self.map.get(&id).is_some_and(|c| !c.queue.is_empty())
    }

    /// The earliest deadline of any session.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().next().map(|(t, _)| *t)
    }

    /// The next session whose deadline is due, taken off the timer set (rearm it after).
    pub fn pop_due(&mut self, now: Instant) -> Option<ChatId> {
        let &(at, id) = self.timers.iter().next().filter(|(at, _)| *at <= now)?;
        self.timers.remove(&(at, id));
        if let Some(c) = self.map.get_mut(&id) {
            c.armed = None;
        }
        Some(id)
    }

    /// The session an XMPP stanza from `user` to `peer` belongs to: same thread if it has
    /// one; else the same full JID; else a session started towards the bare JID (which the
    /// reply then binds to this resource). Sessions being cancelled take nothing new.
    pub fn find(&self, user: &Jid, peer: &Jid, thread: Option<&str>) -> Option<ChatId> {
        let ids = self.by_pair.get(&pair(user, peer))?;
        let live = |id: &&ChatId| self.map.get(id).is_some_and(|c| c.call.is_live());
        let chat = |id: &ChatId| self.map.get(id);
        if let Some(t) = thread {
            return ids
                .iter()
                .filter(live)
                .find(|id| chat(id).is_some_and(|c| c.thread == t))
                .copied();
        }
        ids.iter()
            .filter(live)
            .rev()
            .find(|id| chat(id).is_some_and(|c| &c.user == user))
            .or_else(|| {
                ids.iter()
                    .filter(live)
                    .rev()
                    .find(|id| chat(id).is_some_and(|c| c.user.resource().is_none()))
            })
            .copied()
    }

    /// The sessions between two users (bare JIDs).
    pub fn between(&self, user: &Jid, peer: &Jid) -> Vec<ChatId> {
        self.by_pair
            .get(&pair(user, peer))
            .cloned()
            .unwrap_or_default()
    }

    /// The sessions of an XMPP user (any resource).
    pub fn of_user(&self, user: &Jid) -> Vec<ChatId> {
        let bare = user.to_bare().to_string();
        self.by_pair
            .range((bare.clone(), String::new())..)
            .take_while(|((u, _), _)| *u == bare)
            .flat_map(|(_, v)| v.iter().copied())
            .collect()
    }

    /// Sessions whose peer's INVITE waits for the XMPP link.
    pub fn held(&self) -> Vec<ChatId> {
        self.map
            .iter()
            .filter(|(_, c)| matches!(c.call.phase, crate::gateway::call::Phase::Invited { .. }))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Adds a session; its id.
    pub fn insert(&mut self, chat: Chat) -> ChatId {
        let id = self.next;
        self.next += 1;
        self.by_pair
            .entry(pair(&chat.user, &chat.peer))
            .or_default()
            .push(id);
        self.map.insert(id, chat);
        id
    }

    /// Re-files the session under its next deadline (its call's and its own).
    pub fn rearm(&mut self, id: ChatId) {
        let Some(c) = self.map.get_mut(&id) else {
            return;
        };
        let next = soonest(c.timers.next(), c.call.poll_timeout());
        if c.armed == next {
            return;
        }
        if let Some(old) = c.armed.take() {
            self.timers.remove(&(old, id));
        }
        if let Some(n) = next {
            c.armed = Some(n);
            self.timers.insert((n, id));
        }
    }

    /// Removes a session from every index.
    pub fn remove(&mut self, id: ChatId) -> Option<Chat> {
        let c = self.map.remove(&id)?;
        let key = pair(&c.user, &c.peer);
        if let Some(v) = self.by_pair.get_mut(&key) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.by_pair.remove(&key);
            }
        }
        if let Some(at) = c.armed {
            self.timers.remove(&(at, id));
        }
        Some(c)
    }

    /// This peer refused a session recently: write to it in page mode.
    pub fn page_only(&mut self, now: Instant, peer: &Jid) -> bool {
        let key = peer.to_bare().to_string();
        match self.page_peers.get(&key) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.page_peers.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Remembers that this peer refused a session (expired entries go first when full).
    pub fn remember_page_peer(&mut self, now: Instant, peer: &Jid) {
        if self.page_peers.len() >= PAGE_PEERS {
            self.page_peers.retain(|_, until| *until > now);
            if self.page_peers.len() >= PAGE_PEERS {
                self.page_peers.clear();
            }
        }
        self.page_peers
            .insert(peer.to_bare().to_string(), now + PAGE_MEMORY);
    }
}
