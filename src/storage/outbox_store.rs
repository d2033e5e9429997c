//! The durable outbox: business events kept in their own small sled database until central acknowledges them,
//! with a write-ahead log file in front of it that makes appends durable cheaply. Besides [`super`], the only
//! place that names sled. The rules (order, window, budget) are in [`crate::outbox`]; this file only keeps
//! events safe and hands them back.
//!
//! # Layout
//! One directory (the daemon uses `<state_dir>/outbox`, apart from the catalog so that each page table stays
//! small) holding a sled database and `wal`, the write-ahead log ([`super::wal`]). sled's default tree holds:
//! - `e<seq u64 big-endian>` → the [`Event`] as JSON (big-endian keys iterate in seq order),
//! - `next_seq` → the next sequence number to hand out as of the last checkpoint (u64 big-endian),
//! - `wal_generation` → the generation of the log's current pass (u64 big-endian; absent = 0);
//!
//! and the tree `states`: a name → its value, written by [`OutboxStore::append_with_state`] in the same log
//! frame as the events that go with it (the self-checkout's basket and its sale event: both or neither). Unlike
//! events, a state is *not* put into sled when appended, only kept in memory until the next checkpoint writes it
//! (under the lock, before the checkpoint keys): sled writes its buffers back on its own, and a state that
//! reached sled's file before its frame was durable would survive a crash that removes that frame's events
//! (the sale's event gone, the basket saying "sold"). Removing unconfirmed events at open works because each
//! event has its own key and seq; a state has neither.
//!
//! # Durable means fdatasynced, and the log is what is synced
//! An append inserts its events into sled (in memory until sled writes them back) *and* queues them as one
//! frame for the log. It is confirmed once its frame is written to `wal` and `wal` is fdatasynced. Plain
//! inserts, not a sled `Batch`: applying a batch seals sled's I/O buffer and has its thread pool write and
//! `sync_file_range` it, one disk write and a handful of thread wake-ups per append. sled itself is made
//! durable only at checkpoints: sled's `flush` costs ~300 µs on this VM and wakes its whole I/O pool, and
//! without an `fdatasync` after it (sled ends with `sync_file_range`, which neither empties the drive's write
//! cache nor syncs the file size) it would not hold at a power cut anyway; one flush + fdatasync per append
//! capped single-event appends near 8,000/s here. The log is preallocated with zeros and written in place, so
//! its fdatasync syncs data only, never filesystem metadata.
//!
//! Group commit: the first appender to find the log free becomes the leader, writes every frame queued so far
//! in one `pwrite`, fdatasyncs, and wakes every appender its sync covered; appenders that arrive meanwhile
//! queue their frames and are covered by the next round (leader / follower on one `Mutex`, no extra thread).
//! An fsync costs ~0.15 ms here and 2–20 ms on an SD card, so under load many appends share one. Two details
//! matter on 2 cores, where a thread wake-up is not free:
//! - waiters sleep on one of two condvars by the parity of the round that will cover them, so the end of a
//!   round wakes exactly the appenders it made durable, plus one appender of the next round to lead it;
//! - before syncing, a leader waits (at most [`GATHER_MAX`], 100 µs) for the appenders the previous round
//!   released to come back with their next events. Without it, writers split into two halves that alternate
//!   rounds (8 writers: ~4 events per sync instead of ~8). A lone writer never waits.
//!
//! A caller that produces several events at once (a sale, its payment, its receipt) uses
//! [`OutboxStore::append_batch`]: one log frame, so all of them or none survive a crash.
//!
//! # Checkpoints
//! When the next frames would not fit in the log (every [`DEFAULT_WAL_BYTES`], ~25,000 sale events), on
//! [`OutboxStore::sync`] (at shutdown) and at open, the leader checkpoints instead: under the lock it writes
//! `next_seq` and `wal_generation` = current + 1 to sled (after every event and ack written so far), then sled `flush` and
//! `fdatasync` of `<dir>/db`. In sled 0.34 that file holds the whole log (every segment); the only other data
//! files are `blobs/<lsn>` for pages larger than a quarter of a segment (128 KiB by default), which events and
//! states are kept well below ([`MAX_EVENT_BYTES`], [`MAX_STATE_BYTES`], refused before anything is written)
//! and which a checkpoint fdatasyncs anyway should a page of several large ones cross it; the snapshot files
//! only speed up recovery and are rebuilt from the log. Then the log starts again at offset 0 with the new generation: the
//! frames of the old pass are stale (another generation) and never replayed. Directory entries and the rest of
//! the tree are synced whole ([`crate::durable::sync_tree`]) at open and on [`OutboxStore::sync`].
//!
//! # After a crash
//! [`OutboxStore::open`] reads `wal_generation` from sled and replays every whole frame of that generation
//! into sled, in order (events inserted, acks removed). What is confirmed is then exactly: seqs below the
//! checkpointed `next_seq`, and the seqs of the replayed frames (a prefix of the pass, so contiguous from
//! there). Events sled holds above that were never confirmed (sled's background flush wrote them, but their
//! frame is torn or was never written) and are removed, so a batch survives whole or not at all. The counter
//! continues after the last confirmed seq, and the open ends with a checkpoint. Replay is idempotent, and the
//! two states are consistent at every instant:
//! - sled's durable state includes the new `wal_generation` key only if it includes everything written before
//!   it (sled recovers a prefix of its log), so a checkpoint interrupted before its sync replays the old pass;
//! - a confirmed event is in a synced frame of the current pass, or in sled before a durable checkpoint;
//! - a frame torn by the crash ends the replay (CRC); its appends were never confirmed, and the seqs it held
//!   may be handed out again, harmless since nobody saw them: the uplink only reads durable events
//!   ([`OutboxStore::pending_encoded`]).
//!
//! # Sequence numbers never repeat
//! A confirmed seq is in a synced frame of the current pass or below a durably checkpointed `next_seq`, so after
//! a crash the counter starts above it, even when every event has been acknowledged and deleted.
//!
//! # Acks are not synced one by one
//! [`OutboxStore::ack`] deletes from sled and queues an ack frame, written to the log with the next commit,
//! or on its own every [`ACKS_PER_WRITE`] acks, and synced every [`ACKS_PER_SYNC`] acks. The deletion is
//! durable once a later sync or checkpoint covers it. If a crash loses it, the replay brings the event back,
//! it is sent again, and central deduplicates it by its id; nothing is lost and nothing is counted twice.
//!
//! # Measurements
//! `omnigate bench outbox-append` (release, this project's 2-core VM; figures in README's Performance table),
//! 8 writers, one event per append:
//! - sled `flush` + fdatasync of `db` per commit (before the log): 6,300–8,100/s, ~4 events per commit.
//!   Tried then and not kept: a lone fdatasync without sled's flush (invalid: sled keeps the batch in its
//!   in-memory buffer), no background flusher, other segment sizes, two commits in flight, `fallocate` of
//!   sled's file: all within noise, because sled's flush (~300 µs, waking its whole I/O pool) was the cost;
//! - the log, events still written to sled with a `Batch`: 13,500–15,100/s (every batch sealed sled's I/O
//!   buffer: one `pwrite` + `sync_file_range` by sled's pool per append);
//! - plain inserts: 19,300–25,200/s, still ~4 events per sync (one condvar: every waiter woken every round);
//! - a condvar per round parity + gathering: 18,300–25,500/s, ~7.8 events per sync, following the disk (a
//!   lone pwrite + fdatasync loop: 4,800–8,800/s over the same runs); with 64 writers 24,000–38,000/s;
//!   `append_batch` of 4: 40,000–65,000 events/s; 1 writer: 5,900–8,800/s (one fdatasync each).
//! - Tried and not kept: two rounds in flight (the kernel merges concurrent flushes, 11,700 syncs/s against
//!   7,900 for one thread, but rounds shrank to ~2.7 events: 15,700–16,700/s); appenders parked and woken
//!   without the mutex (no change beyond noise); [`GATHER_MAX`] 40 µs instead of 100 (same).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::wal::{encode, Record, StateWrite, WalError, WalFile};
use super::{open_sled, SledOpenFailure};
use crate::outbox::{event_id, Event, EventClass};

/// The largest encoded event accepted: far below sled's blob threshold (so the event lives in the `db` file
/// that each commit fsyncs) and above any sane MQTT payload.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The largest state accepted by [`OutboxStore::append_with_state`]: below sled's blob threshold (a quarter of
/// its 512 KiB segment) with room for the key, for the same reason as [`MAX_EVENT_BYTES`]. A basket of ~150
/// lines fits.
pub const MAX_STATE_BYTES: usize = 112 * 1024;

/// The log file sled 0.34 writes all inline values to (see the module docs).
const LOG_FILE: &str = "db";

/// The write-ahead log, beside sled's files.
const WAL_FILE: &str = "wal";

/// The default size of the write-ahead log: about 25,000 sale-sized events between checkpoints, a few
/// milliseconds of zeros to write once at creation.
pub const DEFAULT_WAL_BYTES: u64 = 8 * 1024 * 1024;

/// The longest a leader waits for appenders to come back before it syncs ([`OutboxStore::gather`]): a fraction
/// of one fdatasync here (~150 µs), nothing next to one on an SD card (2–20 ms).
pub const GATHER_MAX: Duration = Duration::from_micros(100);

/// Acknowledgements gathered before they are written to the log (not synced) on their own.
pub const ACKS_PER_WRITE: usize = 64;

/// Acknowledgements after which such a write is also synced: at most about this many acknowledged events come
/// back after a power cut during a drain without appends (sent again, deduplicated by central), for one
/// fdatasync per this many acks.
pub const ACKS_PER_SYNC: usize = 1024;

const NEXT_SEQ_KEY: &[u8] = b"next_seq";
const WAL_GENERATION_KEY: &[u8] = b"wal_generation";
const EVENT_PREFIX: u8 = b'e';
/// The sled tree of named states.
const STATES_TREE: &str = "states";
/// Where sled 0.34 writes a page too large for its log (see `OutboxStore::checkpoint_sled`).
const BLOBS_DIR: &str = "blobs";

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
    /// The commit that should have made this append durable failed (in another appender's thread).
    #[error("outbox database {dir}: making {what} durable failed: {reason}")]
    Commit {
        /// Database directory.
        dir: PathBuf,
        /// What was not confirmed: "event <seq>…" or "state <key>".
        what: String,
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
    /// The write-ahead log cannot be written, synced or read back.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The state is larger than [`MAX_STATE_BYTES`]; nothing was written.
    #[error("outbox state {key:?} is {size} bytes, the limit is {MAX_STATE_BYTES}")]
    StateTooLarge {
        /// The state's key.
        key: String,
        /// Its size.
        size: usize,
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
///
/// Durability is tracked by *ticket*: every append (events, a state, or both) takes the next ticket under the
/// lock, in the order its frame is queued, so "ticket t is durable" means its frame and all before it are.
/// Seqs cannot serve: a state alone takes no seq.
#[derive(Debug)]
struct Commit {
    next_seq: u64,
    /// Every ticket up to this one is written to sled (appends are applied under the lock, in ticket order).
    written: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// Every event seq up to this one is durable (what the uplink may read).
    durable_seq: u64,
    /// Someone holds the write-ahead log right now (a leader syncing, an ack writer, a checkpoint): only they
    /// change `wal_offset` and `wal_generation`.
    syncing: bool,
    /// Log rounds (a write, with or without a sync, or a checkpoint) finished since open; the running one, if
    /// any, is number `round`.
    round: u64,
    /// The running round makes every ticket up to this one durable (it took their frames when it started).
    taken_through: u64,
    /// The last failed commit: tickets up to `.0` it was meant to cover, and why.
    failed: Option<(u64, String)>,
    /// Records applied to sled but not yet written to the log, in order.
    unwritten: Vec<Record>,
    /// The latest value of each state appended since the last checkpoint: written to sled only by the next
    /// checkpoint (see [`OutboxStore::append_with_state`]).
    pending_states: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    /// Acknowledgements among `unwritten`.
    unwritten_acks: usize,
    /// Acknowledgements since the last synced round.
    unsynced_acks: usize,
    /// Append calls among `unwritten`.
    unwritten_appends: u64,
    /// Append calls whose frames a write without a sync took since the last synced round.
    written_appends: u64,
    /// Append calls the last synced round confirmed: about as many callers are coming back with more.
    released_appends: u64,
    /// The leader is waiting until this many appends are unwritten before it takes the frames (see
    /// [`GATHER_MAX`]); 0 when it is not waiting.
    gathering: u64,
    /// Where the next frame goes.
    wal_offset: u64,
    /// The generation frames are written with (the one stored in sled as `wal_generation`).
    wal_generation: u64,
    /// A log write or sync failed: what it held is in doubt, so the next commit is a checkpoint.
    wal_broken: bool,
    /// Stored events and the sum of their encoded sizes.
    depth: u64,
    bytes: u64,
    /// Commits (log writes + fdatasync, or checkpoints) done since open: for the events-per-commit figure.
    commits: u64,
    /// Checkpoints done since open.
    checkpoints: u64,
}

/// What the holder of the log does with it.
enum LogWork {
    /// Write these frames at `offset`, then `fdatasync` when `sync`.
    Write { bytes: Vec<u8>, offset: u64, sync: bool },
    /// Make sled durable (flush + fdatasync) up to the `wal_generation` key just written, then start the log
    /// again at offset 0 with generation `next`.
    Checkpoint { next: u64 },
}

/// Tuning of [`OutboxStore::open_with`].
#[derive(Debug, Clone)]
pub struct OutboxOptions {
    /// sled's page cache.
    pub cache_bytes: u64,
    /// Size of the write-ahead log file: a checkpoint (sled flush + fdatasync) every time this much has been
    /// appended. [`DEFAULT_WAL_BYTES`] unless a test wants checkpoints sooner.
    pub wal_bytes: u64,
}

/// The outbox database. Share it between threads by reference or `Arc`; every method takes `&self`.
pub struct OutboxStore {
    dir: PathBuf,
    device_id: String,
    db: sled::Db,
    /// Named states ([`OutboxStore::append_with_state`]), in a tree of their own so that a large state never
    /// shares a sled page with events.
    states: sled::Tree,
    log: File,
    wal: WalFile,
    commit: Mutex<Commit>,
    /// Appenders waiting for round `r` wait on `round_done[r % 2]`: the end of a round wakes exactly those it
    /// made durable, plus one appender of the next round to lead it (a single condvar woke every waiter after
    /// every round, most of them only to sleep again: on 2 cores that was most of the cost).
    round_done: [Condvar; 2],
    /// Notified when the log is free: [`OutboxStore::sync`] waits here.
    log_free: Condvar,
    /// Notified by every append while the leader is gathering.
    arrived: Condvar,
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
    /// `device_id`, with a [`DEFAULT_WAL_BYTES`] log. See [`OutboxStore::open_with`].
    pub fn open(dir: &Path, cache_bytes: u64, device_id: &str) -> Result<OutboxStore, OutboxStoreError> {
        OutboxStore::open_with(
            dir,
            device_id,
            &OutboxOptions {
                cache_bytes,
                wal_bytes: DEFAULT_WAL_BYTES,
            },
        )
    }

    /// Opens (or creates) the outbox in `dir`: replays the write-ahead log into sled (what a crash left only
    /// there), checkpoints, reads the persisted counter and sums the stored events' sizes (the outbox is small:
    /// only what central has not acknowledged).
    ///
    /// A panic of sled while opening (sled issue 1533) is returned as [`OutboxStoreError::OpenPanicked`].
    pub fn open_with(dir: &Path, device_id: &str, options: &OutboxOptions) -> Result<OutboxStore, OutboxStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| OutboxStoreError::Io {
            op: "cannot create",
            path: dir.to_owned(),
            source,
        })?;
        let db = match open_sled(dir, options.cache_bytes) {
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
        let states = db.open_tree(STATES_TREE).map_err(|source| OutboxStoreError::Db {
            dir: dir.to_owned(),
            op: "open the states tree",
            source,
        })?;
        let log_path = dir.join(LOG_FILE);
        let log = File::open(&log_path).map_err(|source| OutboxStoreError::Io {
            op: "cannot open",
            path: log_path,
            source,
        })?;
        let wal = WalFile::open(&dir.join(WAL_FILE), options.wal_bytes)?;
        let mut store = OutboxStore {
            dir: dir.to_owned(),
            device_id: device_id.to_owned(),
            db,
            states,
            log,
            wal,
            commit: Mutex::new(Commit {
                next_seq: 1,
                written: 0,
                durable: 0,
                durable_seq: 0,
                syncing: false,
                round: 0,
                taken_through: 0,
                failed: None,
                unwritten: Vec::new(),
                pending_states: std::collections::BTreeMap::new(),
                unwritten_acks: 0,
                unsynced_acks: 0,
                unwritten_appends: 0,
                written_appends: 0,
                released_appends: 0,
                gathering: 0,
                wal_offset: 0,
                wal_generation: 0,
                wal_broken: false,
                depth: 0,
                bytes: 0,
                commits: 0,
                checkpoints: 0,
            }),
            round_done: [Condvar::new(), Condvar::new()],
            log_free: Condvar::new(),
            arrived: Condvar::new(),
        };
        let generation = match store
            .db
            .get(WAL_GENERATION_KEY)
            .map_err(store.db_err("read wal_generation"))?
        {
            None => 0,
            Some(bytes) => store.decode_u64("wal_generation", &bytes)?,
        };
        let replayed_through = store.replay(generation)?;
        let checkpointed_next = match store.db.get(NEXT_SEQ_KEY).map_err(store.db_err("read next_seq"))? {
            None => 1,
            Some(bytes) => store.decode_u64("next_seq", &bytes)?,
        };
        // Confirmed: below the last checkpoint's counter, or in a replayed frame. Anything above was written to
        // sled but never confirmed (its frame torn or never written; sled's background flush saved it anyway):
        // removed, so a batch survives whole or not at all, and its seqs may be handed out again (the uplink
        // only ever sent durable events, so nobody saw them).
        let confirmed_through = (checkpointed_next - 1).max(replayed_through);
        let (mut depth, mut bytes) = (0u64, 0u64);
        let mut unconfirmed = Vec::new();
        for entry in store.db.scan_prefix([EVENT_PREFIX]) {
            let (key, value) = entry.map_err(store.db_err("read events"))?;
            if store.decode_u64("event key", &key[1..])? > confirmed_through {
                unconfirmed.push(key);
                continue;
            }
            bytes += value.len() as u64;
            depth += 1;
        }
        for key in &unconfirmed {
            store
                .db
                .remove(key)
                .map_err(store.db_err("remove an unconfirmed event"))?;
        }
        if !unconfirmed.is_empty() {
            tracing::info!(
                dir = %dir.display(),
                count = unconfirmed.len(),
                "outbox: removed events that a crash interrupted before they were confirmed"
            );
        }
        let next_seq = confirmed_through + 1;
        let commit = store.commit.get_mut().unwrap_or_else(|p| p.into_inner());
        commit.next_seq = next_seq;
        commit.durable_seq = next_seq - 1;
        commit.depth = depth;
        commit.bytes = bytes;
        commit.wal_generation = generation;
        // The replayed records are in sled but not durable there, and new frames must not be mixed with the
        // old ones: checkpoint before anything else is appended.
        store.sync()?;
        Ok(store)
    }

    /// Applies the frames of `generation` to sled, in order; returns the highest seq they hold (0 if none).
    /// Idempotent: an event already stored is written again with the same bytes, an ack of a seq already gone
    /// removes nothing.
    fn replay(&self, generation: u64) -> Result<u64, OutboxStoreError> {
        let mut highest = 0u64;
        // Plain inserts and removes, in log order: a sled `Batch` per frame would seal sled's I/O buffer once per
        // frame (thousands after a crash with a full log), and the replay needs no atomicity of its own: it is
        // idempotent and followed by a checkpoint.
        self.wal.replay(generation, |record| {
            match record {
                Record::Events {
                    first_seq,
                    events,
                    state,
                } => {
                    for (seq, event) in (first_seq..).zip(events) {
                        self.db
                            .insert(event_key(seq), event)
                            .map_err(self.db_err("replay the write-ahead log"))?;
                        highest = highest.max(seq);
                    }
                    if let Some(state) = state {
                        self.states
                            .insert(state.key, state.value)
                            .map_err(self.db_err("replay the write-ahead log"))?;
                    }
                }
                Record::Acks(seqs) => {
                    for seq in seqs {
                        self.db
                            .remove(event_key(seq))
                            .map_err(self.db_err("replay the write-ahead log"))?;
                    }
                }
            }
            Ok::<(), OutboxStoreError>(())
        })?;
        Ok(highest)
    }

    /// The outbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends an event and returns it once it is durable (its log frame written and fdatasynced, possibly in
    /// a commit shared with other appenders). Nothing is written for an event over [`MAX_EVENT_BYTES`].
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
    /// are all durable: one log frame (all or none survive a crash) and one share of a commit, so a caller
    /// that produces several events together (a sale, its payment, its receipt) pays for one commit, not one
    /// each. Nothing is written if any event is over [`MAX_EVENT_BYTES`]; an empty batch writes nothing.
    /// Errors after the write have the same meaning as for [`OutboxStore::append`].
    pub fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, OutboxStoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.append_with_state(events, None)
    }

    /// Appends `events` (possibly none) and replaces the state `key` with `value`, in one log frame: after a
    /// crash either the events *and* the state are there, or neither. Returns once durable (one share of a
    /// group commit, like [`OutboxStore::append_batch`]). The self-checkout keeps its basket this way, so that
    /// a sale's event and the basket that says "sold" can never disagree. Read it back with
    /// [`OutboxStore::state`]. Nothing is written if an event is over [`MAX_EVENT_BYTES`] or the value over
    /// [`MAX_STATE_BYTES`].
    pub fn append_with_state(
        &self,
        events: Vec<NewEvent>,
        state: Option<(&str, Vec<u8>)>,
    ) -> Result<Vec<Event>, OutboxStoreError> {
        if events.is_empty() && state.is_none() {
            return Ok(Vec::new());
        }
        if let Some((key, value)) = &state {
            if value.len() > MAX_STATE_BYTES {
                return Err(OutboxStoreError::StateTooLarge {
                    key: (*key).to_owned(),
                    size: value.len(),
                });
            }
        }
        let mut encoded = Vec::with_capacity(events.len());
        let mut stored = Vec::with_capacity(events.len());
        let mut commit = self.lock();
        let first = commit.next_seq;
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
            let bytes = serde_json::to_vec(&event).expect("an Event of JSON values always serialises");
            if bytes.len() > MAX_EVENT_BYTES {
                // Nothing has been written yet: no seq is used.
                return Err(OutboxStoreError::TooLarge {
                    kind: event.kind,
                    size: bytes.len(),
                });
            }
            added_bytes += bytes.len() as u64;
            encoded.push(bytes);
            stored.push(event);
        }
        // Plain inserts, not a sled `Batch`: applying a batch seals sled's I/O buffer and has its pool write
        // and `sync_file_range` it, one disk write per append. All-or-nothing comes from the log frame instead
        // (see "After a crash"). Under the lock, so events land in seq order, in sled and in the log.
        let undo = |through: u64| {
            // Best effort: sled is failing. No half batch stays behind.
            for earlier in first..through {
                let _ = self.db.remove(event_key(earlier));
            }
        };
        for (seq, bytes) in (first..).zip(&encoded) {
            if let Err(e) = self.db.insert(event_key(seq), &bytes[..]) {
                undo(seq);
                return Err(self.db_err("write event")(e));
            }
        }
        let count = stored.len() as u64;
        let state = match state {
            None => None,
            Some((key, value)) => {
                // Not into sled yet: sled writes its buffers back on its own schedule, and a state it saved
                // before the frame is durable would survive a crash that removes the frame's events. Kept here
                // until the next checkpoint; after a crash the log replays it.
                commit.pending_states.insert(key.as_bytes().to_vec(), value.clone());
                Some(StateWrite {
                    key: key.as_bytes().to_vec(),
                    value,
                })
            }
        };
        let what = match (count, &state) {
            (0, Some(state)) => format!("state {:?}", String::from_utf8_lossy(&state.key)),
            (1, _) => format!("event {first}"),
            _ => format!("events {first}..={}", first + count - 1),
        };
        commit.unwritten.push(Record::Events {
            first_seq: first,
            events: encoded,
            state,
        });
        commit.unwritten_appends += 1;
        // Only the arrival the leader waits for wakes it: each wake-up costs a context switch.
        if commit.gathering != 0 && commit.unwritten_appends >= commit.gathering {
            self.arrived.notify_one();
        }
        commit.next_seq = first + count;
        commit.depth += count;
        commit.bytes += added_bytes;
        commit.written += 1;
        let ticket = commit.written;
        drop(self.wait_durable(commit, ticket, what)?);
        Ok(stored)
    }

    /// The state last written under `key` by [`OutboxStore::append_with_state`] (after a crash: the last one
    /// confirmed, or a later one whose frame reached the disk whole).
    pub fn state(&self, key: &str) -> Result<Option<Vec<u8>>, OutboxStoreError> {
        if let Some(pending) = self.lock().pending_states.get(key.as_bytes()) {
            return Ok(Some(pending.clone()));
        }
        Ok(self
            .states
            .get(key.as_bytes())
            .map_err(self.db_err("read state"))?
            .map(|v| v.to_vec()))
    }

    /// Blocks until `ticket` is durable, leading a commit when none is running. `what` names the append in
    /// an error.
    fn wait_durable<'a>(
        &'a self,
        mut commit: MutexGuard<'a, Commit>,
        ticket: u64,
        what: String,
    ) -> Result<MutexGuard<'a, Commit>, OutboxStoreError> {
        // Whether this append came straight in (rather than being woken to lead the next round).
        let mut fresh = true;
        loop {
            if commit.durable >= ticket {
                return Ok(commit);
            }
            if let Some((upto, reason)) = &commit.failed {
                if *upto >= ticket {
                    return Err(OutboxStoreError::Commit {
                        dir: self.dir.clone(),
                        what,
                        reason: reason.clone(),
                    });
                }
            }
            if commit.syncing {
                let round = if commit.taken_through >= ticket {
                    commit.round
                } else {
                    commit.round + 1
                };
                commit = self.round_done[(round % 2) as usize]
                    .wait(commit)
                    .unwrap_or_else(|p| p.into_inner());
                fresh = false;
                continue;
            }
            commit = self.gather(commit, fresh);
            let result;
            (commit, result) = self.lead(commit, false, true);
            result?;
        }
    }

    /// Before leading a round, waits (at most [`GATHER_MAX`], holding the log so nobody else leads) until the
    /// appenders the last round released have had a chance to come back with their next events.
    ///
    /// Without this, writers settle into two halves: the round that ends wakes its half, while the next round
    /// starts at once with only the other half (those that appended during the sync), so each sync covers
    /// half the writers. Expected: the appends waiting now plus those the last round released, less this one
    /// if it is one of them (it came straight in). A lone writer expects only itself and never waits.
    fn gather<'a>(&'a self, mut commit: MutexGuard<'a, Commit>, fresh: bool) -> MutexGuard<'a, Commit> {
        let want = (commit.released_appends + commit.unwritten_appends).saturating_sub(u64::from(fresh));
        if commit.unwritten_appends >= want {
            return commit;
        }
        commit.syncing = true;
        commit.gathering = want;
        // Whoever appends meanwhile will be in this round.
        commit.taken_through = u64::MAX;
        let deadline = Instant::now() + GATHER_MAX;
        while commit.unwritten_appends < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            commit = self
                .arrived
                .wait_timeout(commit, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        commit.gathering = 0;
        commit.syncing = false;
        commit
    }

    /// Takes the log (the caller saw `syncing` false), writes what is unwritten (or checkpoints: when
    /// `checkpoint`, when it does not fit, or after a failure), syncs when `sync`, and returns the lock with
    /// the outcome. Others keep appending to sled meanwhile; only the log waits for its holder.
    fn lead<'a>(
        &'a self,
        mut commit: MutexGuard<'a, Commit>,
        checkpoint: bool,
        sync: bool,
    ) -> (MutexGuard<'a, Commit>, Result<(), OutboxStoreError>) {
        debug_assert!(!commit.syncing);
        let target = commit.written;
        let target_seq = commit.next_seq - 1;
        let records = std::mem::take(&mut commit.unwritten);
        commit.unwritten_acks = 0;
        let appends = std::mem::take(&mut commit.unwritten_appends);
        let mut bytes = Vec::new();
        encode(&records, commit.wal_generation, &mut bytes);
        let fits = commit.wal_offset + bytes.len() as u64 <= self.wal.capacity();
        let work = if checkpoint || commit.wal_broken || !fits {
            let next = commit.wal_generation + 1;
            // Written under the lock, so in sled they come after every event and ack written so far: a sled
            // that holds them durably holds those too, and the log of the old generation is no longer needed.
            // States go to sled now, under the lock, before the keys: the checkpoint makes them durable with
            // everything else it covers.
            // Cleared only once all are in: after a failure they stay pending for the next checkpoint.
            for (key, value) in &commit.pending_states {
                if let Err(e) = self.states.insert(&key[..], &value[..]) {
                    let promised = if sync { target } else { commit.durable };
                    commit.failed = Some((promised, e.to_string()));
                    commit.wal_broken = true;
                    self.round_done.iter().for_each(Condvar::notify_all);
                    self.log_free.notify_all();
                    return (commit, Err(self.db_err("write a state")(e)));
                }
            }
            commit.pending_states.clear();
            let mut keys = sled::Batch::default();
            keys.insert(NEXT_SEQ_KEY, &commit.next_seq.to_be_bytes()[..]);
            keys.insert(WAL_GENERATION_KEY, &next.to_be_bytes()[..]);
            if let Err(e) = self.db.apply_batch(keys) {
                // Fails only what this round promised: an ack's opportunistic round promised nothing, and
                // the next round is a checkpoint again (`wal_broken`).
                let promised = if sync { target } else { commit.durable };
                commit.failed = Some((promised, e.to_string()));
                commit.wal_broken = true;
                // Waiters of this round were counting on it; `sync` may be waiting for the log.
                self.round_done.iter().for_each(Condvar::notify_all);
                self.log_free.notify_all();
                return (commit, Err(self.db_err("write the checkpoint keys")(e)));
            }
            LogWork::Checkpoint { next }
        } else {
            LogWork::Write {
                bytes,
                offset: commit.wal_offset,
                sync,
            }
        };
        // A write without a sync makes nothing durable: its waiters wait for the next round.
        let makes_durable = sync || matches!(work, LogWork::Checkpoint { .. });
        commit.taken_through = if makes_durable { target } else { commit.durable };
        commit.syncing = true;
        drop(commit);
        let result = match &work {
            LogWork::Write { bytes, offset, sync } => self
                .wal
                .write_at(bytes, *offset)
                .and_then(|()| if *sync { self.wal.sync_data() } else { Ok(()) })
                .map_err(OutboxStoreError::from),
            LogWork::Checkpoint { .. } => self.checkpoint_sled(),
        };
        let mut commit = self.lock();
        commit.syncing = false;
        match (&result, work) {
            (Ok(()), LogWork::Write { bytes, sync, .. }) => {
                commit.wal_offset += bytes.len() as u64;
                if sync {
                    commit.durable = commit.durable.max(target);
                    commit.durable_seq = commit.durable_seq.max(target_seq);
                    commit.unsynced_acks = 0;
                    commit.commits += 1;
                    commit.released_appends = appends + std::mem::take(&mut commit.written_appends);
                } else {
                    commit.written_appends += appends;
                }
            }
            (Ok(()), LogWork::Checkpoint { next }) => {
                commit.wal_generation = next;
                commit.wal_offset = 0;
                commit.wal_broken = false;
                commit.durable = commit.durable.max(target);
                commit.durable_seq = commit.durable_seq.max(target_seq);
                commit.unsynced_acks = 0;
                commit.commits += 1;
                commit.checkpoints += 1;
                commit.released_appends = appends + std::mem::take(&mut commit.written_appends);
            }
            (Err(e), _) => {
                // Only what this round promised fails (a write without a sync promised nothing); the rest is
                // covered by the next round, a checkpoint.
                commit.failed = Some((commit.taken_through.min(target), e.to_string()));
                commit.wal_broken = true;
            }
        }
        let round = commit.round;
        commit.round += 1;
        if result.is_err() {
            // Every waiter must look: the failure may be theirs.
            self.round_done.iter().for_each(Condvar::notify_all);
        } else {
            self.round_done[(round % 2) as usize].notify_all();
            if commit.written > commit.durable {
                // Appenders of the next round are waiting: one of them leads it.
                self.round_done[((round + 1) % 2) as usize].notify_one();
            }
        }
        self.log_free.notify_all();
        (commit, result)
    }

    /// sled `flush`, then `fdatasync` of its log file and of any blob file (see the module docs).
    ///
    /// sled writes a *page* (a node with up to 16 entries, not one value) larger than a quarter of its segment
    /// to `blobs/<lsn>` instead of its log, and never syncs those files. Events and states are capped far below
    /// that, but a page of several large ones could still cross it, so the blobs present are synced too (none,
    /// normally: listing an empty directory costs nothing next to the flush).
    fn checkpoint_sled(&self) -> Result<(), OutboxStoreError> {
        self.db.flush().map_err(self.db_err("flush"))?;
        let io = |op, path: PathBuf| move |source| OutboxStoreError::Io { op, path, source };
        self.log
            .sync_data()
            .map_err(io("cannot fdatasync", self.dir.join(LOG_FILE)))?;
        let blobs = self.dir.join(BLOBS_DIR);
        let entries = match std::fs::read_dir(&blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("cannot list", blobs)(e)),
        };
        let mut any = false;
        for entry in entries {
            let path = entry.map_err(io("cannot list", blobs.clone()))?.path();
            match File::open(&path).and_then(|f| f.sync_data()) {
                Ok(()) => any = true,
                // sled removes blobs it no longer needs while we list.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("cannot fdatasync", path)(e)),
            }
        }
        if any {
            crate::durable::sync_dir(&blobs).map_err(io("cannot fsync", blobs))?;
        }
        Ok(())
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
        let durable = self.lock().durable_seq;
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

    /// Deletes an acknowledged event (a seq not stored is ignored). Not synced on its own: the deletion is
    /// logged; the log is written every [`ACKS_PER_WRITE`] acks (without a sync: the kernel writes it back
    /// within seconds) and synced every [`ACKS_PER_SYNC`] acks, with the next commit, or by
    /// [`OutboxStore::sync`]. Losing it in a crash only means a re-send that central deduplicates by id.
    pub fn ack(&self, seq: u64) -> Result<(), OutboxStoreError> {
        // Under the lock, so `bytes` always matches what is stored and the log keeps sled's order.
        let mut commit = self.lock();
        if let Some(old) = self.db.remove(event_key(seq)).map_err(self.db_err("delete event"))? {
            commit.depth -= 1;
            commit.bytes -= old.len() as u64;
            match commit.unwritten.last_mut() {
                Some(Record::Acks(seqs)) => seqs.push(seq),
                _ => commit.unwritten.push(Record::Acks(vec![seq])),
            }
            commit.unwritten_acks += 1;
            commit.unsynced_acks += 1;
        }
        // Written now and then, and synced more rarely, so that a crash or power cut after a long drain without
        // appends does not bring back what central already has. A failure here is the next commit's to report
        // (it checkpoints instead).
        if commit.unwritten_acks >= ACKS_PER_WRITE && !commit.syncing {
            let sync = commit.unsynced_acks >= ACKS_PER_SYNC;
            let _ = self.lead(commit, false, sync);
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

    /// Commits (a log write + fdatasync, or a checkpoint) made since open; appends per commit = appends / this.
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    /// Checkpoints (sled flush + fdatasync, the log started again) made since open, including the one at open.
    pub fn checkpoints(&self) -> u64 {
        self.lock().checkpoints
    }

    /// Bytes of stored events (the budget's `used`).
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Makes everything written so far durable in sled itself, acks included (a checkpoint: the log starts
    /// again empty), then fsyncs every file and directory of the outbox (a handful). Call it before closing.
    pub fn sync(&self) -> Result<(), OutboxStoreError> {
        let mut commit = self.lock();
        while commit.syncing {
            commit = self.log_free.wait(commit).unwrap_or_else(|p| p.into_inner());
        }
        let (commit, result) = self.lead(commit, true, true);
        drop(commit);
        result?;
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
