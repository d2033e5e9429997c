//! Signed catalog updates from central, pure and sans-IO: the signed envelope ([`seal`], [`open`]), the typed
//! bodies ([`Delta`], [`SnapshotManifest`], snapshot chunks), reassembly of a chunked snapshot
//! ([`ChunkAssembler`]), bounded inflation ([`inflate_capped`]) and the version chain that decides what a device
//! does with each update ([`CatalogChain`]). The wire format is the fixed protocol of the omnigate brief
//! (`omnigate/v1`); the topic names are here too ([`delta_topic`] and friends).
//!
//! Must never touch the network, the clock or storage: the MQTT task feeds payloads in, and applies what the
//! chain says through `Storage::apply_central`.
//!
//! # Device flow (what the MQTT task does)
//! - at start: `CatalogChain::new(storage.central_version())`, [`ChunkAssembler::set_floor`] with the same
//!   version, and subscribe to the snapshot topics while [`CatalogChain::needs_snapshot`].
//! - delta payload: [`open`] (type `catalog.delta`) → [`Delta::decode`] (checks the store and every product like
//!   an import line) → [`CatalogChain::on_delta`]: `Apply` → `Storage::apply_central` →
//!   [`CatalogChain::applied`], then apply every [`CatalogChain::next_ready`] the same way. `NeedSnapshot` →
//!   subscribe to the snapshot topics.
//! - manifest payload: [`open`] (type `catalog.snapshot`) → [`SnapshotManifest::decode`] →
//!   [`CatalogChain::on_manifest`]: `Apply` → [`ChunkAssembler::set_manifest`].
//! - chunk payload (binary, unsigned: the signed manifest's sha256 covers it) → [`ChunkAssembler::add_chunk`];
//!   when it returns the blob: [`inflate_capped`] → `Storage::apply_central` (snapshot) →
//!   [`CatalogChain::applied`] → held deltas via [`CatalogChain::next_ready`]; unsubscribe from the snapshot
//!   once [`CatalogChain::needs_snapshot`] is false. On a `corrupt` chunk or hash, resubscribe to the chunk
//!   topics so the broker sends the retained chunks again.
//!
//! When a change is too large for one delta, central sends the snapshot preceded by an empty delta from a
//! version no catalog had: every online device sees a gap and fetches the snapshot (see [`crate::central`]).
//!
//! Every refusal is an [`UpdateError`] whose [`UpdateError::reason`] is the stable [`RejectReason`] reported in
//! the `catalog.rejected` event.
//!
//! # Redelivery
//! MQTT QoS 1 is at-least-once: a delta may arrive again after it was applied. A delta whose version equals the
//! current version is ignored silently when its body is byte-identical to the delta that brought the catalog to
//! that version, or when that delta is unknown (after a restart the current version comes from storage, and
//! a signed update at the current version cannot change anything). A delta at the current version with a
//! different body, or any delta below it, is a `rollback`.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::import::Validator;
use super::Product;

/// Domain separation prefix of every signed message.
const DOMAIN: &[u8] = b"omnigate/v1\n";

/// Largest signed envelope a device accepts (a delta must fit one MQTT packet; central keeps it far below).
pub const MAX_ENVELOPE_BYTES: usize = 1024 * 1024;

/// Largest data part of one snapshot chunk.
pub const MAX_CHUNK_BYTES: u64 = 1024 * 1024;

/// Largest compressed snapshot a device assembles in memory (a 100 000-product catalog deflates to a few MB).
pub const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;

/// Largest inflated snapshot a device reads (a 100 000-product catalog is about 25 MB of JSON Lines).
pub const MAX_INFLATED_BYTES: u64 = 512 * 1024 * 1024;

/// Deltas kept while waiting for a snapshot after a gap.
pub const MAX_HELD_DELTAS: usize = 16;

/// Chunk header: `OGC1`, version u64, index u32, count u32 (big-endian).
pub const CHUNK_HEADER_LEN: usize = 4 + 8 + 4 + 4;
const CHUNK_MAGIC: &[u8; 4] = b"OGC1";

/// `omnigate/v1/stores/{store}/catalog/delta`.
pub fn delta_topic(store: &str) -> String {
    format!("omnigate/v1/stores/{store}/catalog/delta")
}

/// `omnigate/v1/stores/{store}/catalog/snapshot` (the manifest, retained).
pub fn snapshot_topic(store: &str) -> String {
    format!("omnigate/v1/stores/{store}/catalog/snapshot")
}

/// `omnigate/v1/stores/{store}/catalog/snapshot/chunk/{index}` (retained).
pub fn chunk_topic(store: &str, index: u32) -> String {
    format!("omnigate/v1/stores/{store}/catalog/snapshot/chunk/{index}")
}

/// The subscription filter for every chunk of a store.
pub fn chunk_topic_filter(store: &str) -> String {
    format!("omnigate/v1/stores/{store}/catalog/snapshot/chunk/+")
}

/// Why an update was refused; the `reason` of a `catalog.rejected` event. The names are stable (documented
/// for operators), never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The payload is an envelope without a signature.
    Unsigned,
    /// The payload is not a well-formed envelope or body.
    Malformed,
    /// Signed with a key this device does not trust.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// For another store.
    WrongStore,
    /// A chunk or the assembled snapshot is damaged (hash mismatch, bad deflate, wrong sizes).
    Corrupt,
    /// A product is invalid (as an import line would be).
    BadProduct,
    /// Older than (or conflicting with) the catalog the device has.
    Rollback,
    /// Cannot be applied in sequence (and a snapshot does not cover it).
    OutOfOrder,
    /// Over a size limit.
    TooLarge,
}

impl RejectReason {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Unsigned => "unsigned",
            RejectReason::Malformed => "malformed",
            RejectReason::UnknownKey => "unknown_key",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::WrongStore => "wrong_store",
            RejectReason::Corrupt => "corrupt",
            RejectReason::BadProduct => "bad_product",
            RejectReason::Rollback => "rollback",
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::TooLarge => "too_large",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused update: the stable reason, the version it claims when known, and a sentence naming what is wrong
/// (never key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct UpdateError {
    /// The stable reason.
    pub reason: RejectReason,
    /// The central version of the refused update, for the `catalog.rejected` event: `None` when the payload
    /// could not be read far enough (an envelope that does not verify is never parsed).
    pub version: Option<u64>,
    /// What exactly, for the log.
    pub detail: String,
}

impl UpdateError {
    /// A refusal for `reason`.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> UpdateError {
        UpdateError {
            reason,
            version: None,
            detail: detail.into(),
        }
    }

    /// The same refusal, for the update of central `version`.
    pub fn at(self, version: u64) -> UpdateError {
        UpdateError {
            version: Some(version),
            ..self
        }
    }

    /// The stable reason.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The [`UpdateError`] carried by an `io::Error` from [`inflate_capped`]'s reader; any other read error of an
    /// update is damage.
    pub fn from_io(e: &io::Error) -> UpdateError {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<UpdateError>()) {
            Some(u) => u.clone(),
            None => UpdateError::new(RejectReason::Corrupt, format!("cannot read the snapshot: {e}")),
        }
    }
}

fn malformed(detail: impl Into<String>) -> UpdateError {
    UpdateError::new(RejectReason::Malformed, detail)
}

/// A key that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not base64 of the right number of bytes.
    #[error("{what}: expected base64 of {len} bytes: {reason}")]
    Encoding {
        /// Which key.
        what: &'static str,
        /// Bytes expected.
        len: usize,
        /// What is wrong.
        reason: String,
    },
    /// 32 bytes that are not a valid Ed25519 public key.
    #[error("public key: not a valid Ed25519 public key")]
    Invalid,
}

/// What a signed envelope carries; part of the signed message, so one kind can never pass as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateType {
    /// `catalog.delta`.
    CatalogDelta,
    /// `catalog.snapshot` (the manifest).
    CatalogSnapshot,
    /// `command`.
    Command,
}

impl UpdateType {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::CatalogDelta => "catalog.delta",
            UpdateType::CatalogSnapshot => "catalog.snapshot",
            UpdateType::Command => "command",
        }
    }
}

/// Central's private signing key (an Ed25519 seed). Its `Debug` never shows the seed.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    key_id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key of a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        let inner = ed25519_dalek::SigningKey::from_bytes(seed);
        let key_id = key_id_of(&inner.verifying_key().to_bytes());
        SigningKey { inner, key_id }
    }

    /// The key of a private key file's text: base64 of the 32-byte seed (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<SigningKey, KeyError> {
        let seed = decode_key("private key", text)?;
        Ok(SigningKey::from_seed(&seed))
    }

    /// Base64 of the seed: the private key file's content.
    pub fn seed_base64(&self) -> String {
        BASE64.encode(self.inner.to_bytes())
    }

    /// Base64 of the public key: what device configs hold.
    pub fn public_base64(&self) -> String {
        BASE64.encode(self.inner.verifying_key().to_bytes())
    }

    /// The trusted key devices configure for this signing key.
    pub fn trusted(&self) -> TrustedKey {
        TrustedKey {
            key: self.inner.verifying_key(),
            key_id: self.key_id.clone(),
        }
    }

    /// 16 hex digits: the first 8 bytes of sha256 of the public key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// The public key a device trusts (from its config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    key: ed25519_dalek::VerifyingKey,
    key_id: String,
}

impl TrustedKey {
    /// Reads base64 of a 32-byte Ed25519 public key.
    pub fn from_base64(text: &str) -> Result<TrustedKey, KeyError> {
        let bytes = decode_key("public key", text)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Invalid)?;
        Ok(TrustedKey {
            key,
            key_id: key_id_of(&bytes),
        })
    }

    /// 16 hex digits: the first 8 bytes of sha256 of the public key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

fn decode_key(what: &'static str, text: &str) -> Result<[u8; 32], KeyError> {
    let enc = |reason: String| KeyError::Encoding { what, len: 32, reason };
    let bytes = BASE64.decode(text.trim()).map_err(|e| enc(e.to_string()))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| enc(format!("{} bytes", bytes.len())))
}

fn key_id_of(public: &[u8; 32]) -> String {
    hex(&Sha256::digest(public)[..8])
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(bytes));
    out
}

fn signed_message(kind: UpdateType, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + kind.as_str().len() + 1 + body.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(kind.as_str().as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    v: u32,
    #[serde(rename = "type")]
    kind: String,
    key_id: String,
    body: String,
    #[serde(default)]
    sig: Option<String>,
}

/// Signs `body` as `kind`: the envelope payload of the brief.
pub fn seal(kind: UpdateType, body: &[u8], key: &SigningKey) -> Vec<u8> {
    let sig = key.inner.sign(&signed_message(kind, body));
    let envelope = Envelope {
        v: 1,
        kind: kind.as_str().to_owned(),
        key_id: key.key_id.clone(),
        body: BASE64.encode(body),
        sig: Some(BASE64.encode(sig.to_bytes())),
    };
    serde_json::to_vec(&envelope).expect("an envelope of strings always serialises")
}

/// Checks an envelope and returns its body bytes: size, form, type `expected`, key id, then the signature over
/// the exact body bytes. Nothing of the body is parsed before the signature holds.
pub fn open(payload: &[u8], key: &TrustedKey, expected: UpdateType) -> Result<Vec<u8>, UpdateError> {
    if payload.len() > MAX_ENVELOPE_BYTES {
        return Err(UpdateError::new(
            RejectReason::TooLarge,
            format!(
                "{} envelope of {} bytes, at most {MAX_ENVELOPE_BYTES}",
                expected.as_str(),
                payload.len()
            ),
        ));
    }
    let envelope: Envelope = serde_json::from_slice(payload)
        .map_err(|e| malformed(format!("{} payload is not a signed envelope: {e}", expected.as_str())))?;
    if envelope.v != 1 {
        return Err(malformed(format!("envelope v {}, this device reads v 1", envelope.v)));
    }
    if envelope.kind != expected.as_str() {
        return Err(malformed(format!(
            "envelope type \"{}\" where \"{}\" was expected",
            envelope.kind,
            expected.as_str()
        )));
    }
    let Some(sig) = envelope.sig.filter(|s| !s.is_empty()) else {
        return Err(UpdateError::new(
            RejectReason::Unsigned,
            format!("{} envelope has no signature", expected.as_str()),
        ));
    };
    if envelope.key_id != key.key_id {
        return Err(UpdateError::new(
            RejectReason::UnknownKey,
            format!("signed by key {:?}, this device trusts {}", envelope.key_id, key.key_id),
        ));
    }
    let sig = BASE64
        .decode(&sig)
        .map_err(|e| malformed(format!("envelope sig: not base64: {e}")))?;
    let sig = ed25519_dalek::Signature::from_slice(&sig)
        .map_err(|_| malformed(format!("envelope sig: {} bytes, expected 64", sig.len())))?;
    let body = BASE64
        .decode(&envelope.body)
        .map_err(|e| malformed(format!("envelope body: not base64: {e}")))?;
    key.key
        .verify_strict(&signed_message(expected, &body), &sig)
        .map_err(|_| {
            UpdateError::new(
                RejectReason::BadSignature,
                format!(
                    "{} signature does not verify with key {}",
                    expected.as_str(),
                    key.key_id
                ),
            )
        })?;
    Ok(body)
}

fn check_store(found: &str, expected: &str, what: &str) -> Result<(), UpdateError> {
    if found != expected {
        return Err(UpdateError::new(
            RejectReason::WrongStore,
            format!("{what} for store \"{found}\", this device is in store \"{expected}\""),
        ));
    }
    Ok(())
}

/// A `catalog.delta` body: from `from_version` to `version`, upserts (import product objects) and deletions by
/// SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    /// Store id.
    pub store: String,
    /// The central version this delta applies to.
    pub from_version: u64,
    /// The central version after it.
    pub version: u64,
    /// Products added or replaced.
    #[serde(default)]
    pub upsert: Vec<Product>,
    /// SKUs removed.
    #[serde(default)]
    pub delete: Vec<String>,
}

/// The body with products as raw JSON, so each is checked exactly like an import line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelta {
    store: String,
    from_version: u64,
    version: u64,
    #[serde(default)]
    upsert: Vec<serde_json::Value>,
    #[serde(default)]
    delete: Vec<String>,
}

impl Delta {
    /// Parses a verified body for `store`: versions in order, every product valid as an import line, no SKU,
    /// GTIN or item code twice, no SKU both upserted and deleted.
    pub fn decode(body: &[u8], store: &str) -> Result<Delta, UpdateError> {
        let raw: RawDelta = serde_json::from_slice(body).map_err(|e| malformed(format!("catalog.delta body: {e}")))?;
        let version = raw.version;
        Delta::check(raw, store).map_err(|e| e.at(version))
    }

    fn check(raw: RawDelta, store: &str) -> Result<Delta, UpdateError> {
        check_store(&raw.store, store, &format!("catalog.delta {}", raw.version))?;
        if raw.version <= raw.from_version {
            return Err(malformed(format!(
                "catalog.delta from_version {} to version {}: versions must increase",
                raw.from_version, raw.version
            )));
        }
        let bad = |detail: String| {
            UpdateError::new(
                RejectReason::BadProduct,
                format!("catalog.delta {}: {detail}", raw.version),
            )
        };
        let mut validator = Validator::new();
        let mut upsert = Vec::with_capacity(raw.upsert.len());
        for (i, value) in raw.upsert.iter().enumerate() {
            let product = validator
                .accept(i as u64 + 1, &value.to_string())
                .map_err(|e| bad(format!("upsert[{i}]: {e}")))?;
            upsert.push(product);
        }
        let mut deleted = HashSet::new();
        for (i, sku) in raw.delete.iter().enumerate() {
            if sku.is_empty() || validator.has_sku(sku) || !deleted.insert(sku.as_str()) {
                return Err(bad(format!(
                    "delete[{i}] \"{sku}\": empty, deleted twice, or also upserted"
                )));
            }
        }
        Ok(Delta {
            store: raw.store,
            from_version: raw.from_version,
            version: raw.version,
            upsert,
            delete: raw.delete,
        })
    }

    /// The body bytes central signs.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a delta of checked products always serialises")
    }
}

/// A `catalog.snapshot` body: describes the chunked, deflated JSON Lines blob of a whole catalog version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotManifest {
    /// Store id.
    pub store: String,
    /// Central version of this catalog.
    pub version: u64,
    /// Number of products (lines).
    pub products: u64,
    /// Always `deflate` (raw, RFC 1951).
    pub compression: String,
    /// Compressed length.
    pub bytes: u64,
    /// Number of chunks.
    pub chunks: u32,
    /// Data bytes per chunk (the last one may be shorter).
    pub chunk_bytes: u64,
    /// Hex sha256 of the whole compressed blob.
    pub sha256: String,
}

impl SnapshotManifest {
    /// Parses a verified body for `store` and checks it is self-consistent and within the limits.
    pub fn decode(body: &[u8], store: &str) -> Result<SnapshotManifest, UpdateError> {
        let m: SnapshotManifest =
            serde_json::from_slice(body).map_err(|e| malformed(format!("catalog.snapshot body: {e}")))?;
        let version = m.version;
        SnapshotManifest::check(m, store).map_err(|e| e.at(version))
    }

    fn check(m: SnapshotManifest, store: &str) -> Result<SnapshotManifest, UpdateError> {
        check_store(&m.store, store, &format!("catalog.snapshot {}", m.version))?;
        let what = format!("catalog.snapshot {}", m.version);
        if m.compression != "deflate" {
            return Err(malformed(format!(
                "{what}: compression \"{}\", expected deflate",
                m.compression
            )));
        }
        if m.bytes > MAX_BLOB_BYTES {
            return Err(UpdateError::new(
                RejectReason::TooLarge,
                format!("{what}: {} compressed bytes, at most {MAX_BLOB_BYTES}", m.bytes),
            ));
        }
        if m.chunk_bytes == 0 || m.chunk_bytes > MAX_CHUNK_BYTES {
            return Err(UpdateError::new(
                RejectReason::TooLarge,
                format!("{what}: chunk_bytes {}, must be 1..={MAX_CHUNK_BYTES}", m.chunk_bytes),
            ));
        }
        if m.version == 0 || m.bytes == 0 || u64::from(m.chunks) != m.bytes.div_ceil(m.chunk_bytes) {
            return Err(malformed(format!(
                "{what}: {} bytes in {} chunks of {} do not add up (or version 0)",
                m.bytes, m.chunks, m.chunk_bytes
            )));
        }
        if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(malformed(format!("{what}: sha256 is not 64 lowercase hex digits")));
        }
        Ok(m)
    }

    /// The body bytes central signs.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest of strings and numbers always serialises")
    }
}

/// One chunk of a snapshot blob, borrowed from its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Central version of the snapshot it belongs to.
    pub version: u64,
    /// 0-based index.
    pub index: u32,
    /// Number of chunks of that snapshot.
    pub count: u32,
    /// The data.
    pub data: &'a [u8],
}

/// The binary chunk payload: `OGC1` || version u64 BE || index u32 BE || count u32 BE || data.
pub fn encode_chunk(version: u64, index: u32, count: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHUNK_HEADER_LEN + data.len());
    out.extend_from_slice(CHUNK_MAGIC);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Reads a chunk payload. An empty payload (a cleared retained topic) is `Ok(None)`.
pub fn decode_chunk(payload: &[u8]) -> Result<Option<Chunk<'_>>, UpdateError> {
    if payload.is_empty() {
        return Ok(None);
    }
    let corrupt = |d: String| UpdateError::new(RejectReason::Corrupt, d);
    if payload.len() < CHUNK_HEADER_LEN || &payload[..4] != CHUNK_MAGIC {
        return Err(corrupt(format!(
            "snapshot chunk of {} bytes without the OGC1 header",
            payload.len()
        )));
    }
    if (payload.len() - CHUNK_HEADER_LEN) as u64 > MAX_CHUNK_BYTES {
        return Err(UpdateError::new(
            RejectReason::TooLarge,
            format!(
                "snapshot chunk of {} bytes, at most {MAX_CHUNK_BYTES} of data",
                payload.len()
            ),
        ));
    }
    let u32_at = |at: usize| u32::from_be_bytes([payload[at], payload[at + 1], payload[at + 2], payload[at + 3]]);
    let mut v = [0u8; 8];
    v.copy_from_slice(&payload[4..12]);
    let chunk = Chunk {
        version: u64::from_be_bytes(v),
        index: u32_at(12),
        count: u32_at(16),
        data: &payload[CHUNK_HEADER_LEN..],
    };
    if chunk.index >= chunk.count {
        return Err(corrupt(format!(
            "snapshot {} chunk {} of {}: index out of range",
            chunk.version, chunk.index, chunk.count
        ))
        .at(chunk.version));
    }
    Ok(Some(chunk))
}

/// A snapshot whose every chunk arrived and whose sha256 matches the signed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// The manifest it was checked against.
    pub manifest: SnapshotManifest,
    /// The compressed blob.
    pub blob: Vec<u8>,
}

/// Collects the chunks of one snapshot, in any order and with duplicates, before or after its manifest.
///
/// Before the manifest arrives the version to keep is unknown (retained chunks and the retained manifest come on
/// different topics, in no fixed order), so chunks are kept per version within the same hard cap as the blob,
/// dropping the oldest version first. Once the manifest is set only its version is kept, every chunk is checked
/// against it, and memory stays within `manifest.bytes`.
#[derive(Debug, Default)]
pub struct ChunkAssembler {
    manifest: Option<SnapshotManifest>,
    /// Chunks by version, then index.
    parts: BTreeMap<u64, BTreeMap<u32, Vec<u8>>>,
    held_bytes: u64,
    /// Chunks of this version or older are ignored: that catalog (or a newer one) is already applied, so
    /// chunks still in flight after it never take memory.
    floor: u64,
}

impl ChunkAssembler {
    /// An empty assembler.
    pub fn new() -> ChunkAssembler {
        ChunkAssembler::default()
    }

    /// The manifest being assembled, if any.
    pub fn manifest(&self) -> Option<&SnapshotManifest> {
        self.manifest.as_ref()
    }

    /// Forgets every chunk and the manifest (to start over); keeps the floor.
    pub fn reset(&mut self) {
        *self = ChunkAssembler {
            floor: self.floor,
            ..ChunkAssembler::default()
        };
    }

    /// Ignores chunks of `current` and older from now on: call it with the stored central version at start.
    /// An assembled snapshot raises it by itself.
    pub fn set_floor(&mut self, current: u64) {
        self.floor = self.floor.max(current);
        let floor = self.floor;
        self.parts.retain(|&v, _| v > floor);
        self.held_bytes = self
            .parts
            .values()
            .flat_map(|p| p.values())
            .map(|d| d.len() as u64)
            .sum();
    }

    /// Assembles for `manifest` (already verified and accepted by [`CatalogChain::on_manifest`]), keeping the
    /// chunks of its version that already arrived. Returns the blob if they are all here.
    pub fn set_manifest(&mut self, manifest: SnapshotManifest) -> Result<Option<Assembled>, UpdateError> {
        let version = manifest.version;
        self.assemble_for(manifest).map_err(|e| e.at(version))
    }

    fn assemble_for(&mut self, manifest: SnapshotManifest) -> Result<Option<Assembled>, UpdateError> {
        let keep = self.parts.remove(&manifest.version).unwrap_or_default();
        self.parts.clear();
        self.held_bytes = 0;
        self.manifest = Some(manifest);
        let mut first_error = None;
        for (index, data) in keep {
            let version = self.manifest.as_ref().map_or(0, |m| m.version);
            if let Err(e) = self.store_checked(version, index, data) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => self.finish(),
        }
    }

    /// Adds a chunk payload. Chunks of another version than the manifest's are ignored; a chunk that does not
    /// fit the manifest is `corrupt`. Returns the blob once complete and its sha256 matches.
    pub fn add_chunk(&mut self, payload: &[u8]) -> Result<Option<Assembled>, UpdateError> {
        let Some(chunk) = decode_chunk(payload)? else {
            return Ok(None);
        };
        if chunk.version <= self.floor {
            return Ok(None);
        }
        let version = chunk.version;
        self.add_decoded(chunk).map_err(|e| e.at(version))
    }

    fn add_decoded(&mut self, chunk: Chunk<'_>) -> Result<Option<Assembled>, UpdateError> {
        match &self.manifest {
            Some(m) if m.version != chunk.version => Ok(None),
            Some(m) => {
                if chunk.count != m.chunks {
                    return Err(UpdateError::new(
                        RejectReason::Corrupt,
                        format!(
                            "snapshot {} chunk {}: count {}, the manifest says {}",
                            chunk.version, chunk.index, chunk.count, m.chunks
                        ),
                    ));
                }
                self.store_checked(chunk.version, chunk.index, chunk.data.to_vec())?;
                self.finish()
            }
            None => {
                self.hold_early(chunk);
                Ok(None)
            }
        }
    }

    /// Keeps a chunk that came before any manifest, within [`MAX_BLOB_BYTES`], dropping older versions first.
    fn hold_early(&mut self, chunk: Chunk<'_>) {
        let size = chunk.data.len() as u64;
        while self.held_bytes + size > MAX_BLOB_BYTES {
            let Some((&oldest, _)) = self.parts.iter().next() else {
                break;
            };
            if oldest > chunk.version {
                return; // Everything held is newer: this one is the least useful.
            }
            if let Some(dropped) = self.parts.remove(&oldest) {
                self.held_bytes -= dropped.values().map(|d| d.len() as u64).sum::<u64>();
            }
        }
        let slot = self.parts.entry(chunk.version).or_default();
        if let std::collections::btree_map::Entry::Vacant(v) = slot.entry(chunk.index) {
            self.held_bytes += size;
            v.insert(chunk.data.to_vec());
        }
    }

    /// Stores a chunk of the manifest's version after checking its index and length.
    fn store_checked(&mut self, version: u64, index: u32, data: Vec<u8>) -> Result<(), UpdateError> {
        let Some(m) = &self.manifest else { return Ok(()) };
        let expected_len = if index + 1 == m.chunks {
            m.bytes - m.chunk_bytes * u64::from(m.chunks - 1)
        } else {
            m.chunk_bytes
        };
        if index >= m.chunks || data.len() as u64 != expected_len {
            return Err(UpdateError::new(
                RejectReason::Corrupt,
                format!(
                    "snapshot {version} chunk {index}: {} bytes, the manifest expects {expected_len} (of {} chunks)",
                    data.len(),
                    m.chunks
                ),
            ));
        }
        let slot = self.parts.entry(version).or_default();
        if let std::collections::btree_map::Entry::Vacant(v) = slot.entry(index) {
            // Bounded: each index once, each of its manifest length, so the total is at most `m.bytes`.
            self.held_bytes += data.len() as u64;
            v.insert(data);
        }
        Ok(())
    }

    /// The blob if every chunk is here and the hash matches; on a mismatch the chunks are dropped (the manifest
    /// stays), so a resent snapshot can be assembled again.
    fn finish(&mut self) -> Result<Option<Assembled>, UpdateError> {
        let Some(m) = &self.manifest else { return Ok(None) };
        let complete = self
            .parts
            .get(&m.version)
            .is_some_and(|p| p.len() as u64 == u64::from(m.chunks));
        if !complete {
            return Ok(None);
        }
        let parts = self.parts.remove(&m.version).unwrap_or_default();
        self.held_bytes = 0;
        let mut blob = Vec::with_capacity(usize::try_from(m.bytes).unwrap_or(0));
        for data in parts.into_values() {
            blob.extend_from_slice(&data);
        }
        let got = hex(&sha256(&blob));
        if got != m.sha256 {
            return Err(UpdateError::new(
                RejectReason::Corrupt,
                format!(
                    "snapshot {}: sha256 {got} does not match the signed manifest",
                    m.version
                ),
            ));
        }
        let manifest = m.clone();
        self.manifest = None;
        self.set_floor(manifest.version);
        Ok(Some(Assembled { manifest, blob }))
    }
}

/// Raw-deflate `jsonl` (the snapshot blob).
pub fn deflate(jsonl: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(jsonl).expect("writing to a Vec cannot fail");
    enc.finish().expect("finishing into a Vec cannot fail")
}

/// A reader of the inflated blob that fails (with an `io::Error` carrying an [`UpdateError`] `too_large`, or
/// `corrupt` for a bad stream) once more than `max_bytes` come out: a small signed blob cannot fill the disk.
pub fn inflate_capped(blob: &[u8], max_bytes: u64) -> impl BufRead + '_ {
    BufReader::with_capacity(
        64 * 1024,
        Capped {
            inner: flate2::read::DeflateDecoder::new(blob),
            left: max_bytes,
            max: max_bytes,
        },
    )
}

struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Read one byte more than allowed so that exactly `max` bytes still pass.
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want]).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                UpdateError::new(RejectReason::Corrupt, format!("snapshot does not inflate: {e}")),
            )
        })?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                UpdateError::new(
                    RejectReason::TooLarge,
                    format!("snapshot inflates to more than {} bytes", self.max),
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// How a central update was applied: the `kind` of a `catalog.applied` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliedKind {
    /// A delta.
    Delta,
    /// A whole snapshot.
    Snapshot,
}

impl AppliedKind {
    /// `delta` or `snapshot`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppliedKind::Delta => "delta",
            AppliedKind::Snapshot => "snapshot",
        }
    }
}

/// What to do with a delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaDecision {
    /// Apply it now (then call [`CatalogChain::applied`]).
    Apply(Delta),
    /// A redelivery of what is already applied: nothing to do, nothing to report.
    Ignore,
    /// Refuse it and report.
    Reject(UpdateError),
    /// It is ahead of the current version: held; fetch the snapshot.
    NeedSnapshot,
}

/// What to do with a snapshot manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestDecision {
    /// Assemble and apply it.
    Apply,
    /// Already at that version: nothing to do (unsubscribe from the snapshot unless
    /// [`CatalogChain::needs_snapshot`]).
    Ignore,
    /// Older than the current catalog: report `rollback`.
    Reject(UpdateError),
}

/// The device's version chain: the current central version, deltas held after a gap, and the decision for each
/// update (see the module docs). Pure: the caller applies, then tells the chain what was applied.
#[derive(Debug, Clone)]
pub struct CatalogChain {
    current: u64,
    /// sha256 of the body of the delta that brought the catalog to `current`, when known.
    last_delta: Option<[u8; 32]>,
    /// The delta handed out with `Apply`, until [`CatalogChain::applied`] confirms it: (version, digest).
    in_flight: Option<(u64, [u8; 32])>,
    /// Deltas ahead of `current`, by `from_version`.
    held: BTreeMap<u64, (Delta, [u8; 32])>,
    need_snapshot: bool,
}

impl CatalogChain {
    /// A chain at the stored central version (0 = none yet: the first snapshot is needed).
    pub fn new(current: u64) -> CatalogChain {
        CatalogChain {
            current,
            last_delta: None,
            in_flight: None,
            held: BTreeMap::new(),
            need_snapshot: current == 0,
        }
    }

    /// The current central version.
    pub fn current(&self) -> u64 {
        self.current
    }

    /// Whether the device should be subscribed to the snapshot (no catalog yet, or a gap).
    pub fn needs_snapshot(&self) -> bool {
        self.need_snapshot
    }

    /// Number of deltas held after a gap.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Decides for a verified, decoded delta; `body` is its exact signed body (for the redelivery check).
    pub fn on_delta(&mut self, delta: Delta, body: &[u8]) -> DeltaDecision {
        let version = delta.version;
        match self.decide_delta(delta, body) {
            DeltaDecision::Reject(e) => DeltaDecision::Reject(e.at(version)),
            other => other,
        }
    }

    fn decide_delta(&mut self, delta: Delta, body: &[u8]) -> DeltaDecision {
        let digest = sha256(body);
        let c = self.current;
        if delta.version == c && self.last_delta.is_none_or(|d| d == digest) {
            return DeltaDecision::Ignore;
        }
        if delta.version <= c {
            return DeltaDecision::Reject(UpdateError::new(
                RejectReason::Rollback,
                format!(
                    "catalog.delta {} → {}: the catalog is already at version {c}",
                    delta.from_version, delta.version
                ),
            ));
        }
        if delta.from_version == c {
            self.in_flight = Some((delta.version, digest));
            return DeltaDecision::Apply(delta);
        }
        if delta.from_version < c {
            // It starts before the current version and ends after it: it cannot be applied on top.
            self.need_snapshot = true;
            return DeltaDecision::Reject(UpdateError::new(
                RejectReason::OutOfOrder,
                format!(
                    "catalog.delta {} → {} does not start at the current version {c}",
                    delta.from_version, delta.version
                ),
            ));
        }
        self.need_snapshot = true;
        if let Some((held, held_digest)) = self.held.get(&delta.from_version) {
            if held.version == delta.version && *held_digest == digest {
                return DeltaDecision::NeedSnapshot;
            }
        }
        if self.held.len() >= MAX_HELD_DELTAS && !self.held.contains_key(&delta.from_version) {
            return DeltaDecision::Reject(UpdateError::new(
                RejectReason::OutOfOrder,
                format!(
                    "catalog.delta {} → {}: {MAX_HELD_DELTAS} deltas already wait for the snapshot after version {c}",
                    delta.from_version, delta.version
                ),
            ));
        }
        self.held.insert(delta.from_version, (delta, digest));
        DeltaDecision::NeedSnapshot
    }

    /// Decides for a verified, decoded manifest.
    pub fn on_manifest(&mut self, manifest: &SnapshotManifest) -> ManifestDecision {
        let c = self.current;
        if manifest.version > c {
            ManifestDecision::Apply
        } else if manifest.version == c {
            // Held deltas ahead of it still need a newer snapshot (the retained one may not be updated yet).
            self.need_snapshot = self.held.keys().next().is_some_and(|&from| from > c);
            ManifestDecision::Ignore
        } else {
            ManifestDecision::Reject(
                UpdateError::new(
                    RejectReason::Rollback,
                    format!(
                        "catalog.snapshot {}: the catalog is already at version {c}",
                        manifest.version
                    ),
                )
                .at(manifest.version),
            )
        }
    }

    /// Records that storage now holds central `version` (a delta or a snapshot was applied). Held deltas made
    /// obsolete are dropped; those that straddle the new version can never apply and are returned as
    /// `out_of_order` rejections to report.
    pub fn applied(&mut self, version: u64) -> Vec<UpdateError> {
        self.last_delta = match self.in_flight.take() {
            Some((v, digest)) if v == version => Some(digest),
            _ => None,
        };
        self.current = version;
        let mut rejected = Vec::new();
        self.held.retain(|&from, (delta, _)| {
            if delta.version <= version {
                false // Contained in what was applied.
            } else if from < version {
                rejected.push(
                    UpdateError::new(
                        RejectReason::OutOfOrder,
                        format!(
                            "catalog.delta {from} → {}: does not start at the applied version {version}",
                            delta.version
                        ),
                    )
                    .at(delta.version),
                );
                false
            } else {
                true
            }
        });
        // Still waiting only if held deltas remain ahead with a gap before them.
        self.need_snapshot = self.held.keys().next().is_some_and(|&from| from > version);
        rejected
    }

    /// The held delta that now applies (its `from_version` is the current version), if any. Apply it, then call
    /// [`CatalogChain::applied`], and ask again.
    pub fn next_ready(&mut self) -> Option<Delta> {
        let (delta, digest) = self.held.remove(&self.current)?;
        self.in_flight = Some((delta.version, digest));
        Some(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE: &str = "S1";
    const P1: &str =
        r#"{"sku":"A1","gtins":["8001234567897"],"name":"Caffè","brand":"X","price_cents":300,"vat_rate_bp":2200}"#;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32])
    }

    fn delta_body(from: u64, to: u64, price: i64) -> Vec<u8> {
        format!(
            r#"{{"store":"{STORE}","from_version":{from},"version":{to},"upsert":[{}],"delete":[]}}"#,
            P1.replace("300", &price.to_string())
        )
        .into_bytes()
    }

    fn delta(from: u64, to: u64) -> (Delta, Vec<u8>) {
        let body = delta_body(from, to, 300 + to as i64);
        (Delta::decode(&body, STORE).expect("valid delta"), body)
    }

    fn reason<T: std::fmt::Debug>(r: Result<T, UpdateError>) -> RejectReason {
        r.expect_err("refused").reason
    }

    #[test]
    fn a_sealed_body_opens_with_the_matching_key_and_type() {
        let k = key(1);
        let body = delta_body(0, 1, 250);
        let payload = seal(UpdateType::CatalogDelta, &body, &k);
        assert_eq!(open(&payload, &k.trusted(), UpdateType::CatalogDelta), Ok(body));
        let trusted = TrustedKey::from_base64(&k.public_base64()).expect("public key reads back");
        assert_eq!(trusted.key_id(), k.key_id());
        assert_eq!(k.key_id().len(), 16);
    }

    #[test]
    fn every_tampering_is_refused_with_its_reason() {
        let k = key(1);
        let body = delta_body(0, 1, 250);
        let payload = seal(UpdateType::CatalogDelta, &body, &k);
        let mut env: serde_json::Value = serde_json::from_slice(&payload).expect("json");
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut e = env.clone();
            f(&mut e);
            serde_json::to_vec(&e).expect("json")
        };
        let t = k.trusted();
        let open_delta = |p: &[u8]| open(p, &t, UpdateType::CatalogDelta);
        // The body changed: the signature no longer matches.
        let forged = with(&|e| e["body"] = BASE64.encode(delta_body(0, 1, 1)).into());
        assert_eq!(reason(open_delta(&forged)), RejectReason::BadSignature);
        // Signed by another key that claims this key id.
        let other = seal(UpdateType::CatalogDelta, &body, &key(2));
        let mut o: serde_json::Value = serde_json::from_slice(&other).expect("json");
        o["key_id"] = k.key_id().into();
        assert_eq!(
            reason(open_delta(&serde_json::to_vec(&o).expect("json"))),
            RejectReason::BadSignature
        );
        assert_eq!(reason(open_delta(&other)), RejectReason::UnknownKey);
        assert_eq!(
            reason(open_delta(&with(&|e| e["sig"] = "".into()))),
            RejectReason::Unsigned
        );
        let no_sig = with(&|e| {
            e.as_object_mut().map(|o| o.remove("sig"));
        });
        assert_eq!(reason(open_delta(&no_sig)), RejectReason::Unsigned);
        assert_eq!(reason(open_delta(b"not json")), RejectReason::Malformed);
        assert_eq!(
            reason(open_delta(&with(&|e| e["v"] = 2.into()))),
            RejectReason::Malformed
        );
        assert_eq!(
            reason(open_delta(&with(&|e| e["sig"] = "!!".into()))),
            RejectReason::Malformed
        );
        // A command signature never passes as a catalog one, even with the type rewritten.
        let command = seal(UpdateType::Command, &body, &k);
        assert_eq!(reason(open_delta(&command)), RejectReason::Malformed);
        let mut c: serde_json::Value = serde_json::from_slice(&command).expect("json");
        c["type"] = "catalog.delta".into();
        assert_eq!(
            reason(open_delta(&serde_json::to_vec(&c).expect("json"))),
            RejectReason::BadSignature
        );
        env["x"] = 1.into();
        assert_eq!(
            reason(open_delta(&serde_json::to_vec(&env).expect("json"))),
            RejectReason::Malformed
        );
        let huge = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert_eq!(reason(open_delta(&huge)), RejectReason::TooLarge);
    }

    #[test]
    fn a_bad_public_key_is_a_clear_error() {
        let err = TrustedKey::from_base64("abc").expect_err("too short");
        assert!(
            err.to_string().contains("public key: expected base64 of 32 bytes"),
            "{err}"
        );
        let err = TrustedKey::from_base64(&BASE64.encode([1u8; 16])).expect_err("16 bytes");
        assert!(err.to_string().contains("16 bytes"), "{err}");
        assert!(SigningKey::from_base64("%%").is_err());
    }

    #[test]
    fn a_delta_body_is_checked_like_an_import() {
        let err = Delta::decode(&delta_body(0, 1, 1), "S2").expect_err("other store");
        assert_eq!((err.reason, err.version), (RejectReason::WrongStore, Some(1)));
        assert_eq!(
            reason(Delta::decode(&delta_body(3, 3, 1), STORE)),
            RejectReason::Malformed
        );
        assert_eq!(
            reason(Delta::decode(&delta_body(0, 1, -1), STORE)),
            RejectReason::BadProduct
        );
        let twice = format!(r#"{{"store":"{STORE}","from_version":0,"version":1,"upsert":[{P1},{P1}]}}"#);
        let err = Delta::decode(twice.as_bytes(), STORE).expect_err("sku twice");
        assert!(err.detail.contains("upsert[1]: sku \"A1\": already on line 1"), "{err}");
        let both = format!(r#"{{"store":"{STORE}","from_version":0,"version":1,"upsert":[{P1}],"delete":["A1"]}}"#);
        assert_eq!(reason(Delta::decode(both.as_bytes(), STORE)), RejectReason::BadProduct);
        let d = Delta::decode(&delta_body(0, 1, 42), STORE).expect("valid");
        assert_eq!(d.upsert[0].price_cents, 42);
        assert_eq!(Delta::decode(&d.encode(), STORE), Ok(d));
    }

    fn manifest_for(blob: &[u8], version: u64, chunk_bytes: u64) -> SnapshotManifest {
        SnapshotManifest {
            store: STORE.into(),
            version,
            products: 1,
            compression: "deflate".into(),
            bytes: blob.len() as u64,
            chunks: u32::try_from((blob.len() as u64).div_ceil(chunk_bytes)).expect("few chunks"),
            chunk_bytes,
            sha256: hex(&sha256(blob)),
        }
    }

    fn chunks_of(blob: &[u8], version: u64, chunk_bytes: usize) -> Vec<Vec<u8>> {
        let count = blob.len().div_ceil(chunk_bytes) as u32;
        blob.chunks(chunk_bytes)
            .enumerate()
            .map(|(i, d)| encode_chunk(version, i as u32, count, d))
            .collect()
    }

    #[test]
    fn a_manifest_is_checked_for_consistency_and_limits() {
        let m = manifest_for(b"0123456789", 5, 4);
        assert_eq!(SnapshotManifest::decode(&m.encode(), STORE), Ok(m.clone()));
        let mut bad = m.clone();
        bad.chunks = 2;
        assert_eq!(
            reason(SnapshotManifest::decode(&bad.encode(), STORE)),
            RejectReason::Malformed
        );
        bad = m.clone();
        bad.bytes = MAX_BLOB_BYTES + 1;
        assert_eq!(
            reason(SnapshotManifest::decode(&bad.encode(), STORE)),
            RejectReason::TooLarge
        );
        assert_eq!(
            reason(SnapshotManifest::decode(&m.encode(), "S9")),
            RejectReason::WrongStore
        );
    }

    #[test]
    fn chunks_assemble_in_any_order_with_duplicates_and_strays_before_or_after_the_manifest() {
        let blob: Vec<u8> = (0..=250u8).collect();
        let m = manifest_for(&blob, 7, 64);
        let chunks = chunks_of(&blob, 7, 64);
        let stray = chunks_of(&[9u8; 100], 6, 64);
        let mut a = ChunkAssembler::new();
        assert_eq!(a.add_chunk(&chunks[3]), Ok(None));
        assert_eq!(a.add_chunk(&stray[0]), Ok(None));
        assert_eq!(a.add_chunk(&chunks[3]), Ok(None));
        assert_eq!(a.set_manifest(m.clone()), Ok(None));
        assert_eq!(a.add_chunk(&stray[1]), Ok(None), "another version is ignored");
        assert_eq!(a.add_chunk(&[]), Ok(None), "a cleared topic is ignored");
        assert_eq!(a.add_chunk(&chunks[0]), Ok(None));
        assert_eq!(a.add_chunk(&chunks[2]), Ok(None));
        let done = a.add_chunk(&chunks[1]).expect("valid").expect("complete");
        assert_eq!((done.manifest, done.blob), (m, blob));
        // Chunks of the applied version still in flight take no memory.
        assert_eq!(a.add_chunk(&chunks[0]), Ok(None));
        assert_eq!(a.held_bytes, 0);
        assert!(a.parts.is_empty());
    }

    #[test]
    fn a_corrupted_chunk_fails_the_hash_and_a_wrong_size_is_caught_at_once() {
        let blob: Vec<u8> = (0..200u8).collect();
        let m = manifest_for(&blob, 3, 64);
        let mut chunks = chunks_of(&blob, 3, 64);
        let last = chunks[1].len() - 1;
        chunks[1][last] ^= 1;
        let mut a = ChunkAssembler::new();
        a.set_manifest(m.clone()).expect("nothing yet");
        for c in &chunks[..3] {
            assert_eq!(a.add_chunk(c), Ok(None));
        }
        let err = a.add_chunk(&chunks[3]).expect_err("hash mismatch");
        assert_eq!((err.reason, err.version), (RejectReason::Corrupt, Some(3)));
        let short = encode_chunk(3, 0, 4, &[0u8; 10]);
        a.set_manifest(m).expect("nothing yet");
        assert_eq!(reason(a.add_chunk(&short)), RejectReason::Corrupt);
        assert_eq!(reason(a.add_chunk(b"OGC")), RejectReason::Corrupt);
        assert_eq!(reason(a.add_chunk(&encode_chunk(3, 4, 4, b"x"))), RejectReason::Corrupt);
    }

    #[test]
    fn inflation_stops_at_the_cap() {
        let text = b"{\"x\":1}\n".repeat(1000);
        let blob = deflate(&text);
        let mut out = Vec::new();
        inflate_capped(&blob, text.len() as u64)
            .read_to_end(&mut out)
            .expect("exactly the cap passes");
        assert_eq!(out, text);
        let err = inflate_capped(&blob, 100)
            .read_to_end(&mut Vec::new())
            .expect_err("over the cap");
        assert_eq!(UpdateError::from_io(&err).reason, RejectReason::TooLarge);
        let err = inflate_capped(b"\xff\xff\xff", 100)
            .read_to_end(&mut Vec::new())
            .expect_err("not deflate");
        assert_eq!(UpdateError::from_io(&err).reason, RejectReason::Corrupt);
    }

    #[test]
    fn the_chain_applies_in_order_ignores_redelivery_and_refuses_rollback() {
        let mut chain = CatalogChain::new(4);
        let (d5, b5) = delta(4, 5);
        assert_eq!(chain.on_delta(d5.clone(), &b5), DeltaDecision::Apply(d5.clone()));
        assert!(chain.applied(5).is_empty());
        assert_eq!(
            chain.on_delta(d5.clone(), &b5),
            DeltaDecision::Ignore,
            "QoS 1 redelivery"
        );
        let other5 = delta_body(4, 5, 1);
        let d = Delta::decode(&other5, STORE).expect("valid");
        assert!(matches!(chain.on_delta(d, &other5), DeltaDecision::Reject(e) if e.reason == RejectReason::Rollback));
        let (d3, b3) = delta(2, 3);
        let rollback = chain.on_delta(d3, &b3);
        assert!(
            matches!(&rollback, DeltaDecision::Reject(e) if e.reason == RejectReason::Rollback && e.version == Some(3)),
            "{rollback:?}"
        );
        let m = |v| SnapshotManifest {
            version: v,
            ..manifest_for(b"x", v, 1)
        };
        assert_eq!(chain.on_manifest(&m(6)), ManifestDecision::Apply);
        assert_eq!(chain.on_manifest(&m(5)), ManifestDecision::Ignore);
        assert!(matches!(chain.on_manifest(&m(4)), ManifestDecision::Reject(e) if e.reason == RejectReason::Rollback));
    }

    #[test]
    fn after_a_gap_deltas_are_held_and_released_in_order_after_the_snapshot() {
        let mut chain = CatalogChain::new(1);
        let (d4, b4) = delta(3, 4);
        let (d5, b5) = delta(4, 5);
        let (d3, b3) = delta(2, 3);
        let (d2b, b2b) = delta(1, 3);
        assert_eq!(chain.on_delta(d5.clone(), &b5), DeltaDecision::NeedSnapshot);
        assert_eq!(chain.on_delta(d4.clone(), &b4), DeltaDecision::NeedSnapshot);
        assert_eq!(chain.on_delta(d3, &b3), DeltaDecision::NeedSnapshot);
        assert!(chain.needs_snapshot());
        // The snapshot at 3 covers the held 2→3; 4 and 5 follow it in order.
        assert!(chain.applied(3).is_empty());
        assert_eq!(chain.next_ready(), Some(d4));
        assert!(chain.applied(4).is_empty());
        assert_eq!(chain.next_ready(), Some(d5));
        assert!(chain.applied(5).is_empty());
        assert_eq!(chain.next_ready(), None);
        assert!(!chain.needs_snapshot());
        // A delta that straddles the current version can never apply.
        assert!(matches!(chain.on_delta(d2b, &b2b), DeltaDecision::Reject(e) if e.reason == RejectReason::Rollback));
    }

    #[test]
    fn the_held_buffer_is_bounded() {
        let mut chain = CatalogChain::new(0);
        for from in 10..10 + MAX_HELD_DELTAS as u64 {
            let (d, b) = delta(from, from + 1);
            assert_eq!(chain.on_delta(d, &b), DeltaDecision::NeedSnapshot);
        }
        let (d, b) = delta(100, 101);
        assert!(matches!(chain.on_delta(d, &b), DeltaDecision::Reject(e) if e.reason == RejectReason::OutOfOrder));
        assert_eq!(chain.held(), MAX_HELD_DELTAS);
        // A snapshot at 12 drops 10→11 and 11→12, and 12→13 is next.
        assert!(chain.applied(12).is_empty());
        assert_eq!(chain.held(), MAX_HELD_DELTAS - 2);
        assert_eq!(chain.next_ready().map(|d| d.version), Some(13));
    }

    #[test]
    fn reject_reasons_have_stable_names() {
        let all = [
            (RejectReason::Unsigned, "unsigned"),
            (RejectReason::Malformed, "malformed"),
            (RejectReason::UnknownKey, "unknown_key"),
            (RejectReason::BadSignature, "bad_signature"),
            (RejectReason::WrongStore, "wrong_store"),
            (RejectReason::Corrupt, "corrupt"),
            (RejectReason::BadProduct, "bad_product"),
            (RejectReason::Rollback, "rollback"),
            (RejectReason::OutOfOrder, "out_of_order"),
            (RejectReason::TooLarge, "too_large"),
        ];
        for (r, name) in all {
            assert_eq!(r.as_str(), name);
            assert_eq!(serde_json::to_string(&r).expect("json"), format!("\"{name}\""));
        }
    }
}
