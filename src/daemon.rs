//! The daemon: wires config, catalog, scanner, kiosk, panel and feedback into running tasks, tells systemd
//! when it is ready and alive, and shuts everything down in order on SIGTERM/SIGINT within a deadline.
//!
//! Owns task lifetimes and timers (idle screen timeout, watchdog). Owns no business rule: what the screen
//! shows is [`crate::kiosk`]'s decision.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::barcode::Rules;
use crate::catalog::CatalogStore;
use crate::config::Config;
use crate::display::{self, Panel};
use crate::events::{EventSink, Recorded};
use crate::feedback::Feedback;
use crate::kiosk::{Kiosk, Reaction};
use crate::mqtt::{LinkSettings, LinkState};
use crate::outbox::EventClass;
use crate::scanner::{self, ScanEvent};
use crate::snapshot::FollowedSnapshot;
use crate::status::{DeviceStatus, Health};
use crate::storage::outbox_store::OutboxStore;
use crate::storage::Storage;

/// How long tasks get to finish after a shutdown request; below systemd's TimeoutStopSec (10 s in the unit).
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Why the daemon could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The catalog database could not be opened even after moving a damaged one aside.
    #[error("catalog database {dir}: {reason}")]
    Catalog {
        /// Directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The start-up task failed to run.
    #[error("start-up: {0}")]
    Setup(String),
    /// The seed catalog could not be imported.
    #[error("seed catalog {file}: {reason}")]
    Seed {
        /// File.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The barcode rules in config do not compile (config validation should have caught it).
    #[error("barcode rules: {0}")]
    Rules(#[from] crate::barcode::RuleError),
    /// The panel could not be opened.
    #[error(transparent)]
    Display(#[from] display::DisplayError),
    /// Feedback outputs could not be opened.
    #[error(transparent)]
    Feedback(#[from] crate::feedback::FeedbackError),
    /// The outbox database could not be opened. Never moved aside automatically: a new outbox would hand out
    /// sequence numbers (and so event ids) again, and central would discard those events as duplicates.
    #[error("{0} (support: keep this directory, it holds events not yet sent to central)")]
    Outbox(#[from] crate::storage::outbox_store::OutboxStoreError),
    /// The MQTT settings are unusable (certificate, key or password file).
    #[error(transparent)]
    Mqtt(#[from] crate::mqtt::MqttError),
    /// A self-checkout device (terminal, printer, buttons, light) or its saved state could not be opened.
    #[error("checkout: {0}")]
    Checkout(String),
}

/// Runs the kiosk until `shutdown` completes.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    run_with(cfg, shutdown, None).await
}

/// [`run`], with a way to change the log level (central's `set_log_level` command) when the caller owns a
/// reloadable log filter.
pub async fn run_with(
    cfg: Config,
    shutdown: impl Future<Output = ()>,
    set_log_level: Option<crate::sync::LogLevelSetter>,
) -> Result<(), DaemonError> {
    let started = Instant::now();
    tokio::pin!(shutdown);
    // Opening sled and importing a seed catalog block (file I/O, many fsyncs): off the async workers, and a stop
    // request during them is honoured at once (an interrupted import is finished or discarded at the next open).
    let setup_cfg = cfg.clone();
    // The kiosk reads the committed catalog's snapshot; sled is needed only to apply an import, so it is closed
    // when the task ends. That returns its page table (about 10 MB at 100 000 products) to the kiosk's memory
    // budget, and lets `omnigate catalog import` run while the kiosk serves shoppers.
    let setup = tokio::task::spawn_blocking(move || -> Result<_, DaemonError> {
        let storage = open_catalog(&setup_cfg)?;
        seed_if_empty(&setup_cfg, &storage)?;
        let outbox = open_outbox(&setup_cfg)?;
        let central_version = storage.central_version().map_err(|e| DaemonError::Catalog {
            dir: storage.dir().to_owned(),
            reason: e.to_string(),
        })?;
        Ok((storage.snapshot(), storage.snapshot_path(), outbox, central_version))
    });
    let (snapshot, snapshot_path, outbox, central_version) = tokio::select! {
        _ = &mut shutdown => {
            tracing::info!("stop requested while opening the catalog");
            return Ok(());
        }
        r = setup => r.map_err(|e| DaemonError::Setup(e.to_string()))??,
    };
    release_freed_memory();
    let catalog = FollowedSnapshot::new(snapshot_path.clone(), snapshot);
    let rules = Rules::from_config(&cfg.barcode)?;
    let panel = display::open(&cfg.display, cfg.device.language)?;
    let outbox = Arc::new(outbox);
    let appended = Arc::new(Notify::new());
    let sink = Arc::new(EventSink::new(
        outbox.clone(),
        cfg.outbox.budget_mb * 1024 * 1024,
        appended.clone(),
    ));
    let offline_doc = crate::status::offline(&cfg.device.store_id, &cfg.device.device_id);
    let link_settings = cfg
        .mqtt
        .as_ref()
        .map(|m| LinkSettings::from_config(m, &cfg.device.store_id, &cfg.device.device_id, offline_doc))
        .transpose()?;

    let trusted_key = cfg
        .central
        .as_ref()
        .map(|c| crate::catalog::update::TrustedKey::from_base64(&c.public_key))
        .transpose()
        .map_err(|e| DaemonError::Setup(format!("central.public_key: {e}")))?;
    let commands = crate::sync::CommandState::load(&cfg.device.state_dir).map_err(DaemonError::Setup)?;
    let (catalog_version_tx, catalog_version_rx) = watch::channel(central_version);
    let (lock_tx, lock_rx) = watch::channel(commands.locked.clone());
    let (sales_paused_tx, sales_paused_rx) = watch::channel(false);
    let status_now = Arc::new(Notify::new());

    let cancel = CancellationToken::new();
    let health = Arc::new(Health::default());
    let (link_state_tx, link_state_rx) = watch::channel(LinkState::default());
    let (status_tx, status_rx) = watch::channel(Vec::new());
    let control_task = tokio::spawn({
        let (path, store, status, token) = (
            crate::control::socket_path(&cfg.device.state_dir),
            outbox.clone(),
            status_rx.clone(),
            cancel.child_token(),
        );
        async move {
            if let Err(e) = crate::control::serve(path.clone(), store, status, token).await {
                // The kiosk works without it; only `omnigate queue` falls back to "stop the daemon first".
                tracing::warn!(socket = %path.display(), error = %e, "control socket not available");
            }
        }
    });
    let link_task = link_settings.map(|settings| {
        let (inbound_tx, inbound_rx) = mpsc::channel(16);
        let (acker, acks) = crate::mqtt::ack_channel();
        let (subscribe_tx, subscriptions) = mpsc::unbounded_channel();
        let io = crate::mqtt::LinkIo {
            appended: appended.clone(),
            inbound: inbound_tx,
            acks,
            subscriptions,
            status: status_rx,
            state: link_state_tx,
        };
        let store = outbox.clone();
        let token = cancel.child_token();
        match trusted_key.clone() {
            Some(key) => {
                let parts = crate::sync::SyncParts {
                    topics: crate::mqtt::Topics::new(&cfg.device.store_id, &cfg.device.device_id),
                    store_id: cfg.device.store_id.clone(),
                    device_id: cfg.device.device_id.clone(),
                    catalog_dir: catalog_dir(&cfg),
                    state_dir: cfg.device.state_dir.clone(),
                    key,
                    sink: sink.clone(),
                    subscriptions: subscribe_tx,
                    acker,
                    catalog_version: catalog_version_tx.clone(),
                    lock: lock_tx.clone(),
                    status_now: status_now.clone(),
                    set_log_level: set_log_level.clone(),
                };
                tokio::spawn(crate::sync::run(
                    parts,
                    central_version,
                    commands.clone(),
                    inbound_rx,
                    token.clone(),
                ));
            }
            None => {
                tracing::warn!("no [central] public_key: catalog updates and commands from central are not accepted");
                drop(subscribe_tx);
                tokio::spawn(drop_unsubscribed(inbound_rx, acker, token.clone()));
            }
        }
        tokio::spawn(async move {
            if let Err(e) = crate::mqtt::run(settings, store, io, token).await {
                tracing::error!(error = %e, "the link to central stopped; events stay queued on disk");
            }
        })
    });
    let status_task = tokio::spawn(publish_status(
        StatusParts {
            store: cfg.device.store_id.clone(),
            device: cfg.device.device_id.clone(),
            state_dir: cfg.device.state_dir.clone(),
            snapshot_path,
            interval: Duration::from_secs(cfg.mqtt.as_ref().map(|m| m.status_interval_s).unwrap_or(60)),
            sink: sink.clone(),
            health: health.clone(),
            link: link_state_rx.clone(),
            started,
            tx: status_tx,
            central_version: catalog_version_rx.clone(),
            lock: lock_rx.clone(),
            sales_paused: sales_paused_tx,
            now: status_now.clone(),
        },
        cancel.child_token(),
    ));
    record_in_background(
        &sink,
        "device.started",
        EventClass::Business,
        serde_json::json!({
            "software": env!("CARGO_PKG_VERSION"),
            "catalog_version": central_version,
        }),
    );
    let feedback = Feedback::spawn(&cfg.feedback, cancel.child_token())?;
    let (scan_tx, scan_rx) = mpsc::channel(64);
    // One reader of stdin for the dev scanner and the dev keys (`:pay`…), when either uses it.
    let uses_stdin = (
        cfg.scanner.kind == crate::config::ScannerKind::Stdin,
        cfg.buttons.kind == crate::buttons::ButtonsKind::Stdin,
    );
    let (stdin_lines, stdin_keys) = if uses_stdin.0 || uses_stdin.1 {
        let streams = crate::scanner::stdin::stdin_streams();
        (Some(streams.lines), Some(streams.keys))
    } else {
        (None, None)
    };
    let scanner_task = scanner::spawn_sharing_stdin(&cfg.scanner, stdin_lines, scan_tx, cancel.child_token());
    let checkout = match &cfg.checkout {
        Some(_) => Some(open_checkout(&cfg, rules.clone(), &sink, stdin_keys, &cancel).await?),
        None => None,
    };

    // No uplink yet: the kiosk is offline (and says so) until the MQTT link reports otherwise.
    let kiosk = Kiosk::new(rules, true);
    tracing::info!(
        store = %cfg.device.store_id,
        device = %cfg.device.device_id,
        products = catalog.current().len().unwrap_or(0),
        catalog_version = catalog.current().version(),
        ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    let loop_result = run_loop(
        LoopParts {
            kiosk,
            catalog,
            panel,
            feedback: feedback.clone(),
            scan_rx,
            idle_after: Duration::from_secs(cfg.display.idle_after_s),
            watchdog: sd_notify::watchdog_enabled(),
            link: cfg.mqtt.is_some().then_some(link_state_rx),
            health: health.clone(),
            sink: Some(sink.clone()),
            catalog_changed: Some(catalog_version_rx),
            lock: Some(lock_rx),
            sales_paused: Some(sales_paused_rx),
            checkout,
        },
        &mut shutdown,
    )
    .await;

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("shutting down");
    cancel.cancel();
    // One deadline for everything, below systemd's TimeoutStopSec. The buzzer must be off before the process
    // exits, never left sounding.
    let stopped = async {
        let _ = scanner_task.await;
        feedback.stopped().await;
        if let Some(link) = link_task {
            let _ = link.await;
        }
        let _ = status_task.await;
        let _ = control_task.await;
    };
    if tokio::time::timeout(SHUTDOWN_DEADLINE, stopped).await.is_err() {
        tracing::warn!("tasks did not stop within the shutdown deadline");
    }
    // Acks of the last moments become durable (appends always are).
    if let Err(e) = outbox.sync() {
        tracing::warn!(error = %e, "outbox not synced at shutdown; some events may be sent twice");
    }
    tracing::info!("stopped");
    loop_result
}

/// Records an event without holding up the caller (the append waits for the disk). A failure is logged: only
/// telemetry and device events go this way, never a sale.
fn record_in_background(sink: &Arc<EventSink>, kind: &'static str, class: EventClass, payload: serde_json::Value) {
    let sink = sink.clone();
    tokio::task::spawn_blocking(move || match sink.record(kind, class, payload) {
        Ok(Recorded::Stored(_)) => {}
        Ok(Recorded::DroppedTelemetry) => tracing::debug!(kind, "telemetry dropped: outbox over budget"),
        Err(e) => tracing::warn!(kind, error = %e, "event not recorded"),
    });
}

/// Until central's updates are wired in, nothing is subscribed; a message that arrives anyway (a broker that
/// kept an old session) is acknowledged so the broker stops resending it.
async fn drop_unsubscribed(
    mut inbound: mpsc::Receiver<crate::mqtt::InboundMessage>,
    acker: crate::mqtt::Acker,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            m = inbound.recv() => match m {
                None => return,
                Some(m) => {
                    tracing::warn!(topic = %m.topic, "message on a topic this version does not handle; dropped");
                    acker.ack(m.ack_token());
                }
            },
        }
    }
}

/// What the status publisher reads.
struct StatusParts {
    store: String,
    device: String,
    state_dir: PathBuf,
    /// The catalog snapshot file, whose age the status reports.
    snapshot_path: PathBuf,
    interval: Duration,
    sink: Arc<EventSink>,
    health: Arc<Health>,
    link: watch::Receiver<LinkState>,
    started: Instant,
    tx: watch::Sender<Vec<u8>>,
    central_version: watch::Receiver<u64>,
    lock: watch::Receiver<Option<crate::sync::Lock>>,
    sales_paused: watch::Sender<bool>,
    now: Arc<Notify>,
}

/// How long acknowledgements may wait to be reflected in the fleet status: one status per burst of sends, not
/// one per event.
const ACK_STATUS_DELAY: Duration = Duration::from_secs(1);

/// Builds the status document at the configured interval and whenever the link or the hardware changes (the
/// queue figures, including whether sales are blocked, are current in each); the link publishes it retained.
async fn publish_status(mut p: StatusParts, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(p.interval);
    let mut seq = 0u64;
    let mut last_blocked = None;
    // The link's state also carries the last acked seq, which changes with every event sent (every scan sends
    // one): a change of the connection itself gives a new status at once, acks at most one per
    // ACK_STATUS_DELAY, after the burst (so the queue figures are current soon after a drain) — except while
    // sales are blocked on a full outbox, when each ack may be the one that lets the kiosk sell again.
    let connection = |s: &LinkState| (s.connected, s.connections, s.last_error.clone());
    let mut last_connection = connection(&p.link.borrow());
    let mut ack_refresh: Option<tokio::time::Instant> = None;
    loop {
        let refresh_due = async {
            match ack_refresh {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
            _ = p.health.changed() => {}
            _ = p.now.notified() => {}
            _ = refresh_due => {}
            r = p.link.changed() => {
                if r.is_err() {
                    return;
                }
                let now = connection(&p.link.borrow_and_update());
                if now == last_connection && last_blocked != Some(true) {
                    ack_refresh.get_or_insert_with(|| tokio::time::Instant::now() + ACK_STATUS_DELAY);
                    continue;
                }
                last_connection = now;
            }
            r = p.central_version.changed() => if r.is_err() { return },
            r = p.lock.changed() => if r.is_err() { return },
        }
        // This status covers every ack so far.
        ack_refresh = None;
        let sink = p.sink.clone();
        let Ok(doc) = tokio::task::spawn_blocking({
            let (health, state_dir, snapshot_path) = (p.health.clone(), p.state_dir.clone(), p.snapshot_path.clone());
            let (store, device) = (p.store.clone(), p.device.clone());
            let uptime_s = p.started.elapsed().as_secs();
            let last_acked = p.link.borrow().last_acked;
            let central_version = *p.central_version.borrow_and_update();
            let locked = p.lock.borrow_and_update().is_some();
            seq += 1;
            let seq = seq;
            move || {
                let mut doc = build_status(
                    &sink,
                    &health,
                    &state_dir,
                    &snapshot_path,
                    store,
                    device,
                    seq,
                    uptime_s,
                    last_acked,
                );
                doc.catalog.central_version = central_version;
                doc.locked = locked;
                doc
            }
        })
        .await
        else {
            return;
        };
        if last_blocked != Some(doc.outbox.sales_blocked) {
            if doc.outbox.sales_blocked {
                tracing::error!(
                    bytes = doc.outbox.bytes,
                    budget = doc.outbox.budget_bytes,
                    "outbox full: no sales until central acknowledges queued events"
                );
            }
            last_blocked = Some(doc.outbox.sales_blocked);
            p.sales_paused.send_replace(doc.outbox.sales_blocked);
        }
        match serde_json::to_vec(&doc) {
            Ok(bytes) => {
                p.tx.send_replace(bytes);
            }
            Err(e) => tracing::error!(error = %e, "status not encoded"),
        }
    }
}

/// One status document from the current figures (reads the outbox's first key and the file system).
#[allow(clippy::too_many_arguments)]
fn build_status(
    sink: &EventSink,
    health: &Health,
    state_dir: &Path,
    snapshot_path: &Path,
    store: String,
    device: String,
    status_seq: u64,
    uptime_s: u64,
    last_acked: Option<u64>,
) -> DeviceStatus {
    let now = crate::clock::synced_unix_ms();
    let outbox = sink.store();
    let (depth, oldest_seq, bytes, oldest_at) = match outbox.status() {
        Ok(s) => {
            let oldest_at = s
                .oldest
                .and_then(|seq| outbox.pending(seq, 1).ok())
                .and_then(|events| events.first().and_then(|e| e.recorded_at_ms));
            (s.depth, s.oldest, s.bytes, oldest_at)
        }
        Err(e) => {
            tracing::warn!(error = %e, "outbox status not readable");
            (0, None, outbox.bytes(), None)
        }
    };
    let catalog_age = std::fs::metadata(snapshot_path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64);
    DeviceStatus {
        v: 1,
        state: "online",
        store,
        device,
        software: env!("CARGO_PKG_VERSION"),
        status_seq,
        uptime_s,
        clock_synced: now.is_some(),
        catalog: crate::status::CatalogStatus {
            central_version: 0,
            products: health.catalog_products(),
            age_s: crate::status::age_s(catalog_age, now),
        },
        outbox: crate::status::QueueStatus {
            depth,
            oldest_seq,
            oldest_age_s: crate::status::age_s(oldest_at, now),
            bytes,
            budget_bytes: sink.budget(),
            last_acked_seq: last_acked,
            dropped_telemetry: sink.dropped_telemetry(),
            sales_blocked: sink.sales_blocked().is_some(),
        },
        health: crate::status::HealthStatus {
            scanner: health.scanner(),
            display: health.display(),
            printer: health.printer(),
        },
        disk: crate::status::disk_usage(state_dir),
        locked: false,
    }
}

/// Everything the event loop drives.
pub struct LoopParts {
    /// Screen decisions.
    pub kiosk: Kiosk,
    /// Product lookups, following imports made while the kiosk runs.
    pub catalog: FollowedSnapshot,
    /// Where frames go.
    pub panel: Box<dyn Panel>,
    /// LED and buzzer.
    pub feedback: Feedback,
    /// Scanner events.
    pub scan_rx: mpsc::Receiver<ScanEvent>,
    /// Result screens return to idle after this.
    pub idle_after: Duration,
    /// systemd watchdog interval, when enabled.
    pub watchdog: Option<Duration>,
    /// The link to central, when configured: the offline marker follows it.
    pub link: Option<watch::Receiver<LinkState>>,
    /// Hardware and catalog flags for the status.
    pub health: Arc<Health>,
    /// Where lookups are recorded (telemetry), when events are kept.
    pub sink: Option<Arc<EventSink>>,
    /// Central's catalog version: the screen is redrawn from the new catalog when it changes.
    pub catalog_changed: Option<watch::Receiver<u64>>,
    /// Central's lock ("out of order").
    pub lock: Option<watch::Receiver<Option<crate::sync::Lock>>>,
    /// Payments paused because the queue for central is full.
    pub sales_paused: Option<watch::Receiver<bool>>,
    /// The self-checkout, on a station (`[checkout]`): scans and keys go to it.
    pub checkout: Option<CheckoutParts>,
}

/// The self-checkout's part of the event loop.
pub struct CheckoutParts {
    /// The station and its devices.
    pub till: crate::till::Till,
    /// Terminal and printer answers.
    pub results: Option<mpsc::Receiver<crate::checkout::station::StationInput>>,
    /// Pay, Cancel, Help and keypad keys.
    pub keys: Option<mpsc::Receiver<crate::buttons::Key>>,
    /// The status light.
    pub light: Option<crate::status_led::StatusLed>,
}

/// Opens the self-checkout's devices (terminal, printer, buttons, light) and resumes the saved station.
async fn open_checkout(
    cfg: &Config,
    rules: Rules,
    sink: &Arc<EventSink>,
    stdin_keys: Option<mpsc::Receiver<crate::buttons::Key>>,
    cancel: &CancellationToken,
) -> Result<CheckoutParts, DaemonError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| DaemonError::Checkout(format!("{what}: {e}"));
    let (Some(checkout), Some(payment), Some(header)) = (&cfg.checkout, &cfg.payment, &cfg.receipt) else {
        return Err(DaemonError::Checkout("[checkout] needs [payment] and [receipt]".into()));
    };
    let terminal =
        crate::payment::open_terminal(payment, &cfg.device.state_dir).map_err(|e| fail("payment terminal", &e))?;
    let printer = crate::printer::open_printer(&cfg.printer).map_err(|e| fail("printer", &e))?;
    let keys =
        crate::buttons::spawn(&cfg.buttons, stdin_keys, cancel.child_token()).map_err(|e| fail("buttons", &e))?;
    let light = match cfg.status_led.kind {
        crate::status_led::StatusLedKind::None => None,
        _ => Some(
            crate::status_led::StatusLed::spawn(
                &cfg.status_led,
                crate::status_led::StationLight::Idle,
                cancel.child_token(),
            )
            .map_err(|e| fail("status light", &e))?,
        ),
    };
    let (mut till, results) = crate::till::Till::open(crate::till::TillParts {
        checkout: checkout.clone(),
        header: header.clone(),
        language: cfg.device.language,
        columns: cfg.printer.columns,
        rules,
        sink: sink.clone(),
        terminal,
        printer,
        store_id: cfg.device.store_id.clone(),
        device_id: cfg.device.device_id.clone(),
    })
    .await
    .map_err(|e| fail("saved state", &e))?;
    till.refresh_printer_status().await;
    if let Some(status) = till.printer_status() {
        tracing::info!(printer = %status, "receipt printer");
    }
    Ok(CheckoutParts {
        till,
        results: Some(results),
        keys: Some(keys),
        light,
    })
}

/// The event loop: scanner events and timers in, frames and signals out. Tells systemd READY=1 once the first
/// frame is on the panel.
pub async fn run_loop(parts: LoopParts, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let LoopParts {
        mut kiosk,
        mut catalog,
        mut panel,
        feedback,
        mut scan_rx,
        idle_after,
        watchdog,
        link,
        health,
        sink,
        catalog_changed,
        lock,
        sales_paused,
        checkout,
    } = parts;
    let mut checkout = checkout;
    // Apart from the station, so that waiting on them and handling what arrives borrow different things.
    let mut keys = checkout.as_mut().and_then(|c| c.keys.take());
    let mut results = checkout.as_mut().and_then(|c| c.results.take());
    // The station's timers (abandonment, payment timeout, receipt screen) advance by monotonic time.
    let mut tick = tokio::time::interval(crate::till::Till::TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_tick = Instant::now();
    let mut light = None;
    let mut link = link;
    let mut catalog_changed = catalog_changed;
    let mut lock = lock;
    let mut sales_paused = sales_paused;
    if let Some(l) = lock.as_mut() {
        let current = l.borrow_and_update().clone();
        kiosk.set_locked(current.map(|l| l.message));
    }
    health.set_catalog(catalog.current().version(), catalog.current().len().unwrap_or(0));
    let first = match &checkout {
        Some(c) => {
            health.set_printer(c.till.printer_health());
            station_frame(&kiosk, c)
        }
        None => kiosk.frame().clone(),
    };
    health.set_display(show(panel.as_mut(), Some(first.clone())));
    let mut shown = Some(first);
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    // Ping at half the interval so one slow frame push never trips the watchdog. WATCHDOG_USEC=0 means none.
    let watchdog = watchdog.filter(|w| !w.is_zero());
    let ping_every = watchdog
        .map(|w| (w / 2).max(Duration::from_millis(1)))
        .unwrap_or(Duration::from_secs(3600));
    let mut ping = tokio::time::interval(ping_every);
    let mut idle_deadline: Option<Instant> = None;
    let mut scanner_open = true;
    tokio::pin!(shutdown);
    loop {
        let idle = async {
            match idle_deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let reaction: Reaction = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            ev = scan_rx.recv(), if scanner_open => match ev {
                Some(ScanEvent::Code(bytes)) if checkout.is_some() => {
                    catalog.refresh();
                    health.set_scanner(true);
                    match checkout.as_mut() {
                        Some(c) if !kiosk.locked() => {
                            let scanned = c.till.resolve(&bytes, catalog.current());
                            let signals = c.till.handle(crate::checkout::station::StationInput::Scan(scanned)).await;
                            station_reaction(signals)
                        }
                        // Out of order: nothing is sold; the "not available" sound says so.
                        _ => kiosk.on_scanner(&ScanEvent::Code(bytes), catalog.current()),
                    }
                }
                Some(ev) => {
                    // One stat per scan: a catalog imported meanwhile is what the shopper sees.
                    catalog.refresh();
                    let reaction = kiosk.on_scanner(&ev, catalog.current());
                    health.set_catalog(catalog.current().version(), catalog.current().len().unwrap_or(0));
                    match &ev {
                        ScanEvent::Connected => health.set_scanner(true),
                        ScanEvent::Disconnected { .. } => health.set_scanner(false),
                        ScanEvent::Code(_) => {
                            if let (Some(sink), Some(payload)) = (&sink, lookup_telemetry(&kiosk.frame().screen)) {
                                record_in_background(sink, "kiosk.lookup", EventClass::Telemetry, payload);
                            }
                        }
                    }
                    reaction
                }
                None => {
                    // The scanner task ended (only happens on shutdown); keep serving until told to stop.
                    scanner_open = false;
                    continue;
                }
            },
            _ = idle => {
                idle_deadline = None;
                kiosk.on_idle_timeout()
            }
            key = next(&mut keys) => {
                match (checkout.as_mut(), key) {
                    (Some(c), Some(key)) if !kiosk.locked() => {
                        let signals = c.till.handle(crate::checkout::station::StationInput::Key(key)).await;
                        station_reaction(signals)
                    }
                    (_, None) => {
                        // The buttons stopped (shutdown): the station keeps its scanner.
                        keys = None;
                        continue;
                    }
                    _ => continue,
                }
            }
            input = next(&mut results) => {
                let (Some(c), Some(input)) = (checkout.as_mut(), input) else {
                    results = None;
                    continue;
                };
                let signals = c.till.handle(input).await;
                station_reaction(signals)
            }
            _ = tick.tick(), if checkout.is_some() => {
                let now = Instant::now();
                let elapsed = now.duration_since(last_tick);
                last_tick = now;
                let Some(c) = checkout.as_mut() else { continue };
                let signals = c.till.handle(crate::checkout::station::StationInput::Tick { elapsed }).await;
                station_reaction(signals)
            }
            _ = ping.tick() => {
                if watchdog.is_some() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
                continue;
            }
            changed = watched(&mut link) => {
                let Some(l) = link.as_mut() else { continue };
                if changed.is_err() {
                    // The link task ended (shutdown, or its database failed): offline from now on.
                    link = None;
                    kiosk.set_offline(true)
                } else {
                    let connected = l.borrow_and_update().connected;
                    kiosk.set_offline(!connected)
                }
            }
            changed = watched(&mut catalog_changed) => {
                if changed.is_err() {
                    catalog_changed = None;
                    continue;
                }
                if let Some(c) = catalog_changed.as_mut() {
                    c.borrow_and_update();
                }
                // Central applied an update: the product on screen shows its new price now, not at the next scan.
                catalog.refresh();
                health.set_catalog(catalog.current().version(), catalog.current().len().unwrap_or(0));
                kiosk.on_catalog_changed(catalog.current())
            }
            changed = watched(&mut lock) => {
                let Some(l) = lock.as_mut().filter(|_| changed.is_ok()) else {
                    lock = None;
                    continue;
                };
                let current = l.borrow_and_update().clone();
                kiosk.set_locked(current.map(|l| l.message))
            }
            changed = watched(&mut sales_paused) => {
                let Some(p) = sales_paused.as_mut().filter(|_| changed.is_ok()) else {
                    sales_paused = None;
                    continue;
                };
                let paused = *p.borrow_and_update();
                if let Some(c) = checkout.as_mut() {
                    c.till.set_sales_blocked(paused);
                }
                kiosk.set_sales_paused(paused)
            }
        };
        if let Some(c) = checkout.as_mut() {
            // The station decides the screen; the kiosk only its rest screens (welcome, paused, out of order).
            if let Some(s) = reaction.signal {
                feedback.signal(s);
            }
            let frame = station_frame(&kiosk, c);
            if shown.as_ref() != Some(&frame) {
                health.set_display(show(panel.as_mut(), Some(frame.clone())));
                shown = Some(frame);
            }
            health.set_printer(c.till.printer_health());
            let now_light = station_light(&kiosk, c);
            if light != Some(now_light) {
                if let Some(l) = &c.light {
                    l.set(now_light);
                }
                light = Some(now_light);
            }
            continue;
        }
        if let Some(s) = reaction.signal {
            feedback.signal(s);
        }
        if reaction.frame.is_some() {
            health.set_display(show(panel.as_mut(), reaction.frame));
        }
        idle_deadline = reaction
            .arm_idle_timer
            .then(|| Instant::now() + idle_after)
            .or(idle_deadline);
        if matches!(
            kiosk.frame().screen,
            crate::ui::Screen::Idle
                | crate::ui::Screen::ScannerDisconnected
                | crate::ui::Screen::SalesPaused
                | crate::ui::Screen::OutOfOrder { .. }
        ) {
            idle_deadline = None;
        }
    }
}

/// The next message of `rx`; never when there is none (no station, or the channel ended).
async fn next<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx.as_mut() {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// A station step's sounds as a loop reaction (the frame is recomputed after every input).
fn station_reaction(signals: Vec<crate::feedback::Signal>) -> Reaction {
    Reaction {
        frame: None,
        signal: signals.last().copied(),
        arm_idle_timer: false,
    }
}

/// What a station shows: central's lock or a failed commit as out of order, the checkout screens while a sale
/// is open or a notice is up, otherwise the kiosk's rest screen (welcome, sales paused, scanner unplugged).
fn station_frame(kiosk: &Kiosk, c: &CheckoutParts) -> crate::ui::Frame {
    let rest = kiosk.frame();
    if kiosk.locked() {
        return rest.clone();
    }
    if c.till.broken().is_some() {
        return crate::ui::Frame {
            screen: crate::ui::Screen::OutOfOrder { message: None },
            offline: rest.offline,
        };
    }
    let url = |n: &str| c.till.e_receipt_url(n);
    match crate::checkout::view::view(c.till.station(), &url) {
        Some(view) => crate::ui::Frame {
            screen: crate::ui::Screen::Checkout(view),
            offline: rest.offline,
        },
        None => rest.clone(),
    }
}

/// The status light for the station's state.
fn station_light(kiosk: &Kiosk, c: &CheckoutParts) -> crate::status_led::StationLight {
    use crate::status_led::StationLight;
    let station = c.till.station();
    if kiosk.locked() || c.till.broken().is_some() {
        StationLight::OutOfOrder
    } else if station.needs_staff() {
        StationLight::NeedsStaff
    } else if matches!(station.basket().state(), crate::checkout::basket::State::Idle) {
        StationLight::Idle
    } else {
        StationLight::Busy
    }
}

/// Resolves when the watched value changes; never when there is nothing to watch.
async fn watched<T>(rx: &mut Option<watch::Receiver<T>>) -> Result<(), watch::error::RecvError> {
    match rx.as_mut() {
        Some(r) => r.changed().await,
        None => std::future::pending().await,
    }
}

/// Hands the memory sled used at start-up back to the kernel. glibc keeps freed blocks in the arena of the
/// thread that freed them (here the start-up thread), so without a trim the closed database's page table stays
/// resident (about 2 MB at 100 000 products).
pub(crate) fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Shows `frame` (if any); false when the panel failed.
fn show(panel: &mut dyn Panel, frame: Option<crate::ui::Frame>) -> bool {
    if let Some(f) = frame {
        if let Err(e) = panel.show(&f) {
            // A flaky panel must not stop the till: log, and the next frame tries again.
            tracing::error!(error = %e, "frame not shown");
            return false;
        }
    }
    true
}

/// What a scan told the shopper, as telemetry: which codes shoppers look for that the catalog lacks is what a
/// store manager acts on. Store codes (loyalty, staff) are never recorded: they identify people.
fn lookup_telemetry(screen: &crate::ui::Screen) -> Option<serde_json::Value> {
    use crate::ui::Screen;
    match screen {
        Screen::Product(_) => Some(serde_json::json!({ "result": "found" })),
        Screen::NotFound { code } => Some(serde_json::json!({ "result": "not_found", "code": code })),
        // ErrorClass serialises to its stable snake_case name (docs/protocol.md), never its Rust spelling.
        Screen::Invalid { reason } => Some(serde_json::json!({ "result": "invalid", "reason": reason })),
        _ => None,
    }
}

fn outbox_dir(cfg: &Config) -> PathBuf {
    cfg.device.state_dir.join("outbox")
}

/// Opens the outbox of events for central (see [`DaemonError::Outbox`] for why a damaged one stops the start).
pub fn open_outbox(cfg: &Config) -> Result<OutboxStore, DaemonError> {
    Ok(OutboxStore::open(
        &outbox_dir(cfg),
        cfg.outbox.cache_capacity_mb * 1024 * 1024,
        &cfg.device.device_id,
    )?)
}

fn catalog_dir(cfg: &Config) -> PathBuf {
    cfg.device.state_dir.join("catalog")
}

/// Opens the catalog database. A *damaged* database (sled may panic or report corruption after some abrupt
/// stops, sled#1533) is moved aside rather than crash-looping the service: the kiosk then starts with the seed
/// catalog (central resends the catalog once connected), and the damaged copy stays for support to inspect.
pub fn open_catalog(cfg: &Config) -> Result<Storage, DaemonError> {
    let dir = catalog_dir(cfg);
    let cache = cfg.catalog.cache_capacity_mb * 1024 * 1024;
    match Storage::open(&dir, cache) {
        Ok(s) => Ok(s),
        Err(first) if !first.is_damaged_database() => {
            // Locked by another process, permissions, a newer layout: never a reason to touch the catalog.
            Err(DaemonError::Catalog {
                dir: dir.clone(),
                reason: first.to_string(),
            })
        }
        Err(first) => {
            let aside = move_aside(&dir).map_err(|e| DaemonError::Catalog {
                dir: dir.clone(),
                reason: format!("{first}; and it could not be moved aside: {e}"),
            })?;
            tracing::error!(error = %first, moved_to = %aside.display(), "catalog database unreadable, moved aside");
            Storage::open(&dir, cache).map_err(|e| DaemonError::Catalog {
                dir: dir.clone(),
                reason: e.to_string(),
            })
        }
    }
}

fn move_aside(dir: &Path) -> std::io::Result<PathBuf> {
    // A sequence number, not a timestamp: the Pi may have no valid clock.
    for n in 1..10_000u32 {
        let target = dir.with_extension(format!("damaged-{n}"));
        if !target.exists() {
            std::fs::rename(dir, &target)?;
            return Ok(target);
        }
    }
    Err(std::io::Error::other(
        "too many damaged catalog copies; remove old ones",
    ))
}

fn seed_if_empty(cfg: &Config, storage: &Storage) -> Result<(), DaemonError> {
    let Some(file) = &cfg.catalog.seed_file else {
        return Ok(());
    };
    let empty = storage.version().map(|v| v == 0).unwrap_or(false);
    if !empty {
        return Ok(());
    }
    let summary = storage.import_file(file, &|_| {}).map_err(|e| DaemonError::Seed {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    if let Some((line, reason)) = summary.rejected.first() {
        return Err(DaemonError::Seed {
            file: file.clone(),
            reason: format!(
                "line {line}: {reason} ({} line(s) rejected, nothing imported)",
                summary.rejected.len()
            ),
        });
    }
    tracing::info!(
        imported = summary.imported,
        version = summary.version,
        file = %file.display(),
        "seed catalog imported"
    );
    Ok(())
}
