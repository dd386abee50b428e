//! Who owns what: the core's one routing table (after quinn's `ConnectionIndex`).
//!
//! Every SIP client or server transaction the core starts or answers asynchronously, every
//! dialog and every MSRP session id it created is filed here under its [`Owner`] when it is
//! created and removed when its owner lets go. An event is routed by one lookup instead of
//! asking each feature in turn; something nobody owns gets the protocol's "no such thing"
//! answer (481 for an in-dialog request, 481 for an MSRP SEND). Features add an `Owner` arm
//! (MUC occupants, presence subscriptions) and nothing else here changes.

use std::collections::HashMap;

use crate::sip::dialog::Dialog;
use crate::sip::message::Request;
use crate::sip::transaction::TxId;

/// Names one 1:1 chat session (RFC 7573) in the chat table.
pub type ChatId = u64;

/// The feature a transaction, dialog or MSRP session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Page mode (RFC 7572): a MESSAGE we sent.
    Page,
    /// A 1:1 chat session (RFC 7573).
    Chat(ChatId),
    /// A presence subscription (RFC 8048), either direction.
    Presence(crate::gateway::presence::PresenceId),
    /// One user in one chat room (RFC 7702), either direction: its call, its conference
    /// subscription and the REFERs in its dialog.
    Muc(crate::gateway::muc::MucId),
}

/// A dialog as the requests inside it name it to us: Call-ID and our tag (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogKey {
    /// The dialog's Call-ID.
    pub call_id: String,
    /// Our tag: the To tag of the requests the peer sends in the dialog.
    pub local_tag: String,
}

impl DialogKey {
    /// The key of a dialog of ours.
    pub fn of(d: &Dialog) -> Self {
        DialogKey {
            call_id: d.id.call_id.clone(),
            local_tag: d.id.local_tag.clone(),
        }
    }

    /// The dialog of a subscription (its key is Call-ID, our tag, event).
    pub fn of_subscription(key: &crate::sip::subscription::Key) -> Self {
        DialogKey {
            call_id: key.0.clone(),
            local_tag: key.1.clone(),
        }
    }

    /// The dialog an incoming request claims to be in; `None` outside any dialog (no To tag).
    pub fn of_request(req: &Request) -> Option<Self> {
        Some(DialogKey {
            call_id: req.call_id().to_string(),
            local_tag: req.to_tag()?,
        })
    }
}

/// The routing maps; `insert_*`/`remove_*` are their only mutators.
#[derive(Debug, Default)]
pub struct Owners {
    tx: HashMap<TxId, Owner>,
    dialogs: HashMap<DialogKey, Owner>,
    /// Our MSRP session ids (the session part of our path, RFC 4975 §6).
    msrp: HashMap<String, Owner>,
}

impl Owners {
    /// Files a transaction (by the id the UA gave the transaction user).
    pub fn insert_tx(&mut self, tx: TxId, owner: Owner) {
        self.tx.insert(tx, owner);
    }

    /// Who owns a transaction.
    pub fn tx(&self, tx: TxId) -> Option<Owner> {
        self.tx.get(&tx).copied()
    }

    /// Forgets a transaction; returns its owner.
    pub fn remove_tx(&mut self, tx: TxId) -> Option<Owner> {
        self.tx.remove(&tx)
    }

    /// Files a dialog.
    pub fn insert_dialog(&mut self, key: DialogKey, owner: Owner) {
        self.dialogs.insert(key, owner);
    }

    /// Who owns a dialog.
    pub fn dialog(&self, key: &DialogKey) -> Option<Owner> {
        self.dialogs.get(key).copied()
    }

    /// Forgets a dialog.
    pub fn remove_dialog(&mut self, key: &DialogKey) {
        self.dialogs.remove(key);
    }

    /// Files one of our MSRP session ids.
    pub fn insert_msrp(&mut self, session_id: String, owner: Owner) {
        self.msrp.insert(session_id, owner);
    }

    /// Who owns an MSRP session id.
    pub fn msrp(&self, session_id: &str) -> Option<Owner> {
        self.msrp.get(session_id).copied()
    }

    /// Forgets an MSRP session id.
    pub fn remove_msrp(&mut self, session_id: &str) {
        self.msrp.remove(session_id);
    }
}
