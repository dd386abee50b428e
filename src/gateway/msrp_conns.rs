//! MSRP connections and the calls that ride on them (RFC 4975 §5.4 connection reuse).
//!
//! A peer may carry several sessions over one connection; frames are routed by the session
//! id in their To-Path (through [`super::owners::Owners`]), and this table says which owners
//! a connection carries, so that a dropped connection ends exactly those calls and a
//! connection closes with its last call. A connection the peer opened is "unbound" until its
//! first frame names one of our sessions; unbound connections are capped.

use std::collections::HashMap;
use std::time::Instant;

use super::owners::Owner;
use crate::msrp::io::ConnId;

/// Accepted MSRP connections not yet bound to a session by their first SEND.
pub const MAX_UNBOUND: usize = 1024;

/// Connection → owners, plus the connections waiting for their first frame.
#[derive(Debug, Default)]
pub struct MsrpConns {
    by_conn: HashMap<ConnId, Vec<Owner>>,
    unbound: HashMap<ConnId, Instant>,
}

impl MsrpConns {
    /// A connection came up. `false`: too many unbound connections, close it.
    pub fn up(&mut self, now: Instant, conn: ConnId) -> bool {
        if self.by_conn.contains_key(&conn) {
            return true;
        }
        if self.unbound.len() >= MAX_UNBOUND {
            return false;
        }
        self.unbound.insert(conn, now);
        true
    }

    /// The connection now carries `owner`'s session.
    pub fn bind(&mut self, conn: ConnId, owner: Owner) {
        self.unbound.remove(&conn);
        self.by_conn.entry(conn).or_default().push(owner);
    }

    /// `owner` no longer uses the connection; `true` when nothing else does (close it).
    pub fn unbind(&mut self, conn: ConnId, owner: Owner) -> bool {
        let Some(v) = self.by_conn.get_mut(&conn) else {
            return false;
        };
        v.retain(|o| *o != owner);
        if v.is_empty() {
            self.by_conn.remove(&conn);
            return true;
        }
        false
    }

    /// The connection is gone: the owners it carried.
    pub fn down(&mut self, conn: ConnId) -> Vec<Owner> {
        self.unbound.remove(&conn);
        self.by_conn.remove(&conn).unwrap_or_default()
    }

    /// Forgets an unbound connection; `true` if it was one (and should be closed).
    pub fn drop_unbound(&mut self, conn: ConnId) -> bool {
        self.unbound.remove(&conn).is_some()
    }
}
