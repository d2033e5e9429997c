//! Durable storage: the only module that names sled. Everything else sees the catalog through
//! [`CatalogStore`] and imports through [`Storage::import_file`]; the outbox of events for central is
//! [`outbox_store`], a separate sled database.
//!
//! # Layout
//! `Storage::open(dir)` keeps the sled database in `dir/db` and, only while an import is being applied, the
//! accepted lines in `dir/import-pending.jsonl`. One sled tree `catalog` holds:
//! - `p/<sku>` → the product (JSON),
//! - `g/<gtin-14>` → sku and `i/<item code>` → sku,
//!
//! Readers do not use these trees: after every committed import the catalog is written out as an immutable
//! [`CatalogSnapshot`] (`dir/catalog.snap`), and lookups and search are served from it. sled is the durable,
//! transactional source of truth; the snapshot is its read side (faster, smaller in memory, one version at a
//! time). See [`crate::snapshot`] for why.
//!
//! and a tree `meta`: `layout`, `version` and `count` (u64 big-endian), and `pending` while applying.
//!
//! # Imports are all-or-nothing, and survive a crash
//! 1. Check: every line is parsed and checked ([`crate::catalog::import`]), and GTINs and item codes are
//!    checked against the stored products (a code may only move to a product from a stored one that the file
//!    also updates). Accepted lines are copied to `import-pending.jsonl`. Nothing is written to the database.
//!    If any line is refused, the copy is deleted and the summary lists every refusal.
//! 2. Decide: the copy is fsynced, then `meta/pending` (final count and version) is written and made durable.
//! 3. Apply: the products in the copy are written with their index keys; keys the old version had and the
//!    new one does not are removed. Rewriting a product is idempotent, so this can be replayed.
//! 4. Commit: `version` and `count` are set and `pending` removed in one atomic batch, made durable; only then
//!    is the import reported done, and the copy deleted.
//!
//! Opening with `pending` present replays 3 and 4 (a crash while applying); a copy without `pending` is a
//! crash while checking and is deleted. On a normal start neither exists, so opening is O(1) in catalog size.
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
//! Updates are upserts by SKU: products missing from the file stay, so a file with ten price changes is a
//! complete import. Removing products is not part of the format.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::barcode::Gtin;
use crate::catalog::import::{parse_product, LineReader, Validator};
use crate::catalog::{CatalogStore, ImportSummary, Product, StoreError};
use crate::snapshot::{CatalogSnapshot, SnapshotError};

pub mod outbox_store;

/// Layout described in the module docs. Bump when it changes incompatibly.
const LAYOUT: u64 = 1;

/// The sled database, inside the storage directory.
const DB_DIR: &str = "db";

/// The accepted lines of the import being applied, inside the storage directory.
const PENDING_FILE: &str = "import-pending.jsonl";

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

/// The decision to apply `import-pending.jsonl`, written before applying: what to commit afterwards.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    imported: u64,
    updated: u64,
    count: u64,
    version: u64,
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
pub(crate) fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, SledOpenFailure> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .mode(sled::Mode::LowSpace);
    match catch_unwind(AssertUnwindSafe(|| config.open())) {
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
        let copy_path = self.dir.join(PENDING_FILE);
        let copy_err = |op| {
            let path = copy_path.clone();
            move |source| StorageError::Io { op, path, source }
        };
        let mut copy =
            BufWriter::with_capacity(256 * 1024, File::create(&copy_path).map_err(copy_err("cannot create"))?);

        // 1. Check, copying accepted lines.
        let mut lines = LineReader::new(reader);
        let mut validator = Validator::new();
        let mut rejected: Vec<(u64, String)> = Vec::new();
        let (mut imported, mut updated) = (0u64, 0u64);
        let mut reported = 0u64;
        loop {
            let line = lines.next_line().map_err(|source| StorageError::Io {
                op: "cannot read",
                path: name.to_owned(),
                source,
            })?;
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
            rejected = self.conflicts_with_stored(&validator)?;
        }
        drop(validator);
        if !rejected.is_empty() {
            drop(copy);
            self.remove_pending_file()?;
            return Ok(ImportSummary {
                imported: 0,
                updated: 0,
                rejected,
                version: self.version_u64()?,
            });
        }

        // 2. Decide.
        let copy = copy
            .into_inner()
            .map_err(|e| copy_err("cannot write")(e.into_error()))?;
        copy.sync_all().map_err(copy_err("cannot fsync"))?;
        drop(copy);
        // The new file's directory entry must be durable too.
        crate::durable::sync_dir(&self.dir).map_err(|source| StorageError::Io {
            op: "cannot fsync",
            path: self.dir.clone(),
            source,
        })?;
        let pending = Pending {
            imported,
            updated,
            count: self.meta_u64("count")?.unwrap_or(0) + imported,
            version: self.version_u64()? + 1,
        };
        let bytes = serde_json::to_vec(&pending).expect("four numbers always serialise");
        self.meta
            .insert("pending", bytes)
            .map_err(self.db_err("write pending import"))?;
        self.sync()?;

        // 3 and 4.
        self.apply(&pending, progress)?;
        Ok(ImportSummary {
            imported,
            updated,
            rejected: Vec::new(),
            version: pending.version,
        })
    }

    /// Lines whose GTIN or item code belongs to a stored product that the file does not also update.
    fn conflicts_with_stored(&self, validator: &Validator) -> Result<Vec<(u64, String)>, StorageError> {
        let mut out = Vec::new();
        for (gtin, sku, line) in validator.gtin_owners() {
            if let Some(owner) = self.owner(b'g', gtin.as_bytes())? {
                if owner != sku
                    && !validator.has_sku(&owner)
                    && self.product(&owner)?.is_some_and(|p| p.gtins.contains(gtin))
                {
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
                    && !validator.has_sku(&owner)
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

        let mut commit = sled::Batch::default();
        commit.insert("version", &pending.version.to_be_bytes());
        commit.insert("count", &pending.count.to_be_bytes());
        commit.remove("pending");
        self.meta.apply_batch(commit).map_err(self.db_err("commit import"))?;
        self.sync()?;
        // The import is committed; the snapshot follows it. A crash before the new snapshot is in place is caught
        // at open (its version is behind) and rebuilt there.
        self.rebuild_snapshot(pending.version)?;
        tracing::info!(
            version = pending.version,
            imported = pending.imported,
            updated = pending.updated,
            "catalog import applied"
        );
        self.remove_pending_file()
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
        let path = self.dir.join(PENDING_FILE);
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
