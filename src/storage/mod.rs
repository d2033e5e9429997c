//! Durable storage: the only module that names sled. Everything else sees the catalog through
//! [`CatalogStore`] and imports through [`Storage::import_file`]; the outbox of events for central is
//! [`outbox_store`], a separate sled database.
//!
//! # Layout
//! `Storage::open(dir)` keeps the sled database in `dir/db` and, only while an import is being applied, the
//! accepted lines in `dir/import-pending.jsonl` (and the SKUs to delete in `dir/import-pending-delete.txt`).
//! One sled tree `catalog` holds:
//! - `p/<sku>` → the product (JSON),
//! - `g/<gtin-14>` → sku and `i/<item code>` → sku,
//!
//! Readers do not use these trees: after every committed import the catalog is written out as an immutable
//! [`CatalogSnapshot`] (`dir/catalog.snap`), and lookups and search are served from it. sled is the durable,
//! transactional source of truth; the snapshot is its read side (faster, smaller in memory, one version at a
//! time). See [`crate::snapshot`] for why.
//!
//! and a tree `meta`: `layout`, `version` (local, +1 per committed import or update: the snapshot file's
//! version), `count` and `central_version` (the last central catalog version applied; absent = 0) as u64
//! big-endian, and `pending` while applying.
//!
//! # Imports and central updates are all-or-nothing, and survive a crash
//! A local import ([`Storage::import_file`]) and a signed central update ([`Storage::apply_central`], a delta
//! or a whole snapshot, see [`crate::catalog::update`]) go through the same steps:
//! 1. Check: every line is parsed and checked ([`crate::catalog::import`]), and GTINs and item codes are
//!    checked against the stored products (a code may only move to a product from a stored one that the file
//!    also updates, or that a delta deletes; a snapshot replaces every product, so it skips this check).
//!    Accepted lines are copied to `import-pending.jsonl`; the SKUs to remove (a delta's `delete` that are
//!    stored; for a snapshot, every stored SKU it does not list) to `import-pending-delete.txt`. Nothing is
//!    written to the database. If any line is refused, the copy is deleted and the summary lists every refusal.
//!    A central update is also refused here, before anything is written, when it is out of sequence: a delta
//!    must start at the stored `central_version`, a snapshot must be newer than it.
//! 2. Decide: both files are fsynced (and their directory), then `meta/pending` (final count, version, central
//!    version and how many deletions) is written and made durable. This is the commit point of the decision.
//! 3. Apply: the products in the copy are written with their index keys; keys the old version had and the
//!    new one does not are removed; then each listed SKU is removed, its index keys first and its record last.
//!    Rewriting a product is idempotent, and so is removing one (a replay finds the record if any of its keys
//!    may remain, and nothing once it is gone), so this can be replayed.
//! 4. Commit: `version`, `count` (and `central_version` for a central update) are set and `pending` removed in
//!    one atomic batch, made durable; only then is the update reported done, the snapshot file rebuilt and the
//!    copies deleted.
//!
//! What a crash (or SIGKILL, or power cut) leaves:
//! - before the `pending` marker is durable: the previous catalog, untouched; the next open deletes the copies;
//! - after it: the next open replays 3 and 4 and the catalog is the complete new version;
//! - readers never see a mix: they read `catalog.snap`, which is only rebuilt after step 4, written to a
//!   temporary file, fsynced and renamed over the old one; one reader holds one whole version. A stale snapshot
//!   (a crash between 4 and the rebuild) has an older version than `meta/version` and is rebuilt at open.
//!
//! On a normal start neither file nor marker exists, so opening is O(1) in catalog size.
//!
//! Why this shape, measured with sled 0.34.7 (release build, 2-core VM): sled's `Batch` keeps every key of the
//! batch in memory and then some (1.5 M small keys in batches of 7 500: 6.8 GB RSS), so one batch for a
//! 100 000-product import is out; single inserts cost about 7–15 µs each and the process grows by 20–35 MB
//! beyond `cache_capacity` while writing, so the import does as few writes as it can (one per product, GTIN
//! and search record): no staging tree (a plain file is written sequentially for a fraction of the cost), no
//! per-word index (1.2 M keys took 20 s), no copied "generation" of the catalog per import.
//!
//! Lookups and search read the snapshot, never these trees: see [`crate::snapshot`] for the measurements
//! behind that (sled's tail latency with a small cache, and its resident page table).
//!
//! A local import is upserts by SKU: products missing from the file stay, so a file with ten price changes is
//! a complete import, and it never changes `central_version`. Products are removed only by central: a delta's
//! `delete` list, or a snapshot, which replaces the whole catalog (products it does not list are deleted with
//! their GTIN and item-code keys).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::barcode::Gtin;
use crate::catalog::import::{parse_product, LineReader, Validator};
use crate::catalog::update::{AppliedKind, Delta, RejectReason, UpdateError};
use crate::catalog::{CatalogStore, ImportSummary, Product, StoreError};
use crate::snapshot::{CatalogSnapshot, SnapshotError};

pub mod outbox_store;
pub mod wal;

/// Layout described in the module docs. Bump when it changes incompatibly.
const LAYOUT: u64 = 1;

/// The sled database, inside the storage directory.
const DB_DIR: &str = "db";

/// The accepted lines of the import being applied, inside the storage directory.
const PENDING_FILE: &str = "import-pending.jsonl";

/// The SKUs a central update removes, while it is being applied, inside the storage directory.
const DELETE_FILE: &str = "import-pending-delete.txt";

/// The read-side snapshot of the committed catalog, beside the database.
const SNAPSHOT_FILE: &str = "catalog.snap";

/// A storage failure, naming the directory or the operation.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The catalog snapshot could not be written or read.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// sled refused to open the database (locked by another process, unreadable, corrupt…).
    #[error("cannot open the catalog database in {dir}: {source}")]
    Open {
        /// Database directory.
        dir: PathBuf,
        /// What sled said.
        source: sled::Error,
    },
    /// sled panicked while opening: seen with sled 0.34 after some abrupt stops (sled issue 1533).
    #[error(
        "the catalog database in {dir} is damaged (the database engine crashed opening it: {message}); \
         move the directory away and import the catalog again"
    )]
    OpenPanicked {
        /// Database directory.
        dir: PathBuf,
        /// The panic message.
        message: String,
    },
    /// The database was written by an incompatible version of omnigate.
    #[error("the catalog database in {dir} has layout {found}, this omnigate reads layout {LAYOUT}")]
    Layout {
        /// Database directory.
        dir: PathBuf,
        /// Layout found.
        found: u64,
    },
    /// A database operation failed.
    #[error("catalog database {dir}: {op}: {source}")]
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
    /// A stored record cannot be decoded.
    #[error("catalog database {dir}: corrupt record {key}: {reason}")]
    Corrupt {
        /// Database directory.
        dir: PathBuf,
        /// The key (or file and line), printable.
        key: String,
        /// Why it cannot be read.
        reason: String,
    },
}

impl StorageError {
    /// The database files themselves are damaged (sled panicked or reported corruption while opening): moving
    /// them aside and starting again is the way out. A lock held by another process, a permission problem or a
    /// newer layout are not damage, and must never cost the catalog.
    pub fn is_damaged_database(&self) -> bool {
        match self {
            StorageError::OpenPanicked { .. } => true,
            StorageError::Open { source, .. } => matches!(source, sled::Error::Corruption { .. }),
            _ => false,
        }
    }
}

impl From<StorageError> for StoreError {
    fn from(e: StorageError) -> StoreError {
        match e {
            StorageError::Corrupt { key, reason, .. } => StoreError::Corrupt { key, reason },
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// Import progress, for a progress bar. Checking counts bytes of the file, applying counts products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    /// Which pass.
    pub phase: ImportPhase,
    /// Done so far (bytes while checking, products while applying).
    pub done: u64,
    /// Total (file size in bytes, 0 when unknown, while checking; products while applying).
    pub total: u64,
}

/// The passes of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPhase {
    /// Reading and checking every line.
    Checking,
    /// Writing the checked products.
    Applying,
}

impl std::fmt::Display for ImportPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImportPhase::Checking => "checking",
            ImportPhase::Applying => "applying",
        })
    }
}

/// The decision to apply `import-pending.jsonl` (and `import-pending-delete.txt`), written before applying:
/// what to commit afterwards. The fields added for central updates default, so a marker written by an older
/// omnigate still replays.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    imported: u64,
    updated: u64,
    count: u64,
    version: u64,
    /// The central version to commit with it (a central delta or snapshot); `None` for a local import.
    #[serde(default)]
    central_version: Option<u64>,
    /// Stored products listed in the delete file.
    #[serde(default)]
    deleted: u64,
}

/// What [`Storage::stage`] is staging.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// A local import: upserts only.
    Import,
    /// A central delta to central version `to`: upserts, and these SKUs removed.
    Delta { to: u64, delete: &'a [String] },
    /// A central snapshot of central version `to` with `expected` products: the whole catalog.
    Snapshot { to: u64, expected: u64 },
}

/// Why nothing was applied.
enum Refusal {
    /// Refused lines, with their 1-based numbers.
    Lines(Vec<(u64, String)>),
    /// The update as a whole.
    Update(UpdateError),
}

/// The outcome of staging.
enum Staged {
    Refused(Refusal),
    Applied(Pending),
}

/// A verified central update for [`Storage::apply_central`] (see [`crate::catalog::update`]).
pub enum CentralUpdate<'a> {
    /// A delta, already decoded and checked by [`Delta::decode`].
    Delta(&'a Delta),
    /// A whole catalog as JSON Lines (the inflated snapshot blob, e.g. from
    /// [`crate::catalog::update::inflate_capped`]).
    Snapshot {
        /// Its central version.
        version: u64,
        /// The product count of the signed manifest; a different count of lines is `corrupt`.
        products: u64,
        /// The lines; a read error is a damaged (`corrupt`) or oversized (`too_large`) snapshot.
        lines: &'a mut dyn BufRead,
    },
    /// A snapshot central asked the device to re-apply (`resync_catalog` command): like `Snapshot`, but the
    /// version may equal the stored one, to repair a catalog changed locally since.
    Resync {
        /// Its central version (at least the stored one).
        version: u64,
        /// The product count of the signed manifest.
        products: u64,
        /// The lines.
        lines: &'a mut dyn BufRead,
    },
}

/// Whether an update must move the central version forward or may re-apply the current one.
enum TargetKind {
    Forward,
    Resync,
}

/// The outcome of [`Storage::apply_central`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CentralApplied {
    /// Committed: the catalog is now at central `version`, with `products` products.
    Applied {
        /// Central version now stored.
        version: u64,
        /// Products in the catalog.
        products: u64,
        /// Delta or snapshot.
        kind: AppliedKind,
    },
    /// Nothing was written; report it as `catalog.rejected`.
    Refused(UpdateError),
}

/// How often (in bytes read or products written) progress is reported.
const PROGRESS_EVERY_BYTES: u64 = 256 * 1024;
const PROGRESS_EVERY_PRODUCTS: u64 = 1024;

/// The catalog database.
pub struct Storage {
    dir: PathBuf,
    db: sled::Db,
    catalog: sled::Tree,
    meta: sled::Tree,
    /// One import at a time: they share the pending file.
    import_lock: Mutex<()>,
    /// The snapshot of the committed catalog, swapped whole after each commit: readers see one version at a time.
    snapshot: RwLock<Arc<CatalogSnapshot>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Why sled would not open a database.
pub(crate) enum SledOpenFailure {
    /// sled returned an error (locked by another process, unreadable, corrupt…).
    Error(sled::Error),
    /// sled panicked while recovering (sled issue 1533, after some abrupt stops); the panic message.
    Panicked(String),
}

/// Opens a sled database at `path` with an explicit cache (sled's default of 1 GiB would take a Pi's memory),
/// turning a recovery panic into an error so the caller can move the damaged directory aside instead of
/// crash-looping.
///
/// sled 0.34 releases its file lock from a background thread some moments after the last handle is dropped
/// (sled issues 1234, 1289), so reopening a database this process just closed can fail with "could not acquire
/// lock". That failure is retried for up to [`LOCK_RELEASE_WAIT`]; a database another process keeps open
/// still fails, after that wait.
pub(crate) fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, SledOpenFailure> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .mode(sled::Mode::LowSpace);
    let deadline = std::time::Instant::now() + LOCK_RELEASE_WAIT;
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        match catch_unwind(AssertUnwindSafe(|| config.open())) {
            Ok(Err(e)) if is_lock_held(&e) && std::time::Instant::now() < deadline => {
                // A back-off between attempts, not a wait for a known event: sled gives no signal when its
                // flusher thread lets go of the lock.
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            outcome => return sled_outcome(outcome),
        }
    }
}

/// How long [`open_sled`] keeps retrying a lock that sled may still be releasing.
const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether sled refused to open because the directory's lock is held (here by a closing handle, or by
/// another process). sled wraps the `flock` error in a message, so the words are all there is to go by.
fn is_lock_held(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

fn sled_outcome(outcome: std::thread::Result<sled::Result<sled::Db>>) -> Result<sled::Db, SledOpenFailure> {
    match outcome {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(SledOpenFailure::Error(e)),
        Err(panic) => Err(SledOpenFailure::Panicked(
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned()),
        )),
    }
}

impl Storage {
    /// Opens (or creates) the catalog in `dir` with a sled page cache of `cache_capacity_bytes`. sled's default
    /// of 1 GiB would take a Pi's memory. Right after opening the process holds about 14 MB whatever the catalog
    /// size; with use it grows to roughly the cache plus 30 MB (measured at 100 000 products).
    /// Finishes an import that a crash interrupted while applying; otherwise reads nothing of the catalog.
    ///
    /// sled 0.34 can panic while opening a database left by an abrupt stop (sled issue 1533); that panic is
    /// caught and returned as [`StorageError::OpenPanicked`] so the caller can decide (move the directory
    /// aside, re-import) instead of crash-looping. Another process holding the database gives
    /// [`StorageError::Open`].
    pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<Storage, StorageError> {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
            op: "cannot create",
            path: dir.to_owned(),
            source,
        })?;
        let db = match open_sled(&dir.join(DB_DIR), cache_capacity_bytes) {
            Ok(db) => db,
            Err(SledOpenFailure::Error(source)) => {
                return Err(StorageError::Open {
                    dir: dir.to_owned(),
                    source,
                })
            }
            Err(SledOpenFailure::Panicked(message)) => {
                return Err(StorageError::OpenPanicked {
                    dir: dir.to_owned(),
                    message,
                })
            }
        };
        let db_err = |op| {
            move |source| StorageError::Db {
                dir: dir.to_owned(),
                op,
                source,
            }
        };
        let catalog = db.open_tree("catalog").map_err(db_err("open tree catalog"))?;
        let meta = db.open_tree("meta").map_err(db_err("open tree meta"))?;
        let storage = Storage {
            dir: dir.to_owned(),
            db,
            catalog,
            meta,
            import_lock: Mutex::new(()),
            snapshot: RwLock::new(Arc::new(CatalogSnapshot::empty())),
        };

        match storage.meta_u64("layout")? {
            None => {
                storage
                    .meta
                    .insert("layout", &LAYOUT.to_be_bytes())
                    .map_err(db_err("write layout"))?;
            }
            Some(LAYOUT) => {}
            Some(found) => {
                return Err(StorageError::Layout {
                    dir: dir.to_owned(),
                    found,
                })
            }
        }
        if let Some(bytes) = storage.meta.get("pending").map_err(db_err("read pending import"))? {
            let pending: Pending = storage.decode("meta/pending", &bytes)?;
            tracing::warn!(dir = %dir.display(), "finishing a catalog import interrupted by a stop");
            storage.apply(&pending, &|_| {})?;
        } else {
            storage.remove_pending_file()?;
            storage.remove_delete_file()?;
        }
        storage.load_snapshot()?;
        Ok(storage)
    }

    /// The storage directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Imports a JSON Lines file (see [`crate::catalog::import`]), streaming it. Returns the summary; when
    /// `rejected` is not empty nothing was applied. `Err` only for I/O or database failures, naming the file.
    pub fn import_file(&self, path: &Path, progress: &dyn Fn(ImportProgress)) -> Result<ImportSummary, StorageError> {
        let io_err = |op| {
            move |source| StorageError::Io {
                op,
                path: path.to_owned(),
                source,
            }
        };
        let file = File::open(path).map_err(io_err("cannot open"))?;
        let size = file.metadata().map_err(io_err("cannot read metadata of"))?.len();
        self.import_reader(BufReader::with_capacity(256 * 1024, file), path, size, progress)
    }

    /// Imports JSON Lines from any reader (`name` is used in error messages, `total_bytes` only for `progress`,
    /// 0 when unknown).
    pub fn import_reader(
        &self,
        reader: impl BufRead,
        name: &Path,
        total_bytes: u64,
        progress: &dyn Fn(ImportProgress),
    ) -> Result<ImportSummary, StorageError> {
        // A poisoned lock only means an earlier import panicked; the pending file is rewritten from scratch.
        let _one_at_a_time = self.import_lock.lock().unwrap_or_else(|p| p.into_inner());
        match self.stage(reader, name, total_bytes, progress, Mode::Import)? {
            Staged::Refused(Refusal::Lines(rejected)) => Ok(ImportSummary {
                imported: 0,
                updated: 0,
                rejected,
                version: self.version_u64()?,
            }),
            Staged::Refused(Refusal::Update(e)) => Ok(ImportSummary {
                imported: 0,
                updated: 0,
                rejected: vec![(0, e.detail)],
                version: self.version_u64()?,
            }),
            Staged::Applied(pending) => Ok(ImportSummary {
                imported: pending.imported,
                updated: pending.updated,
                rejected: Vec::new(),
                version: pending.version,
            }),
        }
    }

    /// The central catalog version applied last (0 when none: only local imports, or nothing at all).
    pub fn central_version(&self) -> Result<u64, StorageError> {
        Ok(self.meta_u64("central_version")?.unwrap_or(0))
    }

    /// Applies a verified central update all-or-nothing, with the same crash protocol as an import (see the
    /// module docs): a delta must start at the stored central version; a snapshot must be newer than it and
    /// replaces the whole catalog. A refusal (a bad product, out of order, rollback, a damaged or oversized
    /// snapshot stream) writes nothing and is `Ok(CentralApplied::Refused)`; `Err` is a storage failure.
    pub fn apply_central(&self, update: CentralUpdate<'_>) -> Result<CentralApplied, StorageError> {
        let _one_at_a_time = self.import_lock.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.central_version()?;
        let target_kind = match &update {
            CentralUpdate::Resync { .. } => TargetKind::Resync,
            _ => TargetKind::Forward,
        };
        let target = match &update {
            CentralUpdate::Delta(d) => d.version,
            CentralUpdate::Snapshot { version, .. } | CentralUpdate::Resync { version, .. } => *version,
        };
        let (kind, staged) = match update {
            CentralUpdate::Delta(delta) => {
                if delta.from_version != current {
                    let reason = if delta.version <= current {
                        RejectReason::Rollback
                    } else {
                        RejectReason::OutOfOrder
                    };
                    return Ok(CentralApplied::Refused(
                        UpdateError::new(
                            reason,
                            format!(
                                "catalog.delta {} → {}: the stored catalog is at central version {current}",
                                delta.from_version, delta.version
                            ),
                        )
                        .at(delta.version),
                    ));
                }
                let mut lines = Vec::new();
                for p in &delta.upsert {
                    serde_json::to_writer(&mut lines, p).expect("a product always serialises");
                    lines.push(b'\n');
                }
                let name = format!("catalog.delta {}", delta.version);
                let mode = Mode::Delta {
                    to: delta.version,
                    delete: &delta.delete,
                };
                (
                    AppliedKind::Delta,
                    self.stage(lines.as_slice(), Path::new(&name), 0, &|_| {}, mode)?,
                )
            }
            CentralUpdate::Snapshot {
                version,
                products,
                lines,
            }
            | CentralUpdate::Resync {
                version,
                products,
                lines,
            } => {
                let resync = matches!(target_kind, TargetKind::Resync);
                if version < current || (version == current && !resync) {
                    return Ok(CentralApplied::Refused(
                        UpdateError::new(
                            RejectReason::Rollback,
                            format!("catalog.snapshot {version}: the stored catalog is at central version {current}"),
                        )
                        .at(version),
                    ));
                }
                let name = format!("catalog.snapshot {version}");
                let mode = Mode::Snapshot {
                    to: version,
                    expected: products,
                };
                (
                    AppliedKind::Snapshot,
                    self.stage(lines, Path::new(&name), 0, &|_| {}, mode)?,
                )
            }
        };
        Ok(match staged {
            Staged::Applied(p) => CentralApplied::Applied {
                version: p.central_version.unwrap_or(target),
                products: p.count,
                kind,
            },
            Staged::Refused(Refusal::Update(e)) => CentralApplied::Refused(e.at(target)),
            Staged::Refused(Refusal::Lines(lines)) => {
                let what = match kind {
                    AppliedKind::Delta => "upsert",
                    AppliedKind::Snapshot => "line",
                };
                let detail = lines
                    .iter()
                    .take(5)
                    .map(|(n, reason)| match kind {
                        AppliedKind::Delta => format!("{what}[{}]: {reason}", n.saturating_sub(1)),
                        AppliedKind::Snapshot => format!("{what} {n}: {reason}"),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let more = lines.len().saturating_sub(5);
                let detail = if more > 0 {
                    format!("{detail}; and {more} more")
                } else {
                    detail
                };
                CentralApplied::Refused(UpdateError::new(RejectReason::BadProduct, detail).at(target))
            }
        })
    }

    /// Steps 1 to 4 of the module docs for an import, a delta or a snapshot. The caller holds `import_lock`.
    fn stage(
        &self,
        reader: impl BufRead,
        name: &Path,
        total_bytes: u64,
        progress: &dyn Fn(ImportProgress),
        mode: Mode<'_>,
    ) -> Result<Staged, StorageError> {
        let copy_path = self.dir.join(PENDING_FILE);
        let copy_err = |op| {
            let path = copy_path.clone();
            move |source| StorageError::Io { op, path, source }
        };
        // A delete list of an earlier attempt that never reached its marker must not be applied with this one.
        self.remove_delete_file()?;
        let mut copy =
            BufWriter::with_capacity(256 * 1024, File::create(&copy_path).map_err(copy_err("cannot create"))?);

        // 1. Check, copying accepted lines.
        let mut lines = LineReader::new(reader);
        let mut validator = Validator::new();
        let mut rejected: Vec<(u64, String)> = Vec::new();
        let (mut imported, mut updated) = (0u64, 0u64);
        let mut reported = 0u64;
        let refuse = |refusal: Refusal| -> Result<Staged, StorageError> {
            self.remove_pending_file()?;
            Ok(Staged::Refused(refusal))
        };
        loop {
            let line = match lines.next_line() {
                Ok(line) => line,
                // A snapshot is read from its inflating reader: a read error is a damaged or oversized update.
                Err(e) if matches!(mode, Mode::Snapshot { .. }) => {
                    drop(copy);
                    return refuse(Refusal::Update(UpdateError::from_io(&e)));
                }
                Err(source) => {
                    return Err(StorageError::Io {
                        op: "cannot read",
                        path: name.to_owned(),
                        source,
                    })
                }
            };
            let Some(line) = line else { break };
            let text = match line.text {
                Ok(text) => text,
                Err(reason) => {
                    rejected.push((line.number, reason));
                    continue;
                }
            };
            match validator.accept(line.number, &text) {
                Err(reason) => rejected.push((line.number, reason)),
                // Once a line is refused nothing will be applied: keep checking, stop copying.
                Ok(_) if !rejected.is_empty() => {}
                Ok(product) => {
                    if self
                        .catalog
                        .contains_key(key_of(b'p', product.sku.as_bytes()))
                        .map_err(self.db_err("read"))?
                    {
                        updated += 1;
                    } else {
                        imported += 1;
                    }
                    copy.write_all(text.as_bytes()).map_err(copy_err("cannot write"))?;
                    copy.write_all(b"\n").map_err(copy_err("cannot write"))?;
                }
            }
            if lines.bytes_read() - reported >= PROGRESS_EVERY_BYTES {
                reported = lines.bytes_read();
                progress(ImportProgress {
                    phase: ImportPhase::Checking,
                    done: reported,
                    total: total_bytes,
                });
            }
        }
        progress(ImportProgress {
            phase: ImportPhase::Checking,
            done: lines.bytes_read(),
            total: total_bytes,
        });
        if rejected.is_empty() {
            rejected = match mode {
                Mode::Import => self.conflicts_with_stored(&validator, &[])?,
                Mode::Delta { delete, .. } => self.conflicts_with_stored(&validator, delete)?,
                // Every stored product the snapshot does not list is deleted: no code can stay with one.
                Mode::Snapshot { .. } => Vec::new(),
            };
        }
        if !rejected.is_empty() {
            drop(copy);
            return refuse(Refusal::Lines(rejected));
        }
        if let Mode::Snapshot { to, expected } = mode {
            if imported + updated != expected {
                drop(copy);
                return refuse(Refusal::Update(UpdateError::new(
                    RejectReason::Corrupt,
                    format!(
                        "catalog.snapshot {to}: {} products, the signed manifest says {expected}",
                        imported + updated
                    ),
                )));
            }
        }

        // The products the update removes, to a second file (streamed: a snapshot may delete many).
        let deleted = match mode {
            Mode::Import => 0,
            Mode::Delta { delete, .. } => {
                let stored = delete.iter().map(|sku| {
                    let present = self.catalog.contains_key(key_of(b'p', sku.as_bytes()));
                    present.map(|present| present.then(|| sku.clone()))
                });
                self.write_delete_file(stored.filter_map(Result::transpose))?
            }
            Mode::Snapshot { .. } => {
                let absent = self.catalog.scan_prefix(b"p/").filter_map(|entry| match entry {
                    Err(e) => Some(Err(e)),
                    Ok((key, _)) => {
                        let sku = String::from_utf8_lossy(&key[2..]).into_owned();
                        (!validator.has_sku(&sku)).then_some(Ok(sku))
                    }
                });
                self.write_delete_file(absent)?
            }
        };
        drop(validator);

        // 2. Decide.
        let copy = copy
            .into_inner()
            .map_err(|e| copy_err("cannot write")(e.into_error()))?;
        copy.sync_all().map_err(copy_err("cannot fsync"))?;
        drop(copy);
        // The new files' directory entries must be durable too.
        crate::durable::sync_dir(&self.dir).map_err(|source| StorageError::Io {
            op: "cannot fsync",
            path: self.dir.clone(),
            source,
        })?;
        let count = match mode {
            Mode::Snapshot { .. } => imported + updated,
            _ => (self.meta_u64("count")?.unwrap_or(0) + imported).saturating_sub(deleted),
        };
        let pending = Pending {
            imported,
            updated,
            count,
            version: self.version_u64()? + 1,
            central_version: match mode {
                Mode::Import => None,
                Mode::Delta { to, .. } | Mode::Snapshot { to, .. } => Some(to),
            },
            deleted,
        };
        let bytes = serde_json::to_vec(&pending).expect("numbers always serialise");
        self.meta
            .insert("pending", bytes)
            .map_err(self.db_err("write pending import"))?;
        self.sync()?;

        // 3 and 4.
        self.apply(&pending, progress)?;
        Ok(Staged::Applied(pending))
    }

    /// Writes the SKUs to delete, one per line, fsynced; no file when there are none. Returns how many.
    fn write_delete_file(&self, skus: impl Iterator<Item = Result<String, sled::Error>>) -> Result<u64, StorageError> {
        let path = self.dir.join(DELETE_FILE);
        let io_err = |op| {
            let path = path.clone();
            move |source| StorageError::Io { op, path, source }
        };
        let mut out: Option<BufWriter<File>> = None;
        let mut n = 0u64;
        for sku in skus {
            let sku = sku.map_err(self.db_err("list stored products"))?;
            let w = match &mut out {
                Some(w) => w,
                None => out.insert(BufWriter::with_capacity(
                    64 * 1024,
                    File::create(&path).map_err(io_err("cannot create"))?,
                )),
            };
            // SKUs have no control characters (checked at import), so a line holds exactly one.
            w.write_all(sku.as_bytes()).map_err(io_err("cannot write"))?;
            w.write_all(b"\n").map_err(io_err("cannot write"))?;
            n += 1;
        }
        if let Some(w) = out {
            let file = w.into_inner().map_err(|e| io_err("cannot write")(e.into_error()))?;
            file.sync_all().map_err(io_err("cannot fsync"))?;
        }
        Ok(n)
    }

    /// Lines whose GTIN or item code belongs to a stored product that the file does not also update (nor
    /// `deleting`).
    fn conflicts_with_stored(
        &self,
        validator: &Validator,
        deleting: &[String],
    ) -> Result<Vec<(u64, String)>, StorageError> {
        let released = |owner: &str| validator.has_sku(owner) || deleting.iter().any(|d| d == owner);
        let mut out = Vec::new();
        for (gtin, sku, line) in validator.gtin_owners() {
            if let Some(owner) = self.owner(b'g', gtin.as_bytes())? {
                if owner != sku && !released(&owner) && self.product(&owner)?.is_some_and(|p| p.gtins.contains(gtin)) {
                    let g = gtin.display_form();
                    out.push((
                        line,
                        format!("GTIN {g}: belongs to stored sku \"{owner}\", which this file does not update"),
                    ));
                }
            }
        }
        for (code, sku, line) in validator.item_code_owners() {
            if let Some(owner) = self.owner(b'i', code.as_bytes())? {
                if owner != sku
                    && !released(&owner)
                    && self
                        .product(&owner)?
                        .is_some_and(|p| p.item_code.as_deref() == Some(code))
                {
                    out.push((
                        line,
                        format!(
                            "item_code \"{code}\": belongs to stored sku \"{owner}\", which this file does not update"
                        ),
                    ));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Steps 3 and 4 of the module docs. Idempotent: a replay after a crash gives the same catalog.
    fn apply(&self, pending: &Pending, progress: &dyn Fn(ImportProgress)) -> Result<(), StorageError> {
        let path = self.dir.join(PENDING_FILE);
        let io_err = |op| {
            let path = path.clone();
            move |source| StorageError::Io { op, path, source }
        };
        let file = File::open(&path).map_err(io_err("cannot open the accepted import"))?;
        let mut lines = LineReader::new(BufReader::with_capacity(256 * 1024, file));
        let total = pending.imported + pending.updated;
        let mut done = 0u64;
        while let Some(line) = lines.next_line().map_err(io_err("cannot read"))? {
            let corrupt = |reason: String| StorageError::Corrupt {
                dir: self.dir.clone(),
                key: format!("{PENDING_FILE}:{}", line.number),
                reason,
            };
            let product = parse_product(&line.text.map_err(corrupt)?).map_err(corrupt)?;
            self.put(&product)?;
            done += 1;
            if done % PROGRESS_EVERY_PRODUCTS == 0 {
                progress(ImportProgress {
                    phase: ImportPhase::Applying,
                    done,
                    total,
                });
            }
        }
        progress(ImportProgress {
            phase: ImportPhase::Applying,
            done,
            total,
        });
        if pending.deleted > 0 {
            self.apply_deletions()?;
        }

        let mut commit = sled::Batch::default();
        commit.insert("version", &pending.version.to_be_bytes());
        commit.insert("count", &pending.count.to_be_bytes());
        if let Some(central) = pending.central_version {
            commit.insert("central_version", &central.to_be_bytes());
        }
        commit.remove("pending");
        self.meta.apply_batch(commit).map_err(self.db_err("commit import"))?;
        self.sync()?;
        // The import is committed; the snapshot follows it. A crash before the new snapshot is in place is caught
        // at open (its version is behind) and rebuilt there.
        self.rebuild_snapshot(pending.version)?;
        tracing::info!(
            version = pending.version,
            central_version = pending.central_version,
            imported = pending.imported,
            updated = pending.updated,
            deleted = pending.deleted,
            "catalog import applied"
        );
        self.remove_delete_file()?;
        self.remove_pending_file()
    }

    /// Removes every product listed in the delete file. Idempotent: a product already gone is skipped.
    fn apply_deletions(&self) -> Result<(), StorageError> {
        let path = self.dir.join(DELETE_FILE);
        let io_err = |op| {
            let path = path.clone();
            move |source| StorageError::Io { op, path, source }
        };
        let file = File::open(&path).map_err(io_err("cannot open the delete list"))?;
        let mut lines = LineReader::new(BufReader::with_capacity(64 * 1024, file));
        while let Some(line) = lines.next_line().map_err(io_err("cannot read"))? {
            let sku = line.text.map_err(|reason| StorageError::Corrupt {
                dir: self.dir.clone(),
                key: format!("{DELETE_FILE}:{}", line.number),
                reason,
            })?;
            self.remove(&sku)?;
        }
        Ok(())
    }

    /// Removes one product: its index keys first (only those still pointing to it: a code may have moved to
    /// another product), then the record. In that order a replay after a crash finds the record and finishes;
    /// once the record is gone its keys are too.
    fn remove(&self, sku: &str) -> Result<(), StorageError> {
        let Some(old) = self.product(sku)? else { return Ok(()) };
        let keys = old
            .gtins
            .iter()
            .map(|g| key_of(b'g', g.as_bytes()))
            .chain(old.item_code.iter().map(|c| key_of(b'i', c.as_bytes())));
        for key in keys {
            // The inner error only means "moved to another product", which is fine.
            let _moved = self
                .catalog
                .compare_and_swap(&key, Some(sku.as_bytes()), None as Option<&[u8]>)
                .map_err(self.db_err("remove index key"))?;
        }
        self.catalog
            .remove(key_of(b'p', sku.as_bytes()))
            .map_err(self.db_err("remove product"))?;
        Ok(())
    }

    /// Writes one product with its index keys and removes the keys its previous version had and it has not.
    fn put(&self, p: &Product) -> Result<(), StorageError> {
        let sku = p.sku.as_bytes();
        let encoded = serde_json::to_vec(p).expect("a product always serialises");
        let old = match self
            .catalog
            .insert(key_of(b'p', sku), encoded)
            .map_err(self.db_err("write product"))?
        {
            Some(bytes) => Some(self.decode::<Product>(&format!("p/{}", p.sku), &bytes)?),
            None => None,
        };
        for g in &p.gtins {
            self.catalog
                .insert(key_of(b'g', g.as_bytes()), sku)
                .map_err(self.db_err("write GTIN index"))?;
        }
        if let Some(code) = &p.item_code {
            self.catalog
                .insert(key_of(b'i', code.as_bytes()), sku)
                .map_err(self.db_err("write item code index"))?;
        }
        let Some(old) = old else { return Ok(()) };
        // Only remove keys that still point to this product: a GTIN may have moved to another one.
        let stale_gtins = old
            .gtins
            .iter()
            .filter(|g| !p.gtins.contains(g))
            .map(|g| key_of(b'g', g.as_bytes()));
        let stale_code = old
            .item_code
            .iter()
            .filter(|c| p.item_code.as_ref() != Some(*c))
            .map(|c| key_of(b'i', c.as_bytes()));
        for key in stale_gtins.chain(stale_code) {
            // compare_and_swap's outer error is the database's; the inner one only means "moved", which is fine.
            let _moved = self
                .catalog
                .compare_and_swap(&key, Some(sku), None as Option<&[u8]>)
                .map_err(self.db_err("remove stale index key"))?;
        }
        Ok(())
    }

    /// Opens the snapshot, rebuilding it when it is missing, damaged or of another catalog version.
    fn load_snapshot(&self) -> Result<(), StorageError> {
        let version = self.version_u64()?;
        if version == 0 {
            return Ok(());
        }
        match CatalogSnapshot::open(&self.dir.join(SNAPSHOT_FILE)) {
            Ok(Some(snap)) if snap.version() == version => {
                *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
                return Ok(());
            }
            Ok(Some(snap)) => tracing::warn!(found = snap.version(), version, "catalog snapshot is stale; rebuilding"),
            Ok(None) => tracing::warn!(version, "catalog snapshot missing; rebuilding"),
            Err(e) => tracing::warn!(error = %e, "catalog snapshot unreadable; rebuilding"),
        }
        self.rebuild_snapshot(version)
    }

    /// Writes the snapshot from the committed products and switches readers to it.
    fn rebuild_snapshot(&self, version: u64) -> Result<(), StorageError> {
        let path = self.dir.join(SNAPSHOT_FILE);
        let products = self.catalog.scan_prefix(b"p/").map(|entry| {
            let (key, bytes) = entry.map_err(|e| format!("reading the catalog: {e}"))?;
            serde_json::from_slice::<Product>(&bytes).map_err(|e| format!("{}: {e}", printable(&key)))
        });
        CatalogSnapshot::write(&path, version, products)?;
        let snap = CatalogSnapshot::open(&path)?.ok_or_else(|| SnapshotError::Corrupt {
            path: path.clone(),
            reason: "vanished right after it was written".into(),
        })?;
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
        Ok(())
    }

    /// Where the snapshot file is: a reader that outlives this `Storage` watches it for newer versions.
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }

    /// The committed catalog as readers see it. It stays valid (one whole version) however long it is held,
    /// also after this `Storage` is closed: the daemon keeps it and closes the database.
    pub fn snapshot(&self) -> Arc<CatalogSnapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes everything written so far durable.
    ///
    /// sled's `flush` writes its buffers and calls `sync_file_range`, which does not flush the drive's write
    /// cache nor the file's metadata: after a power cut the data may be gone. So after `flush` every file in
    /// the database directory, and the directories themselves, get an `fsync` (`sync_all`).
    pub fn sync(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(self.db_err("flush"))?;
        sync_tree(&self.dir.join(DB_DIR))
    }

    /// The product with this SKU.
    pub fn by_sku(&self, sku: &str) -> Result<Option<Product>, StorageError> {
        self.product(sku)
    }

    fn product(&self, sku: &str) -> Result<Option<Product>, StorageError> {
        let key = key_of(b'p', sku.as_bytes());
        match self.catalog.get(&key).map_err(self.db_err("read product"))? {
            None => Ok(None),
            Some(bytes) => self.decode(&printable(&key), &bytes).map(Some),
        }
    }

    /// The SKU an index key (`g` or `i`) points to.
    fn owner(&self, kind: u8, code: &[u8]) -> Result<Option<String>, StorageError> {
        let key = key_of(kind, code);
        match self.catalog.get(&key).map_err(self.db_err("read index"))? {
            None => Ok(None),
            Some(sku) => String::from_utf8(sku.to_vec())
                .map(Some)
                .map_err(|_| StorageError::Corrupt {
                    dir: self.dir.clone(),
                    key: printable(&key),
                    reason: "sku is not UTF-8".into(),
                }),
        }
    }

    fn decode<T: for<'de> Deserialize<'de>>(&self, key: &str, bytes: &[u8]) -> Result<T, StorageError> {
        serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
            dir: self.dir.clone(),
            key: key.to_owned(),
            reason: e.to_string(),
        })
    }

    fn meta_u64(&self, key: &'static str) -> Result<Option<u64>, StorageError> {
        let Some(bytes) = self.meta.get(key).map_err(self.db_err("read meta"))? else {
            return Ok(None);
        };
        let arr: [u8; 8] = bytes.as_ref().try_into().map_err(|_| StorageError::Corrupt {
            dir: self.dir.clone(),
            key: format!("meta/{key}"),
            reason: format!("{} bytes, expected 8", bytes.len()),
        })?;
        Ok(Some(u64::from_be_bytes(arr)))
    }

    fn version_u64(&self) -> Result<u64, StorageError> {
        Ok(self.meta_u64("version")?.unwrap_or(0))
    }

    fn remove_pending_file(&self) -> Result<(), StorageError> {
        self.remove_file(PENDING_FILE)
    }

    fn remove_delete_file(&self) -> Result<(), StorageError> {
        self.remove_file(DELETE_FILE)
    }

    fn remove_file(&self, name: &str) -> Result<(), StorageError> {
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::Io {
                op: "cannot remove",
                path,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    fn db_err(&self, op: &'static str) -> impl Fn(sled::Error) -> StorageError + '_ {
        move |source| StorageError::Db {
            dir: self.dir.clone(),
            op,
            source,
        }
    }
}

/// Reads go to the snapshot of the committed catalog (see the module docs).
impl CatalogStore for Storage {
    fn by_gtin(&self, gtin: &Gtin) -> Result<Option<Product>, StoreError> {
        self.snapshot().by_gtin(gtin)
    }

    fn by_item_code(&self, code: &str) -> Result<Option<Product>, StoreError> {
        self.snapshot().by_item_code(code)
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<Product>, StoreError> {
        self.snapshot().search(query, limit)
    }

    fn version(&self) -> Result<u64, StoreError> {
        Ok(self.version_u64()?)
    }

    fn len(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64("count")?.unwrap_or(0))
    }
}

/// `<kind>/<code>`.
fn key_of(kind: u8, code: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(code.len() + 2);
    k.push(kind);
    k.push(b'/');
    k.extend_from_slice(code);
    k
}

fn printable(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// `fsync`s the database tree, naming the path that failed.
fn sync_tree(dir: &Path) -> Result<(), StorageError> {
    crate::durable::sync_tree(dir).map_err(|(path, source)| StorageError::Io {
        op: "cannot fsync",
        path,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = concat!(
        r#"{"sku":"A","gtins":["8000070012349"],"name":"Caffè","brand":"Lavazza","#,
        r#""price_cents":399,"vat_rate_bp":2200}"#
    );
    const B: &str =
        r#"{"sku":"B","gtins":["80005001"],"name":"Tic Tac","brand":"Ferrero","price_cents":99,"vat_rate_bp":1000}"#;

    fn import_text(store: &Storage, text: &str) -> ImportSummary {
        store
            .import_reader(text.as_bytes(), Path::new("test"), 0, &|_| {})
            .expect("the import runs")
    }

    /// Leaves the database as a crash right after step 2 (decided, nothing applied) would.
    fn crash_after_deciding(store: &Storage, lines: &str, pending: &Pending) {
        std::fs::write(store.dir.join(PENDING_FILE), lines).expect("write the pending copy");
        store
            .meta
            .insert("pending", serde_json::to_vec(pending).expect("serialises"))
            .expect("write pending");
        store.sync().expect("sync");
    }

    #[test]
    fn a_catalog_closed_and_reopened_at_once_opens_every_time_with_its_products() {
        // sled lets go of its file lock from a background thread after the drop; a restart of the daemon's
        // storage (or a test) reopening at once must not fail on it.
        let dir = tempfile::tempdir().expect("temp dir");
        import_text(&Storage::open(dir.path(), 1 << 20).expect("opens"), A);
        for round in 0..20 {
            let store = Storage::open(dir.path(), 1 << 20).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(store.by_sku("A").expect("read").map(|p| p.price_cents), Some(399));
        }
    }

    #[test]
    fn a_catalog_another_holder_keeps_open_is_refused_with_the_lock_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let _held = Storage::open(dir.path(), 1 << 20).expect("opens");
        let Err(refused) = Storage::open(dir.path(), 1 << 20) else {
            panic!("a second holder is refused")
        };
        assert!(matches!(refused, StorageError::Open { .. }), "{refused:?}");
        assert!(refused.to_string().contains("could not acquire lock"), "{refused}");
    }

    #[test]
    fn an_import_interrupted_while_applying_is_finished_on_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Storage::open(dir.path(), 1 << 20).expect("opens");
            import_text(&store, A);
            let dearer = A.replace("399", "429");
            crash_after_deciding(
                &store,
                &format!("{dearer}\n{B}\n"),
                &Pending {
                    imported: 1,
                    updated: 1,
                    count: 2,
                    version: 2,
                    central_version: None,
                    deleted: 0,
                },
            );
        }
        let store = Storage::open(dir.path(), 1 << 20).expect("reopens");
        assert_eq!((store.version().expect("version"), store.len().expect("len")), (2, 2));
        assert_eq!(store.by_sku("A").expect("read").map(|p| p.price_cents), Some(429));
        assert!(store
            .by_gtin(&Gtin::parse("80005001").expect("valid"))
            .expect("read")
            .is_some());
        assert!(
            !dir.path().join(PENDING_FILE).exists(),
            "the copy is removed once committed"
        );
    }

    #[test]
    fn an_import_interrupted_while_checking_leaves_the_catalog_as_it_was() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Storage::open(dir.path(), 1 << 20).expect("opens");
            import_text(&store, A);
            // The copy was being written; `pending` was never set.
            std::fs::write(dir.path().join(PENDING_FILE), B).expect("write a partial copy");
        }
        let store = Storage::open(dir.path(), 1 << 20).expect("reopens");
        assert_eq!((store.version().expect("version"), store.len().expect("len")), (1, 1));
        assert_eq!(store.by_sku("B").expect("read"), None);
        assert!(!dir.path().join(PENDING_FILE).exists(), "the partial copy is discarded");
    }

    #[test]
    fn a_stale_gtin_key_never_returns_a_product_that_dropped_the_gtin() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Storage::open(dir.path(), 1 << 20).expect("opens");
        import_text(&store, A);
        // As if a crash had lost the removal of an index key: the key points to a product without the GTIN.
        let stale = Gtin::parse("8000070099999").expect("valid");
        store
            .catalog
            .insert(key_of(b'g', stale.as_bytes()), "A")
            .expect("write");
        assert_eq!(store.by_gtin(&stale).expect("read"), None);
        // And it does not block another product from taking that GTIN.
        let summary = import_text(&store, &B.replace("80005001", "8000070099999"));
        assert!(summary.applied(), "{:?}", summary.rejected);
        assert_eq!(
            store.by_gtin(&stale).expect("read").map(|p| p.sku).as_deref(),
            Some("B")
        );
    }

    fn delta(from: u64, to: u64, upsert: &[&str], delete: &[&str]) -> Delta {
        Delta {
            store: "S".into(),
            from_version: from,
            version: to,
            upsert: upsert
                .iter()
                .map(|l| parse_product(l).expect("valid product"))
                .collect(),
            delete: delete.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn applied(store: &Storage, update: CentralUpdate<'_>) -> (u64, u64) {
        match store.apply_central(update).expect("the update runs") {
            CentralApplied::Applied { version, products, .. } => (version, products),
            CentralApplied::Refused(e) => panic!("refused: {e}"),
        }
    }

    fn refused(store: &Storage, update: CentralUpdate<'_>) -> RejectReason {
        match store.apply_central(update).expect("the update runs") {
            CentralApplied::Refused(e) => e.reason,
            other => panic!("applied: {other:?}"),
        }
    }

    const A_GTIN: &str = "8000070012349";

    #[test]
    fn a_delta_upserts_and_deletes_and_sets_the_central_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Storage::open(dir.path(), 1 << 20).expect("opens");
        import_text(&store, &format!("{A}\n{B}"));
        assert_eq!(
            store.central_version().expect("read"),
            0,
            "a local import is not central"
        );
        let dearer = A.replace("399", "449");
        assert_eq!(
            applied(&store, CentralUpdate::Delta(&delta(0, 7, &[&dearer], &["B", "NOPE"]))),
            (7, 1)
        );
        assert_eq!(store.central_version().expect("read"), 7);
        assert_eq!(
            store
                .by_gtin(&Gtin::parse(A_GTIN).expect("valid"))
                .expect("read")
                .map(|p| p.price_cents),
            Some(449)
        );
        assert_eq!(
            store.by_gtin(&Gtin::parse("80005001").expect("valid")).expect("read"),
            None
        );
        assert_eq!(
            store.owner(b'g', b"00000080005001").expect("read"),
            None,
            "the index key is gone too"
        );
        assert_eq!(store.len().expect("len"), 1);
        // Out of sequence: nothing written.
        assert_eq!(
            refused(&store, CentralUpdate::Delta(&delta(5, 6, &[A], &[]))),
            RejectReason::Rollback
        );
        assert_eq!(
            refused(&store, CentralUpdate::Delta(&delta(8, 9, &[A], &[]))),
            RejectReason::OutOfOrder
        );
        // A plain import still works and keeps the central version.
        import_text(&store, B);
        assert_eq!(
            (store.central_version().expect("read"), store.len().expect("len")),
            (7, 2)
        );
    }

    #[test]
    fn a_snapshot_replaces_the_whole_catalog_and_refuses_rollback() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Storage::open(dir.path(), 1 << 20).expect("opens");
        import_text(&store, &format!("{A}\n{B}"));
        // B's GTIN moves to C while B is dropped: no conflict, B is deleted.
        let c = B.replace("\"B\"", "\"C\"").replace("Tic Tac", "Tic Tac Arancia");
        let text = format!("{c}\n");
        assert_eq!(
            applied(
                &store,
                CentralUpdate::Snapshot {
                    version: 3,
                    products: 1,
                    lines: &mut text.as_bytes()
                }
            ),
            (3, 1)
        );
        assert_eq!(store.by_sku("A").expect("read"), None);
        assert_eq!(store.by_sku("B").expect("read"), None);
        let found = store.by_gtin(&Gtin::parse("80005001").expect("valid")).expect("read");
        assert_eq!(found.map(|p| p.sku).as_deref(), Some("C"));
        assert_eq!(store.by_gtin(&Gtin::parse(A_GTIN).expect("valid")).expect("read"), None);
        let again = CentralUpdate::Snapshot {
            version: 3,
            products: 1,
            lines: &mut text.as_bytes(),
        };
        assert_eq!(refused(&store, again), RejectReason::Rollback);
        let miscounted = CentralUpdate::Snapshot {
            version: 4,
            products: 2,
            lines: &mut text.as_bytes(),
        };
        assert_eq!(refused(&store, miscounted), RejectReason::Corrupt);
        let bad = "{\"sku\":\"\"}\n";
        let bad = CentralUpdate::Snapshot {
            version: 4,
            products: 1,
            lines: &mut bad.as_bytes(),
        };
        assert_eq!(refused(&store, bad), RejectReason::BadProduct);
        assert_eq!(
            (store.central_version().expect("read"), store.len().expect("len")),
            (3, 1)
        );
        assert!(!dir.path().join(PENDING_FILE).exists() && !dir.path().join(DELETE_FILE).exists());
    }

    #[test]
    fn deletions_interrupted_while_applying_are_finished_on_open_even_when_replayed_twice() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Storage::open(dir.path(), 1 << 20).expect("opens");
            import_text(&store, &format!("{A}\n{B}"));
            // Decided: upsert nothing, delete B; and B was already half removed (its GTIN key gone).
            std::fs::write(dir.path().join(DELETE_FILE), "B\n").expect("write the delete list");
            crash_after_deciding(
                &store,
                "",
                &Pending {
                    imported: 0,
                    updated: 0,
                    count: 1,
                    version: 2,
                    central_version: Some(9),
                    deleted: 1,
                },
            );
            // The first pass removed B's GTIN key, then the process stopped before removing the record.
            store
                .catalog
                .remove(key_of(b'g', b"00000080005001"))
                .expect("remove the key");
            store.sync().expect("sync");
        }
        let store = Storage::open(dir.path(), 1 << 20).expect("reopens");
        assert_eq!(
            (store.central_version().expect("read"), store.len().expect("len")),
            (9, 1)
        );
        assert_eq!(store.by_sku("B").expect("read"), None);
        assert!(store.by_sku("A").expect("read").is_some());
        assert_eq!(store.snapshot().version(), 2);
        assert!(!dir.path().join(DELETE_FILE).exists());
    }

    #[test]
    fn a_marker_from_before_central_updates_still_replays() {
        let old: Pending = serde_json::from_str(r#"{"imported":1,"updated":0,"count":1,"version":1}"#).expect("reads");
        assert_eq!((old.central_version, old.deleted), (None, 0));
    }

    #[test]
    fn a_rejected_import_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Storage::open(dir.path(), 1 << 20).expect("opens");
        let summary = import_text(&store, &format!("{A}\n{{\"sku\":\"\"}}\n"));
        assert_eq!(summary.rejected.len(), 1);
        assert_eq!(summary.rejected[0].0, 2);
        assert_eq!((store.version().expect("version"), store.len().expect("len")), (0, 0));
        assert_eq!(store.by_sku("A").expect("read"), None);
        assert!(!dir.path().join(PENDING_FILE).exists());
    }
}
