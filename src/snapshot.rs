//! The catalog snapshot: an immutable, read-optimised file holding one committed catalog version, derived from
//! the sled catalog after every committed import. It is what the kiosk reads. Owns its file format, its atomic
//! replacement and its reads; never decides what the catalog contains ([`crate::storage`] does, and remains the
//! source of truth).
//!
//! Why it exists:
//! - speed: sled serves a random product out of a small page cache in ~10 µs typical but 100+ µs at the tail
//!   (its cache is sharded 256 ways, so 8 MiB holds little of a 100 000-product catalog). Here a lookup is a
//!   binary search in memory plus one `pread` the kernel's page cache serves;
//! - memory: an open sled database keeps its page table resident, ~10 MB at 100 000 products, whatever the
//!   cache size. The daemon reads only this file (16 bytes per GTIN and per item code in memory) and opens
//!   sled only to apply an import;
//! - consistency: a reader holds one whole version, never a half-applied import.
//!
//! Format (little-endian): header `OMNISNP1`, catalog version, product count, GTIN entry count, GTIN entries
//! offset, item entry count, item entries offset (u64 each); the product records (JSON, as stored in sled);
//! the GTIN entries `{gtin u64, offset u32, len u32}` sorted by GTIN; the item-code entries
//! `{code key u64, offset u32, len u32}` sorted by key (key = digit count << 40 | value, so leading zeros count).

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::barcode::Gtin;
use crate::catalog::search::{index_text, matches, query_words};
use crate::catalog::{CatalogStore, Product, StoreError};

const MAGIC: &[u8; 8] = b"OMNISNP1";
const HEADER_LEN: usize = 56;
const ENTRY_LEN: usize = 16;

/// A snapshot that cannot be written or read, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The OS refused.
    #[error("catalog snapshot {path}: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a snapshot of this format, is damaged, or the catalog it was built from is.
    #[error("catalog snapshot {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl From<SnapshotError> for StoreError {
    fn from(e: SnapshotError) -> StoreError {
        match e {
            SnapshotError::Corrupt { path, reason } => StoreError::Corrupt {
                key: path.display().to_string(),
                reason,
            },
            other => StoreError::Backend(other.to_string()),
        }
    }
}

type Entry = (u64, u32, u32);

/// An open snapshot (or the empty catalog, before anything was ever imported).
pub struct CatalogSnapshot {
    path: PathBuf,
    file: Option<File>,
    version: u64,
    products: u64,
    /// Where the records end and the entry tables begin.
    records_end: u64,
    gtins: Vec<Entry>,
    items: Vec<Entry>,
}

fn gtin_key(g: &Gtin) -> u64 {
    // 14 ASCII digits always fit: 10^14 < 2^47.
    g.as_bytes().iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))
}

/// Item codes are 1 to 12 digits (checked at import); "012345" and "12345" are different codes.
fn item_key(code: &str) -> Option<u64> {
    let b = code.as_bytes();
    if b.is_empty() || b.len() > 12 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = b.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some((b.len() as u64) << 40 | value)
}

fn find(entries: &[Entry], key: u64) -> Option<Entry> {
    entries.binary_search_by_key(&key, |e| e.0).ok().map(|i| entries[i])
}

impl CatalogSnapshot {
    /// The empty catalog (version 0), for a device that has never imported one.
    pub fn empty() -> CatalogSnapshot {
        CatalogSnapshot {
            path: PathBuf::new(),
            file: None,
            version: 0,
            products: 0,
            records_end: HEADER_LEN as u64,
            gtins: vec![],
            items: vec![],
        }
    }

    /// Writes the snapshot of `version` from every product, atomically: a temporary file is written and
    /// fsynced, then renamed over `path`, and the directory is fsynced. A crash leaves the old file or the new.
    /// A product that cannot be read (`Err`, with the source's message) aborts and keeps the old file.
    pub fn write<I>(path: &Path, version: u64, products: I) -> Result<(), SnapshotError>
    where
        I: IntoIterator<Item = Result<Product, String>>,
    {
        let io = |op| {
            let path = path.to_owned();
            move |source| SnapshotError::Io { op, path, source }
        };
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(io("cannot create"))?;
        let mut w = BufWriter::with_capacity(256 * 1024, file);
        w.write_all(&[0u8; HEADER_LEN]).map_err(io("cannot write"))?;
        let (mut gtins, mut items): (Vec<Entry>, Vec<Entry>) = (Vec::new(), Vec::new());
        let mut offset = HEADER_LEN as u64;
        let mut count = 0u64;
        for p in products {
            let p = match p {
                Ok(p) => p,
                Err(reason) => {
                    drop(w);
                    let _ = std::fs::remove_file(&tmp);
                    return Err(SnapshotError::Corrupt {
                        path: path.to_owned(),
                        reason,
                    });
                }
            };
            let record = serde_json::to_vec(&p).expect("a product always serialises");
            let (Ok(off), Ok(len)) = (u32::try_from(offset), u32::try_from(record.len())) else {
                return Err(SnapshotError::Corrupt {
                    path: path.to_owned(),
                    reason: "catalog exceeds 4 GiB".into(),
                });
            };
            w.write_all(&record).map_err(io("cannot write"))?;
            offset += record.len() as u64;
            count += 1;
            gtins.extend(p.gtins.iter().map(|g| (gtin_key(g), off, len)));
            items.extend(p.item_code.as_deref().and_then(item_key).map(|k| (k, off, len)));
        }
        gtins.sort_unstable_by_key(|e| e.0);
        items.sort_unstable_by_key(|e| e.0);
        let gtins_at = offset;
        let items_at = gtins_at + (gtins.len() * ENTRY_LEN) as u64;
        for (key, off, len) in gtins.iter().chain(&items) {
            w.write_all(&key.to_le_bytes()).map_err(io("cannot write"))?;
            w.write_all(&off.to_le_bytes()).map_err(io("cannot write"))?;
            w.write_all(&len.to_le_bytes()).map_err(io("cannot write"))?;
        }
        let mut file = w.into_inner().map_err(|e| SnapshotError::Io {
            op: "cannot write",
            path: path.to_owned(),
            source: e.into_error(),
        })?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        for word in [
            version,
            count,
            gtins.len() as u64,
            gtins_at,
            items.len() as u64,
            items_at,
        ] {
            header.extend_from_slice(&word.to_le_bytes());
        }
        file.seek(SeekFrom::Start(0)).map_err(io("cannot write"))?;
        file.write_all(&header).map_err(io("cannot write"))?;
        file.sync_all().map_err(io("cannot fsync"))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io("cannot rename into place"))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        crate::durable::sync_dir(dir).map_err(io("cannot fsync directory"))?;
        Ok(())
    }

    /// Opens a snapshot; `Ok(None)` when there is none.
    pub fn open(path: &Path) -> Result<Option<CatalogSnapshot>, SnapshotError> {
        let io = |op| {
            let path = path.to_owned();
            move |source| SnapshotError::Io { op, path, source }
        };
        let corrupt = |reason: &str| SnapshotError::Corrupt {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("cannot open")(e)),
        };
        let size = file.metadata().map_err(io("cannot stat"))?.len();
        let mut header = [0u8; HEADER_LEN];
        file.read_exact_at(&mut header, 0)
            .map_err(|_| corrupt("shorter than its header"))?;
        if &header[..8] != MAGIC {
            return Err(corrupt("not a catalog snapshot of this format"));
        }
        let word = |i: usize| u64::from_le_bytes(header[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
        let (version, products, n_gtins, gtins_at, n_items, items_at) =
            (word(0), word(1), word(2), word(3), word(4), word(5));
        let table_end = |n: u64, at: u64| n.checked_mul(ENTRY_LEN as u64).and_then(|b| b.checked_add(at));
        if gtins_at < HEADER_LEN as u64
            || table_end(n_gtins, gtins_at) != Some(items_at)
            || table_end(n_items, items_at) != Some(size)
        {
            return Err(corrupt("size does not match its header"));
        }
        let read_table = |n: u64, at: u64| -> Result<Vec<Entry>, SnapshotError> {
            let mut raw = vec![0u8; n as usize * ENTRY_LEN];
            file.read_exact_at(&mut raw, at).map_err(io("cannot read"))?;
            let entries: Vec<Entry> = raw
                .chunks_exact(ENTRY_LEN)
                .map(|c| {
                    let key = u64::from_le_bytes(c[0..8].try_into().expect("8 bytes"));
                    let off = u32::from_le_bytes(c[8..12].try_into().expect("4 bytes"));
                    (key, off, u32::from_le_bytes(c[12..16].try_into().expect("4 bytes")))
                })
                .collect();
            let sorted = entries.windows(2).all(|w| w[0].0 < w[1].0);
            let in_bounds = entries
                .iter()
                .all(|&(_, off, len)| u64::from(off) + u64::from(len) <= gtins_at);
            if !sorted || !in_bounds {
                return Err(corrupt("entries are out of order or point outside the records"));
            }
            Ok(entries)
        };
        let gtins = read_table(n_gtins, gtins_at)?;
        let items = read_table(n_items, items_at)?;
        Ok(Some(CatalogSnapshot {
            path: path.to_owned(),
            file: Some(file),
            version,
            products,
            records_end: gtins_at,
            gtins,
            items,
        }))
    }

    /// The catalog version this snapshot holds.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn record(&self, (_, off, len): Entry) -> Result<Product, SnapshotError> {
        let Some(file) = &self.file else {
            return Err(SnapshotError::Corrupt {
                path: self.path.clone(),
                reason: "empty catalog has no records".into(),
            });
        };
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, u64::from(off))
            .map_err(|source| SnapshotError::Io {
                op: "cannot read",
                path: self.path.clone(),
                source,
            })?;
        serde_json::from_slice(&buf).map_err(|e| SnapshotError::Corrupt {
            path: self.path.clone(),
            reason: format!("record at {off}: {e}"),
        })
    }
}

impl CatalogStore for CatalogSnapshot {
    fn by_gtin(&self, gtin: &Gtin) -> Result<Option<Product>, StoreError> {
        Ok(find(&self.gtins, gtin_key(gtin)).map(|e| self.record(e)).transpose()?)
    }

    fn by_item_code(&self, code: &str) -> Result<Option<Product>, StoreError> {
        let Some(key) = item_key(code) else { return Ok(None) };
        Ok(find(&self.items, key).map(|e| self.record(e)).transpose()?)
    }

    /// Reads every record: fine for a staff search on a kiosk, not for a hot path.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<Product>, StoreError> {
        let words = query_words(query);
        if words.is_empty() {
            return Ok(vec![]);
        }
        let Some(file) = &self.file else { return Ok(vec![]) };
        let mut buf = vec![0u8; (self.records_end - HEADER_LEN as u64) as usize];
        file.read_exact_at(&mut buf, HEADER_LEN as u64)
            .map_err(|source| SnapshotError::Io {
                op: "cannot read",
                path: self.path.clone(),
                source,
            })?;
        let mut out = Vec::new();
        for p in serde_json::Deserializer::from_slice(&buf).into_iter::<Product>() {
            let p = p.map_err(|e| SnapshotError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
            if matches(&words, &index_text(&p)) {
                out.push(p);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn version(&self) -> Result<u64, StoreError> {
        Ok(self.version)
    }

    fn len(&self) -> Result<u64, StoreError> {
        Ok(self.products)
    }
}

/// The newest snapshot at a path, for a reader that runs while imports happen elsewhere (the daemon, while a
/// store manager runs `omnigate catalog import`). Each import renames a new file into place, so a changed
/// inode means a new version; checking costs one `stat`.
pub struct FollowedSnapshot {
    path: PathBuf,
    seen: Option<(u64, u64)>,
    current: std::sync::Arc<CatalogSnapshot>,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl FollowedSnapshot {
    /// Follows `path`, starting from `current` (what was read from it).
    pub fn new(path: PathBuf, current: std::sync::Arc<CatalogSnapshot>) -> FollowedSnapshot {
        let seen = file_id(&path);
        FollowedSnapshot { path, seen, current }
    }

    /// Switches to a newer snapshot if one was put in place. A file that cannot be read keeps the current
    /// version on screen (logged): an unreadable update must not blank the catalog.
    pub fn refresh(&mut self) {
        let id = file_id(&self.path);
        if id.is_none() || id == self.seen {
            return;
        }
        self.seen = id;
        match CatalogSnapshot::open(&self.path) {
            Ok(Some(next)) => {
                tracing::info!(
                    from = self.current.version,
                    to = next.version,
                    "catalog version now served"
                );
                self.current = std::sync::Arc::new(next);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "new catalog snapshot unreadable; keeping the current one"),
        }
    }

    /// The snapshot served now.
    pub fn current(&self) -> &CatalogSnapshot {
        &self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Unit;

    fn product(sku: &str, gtins: &[&str], item: Option<&str>, price: i64) -> Product {
        Product {
            sku: sku.into(),
            gtins: gtins.iter().map(|g| Gtin::parse(g).expect("valid test GTIN")).collect(),
            item_code: item.map(str::to_owned),
            name: format!("Caffè {sku}"),
            brand: "Marca".into(),
            description: String::new(),
            price_cents: price,
            member_price_cents: None,
            vat_rate_bp: 2200,
            promotion: None,
            stock: 1,
            min_age: None,
            unit: Unit::Piece,
            url: None,
        }
    }

    fn sku(r: Result<Option<Product>, StoreError>) -> Option<String> {
        r.expect("read").map(|p| p.sku)
    }

    #[test]
    fn every_gtin_and_item_code_is_found_and_unknown_ones_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.snap");
        let products = [
            product("B", &["8001234567897", "80098768"], None, 129),
            product("A", &["8009876543217"], None, 399),
            product("LOOSE", &[], Some("012345"), 990),
        ];
        CatalogSnapshot::write(&path, 7, products.into_iter().map(Ok)).expect("write");
        let s = CatalogSnapshot::open(&path).expect("open").expect("exists");
        assert_eq!((s.version(), s.len().expect("len")), (7, 3));
        let g = |c: &str| sku(s.by_gtin(&Gtin::parse(c).expect("valid")));
        assert_eq!(g("8001234567897").as_deref(), Some("B"));
        assert_eq!(g("80098768").as_deref(), Some("B"));
        assert_eq!(g("8009876543217").as_deref(), Some("A"));
        assert_eq!(g("8001234567880"), None);
        assert_eq!(sku(s.by_item_code("012345")).as_deref(), Some("LOOSE"));
        assert_eq!(sku(s.by_item_code("12345")), None, "leading zeros are part of the code");
        assert_eq!(sku(s.by_item_code("abc")), None);
        let found: Vec<String> = s
            .search("CAFFE a", 10)
            .expect("search")
            .into_iter()
            .map(|p| p.sku)
            .collect();
        assert_eq!(found, ["A"]);
    }

    #[test]
    fn a_missing_file_is_none_and_a_damaged_one_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.snap");
        assert!(CatalogSnapshot::open(&path).expect("no error").is_none());
        CatalogSnapshot::write(&path, 1, [Ok(product("A", &["8009876543217"], None, 399))]).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 3]).expect("truncate");
        let err = CatalogSnapshot::open(&path).err().expect("truncated file refused");
        assert!(err.to_string().contains("catalog.snap"), "{err}");
    }

    #[test]
    fn an_unreadable_product_keeps_the_previous_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.snap");
        CatalogSnapshot::write(&path, 1, [Ok(product("A", &["8009876543217"], None, 399))]).expect("write");
        let bad = [
            Ok(product("A", &["8009876543217"], None, 349)),
            Err("p/B: bad".to_string()),
        ];
        assert!(CatalogSnapshot::write(&path, 2, bad).is_err());
        let s = CatalogSnapshot::open(&path).expect("open").expect("exists");
        assert_eq!(s.version(), 1);
        assert!(
            !dir.path().join("catalog.tmp").exists(),
            "no temporary file left behind"
        );
    }

    #[test]
    fn a_follower_serves_the_new_version_once_it_is_renamed_into_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.snap");
        CatalogSnapshot::write(&path, 1, [Ok(product("A", &["8009876543217"], None, 399))]).expect("write");
        let first = std::sync::Arc::new(CatalogSnapshot::open(&path).expect("open").expect("exists"));
        let mut f = FollowedSnapshot::new(path.clone(), first);
        let price = |f: &FollowedSnapshot| {
            f.current()
                .by_gtin(&Gtin::parse("8009876543217").expect("valid"))
                .expect("read")
                .map(|p| p.price_cents)
        };
        f.refresh();
        assert_eq!(price(&f), Some(399), "nothing new: same version");
        CatalogSnapshot::write(&path, 2, [Ok(product("A", &["8009876543217"], None, 349))]).expect("rewrite");
        f.refresh();
        assert_eq!((f.current().version(), price(&f)), (2, Some(349)));
    }

    #[test]
    fn the_empty_catalog_finds_nothing() {
        let s = CatalogSnapshot::empty();
        assert_eq!(CatalogSnapshot::version(&s), 0);
        assert_eq!(sku(s.by_gtin(&Gtin::parse("8009876543217").expect("valid"))), None);
        assert!(s.search("caffe", 5).expect("search").is_empty());
    }
}
