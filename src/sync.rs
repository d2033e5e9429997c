//! What central sends, on the device: signed catalog updates (deltas and chunked snapshots) and signed
//! commands, as they arrive over the MQTT link.
//!
//! Owns the order of operations for each message: verify the signature, decide (the pure
//! [`CatalogChain`] and [`ChunkAssembler`]), apply durably (the catalog through [`Storage::apply_central`], the
//! command state through an atomic file), report (`catalog.applied`, `catalog.rejected`, `command.result`
//! events), and only then acknowledge the message, so a crash at any point makes the broker send it again.
//! Also owns the command state persisted in `<state_dir>/central-commands.json`: the highest `command_seq`
//! accepted (anti-replay) and whether central locked the kiosk.
//!
//! The catalog database is opened only to apply an update, and in a short-lived child process (`omnigate
//! catalog apply-central`, this same binary): sled's page table, cache and write buffers for a 100,000-product
//! catalog take 25–40 MB while it writes, which then leave with the process instead of staying in the kiosk's
//! heap; a sled panic cannot take the kiosk down; the child dies with the daemon (PR_SET_PDEATHSIG), which is
//! safe because an apply is crash-safe. The kiosk reads the immutable `catalog.snap` the apply rewrites, and
//! `omnigate catalog import` keeps working.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::catalog::update::{
    inflate_capped, open, AppliedKind, Assembled, CatalogChain, ChunkAssembler, Delta, DeltaDecision, ManifestDecision,
    SnapshotManifest, TrustedKey, UpdateError, UpdateType, MAX_INFLATED_BYTES,
};
use crate::events::EventSink;
use crate::mqtt::{Acker, Inbound, InboundMessage, Subscription, Topics};
use crate::outbox::EventClass;
use crate::storage::{CentralApplied, CentralUpdate, Storage, StorageError};

/// Sets the log filter (`"info"`, `"debug"`, …); provided by `main`, which owns the subscriber.
pub type LogLevelSetter = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The command state file inside the state directory.
const COMMAND_STATE_FILE: &str = "central-commands.json";

/// Longest lock message shown on the out-of-order screen.
const MAX_LOCK_MESSAGE: usize = 120;

/// How long an apply waits for the catalog database held by another process (`omnigate catalog import`).
const OPEN_RETRIES: u32 = 40;
const OPEN_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// sled cache of the apply process. Measured on a 100,000-product import (release, x86_64): peak RSS 40 MB with
/// 2 MiB against 50 MB with 8 MiB, for 0.3 s more; an apply streams, it gains little from a cache.
pub const APPLY_CACHE_MB: u64 = 2;

/// The update handed to the apply process, in `<catalog dir>/central-update.bin` (not fsynced: after a crash
/// the broker sends the message again).
const UPDATE_FILE: &str = "central-update.bin";

/// Central locked the kiosk: it shows "out of order" (with this message, when given) until unlocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Text for the screen, from central.
    pub message: Option<String>,
}

/// What survives restarts about commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandState {
    /// The highest `command_seq` accepted: anything at or below it is a replay.
    pub last_command_seq: u64,
    /// The lock, when central locked the kiosk.
    pub locked: Option<Lock>,
}

impl CommandState {
    /// Reads the state of `state_dir` (default when the file does not exist yet).
    pub fn load(state_dir: &Path) -> Result<CommandState, String> {
        let path = state_dir.join(COMMAND_STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CommandState::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::durable::write_atomic(&state_dir.join(COMMAND_STATE_FILE), &bytes)
    }
}

/// Everything the sync task needs.
pub struct SyncParts {
    /// This device's topics.
    pub topics: Topics,
    /// Store id (updates for another store are refused).
    pub store_id: String,
    /// Device id (commands for another device are refused).
    pub device_id: String,
    /// The catalog's directory, to apply updates.
    pub catalog_dir: PathBuf,
    /// Where the command state lives.
    pub state_dir: PathBuf,
    /// Central's public key.
    pub key: TrustedKey,
    /// Where results are reported.
    pub sink: Arc<EventSink>,
    /// Subscription changes for the link.
    pub subscriptions: mpsc::UnboundedSender<Subscription>,
    /// Acknowledges messages once handled.
    pub acker: Acker,
    /// The central catalog version on disk; the kiosk redraws when it changes.
    pub catalog_version: watch::Sender<u64>,
    /// The lock state; the kiosk shows "out of order" while locked.
    pub lock: watch::Sender<Option<Lock>>,
    /// Asks the status task for a status now.
    pub status_now: Arc<Notify>,
    /// Changes the log level, when the binary supports it.
    pub set_log_level: Option<LogLevelSetter>,
}

/// The sync task's state.
struct SyncTask {
    p: SyncParts,
    chain: CatalogChain,
    chunks: ChunkAssembler,
    commands: CommandState,
    snapshot_subscribed: bool,
    /// A `resync_catalog` command is pending: the next snapshot is applied even at the current version.
    resync: bool,
    /// Chunk topics were re-subscribed after a corrupt chunk for this manifest version (once per version).
    refetched_for: Option<u64>,
}

/// Handles central's messages until `cancel` or until the link's channel closes.
pub async fn run(
    parts: SyncParts,
    central_version: u64,
    commands: CommandState,
    mut inbound: mpsc::Receiver<InboundMessage>,
    cancel: CancellationToken,
) {
    let mut chunks = ChunkAssembler::new();
    chunks.set_floor(central_version);
    let mut s = SyncTask {
        chain: CatalogChain::new(central_version),
        chunks,
        commands,
        snapshot_subscribed: false,
        resync: false,
        refetched_for: None,
        p: parts,
    };
    s.subscribe(vec![s.p.topics.catalog_delta(), s.p.topics.commands()]);
    if s.chain.needs_snapshot() {
        s.want_snapshot();
    }
    loop {
        let message = tokio::select! {
            _ = cancel.cancelled() => return,
            m = inbound.recv() => match m {
                Some(m) => m,
                None => return,
            },
        };
        let token = message.ack_token();
        match s.handle(message).await {
            Ok(()) => s.p.acker.ack(token),
            // Not acknowledged: the broker sends it again after the next reconnect.
            Err(e) => tracing::error!(error = %e, "update from central not applied; it will be retried"),
        }
    }
}

impl SyncTask {
    async fn handle(&mut self, m: InboundMessage) -> Result<(), StorageError> {
        match m.kind {
            Inbound::CatalogDelta => self.on_delta(&m.payload).await,
            Inbound::CatalogSnapshot if m.payload.is_empty() => Ok(()), // a cleared retained manifest
            Inbound::CatalogSnapshot => self.on_manifest(&m.payload).await,
            Inbound::CatalogChunk(_) if m.payload.is_empty() => Ok(()), // a cleared stale chunk
            Inbound::CatalogChunk(_) => {
                let assembled = self.chunks.add_chunk(&m.payload);
                self.on_assembled(assembled).await
            }
            Inbound::Command => {
                self.on_command(&m.payload).await;
                Ok(())
            }
            Inbound::Unknown => {
                tracing::warn!(topic = %m.topic, "message on a topic omnigate does not handle; dropped");
                Ok(())
            }
        }
    }

    async fn on_delta(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        let opened = open(payload, &self.p.key, UpdateType::CatalogDelta)
            .and_then(|body| Delta::decode(&body, &self.p.store_id).map(|d| (d, body)));
        let (delta, body) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.rejected(e).await;
                return Ok(());
            }
        };
        match self.chain.on_delta(delta, &body) {
            DeltaDecision::Apply(d) => self.apply_deltas(d).await,
            DeltaDecision::Ignore => Ok(()),
            DeltaDecision::Reject(e) => {
                if self.chain.needs_snapshot() {
                    self.want_snapshot();
                }
                self.rejected(e).await;
                Ok(())
            }
            DeltaDecision::NeedSnapshot => {
                tracing::info!(
                    current = self.chain.current(),
                    "gap in the catalog deltas; fetching the snapshot"
                );
                self.want_snapshot();
                Ok(())
            }
        }
    }

    /// Applies `first`, then every held delta that follows it.
    async fn apply_deltas(&mut self, first: Delta) -> Result<(), StorageError> {
        let mut next = Some(first);
        while let Some(delta) = next.take() {
            let outcome = self.apply_in_child(ChildUpdate::Delta, delta.encode(), 0, 0).await?;
            if !self.after_apply(outcome).await {
                break;
            }
            next = self.chain.next_ready();
        }
        Ok(())
    }

    async fn on_manifest(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        let opened = open(payload, &self.p.key, UpdateType::CatalogSnapshot)
            .and_then(|body| SnapshotManifest::decode(&body, &self.p.store_id));
        let manifest = match opened {
            Ok(m) => m,
            Err(e) => {
                self.rejected(e).await;
                return Ok(());
            }
        };
        let decision = if self.resync && manifest.version >= self.chain.current() {
            ManifestDecision::Apply
        } else {
            self.chain.on_manifest(&manifest)
        };
        match decision {
            ManifestDecision::Apply => {
                let assembled = self.chunks.set_manifest(manifest);
                self.on_assembled(assembled).await
            }
            ManifestDecision::Ignore => {
                self.settle_snapshot_subscription();
                Ok(())
            }
            ManifestDecision::Reject(e) => {
                self.rejected(e).await;
                self.settle_snapshot_subscription();
                Ok(())
            }
        }
    }

    /// After a chunk or a manifest: apply a complete snapshot; a damaged one is reported and fetched again.
    async fn on_assembled(&mut self, assembled: Result<Option<Assembled>, UpdateError>) -> Result<(), StorageError> {
        match assembled {
            Ok(Some(assembled)) => self.apply_snapshot(assembled).await,
            Ok(None) => Ok(()),
            Err(e) => {
                self.refetch_chunks(e.version);
                self.rejected(e).await;
                Ok(())
            }
        }
    }

    async fn apply_snapshot(&mut self, assembled: Assembled) -> Result<(), StorageError> {
        let Assembled { manifest, blob } = assembled;
        let kind = if self.resync {
            ChildUpdate::Resync
        } else {
            ChildUpdate::Snapshot
        };
        let outcome = self
            .apply_in_child(kind, blob, manifest.version, manifest.products)
            .await?;
        self.chunks.reset();
        if self.after_apply(outcome).await {
            self.resync = false;
            if let Some(d) = self.chain.next_ready() {
                self.apply_deltas(d).await?;
            }
        }
        self.settle_snapshot_subscription();
        Ok(())
    }

    /// Runs `omnigate catalog apply-central` on `bytes` (a delta body or a snapshot blob) and waits for it.
    async fn apply_in_child(
        &self,
        kind: ChildUpdate,
        bytes: Vec<u8>,
        version: u64,
        products: u64,
    ) -> Result<ChildOutcome, StorageError> {
        let dir = self.p.catalog_dir.clone();
        let store = self.p.store_id.clone();
        blocking(move || {
            let input = dir.join(UPDATE_FILE);
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&input, &bytes))
                .map_err(|source| StorageError::Io {
                    op: "cannot write",
                    path: input.clone(),
                    source,
                })?;
            drop(bytes);
            let outcome = run_apply_child(&dir, &store, kind, &input, version, products);
            let _ = std::fs::remove_file(&input);
            outcome
        })
        .await
    }

    /// Reports an apply; true when it was applied.
    async fn after_apply(&mut self, outcome: ChildOutcome) -> bool {
        match outcome {
            ChildOutcome::Applied {
                version,
                products,
                kind,
                peak_rss_kb,
            } => {
                tracing::info!(
                    version,
                    products,
                    kind = kind.as_str(),
                    peak_rss_kb,
                    "catalog from central applied"
                );
                let dropped = self.chain.applied(version);
                self.chunks.set_floor(version);
                self.p.catalog_version.send_replace(version);
                self.record(
                    "catalog.applied",
                    serde_json::json!({
                        "version": version,
                        "products": products,
                        "kind": kind.as_str(),
                        "apply_peak_rss_kb": peak_rss_kb,
                    }),
                )
                .await;
                for e in dropped {
                    self.rejected(e).await;
                }
                if kind == AppliedKind::Snapshot {
                    self.refetched_for = None;
                }
                true
            }
            ChildOutcome::Refused {
                reason,
                version,
                detail,
            } => {
                self.rejected(UpdateError {
                    reason,
                    version,
                    detail,
                })
                .await;
                false
            }
        }
    }

    async fn on_command(&mut self, payload: &[u8]) {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            store: String,
            device: String,
            command_seq: u64,
            command: String,
            #[serde(default)]
            args: serde_json::Value,
        }
        let body = match open(payload, &self.p.key, UpdateType::Command) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(reason = e.reason.as_str(), detail = %e.detail, "command from central refused");
                return self.command_result(None, None, Err(e.reason.as_str())).await;
            }
        };
        let cmd: Body = match serde_json::from_slice(&body) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "signed command body is malformed");
                return self.command_result(None, None, Err("malformed")).await;
            }
        };
        let (seq, name) = (Some(cmd.command_seq), Some(cmd.command.as_str()));
        if cmd.store != self.p.store_id {
            return self.command_result(seq, name, Err("wrong_store")).await;
        }
        if cmd.device != self.p.device_id {
            return self.command_result(seq, name, Err("wrong_device")).await;
        }
        if cmd.command_seq <= self.commands.last_command_seq {
            tracing::warn!(
                command_seq = cmd.command_seq,
                last = self.commands.last_command_seq,
                "replayed command refused"
            );
            return self.command_result(seq, name, Err("replayed")).await;
        }
        // Authentic: from now on this seq is spent, whatever the outcome.
        let mut next = self.commands.clone();
        next.last_command_seq = cmd.command_seq;
        let outcome = match cmd.command.as_str() {
            "set_log_level" => match (cmd.args["level"].as_str(), &self.p.set_log_level) {
                (Some(level @ ("error" | "warn" | "info" | "debug" | "trace")), Some(set)) => match set(level) {
                    Ok(()) => {
                        tracing::warn!(level, "log level set by central");
                        Ok(())
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "log level not changed");
                        Err("bad_args")
                    }
                },
                (Some("error" | "warn" | "info" | "debug" | "trace"), None) => Err("unsupported"),
                _ => Err("bad_args"),
            },
            "request_status" => {
                self.p.status_now.notify_one();
                Ok(())
            }
            "lock" => match &cmd.args["message"] {
                serde_json::Value::Null => {
                    next.locked = Some(Lock { message: None });
                    Ok(())
                }
                serde_json::Value::String(m) if m.chars().count() <= MAX_LOCK_MESSAGE => {
                    next.locked = Some(Lock {
                        message: Some(m.clone()),
                    });
                    Ok(())
                }
                _ => Err("bad_args"),
            },
            "unlock" => {
                next.locked = None;
                Ok(())
            }
            "resync_catalog" => {
                self.resync = true;
                // The retained snapshot is usually the version already applied, whose chunks the assembler
                // ignores from then on: lower its floor for this once (an applied snapshot raises it again).
                self.chunks = ChunkAssembler::new();
                self.chunks.set_floor(self.chain.current().saturating_sub(1));
                self.fetch_snapshot_again();
                Ok(())
            }
            _ => Err("unknown_command"),
        };
        if let Err(e) = next.save(&self.p.state_dir) {
            // Not acknowledged would be better, but the command was partly carried out; report and move on.
            tracing::error!(error = %e, "command state not saved");
        }
        if next.locked != self.commands.locked {
            tracing::warn!(locked = next.locked.is_some(), "kiosk lock changed by central");
            self.p.lock.send_replace(next.locked.clone());
            self.p.status_now.notify_one();
        }
        self.commands = next;
        self.command_result(seq, name, outcome).await;
    }

    async fn command_result(&self, seq: Option<u64>, command: Option<&str>, outcome: Result<(), &str>) {
        let (outcome, reason) = match outcome {
            Ok(()) => ("done", None),
            Err(r) => ("rejected", Some(r)),
        };
        self.record(
            "command.result",
            serde_json::json!({ "command_seq": seq, "command": command, "outcome": outcome, "reason": reason }),
        )
        .await;
    }

    async fn rejected(&self, e: UpdateError) {
        tracing::warn!(reason = e.reason.as_str(), version = e.version, detail = %e.detail, "catalog update rejected");
        self.record(
            "catalog.rejected",
            serde_json::json!({ "version": e.version, "reason": e.reason.as_str(), "detail": e.detail }),
        )
        .await;
    }

    async fn record(&self, kind: &'static str, payload: serde_json::Value) {
        let sink = self.p.sink.clone();
        let recorded = blocking(move || Ok(sink.record(kind, EventClass::Business, payload))).await;
        match recorded {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(kind, error = %e, "event not recorded"),
            Err(e) => tracing::error!(kind, error = %e, "event not recorded"),
        }
    }

    fn snapshot_filters(&self) -> Vec<String> {
        vec![self.p.topics.catalog_snapshot(), self.p.topics.catalog_chunks_filter()]
    }

    fn want_snapshot(&mut self) {
        if !self.snapshot_subscribed {
            self.snapshot_subscribed = true;
            self.subscribe(self.snapshot_filters());
        }
    }

    /// Once no snapshot is needed, stop receiving it (a large retained snapshot would otherwise be sent again
    /// whenever the subscription is renewed).
    fn settle_snapshot_subscription(&mut self) {
        if self.snapshot_subscribed && !self.chain.needs_snapshot() && !self.resync {
            self.snapshot_subscribed = false;
            let _ = self.p.subscriptions.send(Subscription::Remove(self.snapshot_filters()));
        }
    }

    /// After a corrupt chunk, ask the broker for the retained chunks again, once per snapshot version (a
    /// snapshot damaged at central would fail the same way every time).
    fn refetch_chunks(&mut self, version: Option<u64>) {
        if version.is_some() && self.refetched_for != version {
            self.refetched_for = version;
            self.fetch_snapshot_again();
        }
    }

    /// Forgets the chunks held and subscribes to the snapshot again: the broker then sends the retained
    /// manifest and chunks once more.
    fn fetch_snapshot_again(&mut self) {
        self.chunks.reset();
        let filters = self.snapshot_filters();
        let _ = self.p.subscriptions.send(Subscription::Remove(filters.clone()));
        let _ = self.p.subscriptions.send(Subscription::Add(filters));
        self.snapshot_subscribed = true;
    }

    fn subscribe(&self, filters: Vec<String>) {
        // The link is gone only at shutdown.
        let _ = self.p.subscriptions.send(Subscription::Add(filters));
    }
}

/// What the apply process is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildUpdate {
    /// A verified delta body (JSON).
    Delta,
    /// A verified, assembled snapshot blob (deflate).
    Snapshot,
    /// The same, re-applied even at the current version (`resync_catalog`).
    Resync,
}

impl ChildUpdate {
    /// The `--kind` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            ChildUpdate::Delta => "delta",
            ChildUpdate::Snapshot => "snapshot",
            ChildUpdate::Resync => "resync",
        }
    }

    /// From the `--kind` argument.
    pub fn parse(s: &str) -> Option<ChildUpdate> {
        [ChildUpdate::Delta, ChildUpdate::Snapshot, ChildUpdate::Resync]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What the apply process reports, one JSON line on its stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildOutcome {
    /// Committed.
    Applied {
        /// Central version now stored.
        version: u64,
        /// Products in the catalog.
        products: u64,
        /// Delta or snapshot.
        kind: AppliedKind,
        /// The apply process's peak resident memory (VmHWM), for the fleet's memory picture.
        peak_rss_kb: u64,
    },
    /// Nothing written; reported as `catalog.rejected`.
    Refused {
        /// The stable reason.
        reason: crate::catalog::update::RejectReason,
        /// The version the update claimed, when known.
        version: Option<u64>,
        /// What exactly.
        detail: String,
    },
}

/// Spawns the apply process and reads its outcome. Blocking.
fn run_apply_child(
    dir: &Path,
    store: &str,
    kind: ChildUpdate,
    input: &Path,
    version: u64,
    products: u64,
) -> Result<ChildOutcome, StorageError> {
    use std::os::unix::process::CommandExt;
    let failed = |reason: String| StorageError::Io {
        op: "apply process",
        path: dir.to_owned(),
        source: std::io::Error::other(reason),
    };
    let exe = std::env::current_exe().map_err(|e| failed(format!("own binary: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["catalog", "apply-central", "--catalog-dir"])
        .arg(dir)
        .args(["--store", store, "--kind", kind.as_str(), "--input"])
        .arg(input)
        .args(["--version", &version.to_string(), "--products", &products.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGKILL the child when the spawning thread
    // ends, and that thread waits for the child right below, so that is when the daemon dies.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let output = cmd.output().map_err(|e| failed(format!("cannot start: {e}")))?;
    let line = String::from_utf8_lossy(&output.stdout);
    match serde_json::from_str::<ChildOutcome>(line.trim()) {
        Ok(outcome) if output.status.success() => Ok(outcome),
        _ => Err(failed(format!("exited with {} ({})", output.status, line.trim()))),
    }
}

/// `omnigate catalog apply-central`: the apply process. Applies the update in `input` to the catalog in `dir`
/// and returns the [`ChildOutcome`] to print; `Err` for a storage failure.
pub fn apply_central_main(
    dir: &Path,
    store: &str,
    kind: ChildUpdate,
    input: &Path,
    version: u64,
    products: u64,
) -> Result<ChildOutcome, StorageError> {
    let bytes = std::fs::read(input).map_err(|source| StorageError::Io {
        op: "cannot read",
        path: input.to_owned(),
        source,
    })?;
    let applied = with_storage(dir, APPLY_CACHE_MB * 1024 * 1024, |s| match kind {
        ChildUpdate::Delta => match Delta::decode(&bytes, store) {
            Ok(delta) => s.apply_central(CentralUpdate::Delta(&delta)),
            Err(e) => Ok(CentralApplied::Refused(e)),
        },
        ChildUpdate::Snapshot | ChildUpdate::Resync => {
            let mut lines = inflate_capped(&bytes, MAX_INFLATED_BYTES);
            let update = if kind == ChildUpdate::Resync {
                CentralUpdate::Resync {
                    version,
                    products,
                    lines: &mut lines,
                }
            } else {
                CentralUpdate::Snapshot {
                    version,
                    products,
                    lines: &mut lines,
                }
            };
            s.apply_central(update)
        }
    })?;
    Ok(match applied {
        CentralApplied::Applied {
            version,
            products,
            kind,
        } => ChildOutcome::Applied {
            version,
            products,
            kind,
            peak_rss_kb: crate::status::own_peak_rss_kb(),
        },
        CentralApplied::Refused(e) => ChildOutcome::Refused {
            reason: e.reason,
            version: e.version,
            detail: e.detail,
        },
    })
}

/// Runs blocking storage work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StorageError::Io {
        op: "apply task failed",
        path: PathBuf::new(),
        source: std::io::Error::other(e.to_string()),
    })?
}

/// Opens the catalog (waiting while `omnigate catalog import` holds it), runs `f`, closes it.
fn with_storage<T>(
    dir: &Path,
    cache: u64,
    f: impl FnOnce(&Storage) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let mut attempt = 0;
    let storage = loop {
        match Storage::open(dir, cache) {
            Ok(s) => break s,
            Err(e) if attempt < OPEN_RETRIES && !e.is_damaged_database() => {
                attempt += 1;
                if attempt == 1 {
                    tracing::info!(error = %e, "catalog busy; waiting to apply central's update");
                }
                std::thread::sleep(OPEN_RETRY_PAUSE);
            }
            Err(e) => return Err(e),
        }
    };
    let result = f(&storage);
    drop(storage);
    // sled's page table and cache of the apply go back to the kernel, not into the kiosk's resident set.
    crate::daemon::release_freed_memory();
    result
}
