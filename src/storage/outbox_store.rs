//! The durable outbox: business events kept in their own small sled database until central acknowledges them.
//! Besides [`super`], the only place that names sled. The rules (order, window, budget) are in
//! [`crate::outbox`]; this file only keeps events safe and hands them back.
//!
//! # Layout
//! One sled database directly in the directory given to [`OutboxStore::open`] (the daemon uses
//! `<state_dir>/outbox`, apart from the catalog so that each page table stays small). Its default tree holds:
//! - `e<seq u64 big-endian>` → the [`Event`] as JSON (big-endian keys iterate in seq order),
//! - `next_seq` → the next sequence number to hand out (u64 big-endian).
//!
//! # Sequence numbers never repeat
//! The event and the raised counter are written in one atomic sled batch, and the append is confirmed only
//! once that batch is durable. So a confirmed seq is always below the durable counter, even when every event
//! has been acknowledged and deleted, and a crash can never hand it out again. (A batch written but not yet
//! durable at a crash may be lost whole; its seq was never confirmed to anyone, so reusing it is harmless.)
//!
//! # Durable means fsynced, with group commit
//! sled's `flush` ends with `sync_file_range`, which neither empties the drive's write cache nor syncs the
//! file size. So every commit is `flush` followed by `fdatasync` of `<dir>/db`: in sled 0.34 that file holds
//! the whole log (every segment); the only other data files are `blobs/<lsn>` for values larger than a
//! quarter of a segment (128 KiB by default), which events never are: [`MAX_EVENT_BYTES`] is refused before
//! anything is written. The snapshot files only speed up recovery and are rebuilt from the log. Directory
//! entries and the rest of the tree are synced whole ([`crate::durable::sync_tree`]) at open and on
//! [`OutboxStore::sync`].
//!
//! An fsync costs ~0.2 ms on a VM and 2–20 ms on an SD card, so appends share them: the first appender to
//! find no commit running becomes the leader, syncs everything written so far, and wakes every appender its
//! sync covered; appenders that arrive meanwhile wait and are covered by the next leader's sync (leader /
//! follower on one `Mutex` + `Condvar`, no extra thread).
//!
//! Measured (`omnigate bench outbox-append`, release, 2-core VM shared with other builds): ~5,600 confirmed
//! appends/s from 8 writers, about 4 appends per commit. A commit costs ~320 µs of sled `flush` (its
//! `sync_file_range` waits for the write-back) plus ~195 µs of `fdatasync`, so even 8 per commit would top out
//! near 15,000/s here; on an SD card the commit is slower but batches fill up with every waiting writer.
//!
//! # Acks are not synced
//! [`OutboxStore::ack`] deletes without its own fsync: the deletion becomes durable with the next commit. If a
//! crash loses it, the event is sent again after restart and central deduplicates it by its id; nothing is
//! lost and nothing is counted twice.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::{open_sled, SledOpenFailure};
use crate::outbox::{event_id, Event, EventClass};

/// The largest encoded event accepted: far below sled's blob threshold (so the event lives in the `db` file
/// that each commit fsyncs) and above any sane MQTT payload.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The log file sled 0.34 writes all inline values to (see the module docs).
const LOG_FILE: &str = "db";

const NEXT_SEQ_KEY: &[u8] = b"next_seq";
const EVENT_PREFIX: u8 = b'e';

/// An outbox storage failure, naming the directory or the operation.
#[derive(Debug, thiserror::Error)]
pub enum OutboxStoreError {
    /// sled refused to open the database (locked by another process, unreadable, corrupt…).
    #[error("cannot open the outbox database in {dir}: {source}")]
    Open {
        /// Database directory.
        dir: PathBuf,
        /// What sled said.
        source: sled::Error,
    },
    /// sled panicked while opening: seen with sled 0.34 after some abrupt stops (sled issue 1533).
    #[error("the outbox database in {dir} is damaged (the database engine crashed opening it: {message})")]
    OpenPanicked {
        /// Database directory.
        dir: PathBuf,
        /// The panic message.
        message: String,
    },
    /// A database operation failed.
    #[error("outbox database {dir}: {op}: {source}")]
    Db {
        /// Database directory.
        dir: PathBuf,
        /// What was being done.
        op: &'static str,
        /// What sled said.
        source: sled::Error,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The commit that should have made this event durable failed (in another appender's thread).
    #[error("outbox database {dir}: making event {seq} durable failed: {reason}")]
    Commit {
        /// Database directory.
        dir: PathBuf,
        /// The event whose append is not confirmed.
        seq: u64,
        /// What the failing commit said.
        reason: String,
    },
    /// A stored record cannot be decoded.
    #[error("outbox database {dir}: corrupt record {key}: {reason}")]
    Corrupt {
        /// Database directory.
        dir: PathBuf,
        /// The key, printable.
        key: String,
        /// Why it cannot be read.
        reason: String,
    },
    /// The event is larger than [`MAX_EVENT_BYTES`] once encoded; nothing was written.
    #[error("outbox event {kind:?} is {size} bytes encoded, the limit is {MAX_EVENT_BYTES}")]
    TooLarge {
        /// The event kind.
        kind: String,
        /// Its encoded size.
        size: usize,
    },
}

impl OutboxStoreError {
    /// The database files themselves are damaged (sled panicked or reported corruption while opening).
    pub fn is_damaged_database(&self) -> bool {
        match self {
            OutboxStoreError::OpenPanicked { .. } => true,
            OutboxStoreError::Open { source, .. } => matches!(source, sled::Error::Corruption { .. }),
            _ => false,
        }
    }
}

/// What the store holds, for the status screen and the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStoreStatus {
    /// Events stored (not yet acknowledged).
    pub depth: u64,
    /// The lowest stored seq.
    pub oldest: Option<u64>,
    /// The seq the next append gets.
    pub next_seq: u64,
    /// Sum of the encoded sizes of the stored events: what the budget counts.
    pub bytes: u64,
}

/// Shared by appenders, under one mutex.
#[derive(Debug)]
struct Commit {
    next_seq: u64,
    /// Every seq up to this one is written to sled (batches are applied under the lock, in seq order).
    written: u64,
    /// Every seq up to this one is durable.
    durable: u64,
    /// A leader is syncing right now.
    syncing: bool,
    /// The last failed commit: seqs up to `.0` it was meant to cover, and why.
    failed: Option<(u64, String)>,
    /// Stored events and the sum of their encoded sizes.
    depth: u64,
    bytes: u64,
}

/// The outbox database. Share it between threads by reference or `Arc`; every method takes `&self`.
pub struct OutboxStore {
    dir: PathBuf,
    device_id: String,
    db: sled::Db,
    log: File,
    commit: Mutex<Commit>,
    committed: Condvar,
}

impl std::fmt::Debug for OutboxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl OutboxStore {
    /// Opens (or creates) the outbox in `dir` with a sled page cache of `cache_bytes`, for events of device
    /// `device_id`. Reads the persisted counter and sums the stored events' sizes (the outbox is small: only
    /// what central has not acknowledged).
    ///
    /// A panic of sled while opening (sled issue 1533) is returned as [`OutboxStoreError::OpenPanicked`].
    pub fn open(dir: &Path, cache_bytes: u64, device_id: &str) -> Result<OutboxStore, OutboxStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| OutboxStoreError::Io {
            op: "cannot create",
            path: dir.to_owned(),
            source,
        })?;
        let db = match open_sled(dir, cache_bytes) {
            Ok(db) => db,
            Err(SledOpenFailure::Error(source)) => {
                return Err(OutboxStoreError::Open {
                    dir: dir.to_owned(),
                    source,
                })
            }
            Err(SledOpenFailure::Panicked(message)) => {
                return Err(OutboxStoreError::OpenPanicked {
                    dir: dir.to_owned(),
                    message,
                })
            }
        };
        let log_path = dir.join(LOG_FILE);
        let log = File::open(&log_path).map_err(|source| OutboxStoreError::Io {
            op: "cannot open",
            path: log_path,
            source,
        })?;
        let mut store = OutboxStore {
            dir: dir.to_owned(),
            device_id: device_id.to_owned(),
            db,
            log,
            commit: Mutex::new(Commit {
                next_seq: 1,
                written: 0,
                durable: 0,
                syncing: false,
                failed: None,
                depth: 0,
                bytes: 0,
            }),
            committed: Condvar::new(),
        };
        let counter = match store.db.get(NEXT_SEQ_KEY).map_err(store.db_err("read next_seq"))? {
            None => 1,
            Some(bytes) => store.decode_u64("next_seq", &bytes)?,
        };
        let (mut depth, mut bytes, mut highest) = (0u64, 0u64, 0u64);
        for entry in store.db.scan_prefix([EVENT_PREFIX]) {
            let (key, value) = entry.map_err(store.db_err("read events"))?;
            highest = highest.max(store.decode_u64("event key", &key[1..])?);
            bytes += value.len() as u64;
            depth += 1;
        }
        // The counter is written with each event, so it is above every stored seq; take the max anyway, so a
        // damaged counter can only skip numbers, never repeat one.
        let next_seq = counter.max(highest + 1);
        let commit = store.commit.get_mut().unwrap_or_else(|p| p.into_inner());
        commit.next_seq = next_seq;
        commit.written = next_seq - 1;
        commit.durable = next_seq - 1;
        commit.depth = depth;
        commit.bytes = bytes;
        store.sync()?;
        Ok(store)
    }

    /// The outbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends an event and returns it once it is durable (flushed and fsynced, possibly in a commit shared
    /// with other appenders). Nothing is written for an event over [`MAX_EVENT_BYTES`].
    ///
    /// On `Err` after the write the event may still reach disk and central: treat the outcome as unknown
    /// (stop the sale and say why) rather than as "not recorded".
    pub fn append(&self, kind: &str, class: EventClass, payload: serde_json::Value) -> Result<Event, OutboxStoreError> {
        self.append_at(kind, class, payload, None)
    }

    /// [`OutboxStore::append`] with the wall-clock time of the event, when the caller knows the clock is right.
    pub fn append_at(
        &self,
        kind: &str,
        class: EventClass,
        payload: serde_json::Value,
        recorded_at_ms: Option<u64>,
    ) -> Result<Event, OutboxStoreError> {
        let mut commit = self.lock();
        let seq = commit.next_seq;
        let event = Event {
            seq,
            id: event_id(&self.device_id, seq),
            kind: kind.to_owned(),
            class,
            payload,
            recorded_at_ms,
        };
        let encoded = serde_json::to_vec(&event).expect("an Event of JSON values always serialises");
        if encoded.len() > MAX_EVENT_BYTES {
            return Err(OutboxStoreError::TooLarge {
                kind: event.kind,
                size: encoded.len(),
            });
        }
        let mut batch = sled::Batch::default();
        batch.insert(&event_key(seq)[..], &encoded[..]);
        batch.insert(NEXT_SEQ_KEY, &(seq + 1).to_be_bytes()[..]);
        // Applied under the lock so batches land in seq order and the counter only ever rises.
        self.db.apply_batch(batch).map_err(self.db_err("write event"))?;
        commit.next_seq = seq + 1;
        commit.written = seq;
        commit.depth += 1;
        commit.bytes += encoded.len() as u64;
        drop(self.wait_durable(commit, seq)?);
        Ok(event)
    }

    /// Blocks until `seq` is durable, leading a commit when none is running.
    fn wait_durable<'a>(
        &'a self,
        mut commit: MutexGuard<'a, Commit>,
        seq: u64,
    ) -> Result<MutexGuard<'a, Commit>, OutboxStoreError> {
        loop {
            if commit.durable >= seq {
                return Ok(commit);
            }
            if let Some((upto, reason)) = &commit.failed {
                if *upto >= seq {
                    return Err(OutboxStoreError::Commit {
                        dir: self.dir.clone(),
                        seq,
                        reason: reason.clone(),
                    });
                }
            }
            if commit.syncing {
                commit = self.committed.wait(commit).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Lead: sync everything written so far, without the lock, so others keep writing meanwhile.
            let target = commit.written;
            commit.syncing = true;
            drop(commit);
            let result = self.commit_to_disk();
            commit = self.lock();
            commit.syncing = false;
            match &result {
                Ok(()) => commit.durable = commit.durable.max(target),
                Err(e) => commit.failed = Some((target, e.to_string())),
            }
            self.committed.notify_all();
            result?;
        }
    }

    /// sled `flush`, then `fdatasync` of the log file (see the module docs for why that file is enough).
    fn commit_to_disk(&self) -> Result<(), OutboxStoreError> {
        self.db.flush().map_err(self.db_err("flush"))?;
        self.log.sync_data().map_err(|source| OutboxStoreError::Io {
            op: "cannot fdatasync",
            path: self.dir.join(LOG_FILE),
            source,
        })
    }

    /// Up to `limit` stored events with seq ≥ `from_seq`, in seq order.
    pub fn pending(&self, from_seq: u64, limit: usize) -> Result<Vec<Event>, OutboxStoreError> {
        let mut events = Vec::new();
        for entry in self.db.range(event_key(from_seq)..).take(limit) {
            let (key, value) = entry.map_err(self.db_err("read events"))?;
            if key.first() != Some(&EVENT_PREFIX) {
                break;
            }
            let event: Event = serde_json::from_slice(&value).map_err(|e| OutboxStoreError::Corrupt {
                dir: self.dir.clone(),
                key: format!("event {:?}", self.decode_u64("event key", &key[1..]).ok()),
                reason: e.to_string(),
            })?;
            events.push(event);
        }
        Ok(events)
    }

    /// Up to `limit` *durable* events with seq ≥ `from_seq` as stored (the JSON that goes on the wire), in seq
    /// order: the uplink publishes these bytes without decoding them.
    ///
    /// Only durable ones: an event written but not yet fsynced could be lost by a crash, and its seq handed out
    /// again to another event; had the first been sent, central would discard the second as a duplicate.
    pub fn pending_encoded(&self, from_seq: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, OutboxStoreError> {
        let durable = self.lock().durable;
        let mut events = Vec::new();
        for entry in self
            .db
            .range(event_key(from_seq)..event_key(durable.saturating_add(1)))
            .take(limit)
        {
            let (key, value) = entry.map_err(self.db_err("read events"))?;
            if key.first() != Some(&EVENT_PREFIX) {
                break;
            }
            events.push((self.decode_u64("event key", &key[1..])?, value.to_vec()));
        }
        Ok(events)
    }

    /// Deletes an acknowledged event (a seq not stored is ignored). Not synced on its own: it becomes durable
    /// with the next commit or [`OutboxStore::sync`]; losing it in a crash only means a re-send that central
    /// deduplicates by id.
    pub fn ack(&self, seq: u64) -> Result<(), OutboxStoreError> {
        // Under the lock, so `bytes` always matches what is stored.
        let mut commit = self.lock();
        if let Some(old) = self.db.remove(event_key(seq)).map_err(self.db_err("delete event"))? {
            commit.depth -= 1;
            commit.bytes -= old.len() as u64;
        }
        Ok(())
    }

    /// Encoded size of `event` as stored: what the budget counts for it.
    pub fn encoded_size(event: &Event) -> u64 {
        serde_json::to_vec(event)
            .expect("an Event of JSON values always serialises")
            .len() as u64
    }

    /// Depth, oldest stored seq, next seq and bytes.
    pub fn status(&self) -> Result<OutboxStoreStatus, OutboxStoreError> {
        let (next_seq, depth, bytes) = {
            let commit = self.lock();
            (commit.next_seq, commit.depth, commit.bytes)
        };
        let oldest = match self.db.scan_prefix([EVENT_PREFIX]).next() {
            None => None,
            Some(entry) => {
                let (key, _) = entry.map_err(self.db_err("read events"))?;
                Some(self.decode_u64("event key", &key[1..])?)
            }
        };
        Ok(OutboxStoreStatus {
            depth,
            oldest,
            next_seq,
            bytes,
        })
    }

    /// Bytes of stored events (the budget's `used`).
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Makes everything written so far durable, acks included: flush, then fsync of every file and directory
    /// of the outbox (a handful). Call it before closing.
    pub fn sync(&self) -> Result<(), OutboxStoreError> {
        self.db.flush().map_err(self.db_err("flush"))?;
        crate::durable::sync_tree(&self.dir).map_err(|(path, source)| OutboxStoreError::Io {
            op: "cannot fsync",
            path,
            source,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Commit> {
        // A poisoned lock means an appender panicked between statements that keep `Commit` consistent with sled
        // (no panicking calls there); the counters stay valid.
        self.commit.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn decode_u64(&self, key: &str, bytes: &[u8]) -> Result<u64, OutboxStoreError> {
        let arr: [u8; 8] = bytes.try_into().map_err(|_| OutboxStoreError::Corrupt {
            dir: self.dir.clone(),
            key: key.to_owned(),
            reason: format!("{} bytes, expected 8", bytes.len()),
        })?;
        Ok(u64::from_be_bytes(arr))
    }

    fn db_err(&self, op: &'static str) -> impl Fn(sled::Error) -> OutboxStoreError + '_ {
        move |source| OutboxStoreError::Db {
            dir: self.dir.clone(),
            op,
            source,
        }
    }
}

/// `e` + seq big-endian.
fn event_key(seq: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = EVENT_PREFIX;
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}
