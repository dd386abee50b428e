//! The embedded store: an IO shell beside SIP, MSRP and the component link. The core emits
//! [`StoreOp`]s for what a restart must not lose (presence subscriptions) and is fed, once,
//! what was saved; this module only moves opaque JSON records to and from SQLite.
//!
//! SQLite through `rusqlite` with its bundled library (no system libsqlite to match), WAL
//! journal with `synchronous=NORMAL`: a committed write survives `kill -9` of stox (an OS
//! crash may lose the last ones, which a presence subscription recovers from by its next
//! refresh). Writes run on their own thread in batches, one transaction per batch, so the
//! event loop never waits for the disk. Schema versions are `PRAGMA user_version` steps in
//! [`MIGRATIONS`].

use std::path::Path;
use std::sync::mpsc;

use anyhow::Context as _;
use rusqlite::{Connection, params};

use crate::config::StoreConfig;

/// One change to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Insert or replace the record under this key.
    Put {
        /// The record's key (its kind is the part before the first ':').
        key: String,
        /// The record, JSON.
        value: String,
    },
    /// Forget the record under this key.
    Delete {
        /// The record's key.
        key: String,
    },
}

/// Schema steps; step `n` brings `user_version` from `n` to `n + 1`.
pub const MIGRATIONS: &[&str] = &["CREATE TABLE state (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) WITHOUT ROWID;"];

/// An open store.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating the file and its directories) and migrates the configured store.
    pub fn open(cfg: &StoreConfig) -> anyhow::Result<Store> {
        if cfg.in_memory() {
            return Store::from_connection(Connection::open_in_memory()?);
        }
        let path = cfg.resolved_path();
        Store::open_path(&path).with_context(|| format!("store.path {}", path.display()))
    }

    /// Opens the file at `path`.
    pub fn open_path(path: &Path) -> anyhow::Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the directory {}", dir.display()))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Store::from_connection(conn)
    }

    fn from_connection(mut conn: Connection) -> anyhow::Result<Store> {
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() {
            anyhow::bail!(
                "the store has schema version {version}, newer than this stox knows ({}); \
                 was it written by a newer release?",
                MIGRATIONS.len()
            );
        }
        for (n, step) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(step)
                .with_context(|| format!("store migration {}", n + 1))?;
            tx.pragma_update(None, "user_version", n + 1)?;
            tx.commit()?;
        }
        Ok(Store { conn })
    }

    /// Every saved record, as (key, JSON).
    pub fn load(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare("SELECT key, value FROM state")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Applies a batch in one transaction.
    pub fn apply(&mut self, ops: &[StoreOp]) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put =
                tx.prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?;
            let mut del = tx.prepare_cached("DELETE FROM state WHERE key = ?1")?;
            for op in ops {
                match op {
                    StoreOp::Put { key, value } => put.execute(params![key, value])?,
                    StoreOp::Delete { key } => del.execute(params![key])?,
                };
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// The writer thread's inbox.
#[derive(Clone)]
pub struct StoreHandle(mpsc::Sender<StoreOp>);

impl StoreHandle {
    /// Queues a change; never blocks.
    pub fn send(&self, op: StoreOp) {
        if self.0.send(op).is_err() {
            tracing::error!("the store writer stopped; a change was not saved");
        }
    }
}

/// Starts the writer thread. It ends, after writing what was queued, when every
/// [`StoreHandle`] is dropped; join the returned handle to wait for that.
pub fn spawn_writer(
    mut store: Store,
) -> std::io::Result<(StoreHandle, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<StoreOp>();
    let thread = std::thread::Builder::new()
        .name("stox-store".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                batch.extend(rx.try_iter().take(10_000));
                if let Err(e) = store.apply(&batch) {
                    tracing::error!(error = %e, changes = batch.len(), "store write failed");
                }
            }
        })?;
    Ok((StoreHandle(tx), thread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_migrations_are_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/stox.sqlite");
        let mut s = Store::open_path(&path).unwrap();
        s.apply(&[
            StoreOp::Put {
                key: "w:1".into(),
                value: "{}".into(),
            },
            StoreOp::Put {
                key: "w:2".into(),
                value: "[]".into(),
            },
            StoreOp::Delete { key: "w:1".into() },
        ])
        .unwrap();
        drop(s);
        let s = Store::open_path(&path).unwrap();
        assert_eq!(s.load().unwrap(), vec![("w:2".into(), "[]".into())]);
        let v: usize = s
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len());
        s.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        let e = Store::open_path(&path).err().unwrap().to_string();
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn the_writer_flushes_before_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let (h, t) = spawn_writer(Store::open_path(&path).unwrap()).unwrap();
        for i in 0..100 {
            h.send(StoreOp::Put {
                key: format!("k{i}"),
                value: "1".into(),
            });
        }
        drop(h);
        t.join().unwrap();
        assert_eq!(Store::open_path(&path).unwrap().load().unwrap().len(), 100);
    }
}
