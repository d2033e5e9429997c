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
//! A caller that produces several events at once (a sale, its payment, its receipt) uses
//! [`OutboxStore::append_batch`]: one atomic sled batch (all of them or none survive a crash, the counter
//! raised once) and one share of a commit, so a commit costs it once rather than once per event.
//!
//! # Measurements (why the design is this one)
//! `omnigate bench outbox-append`, release, this project's 2-core VM while other engineers compiled (so
//! every figure is noisy; worst / best of 3):
//! - 1 writer: 1,650–2,050 appends/s (one commit each);
//! - 8 writers, one event per append: 7,200–8,100/s, ~4.4 events per commit;
//! - 8 writers, `append_batch` of 4 events: 12,500–24,100 events/s (20,700 and 24,100 in the two runs
//!   without a load spike), ~17 events per commit;
//! - 64 writers: 6,800–8,700/s, ~30 events per commit (more writers mostly add CPU contention on 2 cores).
//!
//! A commit costs ~250–350 µs of sled `flush` plus ~150–200 µs of `fdatasync`, and ~200 µs of CPU: sled
//! hands every flush to its I/O thread pool, whose `notify_all` wakes all seven idle pool threads (16 context
//! switches per commit measured with one writer). So one producer gets at best ~2,500/s, and single-event
//! appends can only reach 20,000/s if about ten of them share every commit. They do not with 8 writers:
//! the commit that ends wakes its writers while the next commit, started at once by a writer that was
//! already waiting, covers only those that appended meanwhile; the writers settle into two alternating
//! halves (~4 per commit). The target is met per *event* by batching what is produced together, not per
//! append call.
//!
//! Tried and not kept (same harness, same noise):
//! - Writing then one `fdatasync` without sled's `flush`: invalid, sled keeps the batch in its in-memory
//!   I/O buffer until a flush (or a full 512 KiB buffer) writes it.
//! - `Config::flush_every_ms(None)` with one explicit flush per commit: within noise (6,500–8,100/s against
//!   6,500–6,900/s), and sled's flusher thread is also what runs its segment garbage collection
//!   (`attempt_gc`): without it the log file would never be compacted. Kept at sled's default.
//! - Another segment (= I/O buffer) size, 256 KiB or 8 MiB instead of 512 KiB: within noise (alternating
//!   runs gave 4,000–8,200/s for every size), and 8 MiB triples the file (40 MiB for 40,000 events): a flush
//!   writes only the filled part of the buffer, so a bigger buffer does not make a flush cheaper.
//! - Two or four commits in flight at once: no gain (~6,700/s with two against 6,500–6,900/s with one, fewer
//!   events per commit): sled's flush waits for every earlier buffer anyway, and the fdatasyncs of one file
//!   queue behind each other in ext4's journal.
//! - A leader that waits (up to 100 or 300 µs) for the writers woken by the previous commit before syncing:
//!   ~7 events per commit instead of 4, but no more appends/s on 2 busy cores (the wake-ups cost as much as
//!   they save).
//! - `fallocate(KEEP_SIZE)` ahead of the log, so the growing file's blocks are allocated in advance: within
//!   noise (the file size still changes with every commit, so every fdatasync still commits ext4's journal).
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

/// An event to append: what the caller decides; the store adds the seq and the id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// What happened (dotted name).
    pub kind: String,
    /// Its class.
    pub class: EventClass,
    /// Its data.
    pub payload: serde_json::Value,
    /// Wall-clock time in Unix milliseconds, only when the clock is known to be right.
    pub recorded_at_ms: Option<u64>,
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
    /// Commits (flush + fdatasync) done since open: for the benchmark's events-per-commit figure.
    commits: u64,
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
                commits: 0,
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
        let events = self.append_batch(vec![NewEvent {
            kind: kind.to_owned(),
            class,
            payload,
            recorded_at_ms,
        }])?;
        // append_batch pushes one event per input before it returns Ok, so a batch of one gives exactly one.
        Ok(events
            .into_iter()
            .next()
            .expect("append_batch returns one event per input"))
    }

    /// Appends several events at once and returns them, with consecutive seqs in the given order, once they
    /// are all durable: one atomic sled batch (all or none survive a crash) and one share of a commit, so a
    /// caller that produces several events together (a sale, its payment, its receipt) pays for one commit,
    /// not one each. Nothing is written if any event is over [`MAX_EVENT_BYTES`]; an empty batch writes
    /// nothing. Errors after the write have the same meaning as for [`OutboxStore::append`].
    pub fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, OutboxStoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut commit = self.lock();
        let first = commit.next_seq;
        let mut batch = sled::Batch::default();
        let mut stored = Vec::with_capacity(events.len());
        let mut added_bytes = 0u64;
        for (seq, new) in (first..).zip(events) {
            let event = Event {
                seq,
                id: event_id(&self.device_id, seq),
                kind: new.kind,
                class: new.class,
                payload: new.payload,
                recorded_at_ms: new.recorded_at_ms,
            };
            let encoded = serde_json::to_vec(&event).expect("an Event of JSON values always serialises");
            if encoded.len() > MAX_EVENT_BYTES {
                // Nothing has been applied yet: the batch is dropped and no seq is used.
                return Err(OutboxStoreError::TooLarge {
                    kind: event.kind,
                    size: encoded.len(),
                });
            }
            batch.insert(&event_key(seq)[..], &encoded[..]);
            added_bytes += encoded.len() as u64;
            stored.push(event);
        }
        let last = first + stored.len() as u64 - 1;
        batch.insert(NEXT_SEQ_KEY, &(last + 1).to_be_bytes()[..]);
        // Applied under the lock so batches land in seq order and the counter only ever rises.
        self.db.apply_batch(batch).map_err(self.db_err("write event"))?;
        commit.next_seq = last + 1;
        commit.written = last;
        commit.depth += stored.len() as u64;
        commit.bytes += added_bytes;
        drop(self.wait_durable(commit, last)?);
        Ok(stored)
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
                Ok(()) => {
                    commit.durable = commit.durable.max(target);
                    commit.commits += 1;
                }
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

    /// Commits (sled flush + fdatasync) made since open; appends per commit = appends / this.
    pub fn commits(&self) -> u64 {
        self.lock().commits
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
