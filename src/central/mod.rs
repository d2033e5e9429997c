//! Central's side of signed catalog updates: the signing key ([`keygen`], [`load_signing_key`]) and the plan of
//! one publish ([`plan_publish`]): which signed and chunked MQTT messages to send for a store's new catalog file,
//! and what to remember once they are sent ([`Plan::commit`]).
//!
//! Owns the per-store publish state file `{state_dir}/catalog-{store}.json`: the last published central version,
//! its chunk count and a digest of every product it held (to compute the next delta), plus the highest version
//! ever handed out. Never talks to the broker (the MQTT task sends [`Plan::messages`] in order) and never reads
//! a device's storage.
//!
//! Versions: each plan takes a new version above every version ever planned, and that reservation is made
//! durable before the plan is returned. So a publish that failed half-way never lets a later, different
//! catalog reuse its version number (a device that got part of it would otherwise keep the wrong catalog).
//! The delta of the next plan starts from the last *committed* version; a device that applied a delta of a
//! failed publish sees the next delta as out of order and catches up from the snapshot that always follows.

pub mod cli;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::import::{LineReader, Validator};
use crate::catalog::update::{
    chunk_topic, delta_topic, encode_chunk, hex, seal, sha256, snapshot_topic, Delta, KeyError, SigningKey,
    SnapshotManifest, UpdateType, MAX_BLOB_BYTES, MAX_CHUNK_BYTES,
};
use crate::catalog::Product;

/// The private key file [`keygen`] writes: base64 of the 32-byte Ed25519 seed, mode 0600.
pub const PRIVATE_KEY_FILE: &str = "omnigate-signing.key";

/// The public key file [`keygen`] writes: base64 of the 32-byte public key, for device configs.
pub const PUBLIC_KEY_FILE: &str = "omnigate-signing.pub";

/// Refused lines listed in an error message before "and N more".
const LISTED_LINES: usize = 20;

/// A central failure, naming the file, store or line.
#[derive(Debug, thiserror::Error)]
pub enum CentralError {
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
    /// keygen never overwrites a key.
    #[error("{path} already exists: refusing to overwrite a signing key (move it away first)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The key file does not hold a key.
    #[error("signing key {path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        source: KeyError,
    },
    /// The OS has no randomness to give.
    #[error("cannot get random bytes from the OS for a new key: {0}")]
    Random(String),
    /// Lines of the catalog file are invalid: nothing is planned.
    #[error("{path}: {} line(s) refused, nothing published: {}", rejected.len(), list_lines(rejected))]
    Rejected {
        /// The catalog file.
        path: PathBuf,
        /// Line number (1-based) and reason, in file order.
        rejected: Vec<(u64, String)>,
    },
    /// Publishing an empty catalog would delete every product on every device: surely a mistake.
    #[error("{path}: no products; refusing to publish an empty catalog")]
    Empty {
        /// The catalog file.
        path: PathBuf,
    },
    /// A store id that cannot be a topic level and a file name.
    #[error("store id {store:?}: must be 1 to 64 of A-Z a-z 0-9 _ -")]
    BadStore {
        /// The id.
        store: String,
    },
    /// A chunk size outside the limits devices accept.
    #[error("chunk size {chunk_bytes}: must be 1024..={MAX_CHUNK_BYTES} bytes")]
    ChunkBytes {
        /// The size asked for.
        chunk_bytes: u64,
    },
    /// The compressed catalog is over what a device assembles.
    #[error("{path}: compresses to {bytes} bytes, devices accept at most {MAX_BLOB_BYTES}")]
    TooLarge {
        /// The catalog file.
        path: PathBuf,
        /// Compressed size.
        bytes: u64,
    },
    /// The state file cannot be read, or changed under a plan.
    #[error("publish state {path}: {reason}")]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn list_lines(rejected: &[(u64, String)]) -> String {
    let mut s: Vec<String> = rejected
        .iter()
        .take(LISTED_LINES)
        .map(|(n, r)| format!("line {n}: {r}"))
        .collect();
    if rejected.len() > LISTED_LINES {
        s.push(format!("and {} more", rejected.len() - LISTED_LINES));
    }
    s.join("; ")
}

/// Creates a new signing key in `out_dir`: [`PRIVATE_KEY_FILE`] (mode 0600) and [`PUBLIC_KEY_FILE`], both
/// fsynced. Refuses if either exists. Returns the public key (base64), for device configs.
pub fn keygen(out_dir: &Path) -> Result<String, CentralError> {
    let io = |op, path: &Path| {
        let path = path.to_owned();
        move |source| CentralError::Io { op, path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io("cannot create", out_dir))?;
    let private = out_dir.join(PRIVATE_KEY_FILE);
    let public = out_dir.join(PUBLIC_KEY_FILE);
    for path in [&private, &public] {
        if path.exists() {
            return Err(CentralError::Exists { path: path.clone() });
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| CentralError::Random(e.to_string()))?;
    let key = SigningKey::from_seed(&seed);
    seed.fill(0);
    let write = |path: &Path, mode: u32, text: String| -> Result<(), CentralError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => CentralError::Exists { path: path.to_owned() },
                _ => CentralError::Io {
                    op: "cannot create",
                    path: path.to_owned(),
                    source,
                },
            })?;
        file.write_all(text.as_bytes()).map_err(io("cannot write", path))?;
        file.write_all(b"\n").map_err(io("cannot write", path))?;
        file.sync_all().map_err(io("cannot fsync", path))
    };
    write(&private, 0o600, key.seed_base64())?;
    let public_b64 = key.public_base64();
    write(&public, 0o644, public_b64.clone())?;
    crate::durable::sync_dir(out_dir).map_err(io("cannot fsync", out_dir))?;
    tracing::info!(key_id = key.key_id(), dir = %out_dir.display(), "signing key created");
    Ok(public_b64)
}

/// Reads a private key file written by [`keygen`]. Warns (never logging the key) when group or others may
/// read it.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, CentralError> {
    let io = |op| {
        move |source| CentralError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    };
    let meta = std::fs::metadata(path).map_err(io("cannot read metadata of"))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "signing key file is readable by group or others; chmod 600 it");
    }
    let text = std::fs::read_to_string(path).map_err(io("cannot read"))?;
    SigningKey::from_base64(&text).map_err(|source| CentralError::Key {
        path: path.to_owned(),
        source,
    })
}

/// One MQTT message to send, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    /// Full topic.
    pub topic: String,
    /// Payload (empty: clears a retained topic).
    pub payload: Vec<u8>,
    /// Retained.
    pub retain: bool,
}

/// What a plan sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanKind {
    /// A delta, then the refreshed snapshot.
    Delta,
    /// The snapshot (first publish, forced, or a delta too large for one packet). After a first publish it is
    /// preceded by an empty "gap" delta from a skipped version, so that online devices fetch the snapshot.
    Snapshot,
    /// Nothing changed since the last publish: no message, no new version.
    Unchanged,
}

/// The per-store publish state (see the module docs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishState {
    store: String,
    /// Last committed (fully published) version; 0 = never published.
    version: u64,
    /// Highest version ever planned (reserved before publishing).
    #[serde(default)]
    reserved: u64,
    /// Chunk count of the last committed snapshot (to clear stale chunk topics).
    chunks: u32,
    /// SKU → hex of the first 16 bytes of sha256 of the product's canonical JSON, at `version`.
    products: BTreeMap<String, String>,
}

/// One publish: the messages in order, and the state to commit once the broker took them all.
#[derive(Debug)]
pub struct Plan {
    /// Store id.
    pub store: String,
    /// The central version this plan publishes (unchanged plans: the current one).
    pub version: u64,
    /// The version the delta starts from (the last committed one; 0 for a first publish).
    pub from_version: u64,
    /// What it sends.
    pub kind: PlanKind,
    /// Products in the new catalog.
    pub products: u64,
    /// Products added or changed since the last committed publish.
    pub changed: u64,
    /// Products removed since the last committed publish.
    pub deleted: u64,
    /// The messages, in the order they must be sent: delta, chunks, manifest, then cleared stale chunks.
    pub messages: Vec<OutMessage>,
    state: PublishState,
}

impl Plan {
    /// Records the publish as done (after every message was accepted by the broker): atomic write, fsync,
    /// rename, fsync of the directory. Refuses if another publish committed since this plan was made.
    pub fn commit(&self, state_dir: &Path) -> Result<(), CentralError> {
        if self.kind == PlanKind::Unchanged {
            return Ok(());
        }
        let path = state_path(state_dir, &self.store);
        let on_disk = read_state(&path, &self.store)?;
        if on_disk.version != self.from_version {
            return Err(CentralError::State {
                path,
                reason: format!(
                    "version {} was committed since this plan (from {}) was made; plan again",
                    on_disk.version, self.from_version
                ),
            });
        }
        let mut state = self.state.clone();
        state.reserved = state.reserved.max(on_disk.reserved);
        write_state(&path, &state)
    }
}

fn state_path(state_dir: &Path, store: &str) -> PathBuf {
    state_dir.join(format!("catalog-{store}.json"))
}

fn read_state(path: &Path, store: &str) -> Result<PublishState, CentralError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(PublishState {
                store: store.to_owned(),
                ..PublishState::default()
            })
        }
        Err(source) => {
            return Err(CentralError::Io {
                op: "cannot read",
                path: path.to_owned(),
                source,
            })
        }
    };
    let state: PublishState = serde_json::from_slice(&bytes).map_err(|e| CentralError::State {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if state.store != store {
        return Err(CentralError::State {
            path: path.to_owned(),
            reason: format!("holds store {:?}, not {store:?}", state.store),
        });
    }
    Ok(state)
}

fn write_state(path: &Path, state: &PublishState) -> Result<(), CentralError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| CentralError::Io {
        op: "cannot create",
        path: dir.to_owned(),
        source,
    })?;
    let bytes = serde_json::to_vec(state).expect("strings and numbers always serialise");
    crate::durable::write_atomic(path, &bytes).map_err(|source| CentralError::Io {
        op: "cannot write",
        path: path.to_owned(),
        source,
    })
}

/// Whether `store` can be a topic level and part of a file name.
fn valid_store(store: &str) -> bool {
    (1..=64).contains(&store.len())
        && store
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn digest_of(canonical: &str) -> String {
    hex(&sha256(canonical.as_bytes())[..16])
}

/// Plans the publish of `jsonl_path` (the complete catalog of `store`, JSON Lines as for `omnigate catalog
/// import`) under a new version: checks every line like an import (an error lists the refused lines), builds
/// the snapshot (raw deflate, `chunk_bytes` of data per chunk) and, when there is a last publish to start from,
/// not `force_snapshot`, and its signed envelope fits in `chunk_bytes`, a delta sent first. Otherwise, after a
/// first publish, an empty delta from a skipped version goes first so that online devices (which listen to
/// deltas only) see a gap and fetch the snapshot; a forced snapshot thus makes every device download it. The
/// new version is reserved durably in `state_dir` before returning; call [`Plan::commit`] after sending every
/// message. Nothing changed (and not forced): [`PlanKind::Unchanged`], no message.
pub fn plan_publish(
    store: &str,
    jsonl_path: &Path,
    state_dir: &Path,
    key: &SigningKey,
    chunk_bytes: u64,
    force_snapshot: bool,
) -> Result<Plan, CentralError> {
    if !valid_store(store) {
        return Err(CentralError::BadStore {
            store: store.to_owned(),
        });
    }
    if !(1024..=MAX_CHUNK_BYTES).contains(&chunk_bytes) {
        return Err(CentralError::ChunkBytes { chunk_bytes });
    }
    let path = state_path(state_dir, store);
    let mut state = read_state(&path, store)?;
    let io = |op| {
        move |source| CentralError::Io {
            op,
            path: jsonl_path.to_owned(),
            source,
        }
    };
    let file = File::open(jsonl_path).map_err(io("cannot open"))?;
    let mut lines = LineReader::new(BufReader::with_capacity(256 * 1024, file));
    let mut validator = Validator::new();
    let mut rejected = Vec::new();
    let mut blob = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let mut products: BTreeMap<String, String> = BTreeMap::new();
    let mut upsert: Vec<Product> = Vec::new();
    // The upserts' JSON size so far; past `chunk_bytes` no delta can fit, so stop collecting them.
    let mut upsert_bytes = 0u64;
    let mut changed = 0u64;
    while let Some(line) = lines.next_line().map_err(io("cannot read"))? {
        let text = match line.text {
            Ok(t) => t,
            Err(reason) => {
                rejected.push((line.number, reason));
                continue;
            }
        };
        let product = match validator.accept(line.number, &text) {
            Ok(p) => p,
            Err(reason) => {
                rejected.push((line.number, reason));
                continue;
            }
        };
        if !rejected.is_empty() {
            continue;
        }
        // Canonical form (GTINs as GTIN-14, fields in one order): the same product always digests the same.
        let canonical = serde_json::to_string(&product).expect("a product always serialises");
        blob.write_all(canonical.as_bytes()).map_err(io("cannot compress"))?;
        blob.write_all(b"\n").map_err(io("cannot compress"))?;
        let digest = digest_of(&canonical);
        if state.products.get(&product.sku) != Some(&digest) {
            changed += 1;
            upsert_bytes += canonical.len() as u64 + 1;
            if upsert_bytes <= chunk_bytes {
                upsert.push(product.clone());
            }
        }
        products.insert(product.sku, digest);
    }
    drop(validator);
    if !rejected.is_empty() {
        return Err(CentralError::Rejected {
            path: jsonl_path.to_owned(),
            rejected,
        });
    }
    if products.is_empty() {
        return Err(CentralError::Empty {
            path: jsonl_path.to_owned(),
        });
    }
    let delete: Vec<String> = state
        .products
        .keys()
        .filter(|sku| !products.contains_key(*sku))
        .cloned()
        .collect();
    let deleted = delete.len() as u64;
    let count = products.len() as u64;
    let from_version = state.version;
    if from_version > 0 && changed == 0 && deleted == 0 && !force_snapshot {
        return Ok(Plan {
            store: store.to_owned(),
            version: from_version,
            from_version,
            kind: PlanKind::Unchanged,
            products: count,
            changed,
            deleted,
            messages: Vec::new(),
            state,
        });
    }
    let blob = blob.finish().map_err(io("cannot compress"))?;
    if blob.len() as u64 > MAX_BLOB_BYTES {
        return Err(CentralError::TooLarge {
            path: jsonl_path.to_owned(),
            bytes: blob.len() as u64,
        });
    }

    let base = state.version.max(state.reserved);
    let mut version = base + 1;
    let mut messages = Vec::new();
    let mut kind = PlanKind::Snapshot;
    if from_version > 0 && !force_snapshot && upsert_bytes <= chunk_bytes {
        let body = Delta {
            store: store.to_owned(),
            from_version,
            version,
            upsert,
            delete,
        }
        .encode();
        let payload = seal(UpdateType::CatalogDelta, &body, key);
        if payload.len() as u64 <= chunk_bytes {
            kind = PlanKind::Delta;
            messages.push(OutMessage {
                topic: delta_topic(store),
                payload,
                retain: false,
            });
        }
    }
    if kind == PlanKind::Snapshot && from_version > 0 {
        // Devices online at an older version listen to deltas only. Tell them with an empty delta from a version
        // no catalog ever had (`base + 1`, skipped) to the snapshot's: it is a gap for every device, so each
        // fetches the snapshot, which then covers the delta.
        version = base + 2;
        let signal = Delta {
            store: store.to_owned(),
            from_version: base + 1,
            version,
            upsert: Vec::new(),
            delete: Vec::new(),
        };
        messages.push(OutMessage {
            topic: delta_topic(store),
            payload: seal(UpdateType::CatalogDelta, &signal.encode(), key),
            retain: false,
        });
    }
    // Reserve the version before any message can carry it.
    state.reserved = version;
    write_state(&path, &state)?;

    let chunk_len = usize::try_from(chunk_bytes).expect("chunk_bytes is at most MAX_CHUNK_BYTES (1 MiB)");
    // At most MAX_BLOB_BYTES / 1024 chunks: fits u32.
    let chunks = u32::try_from(blob.len().div_ceil(chunk_len)).expect("at most 65 536 chunks");
    for (i, data) in blob.chunks(chunk_len).enumerate() {
        let index = u32::try_from(i).expect("fewer chunks than `chunks`");
        messages.push(OutMessage {
            topic: chunk_topic(store, index),
            payload: encode_chunk(version, index, chunks, data),
            retain: true,
        });
    }
    let manifest = SnapshotManifest {
        store: store.to_owned(),
        version,
        products: count,
        compression: "deflate".to_owned(),
        bytes: blob.len() as u64,
        chunks,
        chunk_bytes,
        sha256: hex(&sha256(&blob)),
    };
    messages.push(OutMessage {
        topic: snapshot_topic(store),
        payload: seal(UpdateType::CatalogSnapshot, &manifest.encode(), key),
        retain: true,
    });
    for stale in chunks..state.chunks {
        messages.push(OutMessage {
            topic: chunk_topic(store, stale),
            payload: Vec::new(),
            retain: true,
        });
    }
    tracing::info!(
        store,
        version,
        from_version,
        ?kind,
        products = count,
        changed,
        deleted,
        "catalog publish planned"
    );
    Ok(Plan {
        store: store.to_owned(),
        version,
        from_version,
        kind,
        products: count,
        changed,
        deleted,
        messages,
        state: PublishState {
            store: store.to_owned(),
            version,
            reserved: version,
            chunks,
            products,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str =
        r#"{"sku":"A1","gtins":["8001234567897"],"name":"Caffè","brand":"X","price_cents":300,"vat_rate_bp":2200}"#;
    const Q: &str =
        r#"{"sku":"B2","gtins":["80005001"],"name":"Tic Tac","brand":"Ferrero","price_cents":99,"vat_rate_bp":1000}"#;

    fn topics(plan: &Plan) -> Vec<(String, bool, bool)> {
        plan.messages
            .iter()
            .map(|m| {
                (
                    m.topic.rsplit("catalog/").next().unwrap_or("").to_owned(),
                    m.retain,
                    m.payload.is_empty(),
                )
            })
            .collect()
    }

    #[test]
    fn keygen_writes_a_private_file_only_the_owner_reads_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let public = keygen(dir.path()).expect("keygen");
        let private = dir.path().join(PRIVATE_KEY_FILE);
        let mode = std::fs::metadata(&private).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = load_signing_key(&private).expect("loads");
        assert_eq!(key.public_base64(), public);
        let pub_file = std::fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).expect("pub file");
        assert_eq!(pub_file.trim(), public);
        let err = keygen(dir.path()).expect_err("refuses to overwrite");
        assert!(matches!(err, CentralError::Exists { .. }), "{err}");
        assert_eq!(load_signing_key(&private).expect("unchanged").public_base64(), public);
        std::fs::write(dir.path().join("bad.key"), "nope").expect("write");
        let err = load_signing_key(&dir.path().join("bad.key")).expect_err("not a key");
        assert!(err.to_string().contains("bad.key"), "{err}");
    }

    #[test]
    fn first_publish_is_a_snapshot_then_deltas_then_stale_chunks_are_cleared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = SigningKey::from_seed(&[3; 32]);
        let file = dir.path().join("c.jsonl");
        let state = dir.path().join("state");
        // Incompressible descriptions make several 1 KiB chunks.
        let big: Vec<String> = (0..20u64)
            .map(|i| {
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ i;
                let noise: String = (0..200)
                    .map(|_| {
                        // xorshift: text deflate cannot shrink much.
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        char::from(b'a' + (x % 26) as u8)
                    })
                    .collect();
                format!(
                    r#"{{"sku":"N{i}","name":"n","brand":"b","description":"{noise}","price_cents":1,"vat_rate_bp":0}}"#
                )
            })
            .collect();
        std::fs::write(&file, format!("{P}\n{Q}\n{}\n", big.join("\n"))).expect("write");
        let plan = plan_publish("S1", &file, &state, &key, 1024, false).expect("plan");
        assert_eq!(
            (plan.kind, plan.version, plan.from_version, plan.products),
            (PlanKind::Snapshot, 1, 0, 22)
        );
        let first_chunks = plan.messages.len() - 1;
        assert!(first_chunks > 1, "several chunks");
        assert_eq!(topics(&plan).last().map(|t| t.0.as_str()), Some("snapshot"));
        plan.commit(&state).expect("commit");

        // Unchanged: nothing to send.
        let same = plan_publish("S1", &file, &state, &key, 1024, false).expect("plan");
        assert_eq!((same.kind, same.messages.len()), (PlanKind::Unchanged, 0));

        std::fs::write(&file, format!("{}\n", P.replace("300", "350"))).expect("write");
        let plan = plan_publish("S1", &file, &state, &key, 1024, false).expect("plan");
        assert_eq!((plan.kind, plan.version, plan.from_version), (PlanKind::Delta, 2, 1));
        assert_eq!((plan.changed, plan.deleted), (1, 21));
        let t = topics(&plan);
        assert_eq!(t[0], ("delta".to_owned(), false, false));
        assert_eq!(t[1], ("snapshot/chunk/0".to_owned(), true, false));
        assert_eq!(t[2], ("snapshot".to_owned(), true, false));
        assert_eq!(t.len(), 3 + first_chunks - 1, "every older chunk topic is cleared");
        assert!(t[3..].iter().all(|(_, retain, empty)| *retain && *empty));
        assert_eq!(
            t.last().map(|x| x.0.clone()),
            Some(format!("snapshot/chunk/{}", first_chunks - 1))
        );
    }

    #[test]
    fn a_change_too_large_for_one_delta_sends_a_gap_delta_and_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = SigningKey::from_seed(&[3; 32]);
        let file = dir.path().join("c.jsonl");
        let lines = |price: i64| -> String {
            (0..40)
                .map(|i| {
                    format!(r#"{{"sku":"N{i}","name":"n","brand":"b","price_cents":{price},"vat_rate_bp":0}}"#) + "\n"
                })
                .collect()
        };
        std::fs::write(&file, lines(1)).expect("write");
        plan_publish("S1", &file, dir.path(), &key, 1024, false)
            .expect("plan")
            .commit(dir.path())
            .expect("commit");
        std::fs::write(&file, lines(2)).expect("write");
        let plan = plan_publish("S1", &file, dir.path(), &key, 1024, false).expect("plan");
        assert_eq!((plan.kind, plan.from_version, plan.version), (PlanKind::Snapshot, 1, 3));
        let body = crate::catalog::update::open(&plan.messages[0].payload, &key.trusted(), UpdateType::CatalogDelta)
            .expect("a signed delta");
        let gap = Delta::decode(&body, "S1").expect("valid");
        assert_eq!(
            (gap.from_version, gap.version, gap.upsert.len(), gap.delete.len()),
            (2, 3, 0, 0)
        );
        assert_eq!(topics(&plan)[1].0, "snapshot/chunk/0");
    }

    #[test]
    fn an_uncommitted_version_is_never_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = SigningKey::from_seed(&[3; 32]);
        let file = dir.path().join("c.jsonl");
        std::fs::write(&file, format!("{P}\n")).expect("write");
        let first = plan_publish("S1", &file, dir.path(), &key, 4096, false).expect("plan");
        first.commit(dir.path()).expect("commit");
        std::fs::write(&file, format!("{Q}\n")).expect("write");
        let failed = plan_publish("S1", &file, dir.path(), &key, 4096, false).expect("plan");
        assert_eq!(failed.version, 2);
        // Not committed (the broker went away); the next plan takes 3, still from 1.
        let retry = plan_publish("S1", &file, dir.path(), &key, 4096, false).expect("plan");
        assert_eq!((retry.version, retry.from_version), (3, 1));
        retry.commit(dir.path()).expect("commit");
        let err = failed.commit(dir.path()).expect_err("stale plan");
        assert!(err.to_string().contains("plan again"), "{err}");
    }

    #[test]
    fn a_bad_file_is_refused_with_its_line_numbers_and_nothing_is_reserved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = SigningKey::from_seed(&[3; 32]);
        let file = dir.path().join("c.jsonl");
        std::fs::write(&file, format!("{P}\n{}\n{P}\n", P.replace("300", "-1"))).expect("write");
        let err = plan_publish("S1", &file, dir.path(), &key, 4096, false).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("line 2: price_cents -1") && text.contains("line 3: sku \"A1\""),
            "{text}"
        );
        assert!(!state_path(dir.path(), "S1").exists());
        std::fs::write(&file, "\n").expect("write");
        assert!(matches!(
            plan_publish("S1", &file, dir.path(), &key, 4096, false),
            Err(CentralError::Empty { .. })
        ));
        assert!(matches!(
            plan_publish("S/1", &file, dir.path(), &key, 4096, false),
            Err(CentralError::BadStore { .. })
        ));
    }
}
